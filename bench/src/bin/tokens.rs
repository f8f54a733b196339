//! The Fly token stack (atlas-app-server): the facade's warm `get` beside
//! the bare atlas-cache lookup underneath it, a cold herd, the bytes of an
//! idle AppServer, and the slow-path round trip.
//!
//! No tracing subscriber is installed: the spans cost what a disabled span
//! costs.
//!
//! cargo run --release -p atlas-bench --bin tokens -- [--quick] [--json]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use atlas_app_server::{
    cmd_fn, AppName, CmdOutput, MemoryStorage, OrgName, Scope, Storage, StorageKey, Token, TokenKind, TokenRecord,
    Tokens, TokensConfig,
};
use atlas_bench::alloc::{live_bytes, CountingAlloc};
use atlas_bench::otp::{self, Work};
use atlas_bench::{median, on_threads, percentile, Opts};
use atlas_cache::{CoarseClock, Expiring, Table};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const KEYS: usize = 1_000;
/// Indices per thread for the uniform runs (a power of two).
const SEQ: usize = 1 << 14;

/// A 300-byte token, as in the cache bench.
fn token(i: usize) -> String {
    atlas_bench::fake_token(i)
}

fn app(i: usize) -> String {
    format!("app-{i}")
}

/// A fake fly CLI: counts calls, takes `delay`, prints a token.
fn fake_cli(delay: Duration, calls: Arc<AtomicUsize>) -> impl atlas_app_server::CmdFn {
    cmd_fn(move |_program, _args| {
        let calls = calls.clone();
        async move {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(CmdOutput::new(0, format!("{}\n", token(n)), ""))
        }
    })
}

/// One minted token per app (deploy tokens), so the sections that measure
/// a server per app are not served by one org token.
fn per_app() -> TokensConfig {
    TokensConfig::default().configure(|s| s.token_kind(TokenKind::Deploy))
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Polls a future that completes without waiting (the fast path) once.
fn now_or_never<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fast path waited"),
    }
}

/// Pseudo-random key indices per thread.
fn sequences(threads: usize) -> Vec<Vec<u16>> {
    atlas_bench::key_sequences(threads, SEQ, KEYS)
}

/// ns per operation of `op(thread, key index)` on `threads` threads.
fn per_op(threads: usize, iters: usize, seqs: &[Vec<u16>], op: impl Fn(usize) -> usize + Sync) -> f64 {
    let wall = on_threads(threads, |t| {
        let seq = &seqs[t];
        let mut acc = 0usize;
        for i in 0..iters {
            acc = acc.wrapping_add(op(seq[i & (SEQ - 1)] as usize));
        }
        black_box(acc);
    });
    wall / iters as f64
}

