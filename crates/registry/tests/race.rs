//! The registry race under fire: many tasks call `start_or_lookup` and
//! `lookup` over a few keys, through a real `DynamicSupervisor`, while a
//! chaos task kills servers at random.
//!
//! Checked at every point: at most one live server per key; every handle
//! handed out was still registered after the call began (its incarnation
//! ended, if at all, after that). Checked by counting: with `Temporary`
//! servers (no supervisor restarts) every start made exactly one
//! incarnation; with `Transient` ones, a start only ever stood aside for a
//! supervisor's restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use atlas_registry::{Registration, Registry};
use atlas_supervisor::{Child, ChildContext, ChildSpec, DynamicSupervisor, ExitReason, RestartType};

const KEYS: usize = 3;
const CALLERS: usize = 12;
/// Kills by the chaos task; the callers go on until it is done.
const KILLS: usize = 200;
/// A bound on each caller's calls, in case the chaos task stalls.
const MAX_CALLS: usize = 200_000;
const SEEDS: [u64; 3] = [1, 0x5eed, 0xdead_beef];

/// Per-key counters.
#[derive(Default)]
struct KeyStats {
    /// Servers of this key running now.
    live: AtomicU64,
    /// Calls of the start function by `start_or_lookup`.
    starts: AtomicU64,
    /// Runs of the child's start function (starts plus restarts).
    inits: AtomicU64,
    /// Incarnations: inits that registered.
    registered: AtomicU64,
    /// Inits that found the key taken and stood aside.
    ignored: AtomicU64,
}

#[derive(Default)]
struct World {
    keys: [KeyStats; KEYS],
    /// A key found with two live servers.
    violations: AtomicU64,
    /// Orders events across tasks.
    clock: AtomicU64,
    incarnations: AtomicU64,
}

impl World {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, SeqCst) + 1
    }
}

/// A server's handle: its key, and when its incarnation ended (0: running).
#[derive(Clone)]
struct Handle {
    key: usize,
    died_at: Arc<AtomicU64>,
}

/// What a running incarnation holds; fields drop in this order when its
/// task ends, however it ends (even if never polled).
struct Incarnation {
    live: Live,
    _registration: Registration<usize, Handle>,
    _died: Died,
}

struct Live(Arc<World>, usize);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.keys[self.1].live.fetch_sub(1, SeqCst);
    }
}

struct Died(Arc<World>, Arc<AtomicU64>);

impl Drop for Died {
    fn drop(&mut self) {
        self.1.store(self.0.tick(), SeqCst);
    }
}

