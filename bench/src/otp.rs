//! Real Erlang/OTP figures, measured in the same run as the Rust ones.
//!
//! The OTP side is `xtask/oracle/otp_bench.escript` (restart latency, ETS
//! lookups, the ETS registry, process memory; beside the conformance
//! oracle) and this crate's `bench/otp/dynsup.escript` (idle children under
//! a `simple_one_for_one`). Each is run
//! with the same work as the Rust side ([`Work`]: as many samples, as many
//! restarts) and with as many schedulers as the Rust side has threads
//! (`ERL_FLAGS="+S N:N"`), so that every comparison pairs like with like.
//!
//! `cargo xtask bench` points `ATLAS_OTP_CACHE_DIR` at a directory that is
//! fresh for each of its runs: the first binary to need a figure runs the
//! script and leaves its output there, the others read it. A binary run
//! alone runs the scripts itself. Without `escript` on `PATH` every lookup
//! is `None` and the report says that OTP was not measured.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::Opts;

/// The figures of one script run: label → value.
pub type Figures = HashMap<String, f64>;

/// What the OTP scripts are asked to do; the Rust side does the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    /// Samples per figure; each figure is their median.
    pub samples: usize,
    /// Crash → restart cycles per sample of the restart benches.
    pub crashes: usize,
    /// `ets:lookup` calls per process per sample.
    pub lookups: usize,
    /// Distinct keys per thread (process) per sample of the registry
    /// cycles.
    pub reg_keys: usize,
}

impl Work {
    /// The work of a full run, or of a `--quick` one.
    pub fn of(opts: &Opts) -> Self {
        Self {
            samples: opts.samples(),
            crashes: opts.pick(10_000, 3_000),
            lookups: opts.pick(5_000_000, 1_000_000),
            reg_keys: opts.pick(200_000, 50_000),
        }
    }

    /// The arguments of `otp_bench.escript`.
    pub fn args(&self) -> Vec<String> {
        [self.samples, self.crashes, self.lookups, self.reg_keys]
            .map(|n| n.to_string())
            .to_vec()
    }
}

/// Where a script of the OTP side is: `otp_bench.escript` beside the
/// oracle in `xtask/oracle/`, the others in this crate's `bench/otp/`.
pub fn script(name: &str) -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match name {
        "otp_bench.escript" => crate_dir.join("../xtask/oracle").join(name),
        _ => crate_dir.join("otp").join(name),
    }
}

/// Whether `escript` is on `PATH`.
pub fn available() -> bool {
    Command::new("escript").arg("-h").output().is_ok()
}

/// The output of `escript SCRIPT ARGS` on `schedulers` schedulers, from the
/// run's cache when another binary of this run already measured it.
/// `None` without Erlang, or when the script failed.
pub fn run_script(name: &str, args: &[String], schedulers: usize) -> Option<String> {
    static MEMO: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let key = cache_key(name, args, schedulers);
    let memo = |text: &String| {
        let mut m = MEMO.lock().unwrap_or_else(|e| e.into_inner());
        m.push((key.clone(), text.clone()));
    };
    if let Some((_, text)) = MEMO
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(k, _)| *k == key)
    {
        return Some(text.clone());
    }
    let cached = std::env::var_os("ATLAS_OTP_CACHE_DIR").map(|d| Path::new(&d).join(&key));
    if let Some(text) = cached.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        memo(&text);
        return Some(text);
    }
    if !available() {
        return None;
    }
    eprintln!(
        "bench: measuring real OTP: {name} {} on {schedulers} scheduler(s)...",
        args.join(" ")
    );
    let out = Command::new("escript")
        .arg(script(name))
        .args(args)
        .env("ERL_FLAGS", format!("+S {schedulers}:{schedulers}"))
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("bench: {name} failed ({}): OTP not measured", out.status);
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Some(path) = cached {
        let _ = std::fs::write(path, &text);
    }
    memo(&text);
    Some(text)
}

/// The cache file of one script run: its name, arguments and schedulers.
pub fn cache_key(name: &str, args: &[String], schedulers: usize) -> String {
    let stem = name.trim_end_matches(".escript");
    format!("{stem}-S{schedulers}-{}.txt", args.join("-"))
}

/// The figures of `otp_bench.escript` doing `work` on `schedulers`
/// schedulers, or `None` without Erlang (or when the VM did not run with
/// that many schedulers).
pub fn otp_bench(work: &Work, schedulers: usize) -> Option<Figures> {
    let text = run_script("otp_bench.escript", &work.args(), schedulers)?;
    checked(&text, schedulers)
}

