//! `TaskSupervisor`: fire-and-forget tasks, counted, contained, awaitable.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::loom::{watch, CancellationToken};
use crate::{Child, ChildContext, ExitReason};

/// Runs fire-and-forget tasks (Elixir's `Task.Supervisor`): a panic in one
/// is contained and logged, the live ones are counted, and a caller can wait
/// until none is left, e.g. so that background writes finish before exit.
///
/// A task that [`spawn`](Self::spawn) accepted is always counted before
/// `spawn` returns, and closing happens under the same lock as that count:
/// once [`shutdown`](Self::shutdown) (or a stop of the supervised child)
/// has closed it, every accepted task is one it waits for or aborts.
///
/// Cloning gives another handle to the same supervisor.
#[derive(Clone, Debug)]
pub struct TaskSupervisor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: Arc<str>,
    /// Open or closed, and how many tasks are live: one state, changed
    /// atomically (under the watch's lock), watched by `wait_idle`.
    state: watch::Sender<State>,
    /// Aborts every task, those accepted but not yet polled included.
    abort: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    live: usize,
}

/// The task supervisor has shut down and takes no more tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the task supervisor has shut down")]
pub struct Closed;

impl Default for TaskSupervisor {
    fn default() -> Self {
        Self::new("task_supervisor")
    }
}

/// Counts a task out when its future is dropped (finished, panicked or
/// aborted), and reports a panic.
struct Done {
    inner: Arc<Inner>,
}

impl Drop for Done {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(supervisor = %self.inner.name, "supervised task panicked");
        }
        self.inner.state.send_modify(|s| s.live -= 1);
    }
}

impl TaskSupervisor {
    /// A running task supervisor, not itself supervised.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                state: watch::Sender::new(State::default()),
                abort: CancellationToken::new(),
            }),
        }
    }

    /// A new task supervisor as the child of a supervisor: when asked to
    /// stop it refuses new tasks and waits for the live ones (its shutdown
    /// policy bounds the wait); when killed, its tasks are aborted.
    pub fn start_linked(name: impl Into<Arc<str>>, ctx: ChildContext) -> (TaskSupervisor, Child) {
        let ts = TaskSupervisor::new(name);
        let guard = AbortOnDrop(ts.clone());
        let signal = ctx.shutdown_signal();
        let child = Child::new(async move {
            signal.cancelled().await;
            guard.0.close();
            guard.0.wait_idle().await;
            ExitReason::Shutdown
        });
        (ts, child)
    }

    /// Spawns `task`. Its panic is logged, never propagated.
    pub fn spawn<F>(&self, task: F) -> Result<(), Closed>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let accepted = self.inner.state.send_if_modified(|s| {
            if s.closed {
                return false;
            }
            s.live += 1;
            true
        });
        if !accepted {
            return Err(Closed);
        }
        // Counted already: the lock is not held across `tokio::spawn` (a
        // future dropped inside it, on a runtime that is shutting down, runs
        // its `Done` guard on this very thread).
        let done = Done {
            inner: self.inner.clone(),
        };
        let abort = self.inner.abort.clone();
        crate::loom::spawn(async move {
            let _done = done;
            abort.run_until_cancelled(task).await;
        });
        Ok(())
    }

    /// How many tasks are running.
    pub fn live(&self) -> usize {
        self.inner.state.borrow().live
    }

    /// Waits until no task is running.
    pub async fn wait_idle(&self) {
        let mut rx = self.inner.state.subscribe();
        // The sender lives in `self`: the wait cannot fail.
        let _ = rx.wait_for(|s| s.live == 0).await;
    }

    /// Refuses new tasks, waits up to `timeout` for the live ones, then
    /// aborts what is left. Returns how many were aborted.
    pub async fn shutdown(&self, timeout: Duration) -> usize {
        self.close();
        if crate::loom::timeout(timeout, self.wait_idle()).await.is_ok() {
            return 0;
        }
        self.abort_all()
    }

    /// Whether it still takes tasks.
    pub fn is_open(&self) -> bool {
        !self.inner.state.borrow().closed
    }

    fn close(&self) {
        self.inner
            .state
            .send_if_modified(|s| !std::mem::replace(&mut s.closed, true));
    }

    fn abort_all(&self) -> usize {
        let live = self.live();
        self.inner.abort.cancel();
        live
    }
}

/// Closes the task supervisor and aborts its tasks when its child task ends
/// or is aborted (killed with its parent, as linked tasks are in OTP).
struct AbortOnDrop(TaskSupervisor);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.close();
        self.0.abort_all();
    }
}
