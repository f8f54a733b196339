//! Shared harness for the atlas benchmarks: argument parsing, timing and
//! the report format (`text` or one JSON object per line with `--json`).
//!
//! Every figure is printed beside its anchor, measured in the same run, with
//! the ratio `value / anchor_value`.

pub mod contenders;
pub mod otp;
pub mod restart;

use std::time::Instant;

/// How a bench binary was asked to run.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// One JSON object per result line.
    pub json: bool,
    /// Less work: the whole suite stays under two minutes. The OTP side is
    /// given the same, smaller work (see [`otp::Work`]).
    pub quick: bool,
}

impl Opts {
    /// Reads `--json` and `--quick` from the command line.
    pub fn from_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        Self {
            json: args.iter().any(|a| a == "--json"),
            quick: args.iter().any(|a| a == "--quick"),
        }
    }

    /// `full` normally, `quick` with `--quick`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }

    /// How many samples each compared figure is the median of, on the Rust
    /// side and on the OTP side alike (odd, so the median is one sample).
    pub fn samples(&self) -> usize {
        self.pick(5, 3)
    }

    /// A section heading (text mode only).
    pub fn section(&self, title: &str) {
        if !self.json {
            println!("\n## {title}");
        }
    }

    /// A free-form note (text mode only), e.g. what the anchor is.
    pub fn note(&self, text: &str) {
        if !self.json {
            println!("#  {text}");
        }
    }

    /// One result: `value` in `unit`, beside `anchor` = `anchor_value`,
    /// which must have been measured in this run (never a constant, a goal
    /// or an expectation: those go through [`Opts::report_alone`] or
    /// [`Opts::report_goal`]).
    pub fn report(&self, bench: &str, value: f64, unit: &str, anchor: &str, anchor_value: f64) {
        println!(
            "{}",
            Line::anchored(bench, value, unit, anchor, anchor_value).render(self.json)
        );
    }

    /// One result with no anchor measured in this run; `why` says why (e.g.
    /// OTP missing). The anchor fields are null.
    pub fn report_alone(&self, bench: &str, value: f64, unit: &str, why: &str) {
        println!("{}", Line::alone(bench, value, unit, why).render(self.json));
    }

    /// One result beside a goal or an expected value (not an anchor: it
    /// was not measured). The anchor fields are null; the JSON carries the
    /// goal in `goal`/`goal_value`.
    pub fn report_goal(&self, bench: &str, value: f64, unit: &str, goal: &str, goal_value: f64) {
        println!("{}", Line::goal(bench, value, unit, goal, goal_value).render(self.json));
    }
}

/// One result line, before it is printed as text or JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    bench: String,
    value: f64,
    unit: String,
    /// A figure measured in the same run, and what it is.
    anchor: Option<(String, f64)>,
    /// A goal or expected value, and what it is (never an anchor).
    goal: Option<(String, f64)>,
    /// Why there is no anchor.
    note: Option<String>,
}

impl Line {
    /// A result beside a measured anchor.
    pub fn anchored(bench: &str, value: f64, unit: &str, anchor: &str, anchor_value: f64) -> Self {
        Self {
            anchor: Some((anchor.to_owned(), anchor_value)),
            ..Self::alone(bench, value, unit, "")
        }
    }

    /// A result with no measured anchor; `why` may be empty.
    pub fn alone(bench: &str, value: f64, unit: &str, why: &str) -> Self {
        Self {
            bench: bench.to_owned(),
            value,
            unit: unit.to_owned(),
            anchor: None,
            goal: None,
            note: (!why.is_empty()).then(|| why.to_owned()),
        }
    }

    /// A result beside a goal (not measured, so not an anchor).
    pub fn goal(bench: &str, value: f64, unit: &str, goal: &str, goal_value: f64) -> Self {
        Self {
            goal: Some((goal.to_owned(), goal_value)),
            ..Self::alone(bench, value, unit, "")
        }
    }

