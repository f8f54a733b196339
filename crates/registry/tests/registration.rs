//! An entry lives exactly as long as its server's task.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_registry::Registry;
use atlas_supervisor::{Child, ChildContext, ChildSpec, DynamicSupervisor, ExitReason, RestartType};
use support::{quiet_panics, spawn_server, End, Handle, Incarnations};
use tokio::sync::mpsc;

#[tokio::test]
async fn a_normal_exit_removes_the_entry() {
    let registry = Registry::new();
    let server = spawn_server(&registry, "a", 1).expect("free key");
    assert_eq!(registry.lookup("a"), Some(Handle::new(1)));
    server.end.send(End::Normal).expect("server waits");
    server.task.await.expect("ends normally");
    assert_eq!(registry.lookup("a"), None);
    assert!(registry.is_empty());
}

#[tokio::test]
async fn a_panic_removes_the_entry() {
    quiet_panics();
    let registry = Registry::new();
    let server = spawn_server(&registry, "a", 1).expect("free key");
    server.end.send(End::Panic).expect("server waits");
    assert!(server.task.await.expect_err("panicked").is_panic());
    assert_eq!(registry.lookup("a"), None);
}

#[tokio::test]
async fn an_abort_removes_the_entry() {
    let registry = Registry::new();
    let server = spawn_server(&registry, "a", 1).expect("free key");
    server.task.abort();
    assert!(server.task.await.expect_err("aborted").is_cancelled());
    assert_eq!(registry.lookup("a"), None);
    drop(server.end);
}

#[tokio::test]
async fn a_live_key_is_refused_with_the_holders_handle() {
    let registry = Registry::new();
    let _first = spawn_server(&registry, "a", 1).expect("free key");
    let err = spawn_server(&registry, "a", 2).err().expect("taken");
    assert_eq!(err.existing(), &Handle::new(1));
    assert_eq!(err.into_existing(), Handle::new(1));
    let other = spawn_server(&registry, "b", 3).expect("another key is free");
    assert_eq!(registry.len(), 2);
    let mut keys = registry.keys();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    let mut entries = registry.entries();
    entries.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(entries[1], ("b".to_owned(), Handle::new(3)));
    drop(other);
}

#[tokio::test]
async fn a_stale_guard_dropped_late_leaves_the_new_entry_alone() {
    let registry: Registry<String, Handle> = Registry::new();
    let old = registry.register("a".into(), Handle::new(1)).expect("free key");
    // Taken away by hand while the old server still runs...
    assert_eq!(registry.unregister("a"), Some(Handle::new(1)));
    assert!(!old.is_registered());
    // ...and a new incarnation registers.
    let new = registry.register("a".into(), Handle::new(2)).expect("free again");
    assert_ne!(old.id(), new.id());
    drop(old);
    assert_eq!(registry.lookup("a"), Some(Handle::new(2)));
    assert!(new.is_registered());
    new.unregister();
    assert_eq!(registry.lookup("a"), None);
    assert_eq!(registry.unregister("a"), None);
}

#[tokio::test]
async fn many_registries_are_independent() {
    let (one, two): (Registry<String, Handle>, Registry<String, Handle>) = (Registry::new(), Registry::new());
    let _a = one.register("a".into(), Handle::new(1)).expect("free key");
    let _b = two
        .register("a".into(), Handle::new(2))
        .expect("free in the other registry");
    assert_eq!(one.lookup("a"), Some(Handle::new(1)));
    assert_eq!(two.lookup("a"), Some(Handle::new(2)));
}

#[tokio::test]
async fn debug_output_needs_no_debug_handle_and_shows_none() {
    struct Secret;
    let registry: Registry<String, Arc<Secret>> = Registry::builder().shards(4).build();
    let reg = registry.register("a".into(), Arc::new(Secret)).expect("free key");
    let err = registry.register("a".into(), Arc::new(Secret)).expect_err("taken");
    assert_eq!(format!("{registry:?}"), "Registry { len: 1, shards: 4, .. }");
    assert_eq!(format!("{err:?}"), "AlreadyRegistered { .. }");
    assert!(format!("{reg:?}").contains("registered: true"));
}

/// A handle that can tell whether its server still runs.
#[derive(Clone, Debug)]
struct Flagged(Arc<AtomicBool>);

#[tokio::test]
async fn the_liveness_check_hides_and_replaces_a_leaked_guards_dead_handle() {
    let registry: Registry<&str, Flagged> = Registry::builder()
        .liveness(|h: &Flagged| h.0.load(Ordering::Acquire))
        .build();
    let alive = Arc::new(AtomicBool::new(true));
    // A guard that outlives its server by mistake.
    std::mem::forget(registry.register("a", Flagged(alive.clone())).expect("free key"));
    assert!(registry.contains_key("a"));
    alive.store(false, Ordering::Release);
    assert!(registry.lookup("a").is_none());
    assert_eq!(registry.len(), 0);
    let fresh = Arc::new(AtomicBool::new(true));
    let _reg = registry
        .register("a", Flagged(fresh.clone()))
        .expect("the dead one is replaced");
    assert!(Arc::ptr_eq(&registry.lookup("a").expect("live").0, &fresh));
}

/// A supervised server that registers itself in its start function and
/// reports each incarnation's handle.
fn server_spec(registry: Registry<String, Handle>, n: Incarnations, up: mpsc::UnboundedSender<Handle>) -> ChildSpec {
    ChildSpec::worker("server", move |ctx: ChildContext| {
        let handle = Handle::new(n.next());
        let registered = registry.register("a".into(), handle.clone());
        let up = up.clone();
        async move {
            let registration = registered.map_err(|_| atlas_supervisor::StartError::new("already started"))?;
            let _ = up.send(handle);
            let stop = ctx.shutdown_signal();
            Ok(Child::new(async move {
                let _registration = registration;
                stop.cancelled().await;
                ExitReason::Shutdown
            }))
        }
    })
}

#[tokio::test]
async fn a_killed_server_is_restarted_and_registers_again() {
    let registry = Registry::new();
    let (up_tx, mut up) = mpsc::unbounded_channel();
    let sup = DynamicSupervisor::new().intensity(20, Duration::from_secs(60)).start();
    let spec = server_spec(registry.clone(), Incarnations::default(), up_tx).restart(RestartType::Permanent);
    let child = sup.start_child(spec).await.expect("starts");
    assert_eq!(up.recv().await, Some(Handle::new(1)));
    assert_eq!(registry.lookup("a"), Some(Handle::new(1)));
    child.kill();
    // The restarted incarnation registered itself before reporting.
    assert_eq!(up.recv().await, Some(Handle::new(2)));
    assert_eq!(registry.lookup("a"), Some(Handle::new(2)));
    // Stopped by its supervisor: gone.
    sup.shutdown().await;
    assert_eq!(registry.lookup("a"), None);
}

#[tokio::test]
async fn a_server_stopped_by_its_supervisor_is_unregistered() {
    let registry = Registry::new();
    let (up_tx, mut up) = mpsc::unbounded_channel();
    let sup = DynamicSupervisor::new().start();
    let spec = server_spec(registry.clone(), Incarnations::default(), up_tx).restart(RestartType::Transient);
    let child = sup.start_child(spec).await.expect("starts");
    assert!(up.recv().await.is_some());
    sup.terminate_child(&child).await.expect("stops");
    assert_eq!(registry.lookup("a"), None);
    sup.shutdown().await;
}
