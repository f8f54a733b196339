//! The `loom` step of `cargo xtask test`: every crate's loom models
//! (`tests/loom_*.rs`, and app-server's crate-private lane models, unit
//! tests named `loom_*`), which explore the interleavings of the primitives
//! that ordinary tests cannot force.
//!
//! They are built with `--cfg atlas_loom` (our own cfg, so tokio's `loom`
//! mode stays off), in release mode as loom wants, into their own target
//! directory: other flags would otherwise invalidate the normal build's
//! cache. Each model sets its own preemption bound; `LOOM_MAX_PREEMPTIONS`
//! overrides them all.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cmd;

/// The cfg the models are built under.
const CFG: &str = "--cfg atlas_loom";

/// `cargo xtask loom`: the step on its own.
pub fn main(args: &[String]) -> ExitCode {
    if !args.is_empty() {
        eprintln!("usage: cargo xtask loom");
        return ExitCode::from(64);
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every `tests/loom_*.rs` of the workspace, then app-server's unit
/// models (only those: its other unit tests are tokio's, not loom's).
pub fn run() -> Result<(), String> {
    integration()?;
    let mut c = cmd::cargo();
    c.args(["test", "--release", "-p", "atlas-app-server", "--lib", "loom_"])
        .arg("--target-dir")
        .arg(target_dir())
        .env("RUSTFLAGS", rustflags());
    eprint!("RUSTFLAGS={:?} ", rustflags());
    cmd::run(&mut c)
}

/// The `tests/loom_*.rs` of every crate.
fn integration() -> Result<(), String> {
    let mut c = cmd::cargo();
    c.args([
        "test",
        "--release",
        "--workspace",
        "--exclude",
        "atlas-bench",
        "--test",
        "loom_*",
    ])
    .arg("--target-dir")
    .arg(target_dir())
    .env("RUSTFLAGS", rustflags());
    eprint!("RUSTFLAGS={:?} ", rustflags());
    cmd::run(&mut c)
}

/// `target/loom`, beside the normal build (under `CARGO_TARGET_DIR` when set).
fn target_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    base.join("loom")
}

/// The caller's `RUSTFLAGS`, plus the models' cfg.
fn rustflags() -> String {
    match std::env::var("RUSTFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} {CFG}"),
        _ => CFG.to_owned(),
    }
}
