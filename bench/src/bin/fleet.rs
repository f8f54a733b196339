//! Many processes and machines on one Redis store (issue 10): processes
//! cold on one scope, stacks standing for machines cold on one org, the
//! invalidation fan-out, and the warm `get` with Redis configured.
//!
//! The bench starts its own `redis-server` on a free loopback port (no
//! persistence); without one on `PATH` (or `ATLAS_REDIS_SERVER`) it says so
//! and skips every figure.
//!
//! The processes are real `fly-tokens get` runs (built first, as the
//! `processes` bench does) with `--store redis://…` and a fake `fly` script
//! that takes 200 ms and counts its runs. (The file store's figure is the
//! `processes` bench.)
//!
//! cargo run --release -p atlas-bench --bin fleet -- [--quick] [--json]

use std::collections::BTreeSet;
use std::future::Future;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use atlas_app_server::{cmd_fn, AppName, CmdOutput, OrgName, Token, TokenKind, Tokens, TokensConfig};
use atlas_bench::{median, on_threads, percentile, Opts};
use atlas_cache::{CoarseClock, Expiring, Table};
use atlas_fly_cli::{RedisSettings, RedisStore, RedisUrl};

/// How long the fake `fly` of the process figures takes.
const FLY_DELAY: &str = "0.2";
/// How long the in-process fake CLI takes.
const CLI_DELAY: Duration = Duration::from_millis(20);

fn main() {
    let opts = Opts::from_args();
    let t0 = Instant::now();
    let Some(redis) = Redis::start() else {
        opts.note(
            "redis-server not found (apt-get install redis-server, or set ATLAS_REDIS_SERVER): the Redis figures \
             are skipped",
        );
        return;
    };
    opts.note(&format!(
        "redis-server {} on 127.0.0.1:{} (no persistence), started by this bench",
        redis.version, redis.port
    ));
    processes(&opts, &redis);
    machines(&opts, &redis);
    fan_out(&opts, &redis);
    warm_get(&opts, &redis);
    opts.note(&format!("whole run: {:.1} s", t0.elapsed().as_secs_f64()));
}

// ---------------------------------------------------------------------------
// A redis-server of our own.

struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
    version: String,
}

