//! Introspection and control calls, and fault injection with `kill`.

mod support;

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, Recorder, Script, Workers};
use atlas_supervisor::{
    ChildCounts, ChildKind, ChildState, ControlError, ExitReason, RestartType, Strategy, Supervisor,
};
use support::running;

#[tokio::test]
async fn which_and_count_children() {
    let w = Workers::default();
    let inner = Supervisor::new(Strategy::OneForOne).child(w.spec("x"));
    let sup = Supervisor::new(Strategy::OneForOne)
        .child(w.spec("a").restart(RestartType::Transient))
        .child(inner.into_child_spec("s1"))
        .start()
        .await
        .expect("starts");
    let kids = sup.which_children().await.expect("alive");
    assert_eq!(kids.len(), 2);
    assert_eq!(&*kids[0].id, "a");
    assert_eq!(kids[0].restart, RestartType::Transient);
    assert_eq!(kids[1].kind, ChildKind::Supervisor);
    assert!(kids[1].child_ref().and_then(|r| r.supervisor()).is_some());
    assert_eq!(
        sup.count_children().await.expect("alive"),
        ChildCounts {
            specs: 2,
            active: 2,
            supervisors: 1,
            workers: 1
        }
    );
    sup.shutdown().await;
    assert_eq!(sup.which_children().await.err(), Some(ControlError::NoSupervisor));
}

/// `child(id)` is `which_children`'s row of that id, whatever its state.
#[tokio::test(start_paused = true)]
async fn child_gives_the_row_of_one_id() {
    quiet_panics();
    let w = Workers::default();
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(60))
        .child(w.spec("a").restart(RestartType::Transient))
        .child(w.scripted("b", Script::new().fail_starts([2, 3])))
        .start()
        .await
        .expect("starts");
    let a = sup.child("a").await.expect("a is a child");
    assert_eq!(
        (&*a.id, a.kind, a.restart),
        ("a", ChildKind::Worker, RestartType::Transient)
    );
    let incarnation = a.child_ref().cloned().expect("a runs");
    assert_eq!(incarnation.id(), "a");
    // b's exit is queued while the supervisor is suspended, then handled
    // first on resume: its restart fails and a retry is queued, so the
    // next call sees b restarting.
    let b = running(&sup, "b").await;
    sup.suspend().await.expect("suspends");
    w.crash("b").expect("b runs");
    while b.is_alive() {
        tokio::task::yield_now().await;
    }
    sup.resume().await.expect("resumes");
    assert!(matches!(sup.child("b").await.expect("b").state, ChildState::Restarting));
    sup.terminate_child("a").await.expect("stops");
    assert!(matches!(sup.child("a").await.expect("a").state, ChildState::Stopped));
    assert!(!incarnation.is_alive());
    assert_eq!(sup.child("zz").await.err(), Some(ControlError::NotFound));
    sup.shutdown().await;
    assert_eq!(sup.child("a").await.err(), Some(ControlError::NoSupervisor));
}

#[tokio::test]
async fn terminate_restart_delete() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(w.spec("t").restart(RestartType::Temporary))
        .start()
        .await
        .expect("starts");
    rec.take();
    assert_eq!(sup.delete_child("a").await, Err(ControlError::Running));
    assert_eq!(sup.restart_child("a").await.err(), Some(ControlError::Running));
    sup.terminate_child("a").await.expect("terminates");
    assert_eq!(rec.take(), ["stop a shutdown"]);
    assert!(matches!(
        sup.child("a").await.expect("alive").state,
        ChildState::Stopped
    ));
    sup.terminate_child("a").await.expect("ok for a stopped child too");
    let a = sup.restart_child("a").await.expect("restarts");
    assert!(a.is_alive());
    assert_eq!(rec.take(), ["start a"]);
    sup.terminate_child("a").await.expect("terminates");
    sup.delete_child("a").await.expect("deletes");
    assert_eq!(sup.restart_child("a").await.err(), Some(ControlError::NotFound));
    // A temporary child's spec goes with terminate_child.
    sup.terminate_child("t").await.expect("terminates");
    assert_eq!(sup.terminate_child("t").await, Err(ControlError::NotFound));
    assert_eq!(sup.terminate_child("nope").await, Err(ControlError::NotFound));
    sup.shutdown().await;
}

