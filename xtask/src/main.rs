//! `cargo xtask`: every check CI runs, as a subcommand a person can run the
//! same way (rust-analyzer's xtask pattern).
//!
//! ```text
//! cargo xtask test                      fmt, clippy, tests, crate layering, loom models, packaging, conformance
//! cargo xtask conformance [--seeds 1,2,3] [--count N]
//!                                       the engine against real OTP
//! cargo xtask loom                      the loom models (tests/loom_*.rs)
//! cargo xtask trace [--real-time] FILE | --dir DIR
//!                                       oracle scenarios through the engine
//! cargo xtask package                   every library crate packed and built from its .crate
//! cargo xtask bench [--quick] [--json] [NAME...]
//! ```

mod bench;
mod cmd;
mod conformance;
mod deps;
mod diff;
mod loom;
mod package;
mod test;
mod trace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <test | conformance | loom | trace | package | bench> [ARGS...]

  test                                fmt, clippy, tests, crate layering, loom models, packaging, conformance
  conformance [--seeds 1,2] [--count N]
                                      generated + hand scenarios: real OTP vs the engine
  loom                                the loom models (tests/loom_*.rs), under --cfg atlas_loom
  trace FILE|-                        one oracle scenario through the engine, trace on stdout
  trace --dir DIR                     every DIR/X.json, trace written to DIR/X.actual
        [--real-time]                 with a real clock instead of the paused one
  package                             every library crate packed, built from its .crate, licences in it
  bench [--quick] [--json] [NAME...]  the benchmarks in bench/src/bin (all, or the named ones)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Paths given on the command line are relative to where the user stands;
    // everything else runs from the workspace root.
    let args = absolute_paths(&args);
    if let Err(e) = std::env::set_current_dir(root()) {
        eprintln!("xtask: cannot move to the workspace root: {e}");
        return ExitCode::FAILURE;
    }
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    };
    match cmd.as_str() {
        "test" => test::main(rest),
        "conformance" => conformance::main(rest),
        "loom" => loom::main(rest),
        "trace" => trace::main(rest),
        "package" => package::main(rest),
        "bench" => bench::main(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("xtask: unknown command `{other}`\n{USAGE}");
            ExitCode::from(64)
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `trace` takes file and directory arguments: resolve them before the
/// working directory changes.
fn absolute_paths(args: &[String]) -> Vec<String> {
    if args.first().map(String::as_str) != Some("trace") {
        return args.to_vec();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return args.to_vec();
    };
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 || a.starts_with('-') {
                a.clone()
            } else {
                cwd.join(a).to_string_lossy().into_owned()
            }
        })
        .collect()
}
