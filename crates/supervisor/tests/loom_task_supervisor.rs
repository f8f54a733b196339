//! loom models of the task supervisor's spawn/shutdown: every interleaving
//! (up to a preemption bound) of a spawn, its task, a shutdown and the
//! shutdown's deadline, which `task_supervisor.rs` can only sample.
//!
//! Run by `cargo xtask test` (its `loom` step), or by hand:
//! `RUSTFLAGS="--cfg atlas_loom" cargo test --release --target-dir target/loom -p atlas-supervisor --test loom_task_supervisor`.
//! `LOOM_MAX_PREEMPTIONS` overrides the bound set here.
#![cfg(atlas_loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use atlas_supervisor::TaskSupervisor;
use loom::future::block_on;
use loom::thread;

/// Runs `f` under every interleaving with at most `preemptions` forced
/// switches (unless `LOOM_MAX_PREEMPTIONS` says otherwise). The bounds are
/// set so that all the models of the workspace run in seconds.
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(f);
}

/// Pending once (waking itself at once), then ready: a task that is
/// in flight across one scheduling point.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A spawn races a shutdown whose deadline may fall anywhere: a spawn that
/// was accepted is one the shutdown waited for or aborted (and no task runs
/// on after the shutdown returned), and none is accepted once it has begun.
#[test]
fn an_accepted_task_is_waited_for_or_aborted_and_none_slips_past_shutdown() {
    model(3, || {
        let ts = TaskSupervisor::new("tasks");
        // The model's own bookkeeping, on std atomics: loom's ordering is
        // for the protocol, not for the observer.
        let completed = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (ts, completed) = (ts.clone(), completed.clone());
            thread::spawn(move || {
                ts.spawn(async move {
                    YieldOnce(false).await;
                    completed.fetch_add(1, SeqCst);
                })
                .is_ok()
            })
        };
        let aborted = block_on(ts.shutdown(Duration::from_secs(1)));
        let completed_at_return = completed.load(SeqCst);
        assert!(!ts.is_open());
        assert!(ts.spawn(async {}).is_err(), "a spawn after shutdown is refused");
        let accepted = usize::from(spawner.join().expect("no panic"));
        block_on(ts.wait_idle()); // the aborted tasks' ends
        assert!(
            accepted <= completed_at_return + aborted,
            "an accepted task was neither waited for nor aborted"
        );
        assert_eq!(
            completed.load(SeqCst),
            completed_at_return,
            "a task ran on after shutdown returned"
        );
        assert_eq!(ts.live(), 0);
    });
}
