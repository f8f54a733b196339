//! `KillHandle`: a child's handle to its own incarnation, made before the
//! incarnation is spawned.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::task::AbortHandle;

/// Kills one child incarnation, like [`ChildRef::kill`](crate::ChildRef::kill),
/// but can be created inside the start function, before the task exists, and
/// handed out then (e.g. in a handle the child registers in its `init`).
///
/// Attach it with [`Child::with_kill_handle`](crate::Child::with_kill_handle);
/// the supervisor binds it to the task when it spawns it. A kill asked for
/// before that takes effect the moment the task is spawned.
#[derive(Clone, Default)]
pub struct KillHandle {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    abort: Option<AbortHandle>,
    kill_requested: bool,
}

impl KillHandle {
    /// A handle not yet bound to a task.
    pub fn new() -> Self {
        Self::default()
    }

    /// Aborts the incarnation: its supervisor sees the exit reason `Killed`.
    pub fn kill(&self) {
        let mut state = self.state.lock();
        state.kill_requested = true;
        if let Some(abort) = &state.abort {
            abort.abort();
        }
    }

    pub(crate) fn bind(&self, abort: &AbortHandle) {
        let mut state = self.state.lock();
        if state.kill_requested {
            abort.abort();
        }
        state.abort = Some(abort.clone());
    }
}

impl fmt::Debug for KillHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("KillHandle")
            .field("bound", &state.abort.is_some())
            .field("kill_requested", &state.kill_requested)
            .finish()
    }
}