fn warm_get(opts: &Opts) {
    opts.section(&format!(
        "warm get: Tokens::get vs the bare atlas-cache lookup underneath (no tracing subscriber), \
         median of {} samples after a warm-up",
        opts.samples()
    ));
    let rt = runtime(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let tokens = rt.block_on(async {
        let tokens = Tokens::start(per_app().cmd_fn(fake_cli(Duration::ZERO, calls.clone())))
            .await
            .expect("starts");
        for i in 0..KEYS {
            tokens.get(&app(i)).await.expect("warm");
        }
        tokens
    });
    // The anchor: the same table shape, filled with the same tokens, read
    // the way the facade reads it (coarse clock, TTL check, token clone).
    let table: Table<AppName, Expiring<Token>> = Table::new();
    let _owner = table.owner().claim();
    let now = CoarseClock::global().now_unix();
    let names: Vec<String> = (0..KEYS).map(app).collect();
    for (i, name) in names.iter().enumerate() {
        let t = tokens.cached(name).expect("warm");
        assert_eq!(t.expose().len(), token(i).len());
        let name = AppName::new(name).expect("valid");
        table.insert_expiring(name, t, now + 86_400).expect("owned");
    }
    let seqs = sequences(2);
    let iters = opts.pick(2_000_000, 300_000);
    let bare = |k: usize| {
        let now = CoarseClock::global().now_unix();
        table.lookup(names[k].as_str(), now).map_or(0, |t| t.expose().len())
    };
    let facade = |k: usize| now_or_never(tokens.get(&names[k])).map_or(0, |t| t.expose().len());
    // One hot key on two threads: both sides clone one token (a shared
    // reference count), the facade adds no shared write of its own.
    let hot = vec![vec![7u16; SEQ]; 2];
    for (label, threads, keys) in [
        ("uniform keys [1t]", 1, &seqs),
        ("uniform keys [2t]", 2, &seqs),
        ("one hot key [2t]", 2, &hot),
    ] {
        // A warm-up of each, then samples interleaved so that load from
        // elsewhere on the machine hits both alike; the medians are compared.
        per_op(threads, iters / 4, keys, bare);
        per_op(threads, iters / 4, keys, facade);
        let (mut b, mut f) = (Vec::new(), Vec::new());
        for _ in 0..opts.samples() {
            b.push(per_op(threads, iters, keys, bare));
            f.push(per_op(threads, iters, keys, facade));
        }
        opts.report(
            &format!("Tokens::get, warm, {label}"),
            median(&f),
            "ns",
            "bare Table::lookup + clock",
            median(&b),
        );
    }
    assert_eq!(calls.load(Ordering::Relaxed), KEYS, "warm gets ran no CLI");
    rt.block_on(tokens.shutdown());
}

/// Wall time of `apps` × `callers` concurrent gets, the apps spread over
/// `orgs` orgs, on fresh stacks whose CLI takes `delay`; returns (wall, CLI
/// calls). The org is a setting of a stack (`--org`), so each org is a
/// stack of its own; all share one runtime and one CLI counter.
fn herd(apps: usize, orgs: usize, callers: usize, delay: Duration) -> (Duration, usize) {
    let rt = runtime(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let wall = rt.block_on(async {
        let mut stacks = Vec::with_capacity(orgs);
        for o in 0..orgs {
            let org = OrgName::new(&format!("org-{o}")).expect("valid");
            let config = TokensConfig::default()
                .cmd_fn(fake_cli(delay, calls.clone()))
                .configure(|s| s.org(org).soft_expiry_lead(Duration::ZERO));
            stacks.push(Tokens::start(config).await.expect("starts"));
        }
        let names: Arc<Vec<String>> = Arc::new((0..apps).map(app).collect());
        // Interleave the apps so that each app's callers arrive spread out.
        let herd = (0..callers).flat_map(|c| (0..apps).map(move |i| (i + c * 7) % apps));
        let wall = atlas_bench::gets_at_once(herd.map(|i| (stacks[i % orgs].clone(), names.clone(), i))).await;
        for tokens in stacks {
            tokens.shutdown().await;
        }
        wall
    });
    (wall, calls.load(Ordering::Relaxed))
}

/// The same herd with no token stack: `apps` bare tokio tasks (started in
/// the timed section, as the stack's servers are), each answering its
/// callers (one unbounded mpsc message and one oneshot reply per caller)
/// once its org's single `delay` sleep has passed. The least a server per
/// app costs for this herd: the callers' spawning, one message and one
/// reply each, and the joining, with none of the stack's work.
fn bare_herd(apps: usize, orgs: usize, callers: usize, delay: Duration) -> Duration {
    use tokio::sync::{mpsc, oneshot, OnceCell};
    let rt = runtime(2);
    rt.block_on(async {
        let flights: Vec<Arc<OnceCell<()>>> = (0..orgs).map(|_| Arc::new(OnceCell::new())).collect();
        let t0 = Instant::now();
        let servers: Vec<mpsc::UnboundedSender<oneshot::Sender<bool>>> = (0..apps)
            .map(|i| {
                let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<bool>>();
                let flight = flights[i % orgs].clone();
                tokio::spawn(async move {
                    while let Some(reply) = rx.recv().await {
                        flight.get_or_init(|| tokio::time::sleep(delay)).await;
                        let _ = reply.send(true);
                    }
                });
                tx
            })
            .collect();
        let servers = Arc::new(servers);
        let mut tasks = Vec::with_capacity(apps * callers);
        for c in 0..callers {
            for i in 0..apps {
                let i = (i + c * 7) % apps;
                let servers = servers.clone();
                tasks.push(tokio::spawn(async move {
                    let (tx, rx) = oneshot::channel();
                    servers[i].send(tx).is_ok() && rx.await.unwrap_or(false)
                }));
            }
        }
        for t in tasks {
            assert!(t.await.expect("joins"), "every caller got a reply");
        }
        t0.elapsed()
    })
}

/// Wall time of spawning `n` trivial tasks from outside the runtime (as
/// the herds spawn their callers) and joining them in order.
fn spawn_join(n: usize) -> Duration {
    let rt = runtime(2);
    rt.block_on(async {
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(async move { black_box(i) == i })).collect();
        for t in tasks {
            assert!(t.await.expect("joins"));
        }
        t0.elapsed()
    })
}

fn cold_herd(opts: &Opts) {
    opts.section(&format!(
        "cold herd: 1,000 apps x 16 concurrent callers, fake CLI taking 20 ms, median of {} samples",
        opts.samples()
    ));
    let cli = Duration::from_millis(20);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for orgs in [1, 10] {
        // The anchors are measured: the same herd with one caller per app
        // (so the same servers, the same flights, the same CLI), and the
        // same herd on bare tokio tasks; never a model. Samples interleaved,
        // so that load from elsewhere hits all alike.
        let (mut one, mut ours, mut bare, mut spawned) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut calls = Vec::new();
        for _ in 0..opts.samples() {
            one.push(ms(herd(1_000, orgs, 1, cli).0));
            let (wall, n) = herd(1_000, orgs, 16, cli);
            ours.push(ms(wall));
            calls.push(n);
            bare.push(ms(bare_herd(1_000, orgs, 16, cli)));
            spawned.push(ms(spawn_join(16_000)));
        }
        opts.note(&format!(
            "{orgs} org(s): anchors the same herd with one caller per app, and the same herd on bare tokio \
             tasks, measured in this run; spawning and joining 16,000 trivial tasks alone took {:.1} ms",
            median(&spawned)
        ));
        opts.report_goal(
            &format!("cold herd 1,000 apps in {orgs} org(s) x 16 callers, CLI calls"),
            calls[0] as f64,
            "calls",
            "expected: one call per org,",
            orgs as f64,
        );
        opts.report(
            &format!("cold herd 1,000 apps in {orgs} org(s) x 16 callers, wall time"),
            median(&ours),
            "ms",
            "1,000 apps x 1 caller, same CLI",
            median(&one),
        );
        opts.report(
            &format!("cold herd 1,000 apps in {orgs} org(s) x 16 callers, wall time vs bare tokio"),
            median(&ours),
            "ms",
            "1,000 bare tasks, mpsc+oneshot per caller",
            median(&bare),
        );
        assert!(calls.iter().all(|&n| n == orgs), "the CLI ran exactly once per org");
    }
}

fn idle_bytes(opts: &Opts) {
    opts.section("bytes per idle AppServer (token cached, soft-expiry timer armed)");
    let n = opts.pick(10_000, 2_000);
    let rt = runtime(2);
    let per_server = rt.block_on(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let tokens = Tokens::start(per_app().cmd_fn(fake_cli(Duration::ZERO, calls)))
            .await
            .expect("starts");
        for i in 0..n {
            tokens.get(&app(i)).await.expect("token");
        }
        // Let the background persists finish and the servers go idle.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let with_servers = live_bytes();
        // Stop every AppServer, keeping table and storage: kill `apps`
        // (rest_for_one restarts it, empty).
        let root = tokens.supervisor();
        let apps = root.child("apps").await.expect("runs and has apps");
        apps.child_ref().expect("apps runs").kill();
        while !tokens.running_apps().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let without = live_bytes();
        assert!(tokens.cached(&app(0)).is_some(), "the table kept its tokens");
        tokens.shutdown().await;
        (with_servers - without) as f64 / n as f64
    });
    opts.note(&format!(
        "{n} servers; measured as live heap with them minus after they stopped (table and storage kept): \
         task + future, mailbox, armed timer, dynamic-supervisor bookkeeping; the registry's hash \
         table keeps its capacity, so its ~50 B/entry is not in the figure (as ETS is not in Erlang's)"
    ));
    let anchor = "idle Erlang gen_server (process_info), +S 2";
    // The stack runs on 2 tokio workers: OTP gets 2 schedulers.
    match otp::otp_bench(&Work::of(opts), 2).and_then(|f| otp::find(&f, "idle gen_server after start + one call")) {
        Some(erl) => opts.report("idle AppServer [2 workers]", per_server, "bytes", anchor, erl),
        None => opts.report_alone(
            "idle AppServer [2 workers]",
            per_server,
            "bytes",
            "OTP not measured (no escript)",
        ),
    }
}

