//! Restart intensity: sliding window, giving up, escalation to the parent.

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, Recorder, Script, Workers};
use atlas_supervisor::{ExitReason, Strategy, Supervisor};

#[tokio::test(start_paused = true)]
async fn more_than_max_restarts_in_the_window_gives_up() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(2, Duration::from_secs(10))
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(w.spec("b"))
        .start()
        .await
        .expect("starts");
    for n in 2..=3 {
        w.crash("a").expect("a runs");
        rec.wait_count("start a", n).await;
    }
    w.crash("a").expect("a runs");
    assert_eq!(sup.wait().await, ExitReason::Shutdown);
    let tail: Vec<_> = rec.lines().into_iter().rev().take(4).collect();
    assert_eq!(
        tail,
        [
            "terminated supervisor shutdown",
            "stop b shutdown",
            "gave_up supervisor",
            "stop a crash"
        ]
    );
    assert!(!sup.is_alive());
}

#[tokio::test(start_paused = true)]
async fn restarts_older_than_the_period_leave_the_window() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(2, Duration::from_secs(10))
        .observer(rec.observer())
        .child(w.spec("a"))
        .start()
        .await
        .expect("starts");
    // Two restarts per 6 s: each window of 10 s never holds more than 2... until it does.
    for n in 2..=3 {
        w.crash("a").expect("a runs");
        rec.wait_count("start a", n).await;
    }
    tokio::time::advance(Duration::from_secs(10)).await;
    for n in 4..=5 {
        w.crash("a").expect("a runs");
        rec.wait_count("start a", n).await;
    }
    assert!(sup.is_alive(), "the first two restarts left the window");
    tokio::time::advance(Duration::from_secs(9)).await;
    w.crash("a").expect("a runs");
    assert_eq!(sup.wait().await, ExitReason::Shutdown, "three restarts within 10 s");
}

#[tokio::test(start_paused = true)]
async fn max_restarts_zero_gives_up_on_the_first_restart_worthy_exit() {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(0, Duration::from_secs(5))
        .observer(rec.observer())
        .child(w.spec("t").restart(atlas_supervisor::RestartType::Transient))
        .child(w.spec("p"))
        .start()
        .await
        .expect("starts");
    w.exit("t", ExitReason::Normal).expect("t runs"); // not restart-worthy: does not count
    rec.wait_count("stop t normal", 1).await;
    assert!(sup.is_alive());
    w.exit("p", ExitReason::Normal).expect("p runs"); // permanent: restart-worthy
    assert_eq!(sup.wait().await, ExitReason::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_that_gives_up_is_restarted_by_its_parent() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let inner = Supervisor::new(Strategy::OneForOne)
        .intensity(0, Duration::from_secs(5))
        .observer(rec.observer())
        .child(w.spec("x"));
    let root = Supervisor::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(5))
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(inner.into_child_spec("s1"))
        .start()
        .await
        .expect("starts");
    assert_eq!(rec.take(), ["start a", "start x", "start s1"]);
    w.crash("x").expect("x runs");
    rec.wait_count("start s1", 1).await;
    assert_eq!(
        rec.take(),
        [
            "stop x crash",
            "gave_up s1",
            "terminated s1 shutdown",
            "stop s1 shutdown",
            "start x",
            "start s1"
        ]
    );
    assert!(root.is_alive());
    root.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn retries_of_a_failing_restart_count_toward_the_intensity() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    // Start attempts 2 and 3 fail: one crash needs 3 restarts > max 2.
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(2, Duration::from_secs(5))
        .observer(rec.observer())
        .child(w.scripted("a", Script::new().fail_starts([2, 3])))
        .start()
        .await
        .expect("starts");
    w.crash("a").expect("a runs");
    assert_eq!(sup.wait().await, ExitReason::Shutdown);
    assert_eq!(
        rec.lines(),
        [
            "start a",
            "stop a crash",
            "start_failed a",
            "start_failed a",
            "gave_up supervisor",
            "terminated supervisor shutdown"
        ]
    );
}
