//! DynamicSupervisor: on-demand children, each restarted alone.

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, Recorder, Script, Workers};
use atlas_supervisor::{ChildState, ControlError, DynamicSupervisor, ExitReason, RestartType, Shutdown};

#[tokio::test]
async fn start_restart_and_terminate_children() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let dsup = DynamicSupervisor::new()
        .intensity(20, Duration::from_secs(60))
        .observer(rec.observer())
        .start();
    let a = dsup.start_child(w.spec("a")).await.expect("starts");
    let b = dsup.start_child(w.spec("b")).await.expect("starts");
    w.crash("a").expect("a runs");
    rec.wait_count("start a", 2).await;
    assert!(!a.is_alive());
    assert!(b.is_alive(), "one_for_one: the sibling is untouched");
    assert_eq!(dsup.count_children().await.expect("alive").active, 2);
    dsup.terminate_child(&b).await.expect("terminates");
    assert_eq!(dsup.terminate_child(&b).await, Err(ControlError::NotFound));
    let kids = dsup.which_children().await.expect("alive");
    assert_eq!(kids.len(), 1);
    assert!(matches!(kids[0].state, ChildState::Running(_)));
    assert_eq!(dsup.shutdown().await, ExitReason::Shutdown);
}

#[tokio::test]
async fn transient_and_temporary_children_are_forgotten_after_a_normal_exit() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let dsup = DynamicSupervisor::new().observer(rec.observer()).start();
    dsup.start_child(w.spec("t").restart(RestartType::Transient))
        .await
        .expect("starts");
    dsup.start_child(w.spec("tmp").restart(RestartType::Temporary))
        .await
        .expect("starts");
    w.exit("t", ExitReason::Normal).expect("t runs");
    w.exit("tmp", ExitReason::error("x")).expect("tmp runs");
    rec.wait_count("stop tmp crash", 1).await;
    rec.wait_count("stop t normal", 1).await;
    assert_eq!(dsup.count_children().await.expect("alive").specs, 0);
    dsup.shutdown().await;
}

#[tokio::test]
async fn max_children_is_enforced() {
    let w = Workers::default();
    let dsup = DynamicSupervisor::new().max_children(2).start();
    dsup.start_child(w.spec("a")).await.expect("starts");
    dsup.start_child(w.spec("b")).await.expect("starts");
    assert_eq!(
        dsup.start_child(w.spec("c")).await.err(),
        Some(ControlError::MaxChildren)
    );
    dsup.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn its_own_intensity_shared_by_all_children() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let dsup = DynamicSupervisor::new()
        .intensity(2, Duration::from_secs(60))
        .observer(rec.observer())
        .start();
    for id in ["a", "b", "c"] {
        dsup.start_child(w.spec(id)).await.expect("starts");
    }
    w.crash("a").expect("a runs");
    rec.wait_count("start a", 2).await;
    w.crash("b").expect("b runs");
    rec.wait_count("start b", 2).await;
    w.crash("c").expect("c runs");
    assert_eq!(dsup.wait().await, ExitReason::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_children_concurrently() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let dsup = DynamicSupervisor::new().observer(rec.observer()).start();
    for id in ["a", "b", "c"] {
        dsup.start_child(
            w.scripted(id, Script::new().ignore_shutdown(true))
                .shutdown(Shutdown::Timeout(Duration::from_millis(100))),
        )
        .await
        .expect("starts");
    }
    let t0 = tokio::time::Instant::now();
    dsup.shutdown().await;
    // Three stubborn children with 100 ms each: concurrently, 100 ms in all.
    assert_eq!(t0.elapsed(), Duration::from_millis(100));
    assert_eq!(rec.lines().iter().filter(|l| l.ends_with("killed")).count(), 3);
}

#[tokio::test]
async fn a_failed_start_child_is_reported() {
    let w = Workers::default();
    let dsup = DynamicSupervisor::new().start();
    assert!(matches!(
        dsup.start_child(w.scripted("f", Script::new().fail_starts([1]))).await,
        Err(ControlError::StartFailed(_))
    ));
    assert_eq!(dsup.count_children().await.expect("alive").specs, 0);
    dsup.shutdown().await;
}

#[tokio::test]
async fn which_children_gives_the_handle_of_a_nested_supervisor() {
    let w = Workers::default();
    let dsup = DynamicSupervisor::new().start();
    let nested = atlas_supervisor::Supervisor::new(atlas_supervisor::Strategy::OneForOne).child(w.spec("x"));
    dsup.start_child(nested.into_child_spec("s")).await.expect("starts");
    let kids = dsup.which_children().await.expect("alive");
    let handle = kids[0]
        .child_ref()
        .and_then(|r| r.supervisor())
        .expect("the nested handle");
    assert_eq!(handle.which_children().await.expect("alive").len(), 1);
    dsup.shutdown().await;
}
