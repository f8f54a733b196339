//! `suspend`/`resume` (OTP's `sys:suspend`/`sys:resume`): a suspended
//! supervisor keeps receiving its children's exits and acts on none until
//! resumed; then it handles them first in, first out.

mod support;

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, running_ids, settle, Recorder, Workers};
use atlas_supervisor::{ExitReason, Strategy, Supervisor};
use support::running;

/// Oracle scenario 34: a one_for_all burst of two crashes. `b`'s pending
/// exit is swept by the group restart of `a`'s: one restart in all.
#[tokio::test]
async fn exits_pending_while_suspended_are_handled_in_order_after_resume() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForAll)
        .intensity(1, Duration::from_secs(3600))
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(w.spec("b"))
        .child(w.spec("c"))
        .start()
        .await
        .expect("starts");
    let a = running(&sup, "a").await;
    let b = running(&sup, "b").await;
    rec.take();
    sup.suspend().await.expect("suspends");
    w.crash("a").expect("a runs");
    w.crash("b").expect("b runs");
    while a.is_alive() || b.is_alive() {
        tokio::task::yield_now().await;
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        rec.lines().is_empty(),
        "nothing handled while suspended: {:?}",
        rec.lines()
    );
    sup.resume().await.expect("resumes");
    assert!(settle(&sup).await, "one restart only: max_restarts 1 holds");
    assert_eq!(
        rec.take(),
        [
            "stop a crash",
            "stop c shutdown",
            "stop b crash",
            "start a",
            "start b",
            "start c"
        ]
    );
    assert_eq!(running_ids(&sup).await, ["a", "b", "c"]);
    sup.shutdown().await;
}

#[tokio::test]
async fn a_suspended_supervisor_still_stops_when_asked() {
    let w = Workers::default();
    let sup = Supervisor::new(Strategy::OneForOne)
        .child(w.spec("a"))
        .start()
        .await
        .expect("starts");
    sup.suspend().await.expect("suspends");
    assert_eq!(sup.shutdown().await, ExitReason::Shutdown);
}
