//! A child's task: it runs the child's future and reports the exit to the
//! supervisor's mailbox, however the future ends (returns, panics, or is
//! aborted), so that exits queue in the order they happen among the
//! supervisor's other messages.

use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::handle::Msg;
use crate::{Child, ChildFuture, ExitReason, StartError, StartFuture};

/// The future spawned for one incarnation.
pub(super) struct ChildTask {
    /// `None` once ended.
    future: Option<ChildFuture>,
    mailbox: mpsc::UnboundedSender<Msg>,
    pos: u32,
    key: u64,
}

impl ChildTask {
    pub(super) fn new(future: ChildFuture, mailbox: mpsc::UnboundedSender<Msg>, pos: u32, key: u64) -> Self {
        Self {
            future: Some(future),
            mailbox,
            pos,
            key,
        }
    }

    /// Drops the child's future first (its resources go before the
    /// supervisor hears of the exit), then reports.
    fn end(&mut self, reason: ExitReason) {
        if self.future.take().is_some() {
            let _ = self.mailbox.send(Msg::Exit {
                pos: self.pos,
                key: self.key,
                reason,
            });
        }
    }
}

impl Future for ChildTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(());
        };
        let reason = match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(reason)) => reason,
            Err(payload) => ExitReason::Panic(panic_message(payload.as_ref())),
        };
        this.end(reason);
        Poll::Ready(())
    }
}

impl Drop for ChildTask {
    /// Dropped before its end: aborted (`kill`, `brutal_kill`, a shutdown
    /// timeout, or the runtime going away).
    fn drop(&mut self) {
        self.end(ExitReason::Killed);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).into()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str().into()
    } else {
        "non-string panic payload".into()
    }
}

/// Runs a start function's future; a panic inside it is a start failure,
/// never a crash of the supervisor that runs it.
pub(super) async fn run_start(mut fut: StartFuture) -> Result<Child, StartError> {
    poll_fn(
        move |cx| match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(_) => Poll::Ready(Err(StartError::new("start function panicked"))),
        },
    )
    .await
}
