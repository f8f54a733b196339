//! OTP 24's significant children and `auto_shutdown`, and `ignore` from a
//! start function.

mod support;

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, running_ids, settle, Recorder, Script, Workers};
use atlas_supervisor::{
    AutoShutdown, ChildState, ControlError, DynamicSupervisor, ExitReason, RestartType, Strategy, Supervisor,
};
use support::{ids, running};

#[tokio::test]
async fn a_refused_child_list_fails_the_start_before_any_child_starts() {
    let w = Workers::default();
    for (auto, restart) in [
        (AutoShutdown::Never, RestartType::Transient),
        (AutoShutdown::AnySignificant, RestartType::Permanent),
    ] {
        let rec = Recorder::default();
        let started = Supervisor::new(Strategy::OneForOne)
            .auto_shutdown(auto)
            .observer(rec.observer())
            .child(w.spec("a"))
            .child(w.spec("s").restart(restart).significant(true))
            .start()
            .await;
        let err = started.expect_err("refused");
        assert!(err.message().contains("bad combination"), "{err}");
        assert!(rec.lines().is_empty(), "no child started: {:?}", rec.lines());
    }
    let dup = Supervisor::new(Strategy::OneForOne)
        .child(w.spec("a"))
        .child(w.spec("a"))
        .start()
        .await;
    assert!(dup.expect_err("refused").message().contains("duplicate"));
}

#[tokio::test]
async fn start_child_refuses_a_significant_child_under_never() {
    let w = Workers::default();
    let dsup = DynamicSupervisor::new().start();
    let spec = w.spec("s").restart(RestartType::Temporary).significant(true);
    assert!(matches!(
        dsup.start_child(spec).await,
        Err(ControlError::StartFailed(_))
    ));
    dsup.shutdown().await;
}

#[tokio::test]
async fn any_significant_shuts_down_when_a_significant_child_ends() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .auto_shutdown(AutoShutdown::AnySignificant)
        .observer(rec.observer())
        .child(w.spec("a").restart(RestartType::Transient).significant(true))
        .child(w.spec("b"))
        .start()
        .await
        .expect("starts");
    // A restarted exit does not count, nor does terminate_child.
    w.crash("a").expect("a runs");
    rec.wait_count("start a", 2).await;
    sup.terminate_child("a").await.expect("stops");
    sup.restart_child("a").await.expect("starts again");
    assert!(sup.is_alive());
    rec.take();
    w.exit("a", ExitReason::Normal).expect("a runs");
    assert_eq!(sup.wait().await, ExitReason::Shutdown);
    assert_eq!(
        rec.lines(),
        [
            "stop a normal",
            "auto_shutdown supervisor",
            "stop b shutdown",
            "terminated supervisor shutdown"
        ]
    );
}

#[tokio::test]
async fn all_significant_waits_for_the_last_significant_child() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .auto_shutdown(AutoShutdown::AllSignificant)
        .observer(rec.observer())
        .child(w.spec("a").restart(RestartType::Transient).significant(true))
        .child(w.spec("b").restart(RestartType::Temporary).significant(true))
        .child(w.spec("c"))
        .start()
        .await
        .expect("starts");
    w.exit("a", ExitReason::Normal).expect("a runs");
    assert!(settle(&sup).await, "b still runs");
    w.exit("b", ExitReason::error("crash")).expect("b runs");
    assert_eq!(sup.wait().await, ExitReason::Shutdown);
    assert!(rec.lines().contains(&"stop c shutdown".to_string()));
}

#[tokio::test]
async fn ignore_at_start_keeps_the_spec_and_drops_a_temporary_one() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.scripted("a", Script::new().ignore_starts([1])))
        .child(
            w.scripted("t", Script::new().ignore_starts([1]))
                .restart(RestartType::Temporary),
        )
        .child(w.scripted("b", Script::new().ignore_starts([1, 2])))
        .start()
        .await
        .expect("ignore is a successful start");
    assert_eq!(rec.take(), ["start_ignored a", "start_ignored t", "start_ignored b"]);
    assert_eq!(ids(&sup).await, ["a", "b"], "the temporary one is dropped");
    assert!(running_ids(&sup).await.is_empty());
    assert_eq!(sup.restart_child("t").await.err(), Some(ControlError::NotFound));
    sup.restart_child("a").await.expect("starts now");
    assert_eq!(sup.restart_child("b").await.err(), Some(ControlError::Ignored));
    assert!(matches!(
        sup.child("b").await.expect("alive").state,
        ChildState::Stopped
    ));
    sup.restart_child("b").await.expect("starts the third time");
    assert_eq!(running_ids(&sup).await, ["a", "b"]);
    sup.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_ignored_restart_has_counted_and_is_not_retried() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(1, Duration::from_secs(60))
        .observer(rec.observer())
        .child(w.scripted("a", Script::new().ignore_starts([2])))
        .start()
        .await
        .expect("starts");
    running(&sup, "a").await.kill();
    assert!(settle(&sup).await);
    assert_eq!(rec.take(), ["start a", "stop a killed", "start_ignored a"]);
    sup.restart_child("a").await.expect("starts");
    running(&sup, "a").await.kill();
    // The ignored restart counted: this second one exceeds max_restarts 1.
    assert_eq!(sup.wait().await, ExitReason::Shutdown);
}

#[tokio::test]
async fn a_dynamic_supervisor_keeps_nothing_of_an_ignored_start() {
    let w = Workers::default();
    let dsup = DynamicSupervisor::new().start();
    assert_eq!(
        dsup.start_child(w.scripted("a", Script::new().ignore_starts([1])))
            .await
            .err(),
        Some(ControlError::Ignored)
    );
    assert_eq!(dsup.count_children().await.expect("alive").specs, 0);
    dsup.shutdown().await;
}
