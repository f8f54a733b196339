//! `start_or_lookup`: one start for any number of concurrent callers, and
//! a key that is never left wedged.

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_registry::{Registry, StartOrLookupError};
use atlas_supervisor::{Child, ChildContext, ChildSpec, DynamicSupervisor, ExitReason, RestartType, StartError};
use support::{quiet_panics, spawn_server, End, Handle, Incarnations, Server};
use tokio::sync::Notify;

type Reg = Registry<String, Handle>;

/// A start function that counts its calls, waits for `go` (when given),
/// then registers and runs a server task.
fn starter(
    registry: &Reg,
    key: &'static str,
    calls: &Arc<AtomicUsize>,
    n: &Incarnations,
    go: Option<Arc<Notify>>,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = Result<Server, String>> + Send>> {
    let (registry, calls, n) = (registry.clone(), calls.clone(), n.clone());
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        let (registry, n, go) = (registry.clone(), n.clone(), go.clone());
        Box::pin(async move {
            if let Some(go) = go {
                go.notified().await;
            }
            spawn_server(&registry, key, n.next()).map_err(|_| "already started".to_owned())
        })
    }
}

#[tokio::test]
async fn concurrent_callers_start_one_server_and_all_get_its_handle() {
    let registry = Reg::new();
    let (calls, n, go) = (
        Arc::new(AtomicUsize::new(0)),
        Incarnations::default(),
        Arc::new(Notify::new()),
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (registry, start) = (registry.clone(), starter(&registry, "a", &calls, &n, Some(go.clone())));
            tokio::spawn(async move { registry.start_or_lookup(&"a".to_owned(), start).await })
        })
        .collect();
    // Let every caller reach the registry: one starts, 49 wait at the gate.
    while calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    // A lookup never waits for a start in progress.
    assert_eq!(registry.lookup("a"), None);
    assert_eq!(registry.len(), 0);
    go.notify_one();
    for t in tasks {
        assert_eq!(t.await.expect("no panic"), Ok(Handle::new(1)));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(registry.lookup("a"), Some(Handle::new(1)));
}

#[tokio::test]
async fn an_existing_server_is_looked_up_without_starting() {
    let registry = Reg::new();
    let _server = spawn_server(&registry, "a", 7).expect("free key");
    let calls = Arc::new(AtomicUsize::new(0));
    let got = registry
        .start_or_lookup(
            &"a".into(),
            starter(&registry, "a", &calls, &Incarnations::default(), None),
        )
        .await;
    assert_eq!(got, Ok(Handle::new(7)));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_failed_start_does_not_wedge_the_key() {
    let registry = Reg::new();
    let failed = registry
        .start_or_lookup(&"a".into(), || async { Err::<(), _>("no") })
        .await;
    assert_eq!(failed, Err(StartOrLookupError::Start("no")));
    let calls = Arc::new(AtomicUsize::new(0));
    let got = registry
        .start_or_lookup(
            &"a".into(),
            starter(&registry, "a", &calls, &Incarnations::default(), None),
        )
        .await;
    assert_eq!(got, Ok(Handle::new(1)));
}

#[tokio::test]
async fn when_the_start_fails_a_waiting_caller_starts_the_key() {
    let registry = Reg::new();
    let (fail_now, failing_started) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let failing = {
        let (registry, fail_now, failing_started) = (registry.clone(), fail_now.clone(), failing_started.clone());
        tokio::spawn(async move {
            registry
                .start_or_lookup(&"a".into(), || async {
                    failing_started.notify_one();
                    fail_now.notified().await;
                    Err::<Server, _>("boom")
                })
                .await
        })
    };
    failing_started.notified().await;
    let (calls, n) = (Arc::new(AtomicUsize::new(0)), Incarnations::default());
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let (registry, start) = (registry.clone(), starter(&registry, "a", &calls, &n, None));
            tokio::spawn(async move { registry.start_or_lookup(&"a".into(), start).await })
        })
        .collect();
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the waiters wait for the first start");
    fail_now.notify_one();
    assert_eq!(failing.await.expect("no panic"), Err(StartOrLookupError::Start("boom")));
    for w in waiters {
        assert_eq!(w.await.expect("no panic"), Ok(Handle::new(1)));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly one waiter started it");
}

