//! `SupervisorRef`: the cloneable handle to a running supervisor.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::{ChildCounts, ChildInfo, ChildRef, ChildSpec, ExitReason, StartError};

/// Why a control call on a supervisor failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No child with that id (OTP's `not_found`).
    #[error("no child with that id")]
    NotFound,
    /// The child is running (OTP's `running`): stop it first.
    #[error("the child is running")]
    Running,
    /// The child's restart is pending (OTP's `restarting`).
    #[error("the child is being restarted")]
    Restarting,
    /// A child with that id exists already (OTP's `already_present`).
    #[error("a child with that id already exists")]
    AlreadyPresent,
    /// The dynamic supervisor holds `max_children` children already.
    #[error("max_children reached")]
    MaxChildren,
    /// The child's start failed.
    #[error("start failed: {0}")]
    StartFailed(StartError),
    /// The supervisor is not running.
    #[error("the supervisor is not running")]
    NoSupervisor,
}

pub(crate) enum Msg {
    Which(oneshot::Sender<Vec<ChildInfo>>),
    Count(oneshot::Sender<ChildCounts>),
    Terminate(Arc<str>, oneshot::Sender<Result<(), ControlError>>),
    Restart(Arc<str>, oneshot::Sender<Result<ChildRef, ControlError>>),
    Delete(Arc<str>, oneshot::Sender<Result<(), ControlError>>),
    StartChild(ChildSpec, oneshot::Sender<Result<ChildRef, ControlError>>),
    Stop(ExitReason),
}

/// Shared record of how a supervisor ended, for [`SupervisorRef::wait`].
#[derive(Debug, Default)]
pub(crate) struct ExitCell {
    reason: Mutex<Option<ExitReason>>,
    notify: Notify,
}

impl ExitCell {
    pub(crate) fn set(&self, reason: ExitReason) {
        let mut slot = self.reason.lock();
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.notify.notify_waiters();
    }

    pub(crate) fn get(&self) -> Option<ExitReason> {
        self.reason.lock().clone()
    }

    pub(crate) async fn wait(&self) -> ExitReason {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.get() {
                return r;
            }
            notified.await;
        }
    }
}

/// Sets the exit cell to `Killed` if the supervisor's task is dropped before
/// it could record a reason (it was aborted).
pub(crate) struct ExitGuard(pub(crate) Arc<ExitCell>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.set(ExitReason::Killed);
    }
}

/// What both supervisor handles are made of: the name, the supervisor's
/// mailbox and the record of how it ended.
pub(crate) struct Link<M> {
    pub(crate) name: Arc<str>,
    tx: mpsc::UnboundedSender<M>,
    pub(crate) exit: Arc<ExitCell>,
}

impl<M> Clone for Link<M> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            tx: self.tx.clone(),
            exit: self.exit.clone(),
        }
    }
}

impl<M> Link<M> {
    /// A link, and the receiving end of its mailbox for the supervisor.
    pub(crate) fn new(name: Arc<str>) -> (Self, mpsc::UnboundedReceiver<M>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let exit = Arc::new(ExitCell::default());
        (Self { name, tx, exit }, rx)
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.exit.get().is_none() && !self.tx.is_closed()
    }

    /// Sends without waiting; a dead supervisor drops it.
    pub(crate) fn send(&self, msg: M) {
        let _ = self.tx.send(msg);
    }

    /// A request and its reply.
    pub(crate) async fn call<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> M) -> Result<T, ControlError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(msg(tx)).map_err(|_| ControlError::NoSupervisor)?;
        rx.await.map_err(|_| ControlError::NoSupervisor)
    }
}

/// A cloneable handle to a running [`Supervisor`](crate::Supervisor).
#[derive(Clone)]
pub struct SupervisorRef {
    pub(crate) link: Link<Msg>,
}

impl fmt::Debug for SupervisorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorRef")
            .field("name", &self.link.name)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl SupervisorRef {
    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.link.name
    }

    /// Whether the supervisor is still running.
    pub fn is_alive(&self) -> bool {
        self.link.is_alive()
    }

    /// Waits until the supervisor has terminated and returns why:
    /// `Shutdown` after [`shutdown`](Self::shutdown) or when it gave up on its
    /// restart intensity, `Killed` when its task was aborted.
    pub async fn wait(&self) -> ExitReason {
        self.link.exit.wait().await
    }

    /// The exit reason, if the supervisor has terminated.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.link.exit.get()
    }

    /// Every child spec held, in start order, with its state. (OTP 25 lists
    /// them in reverse start order.)
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, ControlError> {
        self.link.call(Msg::Which).await
    }

    /// How many children there are, by kind and by state.
    pub async fn count_children(&self) -> Result<ChildCounts, ControlError> {
        self.link.call(Msg::Count).await
    }

    /// Stops the child (by its shutdown policy) without restarting it. A
    /// temporary child's spec is deleted; others are kept as stopped. `Ok`
    /// also for a child that was already stopped.
    pub async fn terminate_child(&self, id: &str) -> Result<(), ControlError> {
        self.link.call(|tx| Msg::Terminate(id.into(), tx)).await?
    }

    /// Starts a stopped child again. A failed start is returned, not retried,
    /// and does not count toward the restart intensity.
    pub async fn restart_child(&self, id: &str) -> Result<ChildRef, ControlError> {
        self.link.call(|tx| Msg::Restart(id.into(), tx)).await?
    }

    /// Deletes the spec of a stopped child.
    pub async fn delete_child(&self, id: &str) -> Result<(), ControlError> {
        self.link.call(|tx| Msg::Delete(id.into(), tx)).await?
    }

    /// Adds a child spec at the end of the list and starts it. On a failed
    /// start the spec is not kept.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ChildRef, ControlError> {
        self.link.call(|tx| Msg::StartChild(spec, tx)).await?
    }

    /// Stops all children in reverse start order, then the supervisor, and
    /// waits for it. Returns the supervisor's exit reason.
    pub async fn shutdown(&self) -> ExitReason {
        self.stop_with(ExitReason::Shutdown).await
    }

    /// Like [`shutdown`](Self::shutdown), but the supervisor exits with
    /// `reason`, which its own parent then handles.
    pub async fn stop_with(&self, reason: ExitReason) -> ExitReason {
        self.link.send(Msg::Stop(reason));
        self.wait().await
    }
}