/// The figures of `dynsup.escript` (`children` idle children, each figure
/// the median of `samples`) on `schedulers` schedulers.
pub fn dynsup(children: usize, samples: usize, schedulers: usize) -> Option<Figures> {
    let args = [children.to_string(), samples.to_string()];
    let text = run_script("dynsup.escript", &args, schedulers)?;
    checked(&text, schedulers)
}

/// The parsed figures, if the script reports the schedulers it was asked
/// for (`# schedulers_online=N`).
fn checked(text: &str, schedulers: usize) -> Option<Figures> {
    match schedulers_online(text) {
        Some(n) if n == schedulers => Some(parse(text)),
        other => {
            eprintln!("bench: OTP ran on {other:?} schedulers, not {schedulers}: its figures are not used");
            None
        }
    }
}

/// The `schedulers_online=N` the scripts print in their header.
pub fn schedulers_online(text: &str) -> Option<usize> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .find_map(|l| l.split_once("schedulers_online=").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Parses result lines of the OTP escripts: a label padded to 62 columns,
/// then a value (`12.34 us`, `1.23M /s`, `456.0k /s`, `2728.0 bytes` …).
pub fn parse(text: &str) -> Figures {
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
    out
}

/// Finds the first figure whose label starts with `prefix`.
pub fn find(figures: &Figures, prefix: &str) -> Option<f64> {
    let mut keys: Vec<&String> = figures.keys().filter(|k| k.starts_with(prefix)).collect();
    keys.sort();
    keys.first().and_then(|k| figures.get(*k).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Erlang/OTP 25 [erts-13.1.5]\n\
# schedulers_online=2 logical_processors=2 wordsize=8\n\
window alive p50 (crash sent -> new child's init)                  79.10 us  [70.00 .. 90.00]\n\
ets:lookup, 1 process(es), total lookups/s                          8.85M /s  [8.00M .. 9.00M]\n\
ets:lookup, 2 process(es), total lookups/s                          456.0k /s  [1.0k .. 2.0k]\n\
idle gen_server after start + one call                             2728.00 bytes\n";

    #[test]
    fn parses_values_with_their_multipliers() {
        let f = parse(SAMPLE);
        assert_eq!(find(&f, "window alive p50"), Some(79.10));
        assert_eq!(find(&f, "ets:lookup, 1 process"), Some(8.85e6));
        assert_eq!(find(&f, "ets:lookup, 2 process"), Some(456.0e3));
        assert_eq!(find(&f, "idle gen_server after start"), Some(2728.0));
    }

    #[test]
    fn figures_from_another_scheduler_count_are_refused() {
        assert_eq!(schedulers_online(SAMPLE), Some(2));
        assert!(checked(SAMPLE, 2).is_some());
        assert!(
            checked(SAMPLE, 1).is_none(),
            "a 2-scheduler run is no anchor for 1 thread"
        );
        assert!(checked("no header\n", 1).is_none());
    }

    #[test]
    fn quick_gives_the_otp_side_the_same_smaller_work() {
        let full = Opts {
            json: false,
            quick: false,
        };
        let quick = Opts {
            json: false,
            quick: true,
        };
        assert_eq!(Work::of(&full).args(), ["5", "10000", "5000000", "200000"]);
        assert_eq!(Work::of(&quick).args(), ["3", "3000", "1000000", "50000"]);
        assert_eq!(Work::of(&quick).samples, quick.samples());
    }

    #[test]
    fn the_scripts_are_in_the_repository() {
        assert!(
            script("otp_bench.escript").is_file(),
            "{}",
            script("otp_bench.escript").display()
        );
        assert!(
            script("dynsup.escript").is_file(),
            "{}",
            script("dynsup.escript").display()
        );
    }

    #[test]
    fn each_work_and_scheduler_count_has_its_own_cache_file() {
        let w = Work::of(&Opts {
            json: false,
            quick: true,
        })
        .args();
        assert_eq!(
            cache_key("otp_bench.escript", &w, 1),
            "otp_bench-S1-3-3000-1000000-50000.txt"
        );
        assert_ne!(
            cache_key("otp_bench.escript", &w, 1),
            cache_key("otp_bench.escript", &w, 2)
        );
    }
}
