//! A panic inside a start function, in its synchronous part (before the
//! future it returns) as well as in that future, is a failed start: never
//! a crash of the supervisor, never a panic of the caller.

mod support;

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, running_ids, settle, Recorder, Script, Workers};
use atlas_supervisor::{Strategy, Supervisor};
use support::running;

#[tokio::test]
async fn a_synchronous_panic_at_the_root_start_is_a_start_error() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let started = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(w.scripted("p", Script::new().panic_starts([1])))
        .start()
        .await;
    let err = started.expect_err("the start fails");
    assert!(err.message().contains("`p`"), "names the child: {err}");
    assert_eq!(rec.take(), ["start a", "start_failed p", "stop a shutdown"]);
}

#[tokio::test]
async fn a_synchronous_panic_at_a_restart_is_a_failed_restart() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(3600))
        .observer(rec.observer())
        .child(w.scripted("p", Script::new().panic_starts([2])))
        .start()
        .await
        .expect("starts");
    running(&sup, "p").await.kill();
    assert!(settle(&sup).await, "the supervisor is still running");
    assert_eq!(rec.take(), ["start p", "stop p killed", "start_failed p", "start p"]);
    assert_eq!(running_ids(&sup).await, ["p"]);
    sup.shutdown().await;
}
