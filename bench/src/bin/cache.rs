//! atlas-cache's warm TTL lookup beside the concurrent maps a Rust user would
//! reach for, and beside real ETS: 1,000 keys `app-N`, a 300-byte token
//! (`Arc<str>`) with its `expires_at`, uniform over the keys and all on one
//! hot key, on 1 and 2 threads. Every map does the same work per lookup: find
//! the key, check `expires_at > now`, read the token's length.
//!
//! cargo run --release -p atlas-bench --bin cache -- [--quick] [--json]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use atlas_bench::otp::{self, Work};
use atlas_bench::{median, on_threads, Opts};
use atlas_cache::{CoarseClock, Expiring, Table};

const KEYS: usize = 1_000;
const HOT: usize = 123;
/// Indices per thread for the uniform runs (a power of two).
const SEQ: usize = 1 << 14;
const NOW: i64 = 1_700_000_000;

type Entry = (Arc<str>, i64);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Dist {
    Uniform,
    Hot,
}

impl Dist {
    fn label(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform keys",
            Dist::Hot => "one hot key",
        }
    }
}

/// A 300-byte token like the OTP script's.
fn token(i: usize) -> Arc<str> {
    atlas_bench::fake_token(i).into()
}

/// Per-thread key sequences: pseudo-random indices (uniform) or the hot key.
struct Workload {
    keys: Vec<String>,
    seqs: Vec<Vec<u16>>,
}

impl Workload {
    fn new(threads: usize) -> Self {
        let keys = (1..=KEYS).map(|i| format!("app-{i}")).collect();
        let seqs = atlas_bench::key_sequences(threads, SEQ, KEYS);
        Self { keys, seqs }
    }