#[tokio::test]
async fn a_panicking_start_releases_the_key() {
    quiet_panics();
    let registry = Reg::new();
    let crashing = {
        let registry = registry.clone();
        tokio::spawn(async move {
            registry
                .start_or_lookup(&"a".into(), || async {
                    panic!("start crashed");
                    #[allow(unreachable_code)]
                    Ok::<(), ()>(())
                })
                .await
        })
    };
    assert!(crashing.await.expect_err("panicked").is_panic());
    let calls = Arc::new(AtomicUsize::new(0));
    let got = registry
        .start_or_lookup(
            &"a".into(),
            starter(&registry, "a", &calls, &Incarnations::default(), None),
        )
        .await;
    assert_eq!(got, Ok(Handle::new(1)));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_caller_releases_the_key() {
    let registry = Reg::new();
    let key = "a".to_owned();
    let stuck = registry.start_or_lookup(&key, std::future::pending::<Result<(), ()>>);
    assert!(tokio::time::timeout(Duration::from_secs(1), stuck).await.is_err());
    let calls = Arc::new(AtomicUsize::new(0));
    let got = registry
        .start_or_lookup(
            &"a".into(),
            starter(&registry, "a", &calls, &Incarnations::default(), None),
        )
        .await;
    assert_eq!(got, Ok(Handle::new(1)));
}

#[tokio::test]
async fn the_loser_of_a_registration_race_gets_the_winners_handle() {
    let registry = Reg::new();
    let winner = std::sync::Mutex::new(None);
    // While our start runs, another server takes the key (e.g. registered
    // directly, or a supervisor's restart): our server's init then fails
    // with `already_started`.
    let got = registry
        .start_or_lookup(&"a".into(), || async {
            *winner.lock().expect("no poison") = Some(spawn_server(&registry, "a", 1).expect("takes the key"));
            spawn_server(&registry, "a", 2).map_err(|_| "already started")
        })
        .await;
    assert_eq!(got, Ok(Handle::new(1)));
    assert!(winner.lock().expect("no poison").is_some());
}

#[tokio::test]
async fn a_start_that_never_registers_is_an_error_and_releases_the_key() {
    let registry = Reg::new();
    let got = registry
        .start_or_lookup(&"a".into(), || async { Ok::<_, ()>(()) })
        .await;
    assert_eq!(got, Err(StartOrLookupError::NotRegistered));
    assert!(registry.register("a".into(), Handle::new(1)).is_ok());
}

#[tokio::test]
async fn a_server_that_exits_right_after_registering_is_started_again_within_a_bound() {
    let registry = Reg::new();
    let calls = AtomicUsize::new(0);
    let got = registry
        .start_or_lookup(&"a".into(), || {
            calls.fetch_add(1, Ordering::SeqCst);
            // Registers, then is gone before the caller looks.
            let reg = registry.register("a".into(), Handle::new(1));
            async move { reg.map(drop).map_err(drop) }
        })
        .await;
    assert_eq!(got, Err(StartOrLookupError::Exited(16)));
    assert_eq!(calls.load(Ordering::SeqCst), 16);
    let once = AtomicUsize::new(0);
    // Dies the first time only: the caller starts it again and gets it.
    let got = registry
        .start_or_lookup(&"a".into(), || {
            let n = once.fetch_add(1, Ordering::SeqCst) as u64 + 1;
            let server = spawn_server(&registry, "a", n);
            async move {
                let server = server.map_err(drop)?;
                if n == 1 {
                    server.end.send(End::Normal).map_err(drop)?;
                    server.task.await.map_err(drop)?;
                }
                Ok::<_, ()>(())
            }
        })
        .await;
    assert_eq!(got, Ok(Handle::new(2)));
}

/// A transient server under a dynamic supervisor, registering itself in its
/// start function; one that finds its key taken steps aside.
fn supervised(registry: &Reg, n: &Incarnations, inits: &Arc<AtomicUsize>) -> ChildSpec {
    let (registry, n, inits) = (registry.clone(), n.clone(), inits.clone());
    ChildSpec::worker("a", move |ctx: ChildContext| {
        inits.fetch_add(1, Ordering::SeqCst);
        let registered = registry.register("a".into(), Handle::new(n.next()));
        async move {
            let Ok(registration) = registered else {
                return Ok(Child::new(async { ExitReason::Normal }));
            };
            let stop = ctx.shutdown_signal();
            Ok::<_, StartError>(Child::new(async move {
                let _registration = registration;
                stop.cancelled().await;
                ExitReason::Shutdown
            }))
        }
    })
    .restart(RestartType::Transient)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_through_a_dynamic_supervisor_start_one_child() {
    let registry = Reg::new();
    let sup = DynamicSupervisor::new().intensity(20, Duration::from_secs(60)).start();
    let (n, inits) = (Incarnations::default(), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (registry, sup, spec) = (registry.clone(), sup.clone(), supervised(&registry, &n, &inits));
            tokio::spawn(async move {
                registry
                    .start_or_lookup(&"a".into(), || sup.start_child(spec.clone()))
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("no panic"), Ok(Handle::new(1)));
    }
    assert_eq!(inits.load(Ordering::SeqCst), 1);
    assert_eq!(sup.count_children().await.expect("running").active, 1);
    sup.shutdown().await;
    assert!(registry.is_empty());
}
