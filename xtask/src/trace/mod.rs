//! `cargo xtask trace FILE | --dir DIR`: OTP oracle scenarios through the
//! engine. The output is byte for byte comparable with
//! `xtask/oracle/otp_supervisor_oracle.escript` (the oracle, vendored).

mod runner;
mod scenario;
mod tree;
mod worker;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub use runner::Clock;

/// Why a scenario gave no trace.
#[derive(Debug)]
pub enum Failure {
    /// The scenario is not valid (the oracle refuses it too).
    Invalid(String),
    /// The engine run went wrong (hung, or a worker did not answer).
    Run(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Invalid(m) => write!(f, "invalid scenario: {m}"),
            Failure::Run(m) => write!(f, "run failed: {m}"),
        }
    }
}

/// The trace of one scenario given as JSON text, one line per element.
pub fn trace_text(text: &str, clock: Clock) -> Result<Vec<String>, Failure> {
    let scn = scenario::parse(text).map_err(Failure::Invalid)?;
    runner::run(&scn, clock).map_err(Failure::Run)
}

/// The trace lines as the oracle writes them: each ends with a newline.
pub fn render(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Runs every `X.json` of `dir` (sorted), writing `X.actual` beside each;
/// returns the scenarios that gave no trace.
pub fn run_dir(dir: &Path, clock: Clock) -> Result<(usize, Vec<(PathBuf, Failure)>), String> {
    let files = json_files(dir)?;
    let mut failed = Vec::new();
    for file in &files {
        let actual = file.with_extension("actual");
        let result = fs::read_to_string(file)
            .map_err(|e| Failure::Invalid(format!("cannot read: {e}")))
            .and_then(|text| trace_text(&text, clock));
        match result {
            Ok(lines) => {
                fs::write(&actual, render(&lines)).map_err(|e| format!("cannot write {}: {e}", actual.display()))?
            }
            Err(e) => {
                // No stale trace from an earlier run may be compared.
                let _ = fs::remove_file(&actual);
                failed.push((file.clone(), e));
            }
        }
    }
    Ok((files.len(), failed))
}

/// The hand scenarios: the `X.json` files of `dir` and of its
/// subfolders (`bursts/`, `otp24/`), sorted by name. An error if there are
/// none.
pub fn hand_scenarios(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = json_files(dir)?;
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for sub in entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()) {
        files.extend(json_files(&sub)?);
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(format!("no hand scenarios in {}", dir.display()));
    }
    Ok(files)
}

/// The `X.json` files of `dir`, sorted by name.
pub fn json_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// The subcommand. Exit status 2 for an invalid scenario (as the oracle),
/// 1 for a run that went wrong.
pub fn main(args: &[String]) -> ExitCode {
    let clock = if args.iter().any(|a| a == "--real-time") {
        Clock::Real
    } else {
        Clock::Paused
    };
    let args: Vec<String> = args.iter().filter(|a| *a != "--real-time").cloned().collect();
    match &args[..] {
        [flag, dir] if flag == "--dir" => match run_dir(Path::new(dir), clock) {
            Ok((total, failed)) => {
                for (file, why) in &failed {
                    eprintln!("{}: {why}", file.display());
                }
                eprintln!("{total} scenarios, {} failed", failed.len());
                let invalid = failed.iter().any(|(_, f)| matches!(f, Failure::Invalid(_)));
                match (failed.is_empty(), invalid) {
                    (true, _) => ExitCode::SUCCESS,
                    (false, true) => ExitCode::from(2),
                    (false, false) => ExitCode::FAILURE,
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        [file] if !file.starts_with("--") => {
            let text = if file == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).map(|_| s)
            } else {
                fs::read_to_string(file)
            };
            let text = match text {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {file}: {e}");
                    return ExitCode::from(2);
                }
            };
            match trace_text(&text, clock) {
                Ok(lines) => {
                    print!("{}", render(&lines));
                    ExitCode::SUCCESS
                }
                Err(e @ Failure::Invalid(_)) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!(
                "usage: cargo xtask trace [--real-time] FILE|-\n       cargo xtask trace [--real-time] --dir DIR"
            );
            ExitCode::from(64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand scenarios of every folder (bursts and OTP 24 ones too)
    /// against the traces OTP gave for them (no Erlang needed: the traces
    /// are vendored in `xtask/oracle/scenarios`). Missing files fail.
    #[test]
    fn hand_scenarios_match_their_otp_traces() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("oracle/scenarios");
        let files = hand_scenarios(&dir).unwrap_or_else(|e| panic!("the vendored hand scenarios: {e}"));
        for sub in ["bursts", "otp24"] {
            assert!(
                files.iter().any(|f| f.parent().is_some_and(|p| p.ends_with(sub))),
                "no hand scenario in {sub}/"
            );
        }
        for json in files {
            let text = fs::read_to_string(&json).expect("readable scenario");
            let expected = fs::read_to_string(json.with_extension("expected")).expect("its OTP trace");
            for clock in [Clock::Paused, Clock::Real] {
                let lines = trace_text(&text, clock).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
                assert_eq!(render(&lines), expected, "{} ({clock:?})", json.display());
            }
        }
    }

    #[test]
    fn an_invalid_scenario_is_refused() {
        let text = r#"{"strategy":"one_for_one","max_restarts":1,"max_seconds":1,
            "children":[{"id":"s","type":"supervisor","restart":"permanent","strategy":"one_for_one",
            "max_restarts":1,"max_seconds":1,"children":[]}],"events":[{"kill":"s"}]}"#;
        assert!(matches!(trace_text(text, Clock::Paused), Err(Failure::Invalid(_))));
    }
}
