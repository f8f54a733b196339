//! `fly-tokens`: Fly.io API tokens for your apps, resolved, cached and kept
//! by the atlas token stack. See `fly-tokens --help` and the README.

// The command-line modules belong to this binary only (`cli/` beside this
// file): the library never prints.
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