fn slow_path(opts: &Opts) {
    opts.section("slow-path round trip: facade -> AppServer -> reply (warm server, table entry gone, storage hit)");
    opts.note("on 2 workers tokio sometimes schedules a reply through its run queue and unparks the idle worker (an eventfd write); 1 worker has none to wake, so the gap between the two lines is that, and the 1-worker line is the round trip's own work");
    for workers in [2, 1] {
        slow_path_on(opts, workers);
    }
}

/// The slow-path round trip and its anchor on a runtime of `workers`.
fn slow_path_on(opts: &Opts, workers: usize) {
    let samples = opts.pick(20_000, 3_000);
    let rt = runtime(workers);
    // Both loops run in a task on the runtime (not in `block_on`), so the
    // caller and the server are both runtime workers, as in a real program.
    let (ours, anchor) = rt.block_on(async {
        tokio::spawn(async move {
            let store = Arc::new(MemoryStorage::new());
            let calls = Arc::new(AtomicUsize::new(0));
            let tokens = Tokens::start(
                per_app()
                    .cmd_fn(fake_cli(Duration::ZERO, calls.clone()))
                    .storage(store.clone()),
            )
            .await
            .expect("starts");
            let name = AppName::new("my-app").expect("valid");
            tokens.get("my-app").await.expect("warm server");
            let key = StorageKey::Minted(Scope::App(name.clone()));
            let record = TokenRecord::minted(
                Scope::App(name.clone()),
                Token::new(token(1)),
                CoarseClock::global().now_unix() + 86_400,
            );
            let mut ours = Vec::with_capacity(samples);
            for _ in 0..samples {
                // Drop the table entry (and the stored copy, through the same
                // server), then put the stored copy back, so that the get goes
                // to the server and hits storage.
                tokens.invalidate("my-app").await.expect("invalidate");
                store.put(&key, record.clone()).await.expect("put");
                let t0 = Instant::now();
                let t = tokens.get("my-app").await.expect("storage hit");
                ours.push(t0.elapsed().as_nanos() as f64);
                black_box(t);
            }
            assert_eq!(calls.load(Ordering::Relaxed), 1, "every slow-path get hit storage");
            tokens.shutdown().await;

            // Anchor: a bare tokio request/reply to a spawned task (unbounded
            // mpsc + oneshot), the least any server round trip costs, in the
            // same pattern: an untimed request first, then the timed one.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Sender<u64>>();
            let echo = tokio::spawn(async move {
                while let Some(reply) = rx.recv().await {
                    let _ = reply.send(1);
                }
            });
            let call = |tx: &tokio::sync::mpsc::UnboundedSender<_>| {
                let (rtx, rrx) = tokio::sync::oneshot::channel();
                tx.send(rtx).expect("echo runs");
                rrx
            };
            let mut anchor = Vec::with_capacity(samples);
            for _ in 0..samples {
                black_box(call(&tx).await.expect("reply"));
                let t0 = Instant::now();
                black_box(call(&tx).await.expect("reply"));
                anchor.push(t0.elapsed().as_nanos() as f64);
            }
            drop(tx);
            echo.await.expect("echo ends");
            (ours, anchor)
        })
        .await
        .expect("bench task")
    });
    for (p, label) in [(50.0, "p50"), (99.0, "p99")] {
        opts.report(
            &format!(
                "slow-path get round trip {label} [{workers} worker{}]",
                if workers == 1 { "" } else { "s" }
            ),
            percentile(&ours, p) / 1e3,
            "us",
            &format!("bare tokio mpsc+oneshot {label}"),
            percentile(&anchor, p) / 1e3,
        );
    }
}

fn main() {
    let opts = Opts::from_args();
    let t0 = Instant::now();
    opts.note("no tracing subscriber installed: spans are disabled, as in a program that does not trace");
    warm_get(&opts);
    cold_herd(&opts);
    idle_bytes(&opts);
    slow_path(&opts);
    opts.note(&format!("whole run: {:.1} s", t0.elapsed().as_secs_f64()));
}
