//! `cargo xtask conformance`: the engine against real OTP.
//!
//! Scenarios are generated with `../shared/oracle/gen_scenarios.py` (flat
//! and `--full`, several seeds) under `target/conformance/`, next to copies
//! of the hand scenarios and their given traces. Real OTP writes
//! `X.expected` (one VM per directory, both directories at once); the engine
//! writes `X.actual` in this process meanwhile. Any difference fails.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Instant;

use crate::{cmd, diff, trace};

const ORACLE_DIR: &str = "../shared/oracle";
const OUT_DIR: &str = "target/conformance";
/// Unified diffs printed in full; further mismatches are only named.
const DIFFS_SHOWN: usize = 3;

/// Which scenarios to generate.
pub struct Options {
    pub seeds: Vec<u64>,
    /// Per seed, for each of the flat and the full generator.
    pub count: usize,
}

impl Default for Options {
    /// 600 flat and 600 full scenarios: 4 seeds of 150 each.
    fn default() -> Self {
        Options {
            seeds: vec![1, 2, 3, 4],
            count: 150,
        }
    }
}

/// How a conformance run ended, when it could run.
pub enum Outcome {
    Passed,
    /// No Erlang here (and not under CI): nothing was compared.
    Skipped,
}

pub fn main(args: &[String]) -> ExitCode {
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("conformance: {e}\nusage: cargo xtask conformance [--seeds 1,2,3] [--count N]");
            return ExitCode::from(64);
        }
    };
    match run(&opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it.next().ok_or_else(|| format!("`{arg}` needs a value"))?;
        match arg.as_str() {
            "--seeds" => {
                opts.seeds = value
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|_| format!("bad seed `{s}`")))
                    .collect::<Result<_, _>>()?
            }
            "--count" => opts.count = value.parse().map_err(|_| format!("bad count `{value}`"))?,
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    Ok(opts)
}

/// Runs the whole comparison; `Err` says what failed (or which scenarios
/// differ).
pub fn run(opts: &Options) -> Result<Outcome, String> {
    let oracle = Path::new(ORACLE_DIR).join("otp_supervisor_oracle.escript");
    let missing = if cmd::which("escript").is_none() {
        Some("`escript` not found: install Erlang (apt-get install -y erlang-base)".to_string())
    } else if !oracle.is_file() {
        Some(format!("the OTP oracle is not at {}", oracle.display()))
    } else {
        None
    };
    if let Some(why) = missing {
        // Under CI a conformance run that cannot happen is a failure.
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            return Err(format!("{why} (CI=true: no skipping)"));
        }
        eprintln!("conformance: SKIPPED: {why}");
        return Ok(Outcome::Skipped);
    }
    let out = Path::new(OUT_DIR);
    let (hand, plain, full) = (out.join("hand"), out.join("plain"), out.join("full"));
    for dir in [&hand, &plain, &full] {
        fresh_dir(dir)?;
    }
    let hand_count = copy_hand_scenarios(&Path::new(ORACLE_DIR).join("scenarios"), &hand)?;
    let generator = Path::new(ORACLE_DIR).join("gen_scenarios.py");
    for &seed in &opts.seeds {
        generate(&generator, seed, opts.count, &plain, false)?;
        generate(&generator, seed, opts.count, &full, true)?;
    }

    // Real OTP on both generated directories at once while the engine runs
    // here: the three share the two cores.
    let t0 = Instant::now();
    let oracles = [&plain, &full]
        .into_iter()
        .map(|dir| spawn_oracle(&oracle, dir))
        .collect::<Result<Vec<_>, _>>()?;
    let mut problems = Vec::new();
    let mut total = 0;
    for dir in [&hand, &plain, &full] {
        let (n, failed) = trace::run_dir(dir, trace::Clock::Paused)?;
        total += n;
        for (file, why) in failed {
            problems.push(format!("{}: engine: {why}", file.display()));
        }
    }
    let engine_time = t0.elapsed();
    for (dir, mut child) in [&plain, &full].into_iter().zip(oracles) {
        let status = child.wait().map_err(|e| format!("oracle on {}: {e}", dir.display()))?;
        if !status.success() {
            // Scenarios it could not run have no X.expected: named below.
            let log = fs::read_to_string(dir.join("oracle.log")).unwrap_or_default();
            eprintln!("conformance: the oracle reported errors for {}:\n{log}", dir.display());
        }
    }
    let oracle_time = t0.elapsed();

    let mut differ = Vec::new();
    for dir in [&hand, &plain, &full] {
        for json in trace::json_files(dir)? {
            compare(&json, &mut differ, &mut problems);
        }
    }
    for (k, (json, shown)) in differ.iter().enumerate() {
        if k < DIFFS_SHOWN {
            eprintln!("{}: the engine's trace differs from OTP's:\n{shown}", json.display());
        }
    }
    let failed = differ.len() + problems.len();
    eprintln!(
        "conformance: {total} scenarios ({hand_count} hand, {} flat, {} full): {} passed, {failed} failed \
         (engine {:.1} s, OTP {:.1} s, both running at once)",
        opts.seeds.len() * opts.count,
        opts.seeds.len() * opts.count,
        total.saturating_sub(failed),
        engine_time.as_secs_f64(),
        oracle_time.as_secs_f64(),
    );
    if failed == 0 {
        return Ok(Outcome::Passed);
    }
    let mut names: Vec<String> = differ
        .iter()
        .map(|(j, _)| format!("{}: traces differ", j.display()))
        .collect();
    names.extend(problems);
    Err(format!("{failed} scenario(s) failed:\n  {}", names.join("\n  ")))
}

