//! loom models of the registry's claim/gate protocol: every interleaving
//! (up to a preemption bound) of a few callers on one key, which the
//! stress tests in `race.rs` can only hope to hit.
//!
//! Run by `cargo xtask test` (its `loom` step), or by hand:
//! `RUSTFLAGS="--cfg atlas_loom" cargo test --release --target-dir target/loom -p atlas-registry --test loom_registry`.
//! `LOOM_MAX_PREEMPTIONS` overrides the bound set here.
#![cfg(atlas_loom)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use atlas_registry::{Registration, Registry, StartOrLookupError};
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

const KEY: &str = "app";

/// Runs `f` under every interleaving with at most `preemptions` forced
/// switches (unless `LOOM_MAX_PREEMPTIONS` says otherwise). The bounds are
/// set so that all the models of the workspace run in seconds; a model's
/// cost grows about fivefold per extra preemption.
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(f);
}

/// A server's handle, with the flag a liveness check reads.
#[derive(Clone, Debug)]
struct Server {
    id: u32,
    alive: Arc<AtomicBool>,
}

impl Server {
    fn new(id: u32) -> Self {
        Self {
            id,
            alive: Arc::new(AtomicBool::new(true)),
        }
    }
}

type Reg = Registry<&'static str, Server>;

/// One shard: every binding of the model meets on one lock.
fn registry() -> Reg {
    Registry::builder()
        .shards(1)
        .liveness(|s: &Server| s.alive.load(Ordering::Acquire))
        .build()
}

/// The registrations of the model's servers, kept alive as their tasks
/// would keep them.
type Guards = Arc<Mutex<Vec<Registration<&'static str, Server>>>>;

/// A start function as `DynamicSupervisor::start_child` runs one: the new
/// server registers itself and keeps its guard; it steps aside (OTP's
/// `ignore`) if another server holds the key. Counts its calls.
fn registering_start(
    reg: &Reg,
    id: u32,
    guards: &Guards,
    starts: &Arc<AtomicUsize>,
) -> impl FnMut() -> std::future::Ready<Result<(), &'static str>> {
    let (reg, guards, starts) = (reg.clone(), guards.clone(), starts.clone());
    move || {
        starts.fetch_add(1, SeqCst);
        if let Ok(guard) = reg.register(KEY, Server::new(id)) {
            guards.lock().expect("no panic").push(guard);
        }
        std::future::ready(Ok(()))
    }
}

fn id<E>(r: &Result<Server, StartOrLookupError<E>>) -> Option<u32> {
    r.as_ref().ok().map(|s| s.id)
}

/// Two callers race for a missing key: exactly one start runs, and both get
/// its server.
#[test]
fn two_starters_run_one_start_and_share_its_server() {
    model(5, || {
        let reg = registry();
        let guards = Guards::default();
        let starts = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = [1, 2]
            .map(|n| {
                let (reg, mut start) = (reg.clone(), registering_start(&reg, n, &guards, &starts));
                thread::spawn(move || block_on(reg.start_or_lookup(&KEY, &mut start)))
            })
            .into_iter()
            .collect();
        let got: Vec<_> = callers.into_iter().map(|c| id(&c.join().expect("no panic"))).collect();
        assert_eq!(starts.load(SeqCst), 1, "one start between the two callers");
        let server = reg.lookup(KEY).map(|s| s.id);
        assert!(server.is_some());
        assert_eq!(got, vec![server, server], "both callers got the one server");
    });
}

/// A caller whose start fails races one whose start succeeds: the failure
/// never wedges the key, and the other caller always gets its server.
#[test]
fn a_failing_start_releases_the_key_to_the_next_caller() {
    model(5, || {
        let reg = registry();
        let guards = Guards::default();
        let starts = Arc::new(AtomicUsize::new(0));
        let failing = {
            let reg = reg.clone();
            thread::spawn(move || block_on(reg.start_or_lookup(&KEY, || std::future::ready(Err::<(), _>("refused")))))
        };
        let good = {
            let (reg, mut start) = (reg.clone(), registering_start(&reg, 2, &guards, &starts));
            thread::spawn(move || block_on(reg.start_or_lookup(&KEY, &mut start)))
        };
        assert_eq!(id(&good.join().expect("no panic")), Some(2));
        match failing.join().expect("no panic") {
            Ok(s) => assert_eq!(s.id, 2, "a failed start only ever returns the live server"),
            Err(e) => assert_eq!(e, StartOrLookupError::Start("refused")),
        }
        assert_eq!(starts.load(SeqCst), 1);
        assert_eq!(reg.lookup(KEY).map(|s| s.id), Some(2));
    });
}