#[tokio::test]
async fn restart_child_failure_is_returned_not_retried() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(0, Duration::from_secs(5))
        .observer(rec.observer())
        .child(w.scripted("a", Script::new().fail_starts([2])))
        .start()
        .await
        .expect("starts");
    sup.terminate_child("a").await.expect("terminates");
    assert!(matches!(
        sup.restart_child("a").await,
        Err(ControlError::StartFailed(_))
    ));
    assert!(sup.is_alive(), "no intensity count for restart_child");
    assert!(matches!(
        sup.child("a").await.expect("alive").state,
        ChildState::Stopped
    ));
    sup.restart_child("a").await.expect("third attempt starts");
    sup.shutdown().await;
}

#[tokio::test]
async fn start_child_adds_a_spec_at_the_end() {
    let w = Workers::default();
    let sup = Supervisor::new(Strategy::OneForOne)
        .child(w.spec("a"))
        .start()
        .await
        .expect("starts");
    sup.start_child(w.spec("b")).await.expect("starts b");
    assert_eq!(
        sup.start_child(w.spec("b")).await.err(),
        Some(ControlError::AlreadyPresent)
    );
    assert!(matches!(
        sup.start_child(w.scripted("c", Script::new().fail_starts([1]))).await,
        Err(ControlError::StartFailed(_))
    ));
    let ids = support::ids(&sup).await;
    assert_eq!(ids, ["a", "b"], "a failed start_child keeps no spec");
    sup.shutdown().await;
}

#[tokio::test]
async fn kill_is_an_abnormal_exit_handled_by_the_supervisor() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.spec("t").restart(RestartType::Transient))
        .start()
        .await
        .expect("starts");
    let old = running(&sup, "t").await;
    old.kill();
    rec.wait_count("start t", 2).await;
    assert_eq!(rec.lines(), ["start t", "stop t killed", "start t"]);
    let new = running(&sup, "t").await;
    assert_ne!(old, new);
    assert!(!old.is_alive());
    old.kill(); // a stale handle does nothing
    assert!(new.is_alive());
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_child_never_takes_down_a_sibling_or_the_supervisor() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(100, Duration::from_secs(60))
        .observer(rec.observer())
        .child(w.spec("crashy"))
        .child(w.spec("steady"))
        .start()
        .await
        .expect("starts");
    let steady = running(&sup, "steady").await;
    for n in 2..=20 {
        w.crash("crashy").expect("crashy runs");
        rec.wait_count("start crashy", n).await;
    }
    assert!(steady.is_alive());
    assert_eq!(w.starts("steady"), 1);
    assert_eq!(sup.shutdown().await, ExitReason::Shutdown);
}

#[tokio::test]
async fn a_kill_handle_made_in_the_start_function_kills_its_incarnation() {
    use atlas_supervisor::{Child, ChildSpec, KillHandle};
    use std::sync::Arc;

    let rec = Recorder::default();
    let handles: Arc<parking_lot::Mutex<Vec<KillHandle>>> = Arc::default();
    let kill_at_start = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (h, k) = (handles.clone(), kill_at_start.clone());
    let spec = ChildSpec::worker("w", move |ctx| {
        let me = KillHandle::new();
        h.lock().push(me.clone());
        if k.swap(false, std::sync::atomic::Ordering::SeqCst) {
            // Before the task exists: takes effect when it is spawned.
            me.kill();
        }
        let stop = ctx.shutdown_signal();
        async move {
            Ok(Child::new(async move {
                stop.cancelled().await;
                ExitReason::Shutdown
            })
            .with_kill_handle(me))
        }
    });
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(5))
        .observer(rec.observer())
        .child(spec)
        .start()
        .await
        .expect("starts");
    let first = handles.lock()[0].clone();
    kill_at_start.store(true, std::sync::atomic::Ordering::SeqCst);
    first.kill();
    // Second incarnation is killed before it runs; the third survives.
    rec.wait_count("start w", 3).await;
    assert_eq!(
        rec.lines(),
        ["start w", "stop w killed", "start w", "stop w killed", "start w"]
    );
    first.kill(); // a handle of a dead incarnation does nothing
    assert!(running(&sup, "w").await.is_alive());
    sup.shutdown().await;
}
