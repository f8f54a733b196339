//! Handles to running children and what introspection reports.

use std::fmt;
use std::sync::Arc;
use tokio::task::AbortHandle;

use crate::{ChildKind, RestartType, SupervisorRef};

/// A handle to one running incarnation of a child.
///
/// It stays tied to that incarnation: after a restart it reports the old
/// incarnation as dead and [`kill`](ChildRef::kill) does nothing.
#[derive(Clone)]
pub struct ChildRef {
    pub(crate) id: Arc<str>,
    pub(crate) abort: AbortHandle,
    pub(crate) supervisor: Option<SupervisorRef>,
    /// Its slot in its supervisor (with the task id, it names the
    /// incarnation for a dynamic `terminate_child`).
    pub(crate) pos: u32,
}

impl ChildRef {
    /// The child's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Abort the child at once, as `Process.exit(pid, :kill)`. Its supervisor
    /// sees the exit reason `Killed` and handles it like any abnormal exit.
    pub fn kill(&self) {
        self.abort.abort();
    }

    /// Whether this incarnation's task is still running.
    pub fn is_alive(&self) -> bool {
        !self.abort.is_finished()
    }

    /// The handle of this child when it is a supervisor.
    pub fn supervisor(&self) -> Option<&SupervisorRef> {
        self.supervisor.as_ref()
    }

    /// The tokio task id of this incarnation (unique while it runs).
    pub fn task_id(&self) -> tokio::task::Id {
        self.abort.id()
    }
}

impl fmt::Debug for ChildRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildRef")
            .field("id", &self.id)
            .field("task", &self.abort.id())
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl PartialEq for ChildRef {
    fn eq(&self, other: &Self) -> bool {
        self.abort.id() == other.abort.id()
    }
}

impl Eq for ChildRef {}

/// Where a child stands, as in OTP's `which_children`.
#[derive(Clone, Debug)]
pub enum ChildState {
    /// Running, with a handle to this incarnation.
    Running(ChildRef),
    /// Kept, but not running (a transient child that ended normally, one
    /// stopped with `terminate_child`, or one whose start answered ignore).
    Stopped,
    /// Its restart failed and a retry is queued.
    Restarting,
}

/// One row of `which_children`.
#[derive(Clone, Debug)]
pub struct ChildInfo {
    /// The child's id.
    pub id: Arc<str>,
    /// Running, stopped or restarting.
    pub state: ChildState,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Its restart type.
    pub restart: RestartType,
}

impl ChildInfo {
    /// The running incarnation, if any.
    pub fn child_ref(&self) -> Option<&ChildRef> {
        match &self.state {
            ChildState::Running(r) => Some(r),
            _ => None,
        }
    }
}

/// The counts of `count_children`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildCounts {
    /// All child specs held.
    pub specs: usize,
    /// Children currently running.
    pub active: usize,
    /// Specs of kind supervisor.
    pub supervisors: usize,
    /// Specs of kind worker.
    pub workers: usize,
}