/// A caller is cancelled (its future dropped) at its first await, whether
/// it was starting the key or waiting at another caller's gate (or it found
/// the other caller's server): the other caller still gets a server.
#[test]
fn a_cancelled_caller_never_blocks_the_key() {
    model(5, || {
        let reg = registry();
        let guards = Guards::default();
        let starts = Arc::new(AtomicUsize::new(0));
        let cancelled = {
            let reg = reg.clone();
            thread::spawn(move || {
                // A start that never completes, dropped after one poll.
                let call = pin!(reg.start_or_lookup(&KEY, std::future::pending::<Result<(), ()>>));
                let waker = futures::task::noop_waker();
                match call.poll(&mut Context::from_waker(&waker)) {
                    Poll::Pending => {}
                    Poll::Ready(found) => assert_eq!(id(&found), Some(2), "only the other caller's server"),
                }
            })
        };
        let good = {
            let (reg, mut start) = (reg.clone(), registering_start(&reg, 2, &guards, &starts));
            thread::spawn(move || block_on(reg.start_or_lookup(&KEY, &mut start)))
        };
        cancelled.join().expect("no panic");
        assert_eq!(id(&good.join().expect("no panic")), Some(2));
        assert_eq!(reg.lookup(KEY).map(|s| s.id), Some(2));
    });
}

/// The old incarnation's guard is dropped late, after its server died and
/// while a caller starts the next one and a lookup runs: the late drop
/// never removes the new entry, and a lookup never goes back to the dead
/// server once it saw the new one.
#[test]
fn a_late_guard_drop_never_removes_the_next_incarnation() {
    model(3, || {
        let reg = registry();
        let old = Server::new(1);
        let old_guard = reg.register(KEY, old.clone()).expect("free key");
        let guards = Guards::default();
        let starts = Arc::new(AtomicUsize::new(0));
        let dying = thread::spawn(move || {
            // The task ends: its handle goes dead, then its future (and the
            // guard in it) is dropped.
            old.alive.store(false, Ordering::Release);
            drop(old_guard);
        });
        let caller = {
            let (reg, mut start) = (reg.clone(), registering_start(&reg, 2, &guards, &starts));
            thread::spawn(move || block_on(reg.start_or_lookup(&KEY, &mut start)))
        };
        let looker = {
            let reg = reg.clone();
            thread::spawn(move || {
                let first = reg.lookup(KEY).map(|s| s.id);
                let then = reg.lookup(KEY).map(|s| s.id);
                assert!(!(first == Some(2) && then == Some(1)), "back to the dead server");
            })
        };
        dying.join().expect("no panic");
        looker.join().expect("no panic");
        match id(&caller.join().expect("no panic")) {
            // It found the old server still alive; that one is gone now.
            Some(1) => assert!(reg.lookup(KEY).is_none()),
            Some(2) => assert_eq!(reg.lookup(KEY).map(|s| s.id), Some(2), "the new entry survived"),
            other => panic!("unexpected result {other:?}"),
        }
    });
}

/// A supervisor's restart registers the key while a caller starts it too:
/// one of the two servers holds the key, the other stood aside, and the
/// caller gets the one that holds it.
#[test]
fn a_restart_and_a_start_of_one_key_end_with_one_server() {
    model(6, || {
        let reg = registry();
        let guards = Guards::default();
        let starts = Arc::new(AtomicUsize::new(0));
        let restart = {
            let (reg, guards) = (reg.clone(), guards.clone());
            thread::spawn(move || {
                if let Ok(guard) = reg.register(KEY, Server::new(1)) {
                    guards.lock().expect("no panic").push(guard);
                }
            })
        };
        let caller = {
            let (reg, mut start) = (reg.clone(), registering_start(&reg, 2, &guards, &starts));
            thread::spawn(move || block_on(reg.start_or_lookup(&KEY, &mut start)))
        };
        restart.join().expect("no panic");
        let got = id(&caller.join().expect("no panic"));
        assert_eq!(
            guards.lock().expect("no panic").len(),
            1,
            "exactly one registration won"
        );
        assert_eq!(
            got,
            reg.lookup(KEY).map(|s| s.id),
            "the caller got the server that holds the key"
        );
    });
}
