//! The set of child tasks a supervisor owns, and how one is stopped.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::task::Poll;

use tokio::task::{AbortHandle, Id, JoinSet};

use crate::exit::from_join_error;
use crate::{Child, ChildFuture, ExitReason, Shutdown, ShutdownSignal, StartError, StartFuture};

/// Child tasks plus the exits seen while waiting for a particular one.
///
/// A supervisor stopping child X waits for X alone, as OTP's selective
/// receive does; other exits that arrive meanwhile are kept, in order, and
/// handled afterwards.
#[derive(Default)]
pub(crate) struct ChildTasks {
    set: JoinSet<ExitReason>,
    early: VecDeque<(Id, ExitReason)>,
}

impl ChildTasks {
    pub(crate) fn spawn(&mut self, future: ChildFuture) -> AbortHandle {
        self.set.spawn(future)
    }

    /// An exit kept from an earlier wait, if any.
    pub(crate) fn pop_early(&mut self) -> Option<(Id, ExitReason)> {
        self.early.pop_front()
    }

    /// The next exit of any child; pending forever when there are none.
    pub(crate) async fn next_exit(&mut self) -> (Id, ExitReason) {
        if let Some(e) = self.early.pop_front() {
            return e;
        }
        loop {
            match self.set.join_next_with_id().await {
                Some(Ok((id, reason))) => return (id, reason),
                Some(Err(e)) => return (e.id(), from_join_error(e)),
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Waits for the exit of the task `id` only.
    pub(crate) async fn wait_for(&mut self, id: Id) -> ExitReason {
        if let Some(pos) = self.early.iter().position(|(i, _)| *i == id) {
            if let Some((_, r)) = self.early.remove(pos) {
                return r;
            }
        }
        loop {
            let (got, reason) = match self.set.join_next_with_id().await {
                Some(Ok(x)) => x,
                Some(Err(e)) => (e.id(), from_join_error(e)),
                // Not ours any more: treat as killed rather than hang.
                None => return ExitReason::Killed,
            };
            if got == id {
                return reason;
            }
            self.early.push_back((got, reason));
        }
    }

    /// Stops one child by its policy and returns its exit reason.
    pub(crate) async fn stop(&mut self, abort: &AbortHandle, signal: &ShutdownSignal, policy: Shutdown) -> ExitReason {
        let id = abort.id();
        match policy {
            Shutdown::BrutalKill => abort.abort(),
            Shutdown::Timeout(d) => {
                signal.fire();
                if let Ok(r) = tokio::time::timeout(d, self.wait_for(id)).await {
                    return r;
                }
                abort.abort();
            }
            Shutdown::Infinity => signal.fire(),
        }
        self.wait_for(id).await
    }

    /// Drops every task (aborting it) and forgets kept exits.
    pub(crate) fn abort_all(&mut self) {
        self.set.abort_all();
    }
}

/// Runs a start function; a panic inside it is a start failure, never a
/// crash of the supervisor that runs it.
pub(crate) async fn run_start(mut fut: StartFuture) -> Result<Child, StartError> {
    poll_fn(
        move |cx| match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(_) => Poll::Ready(Err(StartError::new("start function panicked"))),
        },
    )
    .await
}