    /// The text line, or one JSON object with `bench`, `value`, `unit`,
    /// `anchor`, `anchor_value`, `ratio` (null without a measured anchor),
    /// plus `goal`, `goal_value` and `note` when there are any.
    pub fn render(&self, json: bool) -> String {
        let ratio = self
            .anchor
            .as_ref()
            .map(|(_, a)| if *a != 0.0 { self.value / a } else { f64::NAN });
        if json {
            let mut obj = serde_json::json!({
                "bench": self.bench, "value": self.value, "unit": self.unit,
                "anchor": self.anchor.as_ref().map(|(a, _)| a),
                "anchor_value": self.anchor.as_ref().map(|(_, v)| v),
                "ratio": ratio,
            });
            if let Some((g, v)) = &self.goal {
                obj["goal"] = g.as_str().into();
                obj["goal_value"] = (*v).into();
            }
            if let Some(n) = &self.note {
                obj["note"] = n.as_str().into();
            }
            return obj.to_string();
        }
        let (bench, value, unit) = (&self.bench, self.value, &self.unit);
        let head = format!("{bench:<58} {value:>12.2} {unit:<9} |");
        match (&self.anchor, ratio, &self.goal, &self.note) {
            (Some((anchor, av)), Some(r), _, _) => format!("{head} {anchor:<34} {av:>12.2}  ratio {r:>6.2}"),
            (_, _, Some((goal, gv)), _) => format!("{head} (no anchor; {goal} {gv:.2})"),
            (_, _, _, Some(why)) => format!("{head} (no anchor: {why})"),
            _ => format!("{head} (no anchor)"),
        }
    }
}

/// The median of `samples` as OTP's bench computes it (the mean of the two
/// middle ones for an even count); NaN when empty.
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (0..=100) of `samples`, as OTP's bench picks it:
/// the `round(p/100 * n)`-th smallest (1-based, clamped); NaN when empty.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    let nth = ((p / 100.0 * s.len() as f64).round() as usize).clamp(1, s.len());
    s[nth - 1]
}

/// Nanoseconds per iteration of `f`, run `iters` times.
pub fn ns_per_iter(iters: u64, mut f: impl FnMut(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..iters {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

/// Runs `f` on `threads` OS threads at once (released together) and returns
/// the wall time of the slowest in nanoseconds.
pub fn on_threads<F>(threads: usize, f: F) -> f64
where
    F: Fn(usize) + Sync,
{
    let barrier = std::sync::Barrier::new(threads);
    let start = std::sync::Mutex::new(None::<Instant>);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (f, barrier, start) = (&f, &barrier, &start);
            s.spawn(move || {
                if barrier.wait().is_leader() {
                    *start.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                }
                f(t);
            });
        }
    });
    let t0 = start
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(Instant::now);
    t0.elapsed().as_nanos() as f64
}

/// Live heap bytes, from a counting global allocator the bench binary
/// installs (see [`CountingAlloc`]).
pub mod alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicIsize, Ordering};

    /// A global allocator that counts live bytes. Install it in a bench
    /// binary with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
    pub struct CountingAlloc;

    static LIVE: AtomicIsize = AtomicIsize::new(0);

    /// Bytes allocated and not yet freed.
    pub fn live_bytes() -> isize {
        LIVE.load(Ordering::Relaxed)
    }

    #[allow(unsafe_code)]
    // SAFETY: forwards to the system allocator unchanged; only counts.
    unsafe impl GlobalAlloc for CountingAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            // SAFETY: same contract as the caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
            // SAFETY: same contract as the caller's.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
            // SAFETY: same contract as the caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

/// Pseudo-random key indices in `0..keys`, one sequence of `len` per thread
/// (xorshift, seeded per thread so that threads never walk in lockstep).
pub fn key_sequences(threads: usize, len: usize, keys: usize) -> Vec<Vec<u16>> {
    (0..threads)
        .map(|t| {
            let mut x = 0x2545_F491_4F6C_DD1D_u64 ^ (t as u64 + 1);
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % keys as u64) as u16
                })
                .collect()
        })
        .collect()
}

