//! `cargo xtask bench [--quick] [--json] [NAME...]`: runs the benchmark
//! binaries of `bench/src/bin` (all of them, or the named ones), in release
//! mode. Each prints its results beside the anchors it measures itself.
//!
//! The OTP side (`bench/otp/*.escript`) is run by the binaries themselves,
//! with their own work and scheduler counts; this runner gives them one
//! directory, fresh for each run, where the first binary to measure a
//! script leaves its output for the others (`ATLAS_OTP_CACHE_DIR`), so each
//! OTP figure is measured once per run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cmd;

const BIN_DIR: &str = "bench/src/bin";

pub fn main(args: &[String]) -> ExitCode {
    let (flags, names): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| a.starts_with("--"));
    if let Some(bad) = flags.iter().find(|f| !matches!(f.as_str(), "--quick" | "--json")) {
        eprintln!("bench: unknown flag `{bad}`\nusage: cargo xtask bench [--quick] [--json] [NAME...]");
        return ExitCode::from(64);
    }
    let available = match bins(Path::new(BIN_DIR)) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let chosen: Vec<String> = if names.is_empty() {
        available.clone()
    } else {
        names.iter().map(|n| n.to_string()).collect()
    };
    if let Some(unknown) = chosen.iter().find(|n| !available.contains(n)) {
        eprintln!("bench: no benchmark `{unknown}` (have: {})", available.join(", "));
        return ExitCode::from(64);
    }
    let otp_dir = match fresh_otp_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cmd::which("escript").is_none() {
        eprintln!("bench: escript not on PATH: OTP figures are not measured (apt-get install -y erlang-base)");
    }
    let mut failed = Vec::new();
    for name in &chosen {
        let mut c = cmd::cargo();
        c.env("ATLAS_OTP_CACHE_DIR", &otp_dir);
        c.args(["run", "--release", "-p", "atlas-bench", "--bin", name, "--"]);
        c.args(flags.iter().map(|f| f.as_str()));
        if let Err(e) = cmd::run(&mut c) {
            eprintln!("bench: {e}");
            failed.push(name.as_str());
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("bench: failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// The benchmark binaries: one per `NAME.rs` in `dir`, sorted.
fn bins(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

/// `target/otp-bench/`, emptied: the OTP figures of this run only.
fn fresh_otp_dir() -> Result<PathBuf, String> {
    let dir = Path::new("target").join("otp-bench");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot empty {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))
}
