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
    let otp_out = otp_bench_once();
    let mut failed = Vec::new();
    for name in &chosen {
        let mut c = cmd::cargo();
        if let Some(path) = &otp_out {
            c.env("ATLAS_OTP_BENCH_OUT", path);
        }
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

/// Runs the oracle's `otp_bench.escript` once for the whole bench run, so
/// every binary compares against the same OTP figures (and OTP's ~5 s is
/// paid once). `None` without Erlang: the binaries then say OTP was not
/// measured.
fn otp_bench_once() -> Option<std::path::PathBuf> {
    let script = Path::new("xtask/oracle/otp_bench.escript");
    if !script.exists() {
        eprintln!("bench: {} not found: OTP figures are not measured", script.display());
        return None;
    }
    eprintln!("bench: measuring real OTP once (otp_bench.escript)...");
    let out = match std::process::Command::new("escript").arg(script).arg("1").output() {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => {
            eprintln!(
                "bench: otp_bench.escript failed ({}): OTP figures are not measured",
                o.status
            );
            return None;
        }
        Err(e) => {
            eprintln!("bench: escript not available ({e}): OTP figures are not measured");
            return None;
        }
    };
    let path = Path::new("target").join("otp_bench.txt");
    std::fs::create_dir_all("target").ok()?;
    std::fs::write(&path, out).ok()?;
    std::fs::canonicalize(path).ok()
}