fn spec(world: &Arc<World>, registry: &Registry<usize, Handle>, key: usize, restart: RestartType) -> ChildSpec {
    let (world, registry) = (world.clone(), registry.clone());
    ChildSpec::worker(format!("server-{key}"), move |ctx: ChildContext| {
        let stats = &world.keys[key];
        stats.inits.fetch_add(1, SeqCst);
        world.incarnations.fetch_add(1, SeqCst);
        let died_at = Arc::new(AtomicU64::new(0));
        let registered = registry.register(
            key,
            Handle {
                key,
                died_at: died_at.clone(),
            },
        );
        let incarnation = match registered {
            Err(_) => {
                stats.ignored.fetch_add(1, SeqCst);
                None
            }
            Ok(registration) => {
                stats.registered.fetch_add(1, SeqCst);
                if stats.live.fetch_add(1, SeqCst) != 0 {
                    world.violations.fetch_add(1, SeqCst);
                }
                Some(Incarnation {
                    live: Live(world.clone(), key),
                    _registration: registration,
                    _died: Died(world.clone(), died_at),
                })
            }
        };
        let stop = ctx.shutdown_signal();
        async move {
            Ok(Child::new(async move {
                let Some(incarnation) = incarnation else {
                    return ExitReason::Normal; // OTP's `ignore`
                };
                stop.cancelled().await;
                drop(incarnation.live);
                ExitReason::Shutdown
            }))
        }
    })
    .restart(restart)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

async fn run(seed: u64, restart: RestartType) -> Arc<World> {
    let world = Arc::new(World::default());
    let registry: Registry<usize, Handle> = Registry::builder().shards(2).build();
    let sup = DynamicSupervisor::new()
        .intensity(u32::MAX, Duration::from_secs(60))
        .start();
    let specs: Vec<ChildSpec> = (0..KEYS).map(|k| spec(&world, &registry, k, restart)).collect();

    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (sup, done) = (sup.clone(), done.clone());
        tokio::spawn(async move {
            let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
            let mut kills = 0;
            while kills < KILLS {
                let children = sup.which_children().await.expect("supervisor runs");
                let running: Vec<_> = children.iter().filter_map(|c| c.child_ref()).collect();
                if !running.is_empty() {
                    running[rng.below(running.len())].kill();
                    kills += 1;
                }
                for _ in 0..rng.below(8) {
                    tokio::task::yield_now().await;
                }
            }
            done.store(true, SeqCst);
            kills
        })
    };
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let (world, registry, sup, specs) = (world.clone(), registry.clone(), sup.clone(), specs.clone());
            let done = done.clone();
            tokio::spawn(async move {
                let mut rng = Rng(seed.wrapping_add(c as u64 + 1).wrapping_mul(0x9e37_79b9));
                for _ in 0..MAX_CALLS {
                    if done.load(SeqCst) {
                        break;
                    }
                    let key = rng.below(KEYS);
                    let called_at = world.tick();
                    let handle = if rng.below(4) == 0 {
                        registry.lookup(&key)
                    } else {
                        let start = || {
                            world.keys[key].starts.fetch_add(1, SeqCst);
                            sup.start_child(specs[key].clone())
                        };
                        Some(registry.start_or_lookup(&key, start).await.expect("a handle"))
                    };
                    if let Some(h) = handle {
                        assert_eq!(h.key, key);
                        let died = h.died_at.load(SeqCst);
                        assert!(
                            died == 0 || died > called_at,
                            "handed out a handle that died before the call"
                        );
                    }
                    if rng.below(3) == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    let kills = killer.await.expect("killer runs");
    for c in callers {
        c.await.expect("caller's checks hold");
    }

    // Quiet now: every key has exactly one live, registered server.
    for (key, spec) in specs.iter().enumerate() {
        let start = || {
            world.keys[key].starts.fetch_add(1, SeqCst);
            sup.start_child(spec.clone())
        };
        let h = registry.start_or_lookup(&key, start).await.expect("a handle");
        assert_eq!(h.died_at.load(SeqCst), 0);
        assert_eq!(world.keys[key].live.load(SeqCst), 1);
    }
    assert_eq!(registry.len(), KEYS);
    sup.shutdown().await;
    assert!(registry.is_empty(), "stopping the supervisor unregisters every server");
    for stats in &world.keys {
        assert_eq!(stats.live.load(SeqCst), 0);
    }
    assert_eq!(world.violations.load(SeqCst), 0, "two live servers for one key");
    for (k, s) in world.keys.iter().enumerate() {
        eprintln!(
            "seed {seed} {restart:?} key {k}: starts {} inits {} registered {} ignored {} (kills {kills})",
            s.starts.load(SeqCst),
            s.inits.load(SeqCst),
            s.registered.load(SeqCst),
            s.ignored.load(SeqCst)
        );
    }
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_servers_one_start_per_incarnation() {
    for seed in SEEDS {
        let world = run(seed, RestartType::Temporary).await;
        for stats in &world.keys {
            let starts = stats.starts.load(SeqCst);
            assert_eq!(stats.inits.load(SeqCst), starts, "no restarts for temporary children");
            assert_eq!(
                stats.ignored.load(SeqCst),
                0,
                "never a start while the key was live or starting"
            );
            assert_eq!(
                stats.registered.load(SeqCst),
                starts,
                "each start made exactly one incarnation"
            );
            assert!(starts > 1, "servers were killed and started again");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_servers_restarted_by_the_supervisor_never_double_up() {
    for seed in SEEDS {
        let world = run(seed, RestartType::Transient).await;
        let mut restarts_total = 0;
        for stats in &world.keys {
            let (starts, inits, ignored) = (
                stats.starts.load(SeqCst),
                stats.inits.load(SeqCst),
                stats.ignored.load(SeqCst),
            );
            let restarts = inits - starts;
            restarts_total += restarts;
            assert_eq!(stats.registered.load(SeqCst) + ignored, inits);
            // A start stands aside only for a supervisor's restart that won
            // the key, and a restart only for a start: one per restart.
            assert!(ignored <= restarts, "ignored {ignored} > restarts {restarts}");
        }
        assert!(restarts_total > 0, "the supervisor restarted killed servers");
    }
}
