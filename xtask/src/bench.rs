//! `cargo xtask bench [--quick] [--json] [NAME...]`: runs the benchmark
//! binaries of `bench/src/bin` (all of them, or the named ones), in release
//! mode. Each prints its results beside the anchors it measures itself.

use std::path::Path;
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
    let mut failed = Vec::new();
    for name in &chosen {
        let mut c = cmd::cargo();
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
