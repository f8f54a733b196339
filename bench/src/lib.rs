//! Shared harness for the atlas benchmarks: argument parsing, timing and
//! the report format (`text` or one JSON object per line with `--json`).
//!
//! Every figure is printed beside its anchor, measured in the same run, with
//! the ratio `value / anchor_value`.

pub mod otp;

use std::time::Instant;

/// How a bench binary was asked to run.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// One JSON object per result line.
    pub json: bool,
    /// Fewer iterations: the whole suite stays under two minutes.
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

    /// One result: `value` in `unit`, beside `anchor` = `anchor_value`.
    pub fn report(&self, bench: &str, value: f64, unit: &str, anchor: &str, anchor_value: f64) {
        let ratio = if anchor_value != 0.0 {
            value / anchor_value
        } else {
            f64::NAN
        };
        if self.json {
            let obj = serde_json::json!({
                "bench": bench, "value": value, "unit": unit,
                "anchor": anchor, "anchor_value": anchor_value, "ratio": ratio,
            });
            println!("{obj}");
        } else {
            println!("{bench:<58} {value:>12.2} {unit:<9} | {anchor:<34} {anchor_value:>12.2}  ratio {ratio:>6.2}");
        }
    }

    /// One result with no anchor measured in this run (e.g. OTP missing).
    pub fn report_alone(&self, bench: &str, value: f64, unit: &str, why: &str) {
        if self.json {
            let obj = serde_json::json!({
                "bench": bench, "value": value, "unit": unit,
                "anchor": why, "anchor_value": null, "ratio": null,
            });
            println!("{obj}");
        } else {
            println!("{bench:<58} {value:>12.2} {unit:<9} | ({why})");
        }
    }
}

/// Nanoseconds per iteration of `f`, run `iters` times.
pub fn ns_per_iter(iters: u64, mut f: impl FnMut(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..iters {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

/// The `q`-quantile (0..=1) of `samples`, which it sorts.
pub fn quantile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let idx = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[idx]
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