/// Builds the `fly-tokens` binary in this bench's profile (release under
/// `cargo xtask bench`) and returns its path: for the benches that run it
/// as real processes.
///
/// It is built into a target directory of its own (`fly-tokens-bench`
/// beside the bench's profile directory): built alone, `atlas-fly-cli`
/// resolves its dependencies' features differently from the bench crate,
/// and in the shared target directory each build would invalidate the
/// other's, rebuilding the bench binaries after every process bench.
///
/// # Panics
/// When the build fails or leaves no binary: the bench cannot run.
pub fn build_fly_tokens() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let exe = std::env::current_exe().expect("own path");
    let profile_dir = exe.parent().expect("profile dir");
    let profile = profile_dir.file_name().expect("profile name").to_owned();
    let target = profile_dir.parent().expect("target dir").join("fly-tokens-bench");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "-p",
            "atlas-fly-cli",
            "--bin",
            "fly-tokens",
            "--target-dir",
        ])
        .arg(&target);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build of fly-tokens failed");
    let bin = target.join(profile).join("fly-tokens");
    assert!(bin.exists(), "{} not built", bin.display());
    bin
}

/// The wall time of one `Tokens::get` per `(stack, names, index)` of
/// `herd`, all spawned at once on the current runtime and joined: the
/// cold-herd figures' timed part. The plan is walked inside the timing, as
/// each caller's clones are part of its cost.
///
/// # Panics
/// When a caller gets no token: the herd figure would be meaningless.
pub async fn gets_at_once(
    herd: impl Iterator<Item = (atlas_app_server::Tokens, std::sync::Arc<Vec<String>>, usize)>,
) -> std::time::Duration {
    let t0 = Instant::now();
    let tasks: Vec<_> = herd
        .map(|(tokens, names, i)| tokio::spawn(async move { tokens.get(&names[i]).await.is_ok() }))
        .collect();
    for t in tasks {
        assert!(t.await.expect("joins"), "every caller got a token");
    }
    t0.elapsed()
}

/// A 300-byte token shaped like the OTP script's: `FlyV1 fm2_` and
/// pseudo-random base64url, different for each `i`.
pub fn fake_token(i: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut s = String::from("FlyV1 fm2_");
    while s.len() < 300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(ALPHABET[(x % 64) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(line: &Line) -> serde_json::Value {
        serde_json::from_str(&line.render(true)).expect("one JSON object")
    }

    #[test]
    fn a_measured_anchor_gives_a_ratio() {
        let l = Line::anchored("restart p50", 2.0, "us", "OTP, 1 scheduler(s)", 8.0);
        let j = json(&l);
        assert_eq!(j["anchor"], "OTP, 1 scheduler(s)");
        assert_eq!(j["anchor_value"], 8.0);
        assert_eq!(j["ratio"], 0.25);
        assert!(l.render(false).ends_with("ratio   0.25"), "{}", l.render(false));
    }

    #[test]
    fn without_an_anchor_the_anchor_fields_are_null() {
        let l = Line::alone("idle AppServer", 1341.0, "bytes", "OTP not measured (no escript)");
        let j = json(&l);
        for field in ["anchor", "anchor_value", "ratio"] {
            assert!(j[field].is_null(), "{field} is {}", j[field]);
        }
        assert_eq!(j["note"], "OTP not measured (no escript)");
        assert!(l.render(false).contains("(no anchor: OTP not measured (no escript))"));
        assert!(Line::alone("x", 1.0, "ms", "").render(false).ends_with("(no anchor)"));
    }

    #[test]
    fn a_goal_is_never_an_anchor() {
        let l = Line::goal("bytes per idle child", 621.0, "bytes", "goal: at most", 1024.0);
        let j = json(&l);
        for field in ["anchor", "anchor_value", "ratio"] {
            assert!(j[field].is_null(), "{field} is {}", j[field]);
        }
        assert_eq!(
            (j["goal"].as_str(), j["goal_value"].as_f64()),
            (Some("goal: at most"), Some(1024.0))
        );
        let text = l.render(false);
        assert!(
            text.contains("(no anchor; goal: at most 1024.00)") && !text.contains("ratio"),
            "{text}"
        );
    }

    #[test]
    fn median_and_percentile_match_the_otp_bench() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        let s: Vec<f64> = (1..=10_000).map(f64::from).collect();
        // OTP: lists:nth(round(P / 100 * N), Sorted).
        assert_eq!(percentile(&s, 50.0), 5_000.0);
        assert_eq!(percentile(&s, 99.0), 9_900.0);
        assert_eq!(percentile(&[7.0], 1.0), 7.0);
    }
}
