//! Real Erlang/OTP figures, measured in the same run as the Rust ones.
//!
//! `cargo xtask bench` runs `xtask/oracle/otp_bench.escript` once and
//! passes its output to every bench binary in `ATLAS_OTP_BENCH_OUT`; a
//! binary run alone runs it itself. Without `escript` on `PATH` every
//! lookup is `None` and the report says that OTP was not measured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// The workspace root (this crate's parent).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether `escript` is on `PATH`.
pub fn available() -> bool {
    Command::new("escript").arg("-h").output().is_ok()
}

/// Runs an escript with `args` and returns its stdout, or `None`.
pub fn run_escript(script: &std::path::Path, args: &[&str]) -> Option<String> {
    let out = Command::new("escript").arg(script).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses result lines of the OTP escripts: a label padded to 62 columns,
/// then a value (`12.34 us`, `1.23M /s`, `456.0k /s`, `2728 bytes` …).
pub fn parse(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.len() < 63 || !line.is_char_boundary(62) {
            continue;
        }
        let (label, rest) = line.split_at(62);
        let Some(tok) = rest.split_whitespace().next() else {
            continue;
        };
        let (num, mul) = match tok.chars().last() {
            Some('M') => (&tok[..tok.len() - 1], 1e6),
            Some('k') => (&tok[..tok.len() - 1], 1e3),
            _ => (tok, 1.0),
        };
        if let Ok(v) = num.parse::<f64>() {
            out.insert(label.trim().to_owned(), v * mul);
        }
    }
    // Lines like "idle gen_server after start + one call: 2728".
    for line in text.lines() {
        if let Some((label, v)) = line.rsplit_once(": ") {
            if let Ok(v) = v.trim().parse::<f64>() {
                out.entry(label.trim().to_owned()).or_insert(v);
            }
        }
    }
    out
}

/// The figures of `otp_bench.escript` (run once, shared through the
/// environment by `cargo xtask bench`), or `None` without Erlang.
pub fn otp_bench() -> Option<HashMap<String, f64>> {
    if let Ok(path) = std::env::var("ATLAS_OTP_BENCH_OUT") {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Some(parse(&text));
        }
    }
    if !available() {
        return None;
    }
    let script = workspace_root().join("xtask/oracle/otp_bench.escript");
    run_escript(&script, &["1"]).map(|t| parse(&t))
}

/// Finds the first figure whose label starts with `prefix`.
pub fn find(figures: &HashMap<String, f64>, prefix: &str) -> Option<f64> {
    let mut keys: Vec<&String> = figures.keys().filter(|k| k.starts_with(prefix)).collect();
    keys.sort();
    keys.first().and_then(|k| figures.get(*k).copied())
}
