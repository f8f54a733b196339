//! `fly-tokens`: Fly.io API tokens for your apps, resolved, cached and kept
//! by the atlas token stack. See `fly-tokens --help` and the README.

// The command-line modules live beside the library (`src/cli/`) but belong
// to this binary only: the library never prints.
#[path = "../cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
