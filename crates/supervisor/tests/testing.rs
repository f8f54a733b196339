//! `atlas_supervisor::testing`: what its recorder, scripted workers and
//! `settle` promise beyond their examples.

mod support;

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, running_ids, settle, Recorder, Script, Workers};
use atlas_supervisor::{DynamicSupervisor, ExitReason, Strategy, Supervisor};
use support::running;

/// `settle` covers the whole tree: a nested supervisor's retries, its
/// giving up, and the root's restart of it that follows.
#[tokio::test(start_paused = true)]
async fn settle_waits_for_what_a_nested_supervisor_sets_off() {
    quiet_panics();
    let (w, rec) = (Workers::new(), Recorder::new());
    let nested = Supervisor::new(Strategy::OneForOne)
        .name("s")
        .intensity(1, Duration::from_secs(60))
        .child(w.scripted("x", Script::new().fail_starts([2])))
        .observer(rec.observer());
    let root = Supervisor::new(Strategy::OneForOne)
        .intensity(1, Duration::from_secs(60))
        .observer(rec.observer())
        .child(nested.into_child_spec("s"))
        .child(w.spec("b"))
        .start()
        .await
        .expect("starts");
    rec.take();
    w.crash("x").expect("x runs");
    assert!(settle(&root).await);
    assert_eq!(
        rec.take(),
        [
            "stop x crash",
            "start_failed x",
            "gave_up s",
            "terminated s shutdown",
            "stop s shutdown",
            "start x",
            "start s"
        ]
    );
    assert_eq!(running_ids(&root).await, ["s", "x", "b"]);
    root.shutdown().await;
}

/// A traced worker's own `stop` line stands for its exit: the
/// supervisor's event of it adds none, and the next exit of the same id
/// is recorded again.
#[tokio::test]
async fn a_traced_workers_stop_line_is_written_once() {
    let rec = Recorder::otp_only();
    let w = Workers::traced(&rec);
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(60))
        .observer(rec.observer())
        .child(w.spec("a"))
        .start()
        .await
        .expect("starts");
    w.exit("a", ExitReason::Normal).expect("a runs");
    assert!(settle(&sup).await);
    let a = running(&sup, "a").await;
    w.kill(&a);
    while a.is_alive() {
        tokio::task::yield_now().await;
    }
    assert!(settle(&sup).await);
    sup.shutdown().await;
    assert_eq!(
        rec.take(),
        [
            "start a",
            "stop a normal",
            "start a",
            "stop a killed",
            "start a",
            "stop a shutdown"
        ]
    );
}

/// A worker whose order channel a later incarnation under the same id took
/// over still stops when its supervisor asks.
#[tokio::test(start_paused = true)]
async fn an_older_incarnation_under_a_shared_id_still_stops_when_asked() {
    let (w, rec) = (Workers::new(), Recorder::new());
    let dsup = DynamicSupervisor::new().observer(rec.observer()).start();
    dsup.start_child(w.spec("same")).await.expect("starts");
    dsup.start_child(w.spec("same")).await.expect("starts");
    let t0 = tokio::time::Instant::now();
    assert_eq!(dsup.shutdown().await, ExitReason::Shutdown);
    assert_eq!(t0.elapsed(), Duration::ZERO, "neither waited for its shutdown timeout");
    assert_eq!(
        rec.lines().iter().filter(|l| *l == "stop same shutdown").count(),
        2,
        "{:?}",
        rec.lines()
    );
}
