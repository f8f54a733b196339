//! A panic inside a start function, in its synchronous part (before the
//! future it returns) as well as in that future, is a failed start: never
//! a crash of the supervisor, never a panic of the caller.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{Child, ChildSpec, ExitReason, Strategy, Supervisor};
use support::{ids_running, quiet_panics, settle, Recorder, Workers};

/// A worker whose start function panics, before building its future, on
/// the listed attempts (1-based).
fn panicking_start(id: &str, panics_on: &'static [usize]) -> ChildSpec {
    let attempts = Arc::new(AtomicUsize::new(0));
    ChildSpec::worker(id, move |ctx| {
        let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if panics_on.contains(&n) {
            panic!("worker told to crash in its start function");
        }
        let stop = ctx.shutdown_signal();
        async move {
            Ok(Child::new(async move {
                stop.cancelled().await;
                ExitReason::Shutdown
            }))
        }
    })
}

#[tokio::test]
async fn a_synchronous_panic_at_the_root_start_is_a_start_error() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let started = Supervisor::new(Strategy::OneForOne)
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(panicking_start("p", &[1]))
        .start()
        .await;
    let err = started.expect_err("the start fails");
    assert!(err.message().contains("`p`"), "names the child: {err}");
    assert_eq!(rec.take(), ["start a", "start_failed p", "stop a shutdown"]);
}

#[tokio::test]
async fn a_synchronous_panic_at_a_restart_is_a_failed_restart() {
    quiet_panics();
    let rec = Recorder::default();
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(3600))
        .observer(rec.observer())
        .child(panicking_start("p", &[2]))
        .start()
        .await
        .expect("starts");
    let kids = sup.which_children().await.expect("alive");
    kids[0].child_ref().expect("runs").kill();
    assert!(settle(&sup).await, "the supervisor is still running");
    assert_eq!(rec.take(), ["start p", "stop p killed", "start_failed p", "start p"]);
    assert_eq!(ids_running(&sup).await, ["p"]);
    sup.shutdown().await;
}