impl Redis {
    fn start() -> Option<Redis> {
        let bin = std::env::var_os("ATLAS_REDIS_SERVER").map(PathBuf::from).or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .map(|d| d.join("redis-server"))
                .find(|p| p.is_file())
        })?;
        let version = Command::new(&bin)
            .arg("--version")
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .nth(2)
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_default();
        let dir = scratch("redis");
        let port = free_port();
        let child = Command::new(&bin)
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Redis {
            child,
            port,
            dir,
            version,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if redis.raw(&["PING"]).as_deref() == Some("PONG") {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A store on this server under `prefix`, with its own connection.
    fn store(&self, prefix: &str) -> RedisStore {
        let url: RedisUrl = self.url().parse().expect("url");
        RedisStore::new(RedisSettings::new(url).prefix(prefix).expect("prefix")).expect("store")
    }

    /// One command, its reply's first line (for `PING`, `FLUSHALL`).
    fn raw(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).ok()?;
        Some(line.trim_end().trim_start_matches(['+', ':']).to_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("addr").port()
}

/// A fresh private directory under the system temp dir.
fn scratch(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "atlas-bench-fleet-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    dir
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime")
}

fn org() -> OrgName {
    OrgName::new("bench-org").expect("valid")
}

/// A fake CLI: counts calls, takes `delay`, prints a token per call.
fn fake_cli(delay: Duration, calls: Arc<AtomicUsize>) -> impl atlas_app_server::CmdFn {
    cmd_fn(move |_program, _args| {
        let calls = calls.clone();
        async move {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(CmdOutput::new(0, format!("{}\n", atlas_bench::fake_token(n)), ""))
        }
    })
}

// ---------------------------------------------------------------------------
// Processes.

/// `n` `fly-tokens get` processes at once, cold on one scope under a fresh
/// prefix: (wall time, CLI calls, distinct tokens printed).
fn cold_processes(bin: &Path, redis: &Redis, n: usize, run: usize) -> (Duration, usize, usize) {
    let dir = scratch("fly");
    let calls = dir.join("calls");
    let fly = dir.join("fly");
    std::fs::write(
        &fly,
        format!(
            "#!/bin/sh\necho run >> '{}'\nsleep {FLY_DELAY}\necho \"{{\\\"token\\\":\\\"FlyV1 fm2_bench$$\\\"}}\"\n",
            calls.display()
        ),
    )
    .expect("write fake fly");
    std::fs::set_permissions(&fly, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let prefix = format!("bench-procs-{run}:");
    for sub in ["home", "flyconfig"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    let t0 = Instant::now();
    let children: Vec<Child> = (0..n)
        .map(|i| {
            Command::new(bin)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", dir.join("home"))
                .env("FLY_CONFIG_DIR", dir.join("flyconfig"))
                .env("FLY_ORG", org().as_str())
                .arg("--store")
                .arg(redis.url())
                .arg("--redis-prefix")
                .arg(&prefix)
                .arg("--fly-bin")
                .arg(&fly)
                .args(["get", &format!("app-{i}")])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn fly-tokens")
        })
        .collect();
    let mut tokens = BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().expect("fly-tokens");
        assert!(out.status.success(), "a fly-tokens get failed: {}", out.status);
        tokens.insert(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let wall = t0.elapsed();
    let mut text = String::new();
    let _ = std::fs::File::open(&calls).and_then(|mut f| f.read_to_string(&mut text));
    let _ = std::fs::remove_dir_all(&dir);
    (wall, text.lines().count(), tokens.len())
}

fn processes(opts: &Opts, redis: &Redis) {
    let bin = atlas_bench::build_fly_tokens();
    opts.section("20 fly-tokens processes cold on one scope, one Redis store (fake fly: 0.2 s, counted)");
    opts.note("anchor: one process alone on a cold scope, same fake fly, same run");
    let rounds = opts.pick(5, 3);
    let (mut alone, mut herd) = (Vec::new(), Vec::new());
    let mut worst_calls = 0;
    for r in 0..rounds {
        let (wall, calls, _) = cold_processes(&bin, redis, 1, 2 * r);
        assert_eq!(calls, 1);
        alone.push(wall.as_secs_f64() * 1e3);
        let (wall, calls, distinct) = cold_processes(&bin, redis, 20, 2 * r + 1);
        assert_eq!(distinct, 1, "every process printed the one token");
        worst_calls = worst_calls.max(calls);
        herd.push(wall.as_secs_f64() * 1e3);
    }
    opts.report_goal(
        "20 processes cold on one scope (Redis): CLI calls (worst round)",
        worst_calls as f64,
        "calls",
        "one call for the whole herd",
        1.0,
    );
    opts.report(
        "20 processes cold on one scope (Redis): wall p50",
        median(&herd),
        "ms",
        "1 process alone, cold: wall p50",
        median(&alone),
    );
}

// ---------------------------------------------------------------------------
// Machines: stacks in this process, each with its own connection.

/// `stacks` stacks on one Redis prefix, each with a CLI taking `delay`.
async fn fleet(redis: &Redis, prefix: &str, stacks: usize, delay: Duration, calls: &Arc<AtomicUsize>) -> Vec<Tokens> {
    let mut out = Vec::with_capacity(stacks);
    for _ in 0..stacks {
        let config = TokensConfig::default()
            .cmd_fn(fake_cli(delay, calls.clone()))
            .storage(redis.store(prefix))
            .configure(|s| s.org(org()).soft_expiry_lead(Duration::ZERO));
        out.push(Tokens::start(config).await.expect("starts"));
    }
    out
}

fn machines(opts: &Opts, redis: &Redis) {
    opts.section("4 stacks (machines) x 250 apps of one org x 16 callers, cold, Redis store, CLI taking 20 ms");
    let rt = runtime(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let (apps, callers) = (250, 16);
    let wall = rt.block_on(async {
        let stacks = fleet(redis, "bench-machines:", 4, CLI_DELAY, &calls).await;
        let names: Arc<Vec<String>> = Arc::new((0..apps).map(|i| format!("app-{i}")).collect());
        let herd = (0..callers).flat_map(|c| {
            let (stacks, names) = (&stacks, &names);
            stacks.iter().enumerate().flat_map(move |(s, tokens)| {
                (0..apps).map(move |i| (tokens.clone(), names.clone(), (i + c * 7 + s * 13) % apps))
            })
        });
        let wall = atlas_bench::gets_at_once(herd).await;
        for tokens in stacks {
            tokens.shutdown().await;
        }
        wall
    });
    let calls = calls.load(Ordering::Relaxed);
    opts.report_goal(
        "4 stacks x 250 apps x 16 callers (Redis): CLI calls",
        calls as f64,
        "calls",
        "one call for the whole fleet",
        1.0,
    );
    opts.report_alone(
        "4 stacks x 250 apps x 16 callers (Redis): wall time",
        wall.as_secs_f64() * 1e3,
        "ms",
        "one 20 ms CLI run, 1,000 servers started, 16,000 gets",
    );
}

// ---------------------------------------------------------------------------
// Invalidation fan-out.

fn fan_out(opts: &Opts, redis: &Redis) {
    opts.section("invalidation fan-out: stack 1 invalidates, until stacks 2-4 dropped the org's token (Redis)");
    let samples = opts.pick(300, 60);
    let rt = runtime(2);
    let (ours, anchor) = rt.block_on(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let stacks = fleet(redis, "bench-fanout:", 4, Duration::ZERO, &calls).await;
        // Every listener subscribed: a first invalidation reaches all.
        warm(&stacks).await;
        stacks[0].invalidate("web").await.expect("invalidate");
        let deadline = Instant::now() + Duration::from_secs(15);
        while stacks[1..].iter().any(|t| t.cached("web").is_some()) {
            assert!(Instant::now() < deadline, "a stack never subscribed");
            warm(&stacks).await;
            stacks[0].invalidate("web").await.expect("invalidate");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut ours = Vec::with_capacity(samples);
        for _ in 0..samples {
            warm(&stacks).await;
            let t0 = Instant::now();
            stacks[0].invalidate("web").await.expect("invalidate");
            while stacks[1..].iter().any(|t| t.cached("web").is_some()) {
                assert!(t0.elapsed() < Duration::from_secs(10), "an invalidation was lost");
                tokio::task::yield_now().await;
            }
            ours.push(t0.elapsed().as_nanos() as f64);
        }
        for tokens in stacks {
            tokens.shutdown().await;
        }

        // Anchor: one PUBLISH to three subscribers, until the last heard it.
        let publisher = redis.store("bench-anchor:");
        let heard = Arc::new(AtomicUsize::new(0));
        let subs: Vec<_> = (0..3)
            .map(|_| {
                let heard = heard.clone();
                redis.store("bench-anchor:").subscribe(move |_| {
                    heard.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for s in &subs {
            assert!(s.wait_subscribed(Duration::from_secs(15)).await, "subscribed");
        }
        let mut anchor = Vec::with_capacity(samples);
        for _ in 0..samples {
            let before = heard.load(Ordering::SeqCst);
            let t0 = Instant::now();
            publisher.publish_invalidation("org:bench-org").await.expect("publish");
            while heard.load(Ordering::SeqCst) < before + 3 {
                assert!(t0.elapsed() < Duration::from_secs(10), "a message was lost");
                tokio::task::yield_now().await;
            }
            anchor.push(t0.elapsed().as_nanos() as f64);
        }
        (ours, anchor)
    });
    for (p, label) in [(50.0, "p50"), (99.0, "p99")] {
        opts.report(
            &format!("invalidate -> 3 other stacks dropped it, {label}"),
            percentile(&ours, p) / 1e3,
            "us",
            &format!("bare PUBLISH -> 3 subscribers {label}"),
            percentile(&anchor, p) / 1e3,
        );
    }
    opts.report_goal(
        "invalidate -> 3 other stacks dropped it, p99",
        percentile(&ours, 99.0) / 1e3,
        "us",
        "within 100 ms on loopback",
        100_000.0,
    );
}

/// Every stack holds the org's token for `web` (from the store, or minted).
async fn warm(stacks: &[Tokens]) {
    for tokens in stacks {
        tokens.get("web").await.expect("token");
    }
}

// ---------------------------------------------------------------------------
// Warm get.

/// Polls a future that completes without waiting (the fast path) once.
fn now_or_never<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fast path waited"),
    }
}

const KEYS: usize = 1_000;
const SEQ: usize = 1 << 14;

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

fn warm_get(opts: &Opts, redis: &Redis) {
    opts.section("warm get with the Redis store configured vs the bare atlas-cache lookup (1,000 apps, 300 B tokens)");
    let rt = runtime(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let names: Vec<String> = (0..KEYS).map(|i| format!("app-{i}")).collect();
    let (tokens, in_memory) = rt.block_on(async {
        let warmed = |config: TokensConfig| async {
            let tokens = Tokens::start(config.configure(|s| s.token_kind(TokenKind::Deploy)))
                .await
                .expect("starts");
            for name in &names {
                tokens.get(name).await.expect("warm");
            }
            tokens
        };
        let on_redis = TokensConfig::default()
            .cmd_fn(fake_cli(Duration::ZERO, calls.clone()))
            .storage(redis.store("bench-warm:"));
        // The same stack on the default in-memory store: no Redis at all.
        let in_memory = TokensConfig::default().cmd_fn(fake_cli(Duration::ZERO, Arc::default()));
        (warmed(on_redis).await, warmed(in_memory).await)
    });
    let table: Table<AppName, Expiring<Token>> = Table::new();
    let _owner = table.owner().claim();
    let now = CoarseClock::global().now_unix();
    for name in &names {
        let t = tokens.cached(name).expect("warm");
        table
            .insert_expiring(AppName::new(name).expect("valid"), t, now + 86_400)
            .expect("owned");
    }
    let seqs = atlas_bench::key_sequences(2, SEQ, KEYS);
    let iters = opts.pick(2_000_000, 300_000);
    for threads in [1, 2] {
        let bare = per_op(threads, iters, &seqs, |k| {
            let now = CoarseClock::global().now_unix();
            table.lookup(names[k].as_str(), now).map_or(0, |t| t.expose().len())
        });
        let facade = per_op(threads, iters, &seqs, |k| {
            now_or_never(tokens.get(&names[k])).map_or(0, |t| t.expose().len())
        });
        let memory = per_op(threads, iters, &seqs, |k| {
            now_or_never(in_memory.get(&names[k])).map_or(0, |t| t.expose().len())
        });
        opts.report(
            &format!("Tokens::get on Redis, warm, uniform keys [{threads}t]"),
            facade,
            "ns",
            "bare Table::lookup + clock",
            bare,
        );
        opts.report(
            &format!("Tokens::get on Redis, warm, uniform keys [{threads}t]"),
            facade,
            "ns",
            "Tokens::get, in-memory store",
            memory,
        );
    }
    assert_eq!(calls.load(Ordering::Relaxed), KEYS, "warm gets ran no CLI");
    rt.block_on(async {
        tokens.shutdown().await;
        in_memory.shutdown().await;
    });
}
