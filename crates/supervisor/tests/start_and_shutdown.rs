//! Start order, start failures, shutdown policies and their order.

mod support;

use std::time::Duration;

use atlas_supervisor::testing::{Recorder, Script, Workers};
use atlas_supervisor::{ChildSpec, ExitReason, Shutdown, Strategy, Supervisor};
use support::running;

#[tokio::test]
async fn a_start_failure_stops_the_started_children_in_reverse_and_names_the_child() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let err = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(w.spec("b"))
        .child(w.scripted("c", Script::new().fail_starts([1])))
        .child(w.spec("d"))
        .start()
        .await
        .expect_err("c fails");
    assert!(err.to_string().contains("`c`"), "error names the child: {err}");
    assert_eq!(
        rec.lines(),
        [
            "start a",
            "start b",
            "start_failed c",
            "stop b shutdown",
            "stop a shutdown"
        ]
    );
    assert_eq!(w.starts("d"), 0, "children after the failed one never start");
}

#[tokio::test]
async fn a_panicking_start_function_is_a_start_failure() {
    let err = Supervisor::new(Strategy::OneForOne)
        .child(ChildSpec::worker("p", |_ctx| async { panic!("in start") }))
        .start()
        .await
        .expect_err("start fails");
    assert!(err.to_string().contains("`p`"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_policies() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.spec("brutal").shutdown(Shutdown::BrutalKill))
        .child(
            w.scripted("stubborn", Script::new().ignore_shutdown(true))
                .shutdown(Shutdown::Timeout(Duration::from_millis(50))),
        )
        .child(w.spec("polite").shutdown(Shutdown::Timeout(Duration::from_secs(1))))
        .child(w.spec("patient").shutdown(Shutdown::Infinity))
        .start()
        .await
        .expect("starts");
    rec.take();
    let t0 = tokio::time::Instant::now();
    assert_eq!(sup.shutdown().await, ExitReason::Shutdown);
    assert_eq!(
        rec.take(),
        [
            "stop patient shutdown",
            "stop polite shutdown",
            "stop stubborn killed",
            "stop brutal killed",
            "terminated supervisor shutdown"
        ]
    );
    // Only the stubborn child made the shutdown wait: for its whole timeout.
    assert_eq!(t0.elapsed(), Duration::from_millis(50));
}

#[tokio::test]
async fn nested_shutdown_is_reverse_depth_first() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let s1 = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.spec("x"))
        .child(w.spec("y"));
    let root = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(s1.into_child_spec("s1"))
        .child(w.spec("b"))
        .start()
        .await
        .expect("starts");
    assert_eq!(rec.take(), ["start a", "start x", "start y", "start s1", "start b"]);
    root.shutdown().await;
    assert_eq!(
        rec.take(),
        [
            "stop b shutdown",
            "stop y shutdown",
            "stop x shutdown",
            "terminated s1 shutdown",
            "stop s1 shutdown",
            "stop a shutdown",
            "terminated supervisor shutdown"
        ]
    );
}

#[tokio::test]
async fn aborting_a_supervisor_takes_its_children_with_it() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let s1 = Supervisor::new(Strategy::OneForOne).child(w.spec("x"));
    let root = Supervisor::new(Strategy::OneForOne)
        .intensity(0, Duration::from_secs(5))
        .observer(rec.observer())
        .child(
            s1.into_child_spec("s1")
                .restart(atlas_supervisor::RestartType::Temporary),
        )
        .start()
        .await
        .expect("starts");
    let s1_ref = running(&root, "s1").await;
    let inner = s1_ref.supervisor().expect("a supervisor child").clone();
    let x = running(&inner, "x").await;
    s1_ref.kill();
    assert_eq!(inner.wait().await, ExitReason::Killed);
    rec.wait_count("stop s1 killed", 1).await;
    // x was aborted with its supervisor: no orphan task.
    tokio::time::timeout(Duration::from_secs(10), async {
        while x.is_alive() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("x is aborted with its supervisor");
    assert!(root.is_alive(), "a temporary child's exit does not count");
}