/// Compares `X.expected` with `X.actual`; a missing file is a problem.
fn compare(json: &Path, differ: &mut Vec<(PathBuf, String)>, problems: &mut Vec<String>) {
    let expected = fs::read_to_string(json.with_extension("expected"));
    let actual = fs::read_to_string(json.with_extension("actual"));
    match (expected, actual) {
        (Ok(e), Ok(a)) if e == a => {}
        (Ok(e), Ok(a)) => {
            let (e_lines, a_lines): (Vec<&str>, Vec<&str>) = (e.lines().collect(), a.lines().collect());
            differ.push((json.to_path_buf(), diff::unified("OTP", &e_lines, "engine", &a_lines)));
        }
        (Err(_), _) => problems.push(format!("{}: no OTP trace (see the oracle's errors)", json.display())),
        // The engine's failure is already listed.
        (Ok(_), Err(_)) => {}
    }
}

fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Copies `X.json` and its given `X.expected`; returns how many.
fn copy_hand_scenarios(from: &Path, to: &Path) -> Result<usize, String> {
    let files = trace::json_files(from)?;
    for json in &files {
        for file in [json.clone(), json.with_extension("expected")] {
            let name = file.file_name().unwrap_or_default();
            fs::copy(&file, to.join(name)).map_err(|e| format!("cannot copy {}: {e}", file.display()))?;
        }
    }
    Ok(files.len())
}

fn generate(generator: &Path, seed: u64, count: usize, out: &Path, full: bool) -> Result<(), String> {
    let mut c = Command::new("python3");
    c.arg(generator)
        .args(["--seed", &seed.to_string(), "--count", &count.to_string(), "--out"])
        .arg(out)
        .stderr(Stdio::null());
    if full {
        c.arg("--full");
    }
    let shown = cmd::show(&c);
    let status = c.status().map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// `escript ORACLE --dir DIR`, its messages kept in `DIR/oracle.log`.
fn spawn_oracle(oracle: &Path, dir: &Path) -> Result<Child, String> {
    let log = File::create(dir.join("oracle.log")).map_err(|e| format!("cannot create the oracle log: {e}"))?;
    Command::new("escript")
        .arg(oracle)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot run the oracle: {e}"))
}
