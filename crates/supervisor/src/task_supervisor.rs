//! `TaskSupervisor`: fire-and-forget tasks, counted, contained, awaitable.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::{Child, ChildContext, ExitReason};

/// Runs fire-and-forget tasks (Elixir's `Task.Supervisor`): a panic in one
/// is contained and logged, the live ones are counted, and a caller can wait
/// until none is left, e.g. so that background writes finish before exit.
///
/// Cloning gives another handle to the same supervisor.
#[derive(Clone, Debug)]
pub struct TaskSupervisor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: Arc<str>,
    closed: AtomicBool,
    next: AtomicU64,
    tasks: Mutex<Live>,
    idle: Notify,
}

/// The live tasks, and those that finished before `spawn` could record
/// them (the lock is never held across `tokio::spawn`: a future dropped
/// inside it, e.g. on a runtime that is shutting down, runs its `Done`
/// guard on this very thread).
#[derive(Debug, Default)]
struct Live {
    running: HashMap<u64, AbortHandle>,
    finished_early: HashSet<u64>,
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

/// Removes a finished task from the live set, and reports a panic.
struct Done {
    inner: Arc<Inner>,
    key: u64,
}

impl Drop for Done {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(supervisor = %self.inner.name, "supervised task panicked");
        }
        let mut tasks = self.inner.tasks.lock();
        if tasks.running.remove(&self.key).is_none() {
            tasks.finished_early.insert(self.key);
        }
        if tasks.running.is_empty() {
            self.inner.idle.notify_waiters();
        }
    }
}

impl TaskSupervisor {
    /// A running task supervisor, not itself supervised.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                closed: AtomicBool::new(false),
                next: AtomicU64::new(0),
                tasks: Mutex::new(Live::default()),
                idle: Notify::new(),
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
            guard.0.inner.closed.store(true, Ordering::Release);
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
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Closed);
        }
        let key = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let done = Done {
            inner: self.inner.clone(),
            key,
        };
        let handle = tokio::spawn(async move {
            let _done = done;
            task.await;
        });
        let mut tasks = self.inner.tasks.lock();
        if !tasks.finished_early.remove(&key) {
            tasks.running.insert(key, handle.abort_handle());
        }
        Ok(())
    }

    /// How many tasks are running.
    pub fn live(&self) -> usize {
        self.inner.tasks.lock().running.len()
    }

    /// Waits until no task is running.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Refuses new tasks, waits up to `timeout` for the live ones, then
    /// aborts what is left. Returns how many were aborted.
    pub async fn shutdown(&self, timeout: Duration) -> usize {
        self.inner.closed.store(true, Ordering::Release);
        if tokio::time::timeout(timeout, self.wait_idle()).await.is_ok() {
            return 0;
        }
        self.abort_all()
    }

    /// Whether it still takes tasks.
    pub fn is_open(&self) -> bool {
        !self.inner.closed.load(Ordering::Acquire)
    }

    fn abort_all(&self) -> usize {
        let tasks = self.inner.tasks.lock();
        for h in tasks.running.values() {
            h.abort();
        }
        tasks.running.len()
    }
}

/// Closes the task supervisor and aborts its tasks when its child task ends
/// or is aborted (killed with its parent, as linked tasks are in OTP).
struct AbortOnDrop(TaskSupervisor);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.inner.closed.store(true, Ordering::Release);
        self.0.abort_all();
    }
}
