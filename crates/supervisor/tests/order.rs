//! Arrival order: exits, retries and control calls are handled as they
//! arrive, as in OTP's mailbox; a failed restart's retry queues behind the
//! exits already pending (OTP's `try_again_restart` is a message to itself).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, running_ids, settle, Recorder, Script, Workers};
use atlas_supervisor::{Child, ChildSpec, ExitReason, StartError, Strategy, Supervisor};
use support::running;

/// Oracle scenario 33 without `sys:suspend`: `b` crashes and `a` is killed
/// in one step, so both exits are pending when the supervisor looks; `b`'s
/// restart fails. OTP handles `a`'s exit before the retry of `b`: it
/// restarts `a` and `b` (two restarts), the queued retry finds `b` running
/// and does nothing, and `max_restarts: 2` survives.
#[tokio::test]
async fn a_failed_restart_is_retried_after_the_pending_exits() {
    quiet_panics();
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::RestForOne)
        .intensity(2, Duration::from_secs(3600))
        .observer(rec.observer())
        .child(w.spec("a"))
        .child(w.scripted("b", Script::new().fail_starts([2])))
        .start()
        .await
        .expect("starts");
    let a = running(&sup, "a").await;
    rec.take();
    // Both in one step: neither exit is handled before the other happens.
    w.crash("b").expect("b runs");
    a.kill();
    assert!(settle(&sup).await, "the supervisor survives, as OTP's does");
    assert_eq!(
        rec.take(),
        ["stop b crash", "start_failed b", "stop a killed", "start a", "start b"]
    );
    assert_eq!(running_ids(&sup).await, ["a", "b"]);
    sup.shutdown().await;
}

/// A child whose every start after the first fails, under a supervisor
/// that never gives up: the retries must leave the runtime to others (here
/// the test's own task, on a single thread), and a shutdown asked for
/// meanwhile is handled.
#[test]
fn a_start_that_always_fails_does_not_starve_the_runtime() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            quiet_panics();
            let starts = Arc::new(AtomicUsize::new(0));
            let w = Workers::default();
            let s = starts.clone();
            let spec = ChildSpec::worker("f", move |_ctx| {
                let n = s.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Ok(Child::new(async {
                            tokio::task::yield_now().await;
                            ExitReason::error("crash")
                        }))
                    } else {
                        Err(StartError::new("failed"))
                    }
                }
            });
            let sup = Supervisor::new(Strategy::OneForOne)
                .intensity(u32::MAX, Duration::from_secs(3600))
                .child(spec)
                .child(w.spec("other"))
                .start()
                .await
                .expect("starts");
            // Let the crash and a good number of failed retries happen.
            while starts.load(Ordering::SeqCst) < 100 {
                tokio::task::yield_now().await;
            }
            assert_eq!(sup.shutdown().await, ExitReason::Shutdown);
        });
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the test task ran again and the supervisor shut down");
}
