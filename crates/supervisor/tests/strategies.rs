//! The three restart strategies, order of stops and starts.

mod support;

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, Recorder, Workers};
use atlas_supervisor::{ExitReason, RestartType, Strategy, Supervisor, SupervisorRef};

async fn tree(strategy: Strategy, ids: &[&str], w: &Workers, rec: &Recorder) -> SupervisorRef {
    let mut sup = Supervisor::new(strategy)
        .intensity(10, Duration::from_secs(5))
        .observer(rec.observer());
    for id in ids {
        sup = sup.child(w.spec(id));
    }
    let sup = sup.start().await.expect("starts");
    assert_eq!(rec.take(), ids.iter().map(|i| format!("start {i}")).collect::<Vec<_>>());
    sup
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn one_for_one_restarts_only_the_exited_child() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = tree(Strategy::OneForOne, &["a", "b", "c"], &w, &rec).await;
    w.crash("b").expect("b runs");
    rec.wait_count("start b", 1).await;
    assert_eq!(rec.take(), lines(&["stop b crash", "start b"]));
    sup.shutdown().await;
    assert_eq!(
        rec.take(),
        lines(&[
            "stop c shutdown",
            "stop b shutdown",
            "stop a shutdown",
            "terminated supervisor shutdown"
        ])
    );
}

#[tokio::test]
async fn one_for_all_stops_the_others_in_reverse_then_starts_all_in_order() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = tree(Strategy::OneForAll, &["a", "b", "c", "d"], &w, &rec).await;
    w.exit("b", ExitReason::error("boom")).expect("b runs");
    rec.wait_count("start d", 1).await;
    assert_eq!(
        rec.take(),
        lines(&[
            "stop b crash",
            "stop d shutdown",
            "stop c shutdown",
            "stop a shutdown",
            "start a",
            "start b",
            "start c",
            "start d"
        ])
    );
    sup.shutdown().await;
}

#[tokio::test]
async fn rest_for_one_restarts_the_exited_child_and_those_after_it() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = tree(Strategy::RestForOne, &["a", "b", "c", "d"], &w, &rec).await;
    w.crash("b").expect("b runs");
    rec.wait_count("start d", 1).await;
    assert_eq!(
        rec.take(),
        lines(&[
            "stop b crash",
            "stop d shutdown",
            "stop c shutdown",
            "start b",
            "start c",
            "start d"
        ])
    );
    // The last child: nothing after it.
    w.crash("d").expect("d runs");
    rec.wait_count("start d", 1).await;
    assert_eq!(rec.take(), lines(&["stop d crash", "start d"]));
    sup.shutdown().await;
}

#[tokio::test]
async fn group_restart_removes_temporary_siblings() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::RestForOne)
        .intensity(10, Duration::from_secs(5))
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(w.spec("t").restart(RestartType::Temporary))
        .start()
        .await
        .expect("starts");
    rec.take();
    w.exit("a", ExitReason::Killed).expect("a runs");
    rec.wait_count("start a", 1).await;
    assert_eq!(rec.take(), lines(&["stop a killed", "stop t shutdown", "start a"]));
    let ids = support::ids(&sup).await;
    assert_eq!(ids, ["a"]);
    sup.shutdown().await;
}