    #[inline]
    fn key(&self, dist: Dist, thread: usize, i: u64) -> &str {
        match dist {
            Dist::Uniform => &self.keys[self.seqs[thread][i as usize & (SEQ - 1)] as usize],
            Dist::Hot => &self.keys[HOT],
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Measure {
    /// Wall time per lookup of one thread.
    ns: f64,
    /// All threads' lookups per second.
    rate: f64,
    /// No thread of the run waited for a CPU (no other process got in).
    clean: bool,
}

/// Runs `lookup` on `threads` threads, `iters` each, and returns the figures.
fn run<F>(w: &Workload, dist: Dist, threads: usize, iters: u64, lookup: &F) -> Measure
where
    F: Fn(&str) -> usize + Sync,
{
    let waited = std::sync::Mutex::new(0u64);
    let wall = on_threads(threads, |t| {
        let before = run_queue_wait_ns();
        let mut acc = 0usize;
        for i in 0..iters {
            acc = acc.wrapping_add(lookup(black_box(w.key(dist, t, i))));
        }
        black_box(acc);
        let mine = run_queue_wait_ns().saturating_sub(before);
        let mut max = waited.lock().unwrap_or_else(|e| e.into_inner());
        *max = (*max).max(mine);
    });
    let waited = waited.into_inner().unwrap_or_else(|e| e.into_inner());
    Measure {
        ns: wall / iters as f64,
        rate: (threads as u64 * iters) as f64 / (wall / 1e9),
        clean: (waited as f64) < 0.03 * wall,
    }
}

/// How long this thread has waited, runnable, for a CPU (Linux schedstat;
/// 0 where unavailable). Another process taking "our" core shows up here.
fn run_queue_wait_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// One contender's run, sized by its argument (iterations per thread).
type Runner<'a> = Box<dyn Fn(u64) -> Measure + 'a>;

fn runner<'a, F>(w: &'a Workload, dist: Dist, threads: usize, lookup: F) -> Runner<'a>
where
    F: Fn(&str) -> usize + Sync + 'a,
{
    Box::new(move |iters| run(w, dist, threads, iters, &lookup))
}

/// Each runner's median over several short rounds (as many as the OTP side
/// has samples), after a warm-up round; the rounds are interleaved across
/// runners so that a burst of load from elsewhere on the machine hits them
/// alike. A figure is `clean` when most of its rounds were.
fn median_of(opts: &Opts, runners: &[(&'static str, Runner<'_>)]) -> Vec<(&'static str, Measure)> {
    let target_ms = opts.pick(60.0, 20.0);
    let rounds = opts.samples();
    let iters: Vec<u64> = runners
        .iter()
        .map(|(_, r)| ((target_ms * 1e6 / r(20_000).ns) as u64).max(10_000))
        .collect();
    for (i, (_, r)) in runners.iter().enumerate() {
        r(iters[i] / 4);
    }
    let mut all: Vec<Vec<Measure>> = vec![Vec::new(); runners.len()];
    for _ in 0..rounds {
        for (i, (_, r)) in runners.iter().enumerate() {
            all[i].push(r(iters[i]));
        }
    }
    runners
        .iter()
        .zip(all)
        .map(|((name, _), ms)| {
            let m = Measure {
                ns: median(&ms.iter().map(|m| m.ns).collect::<Vec<_>>()),
                rate: median(&ms.iter().map(|m| m.rate).collect::<Vec<_>>()),
                clean: 2 * ms.iter().filter(|m| m.clean).count() > ms.len(),
            };
            (*name, m)
        })
        .collect()
}

/// Every contender, filled with the same entries.
struct Maps {
    atlas: Table<String, Expiring<Arc<str>>>,
    _owner: atlas_cache::Ownership<String, Expiring<Arc<str>>, atlas_cache::DefaultHashBuilder>,
    dashmap: dashmap::DashMap<String, Entry>,
    papaya: papaya::HashMap<String, Entry>,
    papaya_fold: papaya::HashMap<String, Entry, foldhash::fast::RandomState>,
    scc: scc::HashIndex<String, Entry>,
    scc_fold: scc::HashIndex<String, Entry, foldhash::fast::RandomState>,
    rwlock: parking_lot::RwLock<HashMap<String, Entry>>,
    moka: moka::sync::Cache<String, Entry>,
}

impl Maps {
    fn new(keys: &[String]) -> Self {
        let atlas = Table::new();
        let owner = atlas.owner().claim();
        let maps = Self {
            atlas,
            _owner: owner,
            dashmap: dashmap::DashMap::new(),
            papaya: papaya::HashMap::new(),
            papaya_fold: papaya::HashMap::builder()
                .hasher(Default::default())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            scc: scc::HashIndex::new(),
            scc_fold: scc::HashIndex::with_hasher(Default::default()),
            rwlock: parking_lot::RwLock::new(HashMap::new()),
            moka: moka::sync::Cache::builder().max_capacity(10 * KEYS as u64).build(),
        };
        for (i, k) in keys.iter().enumerate() {
            let (tok, exp) = (token(i), NOW + 3600);
            let _ = maps.atlas.insert_expiring(k.clone(), tok.clone(), exp);
            maps.dashmap.insert(k.clone(), (tok.clone(), exp));
            maps.papaya.pin().insert(k.clone(), (tok.clone(), exp));
            maps.papaya_fold.pin().insert(k.clone(), (tok.clone(), exp));
            let _ = maps.scc.insert_sync(k.clone(), (tok.clone(), exp));
            let _ = maps.scc_fold.insert_sync(k.clone(), (tok.clone(), exp));
            maps.rwlock.write().insert(k.clone(), (tok.clone(), exp));
            maps.moka.insert(k.clone(), (tok, exp));
        }
        maps
    }
}

#[inline]
fn fresh(e: &Entry) -> Option<usize> {
    (e.1 > NOW).then(|| e.0.len())
}

const ANCHOR: &str = "atlas-cache lookup_with (borrowed)";

/// All contenders for one (threads, distribution); returns name → figures.
fn group(opts: &Opts, m: &Maps, w: &Workload, dist: Dist, threads: usize) -> Vec<(&'static str, Measure)> {
    let n = |f: Option<usize>| f.unwrap_or(0);
    let runners: Vec<(&'static str, Runner<'_>)> = vec![
        (
            ANCHOR,
            runner(w, dist, threads, move |k| n(m.atlas.lookup_with(k, NOW, |t| t.len()))),
        ),
        (
            "atlas-cache lookup (owned Arc<str> clone)",
            runner(w, dist, threads, move |k| n(m.atlas.lookup(k, NOW).map(|t| t.len()))),
        ),
        (
            "dashmap 6 get",
            runner(w, dist, threads, move |k| n(m.dashmap.get(k).and_then(|r| fresh(&r)))),
        ),
        (
            "papaya pin().get",
            runner(w, dist, threads, move |k| n(m.papaya.pin().get(k).and_then(fresh))),
        ),
        (
            "papaya, foldhash + blocking resize (atlas's setup)",
            runner(w, dist, threads, move |k| n(m.papaya_fold.pin().get(k).and_then(fresh))),
        ),
        (
            "scc::HashIndex peek_with",
            runner(w, dist, threads, move |k| {
                n(m.scc.peek_with(k, |_, e| fresh(e)).flatten())
            }),
        ),
        (
            "scc::HashIndex peek_with, foldhash",
            runner(w, dist, threads, move |k| {
                n(m.scc_fold.peek_with(k, |_, e| fresh(e)).flatten())
            }),
        ),
        (
            "parking_lot::RwLock<HashMap> read().get",
            runner(w, dist, threads, move |k| n(m.rwlock.read().get(k).and_then(fresh))),
        ),
        (
            "moka::sync::Cache get (clones)",
            runner(w, dist, threads, move |k| n(m.moka.get(k).as_ref().and_then(fresh))),
        ),
    ];
    median_of(opts, &runners)
}

fn clocks(opts: &Opts) {
    opts.section("reading the time for a TTL check");
    let iters = opts.pick(20_000_000, 5_000_000);
    let clock = CoarseClock::global();
    let sys = atlas_bench::ns_per_iter(iters, |_| {
        black_box(SystemTime::now());
    });
    let coarse = atlas_bench::ns_per_iter(iters, |_| {
        black_box(clock.now_unix());
    });
    opts.report("CoarseClock::now_unix", coarse, "ns", "SystemTime::now()", sys);
}

fn main() {
    let opts = Opts::from_args();
    let t0 = Instant::now();
    opts.note("1,000 keys app-N, 300-byte Arc<str> token + expires_at; each lookup checks expires_at > now");
    opts.note("atlas-cache and the lines marked foldhash hash with foldhash; the others with their default (SipHash)");
    opts.note(&format!(
        "each figure: the median of {} short rounds after a warm-up, interleaved across the maps",
        opts.samples()
    ));
    let w = Workload::new(2);
    let maps = Maps::new(&w.keys);
    let mut all: HashMap<(Dist, usize), Vec<(&'static str, Measure)>> = HashMap::new();
    for threads in [1, 2] {
        for dist in [Dist::Uniform, Dist::Hot] {
            opts.section(&format!("ns per lookup, {}, {threads} thread(s)", dist.label()));
            let res = group(&opts, &maps, &w, dist, threads);
            let anchor = res[0].1.ns;
            for (name, m) in &res {
                opts.report(
                    &format!("{name} [{}, {threads}t]", short(dist)),
                    m.ns,
                    "ns",
                    ANCHOR,
                    anchor,
                );
            }
            all.insert((dist, threads), res);
        }
    }
    for dist in [Dist::Uniform, Dist::Hot] {
        opts.section(&format!("total lookups/s on 2 threads vs 1 thread, {}", dist.label()));
        let (one, two) = (&all[&(dist, 1)], &all[&(dist, 2)]);
        for ((name, m1), (_, m2)) in one.iter().zip(two) {
            opts.report(
                &format!("{name} [{}, 2t]", short(dist)),
                m2.rate / 1e6,
                "M/s",
                "same on 1 thread",
                m1.rate / 1e6,
            );
        }
    }
    ets(&opts, &all);
    clocks(&opts);
    let mut busy: Vec<String> = Vec::new();
    for ((dist, threads), res) in &all {
        for (name, _) in res.iter().filter(|(_, m)| !m.clean) {
            busy.push(format!("{name} [{}, {threads}t]", short(*dist)));
        }
    }
    if !busy.is_empty() {
        busy.sort();
        opts.note(&format!(
            "machine busy: in {} figure(s) most rounds had another process take a CPU; they understate: {}",
            busy.len(),
            busy.join("; ")
        ));
    }
    opts.note(&format!("whole run: {:.1} s", t0.elapsed().as_secs_f64()));
}

fn short(dist: Dist) -> &'static str {
    match dist {
        Dist::Uniform => "uniform",
        Dist::Hot => "hot",
    }
}

/// Real ETS (`ets:lookup` on a `read_concurrency` set, same keys and
/// token), with as many schedulers as the Rust side has threads.
fn ets(opts: &Opts, all: &HashMap<(Dist, usize), Vec<(&'static str, Measure)>>) {
    let work = Work::of(opts);
    opts.section("real Erlang/OTP ETS, same table shape (xtask/oracle/otp_bench.escript)");
    opts.note(&format!(
        "ETS: {} lookups per process per sample, median of {} samples, +S N:N for N threads",
        work.lookups, work.samples
    ));
    let ours = |threads| all[&(Dist::Uniform, threads)][0].1;
    for threads in [1, 2] {
        let label = format!("ets:lookup, {threads} process");
        let Some(rate) = otp::otp_bench(&work, threads).and_then(|f| otp::find(&f, &label)) else {
            let why = "OTP not measured (no escript)";
            opts.report_alone(&format!("{ANCHOR} [uniform, {threads}t]"), ours(threads).ns, "ns", why);
            continue;
        };
        if threads == 1 {
            opts.report(
                "ets:lookup, 1 process, +S 1, ns per lookup",
                1e9 / rate,
                "ns",
                ANCHOR,
                ours(1).ns,
            );
        }
        opts.report(
            &format!("ets:lookup, {threads} process(es), +S {threads}, total lookups/s"),
            rate / 1e6,
            "M/s",
            &format!("{ANCHOR} [uniform, {threads}t]"),
            ours(threads).rate / 1e6,
        );
    }
}
