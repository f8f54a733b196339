//! `SupervisorRef`: the cloneable handle to a running supervisor, and the
//! messages it sends.

use std::fmt;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};
use tokio::task::Id;
use tokio_util::sync::CancellationToken;

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
    /// The child's start failed, or its spec was refused (OTP's
    /// `bad_combination` of `significant`).
    #[error("start failed: {0}")]
    StartFailed(StartError),
    /// The start function answered [`Child::ignore`](crate::Child::ignore)
    /// (OTP's `{ok, undefined}`): nothing runs. A static supervisor keeps
    /// the spec (a temporary one excepted), stopped, as OTP does.
    #[error("the start function answered ignore: nothing runs")]
    Ignored,
    /// The supervisor is not running.
    #[error("the supervisor is not running")]
    NoSupervisor,
}

/// Everything a supervisor handles, in the order it arrives: its
/// children's exits, its own retries and the control calls of its handles
/// all go through this one mailbox, as in OTP.
pub(crate) enum Msg {
    /// The incarnation `key` in slot `pos` ended (sent by its task).
    Exit {
        pos: u32,
        key: u64,
        reason: ExitReason,
    },
    /// OTP's `try_again_restart`, a message to itself.
    Retry(Retry),
    Which(oneshot::Sender<Vec<ChildInfo>>),
    /// `which_children`'s row of one id.
    Child(Arc<str>, oneshot::Sender<Option<ChildInfo>>),
    Count(oneshot::Sender<ChildCounts>),
    Terminate(Arc<str>, oneshot::Sender<Result<(), ControlError>>),
    /// A dynamic supervisor's `terminate_child`: one incarnation.
    TerminateRef {
        pos: u32,
        task: Id,
        tx: oneshot::Sender<Result<(), ControlError>>,
    },
    Restart(Arc<str>, oneshot::Sender<Result<ChildRef, ControlError>>),
    Delete(Arc<str>, oneshot::Sender<Result<(), ControlError>>),
    StartChild(ChildSpec, oneshot::Sender<Result<ChildRef, ControlError>>),
    /// `testing::settle`: answered once nothing is pending.
    #[cfg(feature = "testing")]
    Settle(Settle),
    /// System messages: handled while suspended too.
    Stop(ExitReason),
    Suspend(oneshot::Sender<()>),
    Resume(oneshot::Sender<()>),
}

impl Msg {
    /// What a suspended supervisor still handles (OTP's system messages).
    pub(crate) fn is_system(&self) -> bool {
        matches!(self, Msg::Stop(_) | Msg::Suspend(_) | Msg::Resume(_))
    }
}

/// Which child a retry is for: a static child by id (as OTP's
/// `try_again_restart` names it), a dynamic one by its slot.
pub(crate) enum Retry {
    Id(Arc<str>),
    Slot(u32),
}

/// A request to be told once the supervisor has nothing pending. While
/// it has, the request goes to the back of its own mailbox again, behind
/// the exits and retries still to handle.
#[cfg(feature = "testing")]
pub(crate) struct Settle {
    /// Whether it was sent round already: something was pending.
    pub(crate) waited: bool,
    pub(crate) tx: oneshot::Sender<Settled>,
}

/// The answer to [`Settle`].
#[cfg(feature = "testing")]
pub(crate) struct Settled {
    /// Something was pending when the request first arrived.
    pub(crate) waited: bool,
    /// The running nested supervisors, to settle in turn.
    pub(crate) nested: Vec<SupervisorRef>,
}

/// How a supervisor ended, for [`SupervisorRef::wait`]: set once, then
/// every waiter is released (a one-shot broadcast, hence a token).
#[derive(Debug, Default)]
pub(crate) struct ExitCell {
    reason: OnceLock<ExitReason>,
    done: CancellationToken,
}

impl ExitCell {
    /// Records the reason; the first one wins.
    pub(crate) fn set(&self, reason: ExitReason) {
        let _ = self.reason.set(reason);
        self.done.cancel();
    }

    pub(crate) fn get(&self) -> Option<ExitReason> {
        self.reason.get().cloned()
    }

    pub(crate) async fn wait(&self) -> ExitReason {
        self.done.cancelled().await;
        // `set` stores the reason before it cancels.
        self.get().unwrap_or(ExitReason::Killed)
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

/// What every supervisor handle is made of: the name, the supervisor's
/// mailbox and the record of how it ended, behind one pointer (a handle
/// is one word; a child slot holds one for a nested supervisor).
#[derive(Clone)]
pub(crate) struct Link {
    inner: Arc<LinkInner>,
}

struct LinkInner {
    name: Arc<str>,
    tx: mpsc::UnboundedSender<Msg>,
    exit: Arc<ExitCell>,
}

impl Link {
    /// A link, and the receiving end of its mailbox for the supervisor.
    pub(crate) fn new(name: Arc<str>) -> (Self, mpsc::UnboundedReceiver<Msg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let exit = Arc::new(ExitCell::default());
        (
            Self {
                inner: Arc::new(LinkInner { name, tx, exit }),
            },
            rx,
        )
    }

    pub(crate) fn name(&self) -> &Arc<str> {
        &self.inner.name
    }

    pub(crate) fn exit(&self) -> &Arc<ExitCell> {
        &self.inner.exit
    }

    /// The mailbox's sending end (for the supervisor itself).
    pub(crate) fn sender(&self) -> mpsc::UnboundedSender<Msg> {
        self.inner.tx.clone()
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.inner.exit.get().is_none() && !self.inner.tx.is_closed()
    }

    /// Sends without waiting; a dead supervisor drops it.
    pub(crate) fn send(&self, msg: Msg) {
        let _ = self.inner.tx.send(msg);
    }

    /// A request and its reply.
    pub(crate) async fn call<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Result<T, ControlError> {
        let (tx, rx) = oneshot::channel();
        self.inner.tx.send(msg(tx)).map_err(|_| ControlError::NoSupervisor)?;
        rx.await.map_err(|_| ControlError::NoSupervisor)
    }
}

/// A cloneable handle to a running [`Supervisor`](crate::Supervisor).
#[derive(Clone)]
pub struct SupervisorRef {
    pub(crate) link: Link,
}

impl fmt::Debug for SupervisorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorRef")
            .field("name", self.link.name())
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl SupervisorRef {
    /// The supervisor's name.
    pub fn name(&self) -> &str {
        self.link.name()
    }

    /// Whether the supervisor is still running.
    pub fn is_alive(&self) -> bool {
        self.link.is_alive()
    }

    /// Waits until the supervisor has terminated and returns why:
    /// `Shutdown` after [`shutdown`](Self::shutdown), when it gave up on its
    /// restart intensity or shut itself down (`auto_shutdown`), `Killed`
    /// when its task was aborted.
    pub async fn wait(&self) -> ExitReason {
        self.link.exit().wait().await
    }

    /// The exit reason, if the supervisor has terminated.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.link.exit().get()
    }

    /// Every child spec held, in start order, with its state. (OTP 25 lists
    /// them in reverse start order.)
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, ControlError> {
        self.link.call(Msg::Which).await
    }

    /// The `which_children` row of the child `id`: its state (with the
    /// running incarnation's [`ChildRef`]), kind and restart type.
    /// [`ControlError::NotFound`] if no child has that id.
    ///
    /// ```
    /// use atlas_supervisor::{ChildSpec, ControlError, ExitReason, Strategy, Supervisor};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sup = Supervisor::new(Strategy::OneForOne)
    ///     .child(ChildSpec::task("worker", |stop| async move {
    ///         stop.cancelled().await;
    ///         ExitReason::Shutdown
    ///     }))
    ///     .start()
    ///     .await
    ///     .expect("starts");
    /// let worker = sup.child("worker").await.expect("a child");
    /// assert!(worker.child_ref().is_some_and(|r| r.is_alive()));
    /// assert_eq!(sup.child("nobody").await.err(), Some(ControlError::NotFound));
    /// sup.shutdown().await;
    /// # }
    /// ```
    pub async fn child(&self, id: &str) -> Result<ChildInfo, ControlError> {
        self.link
            .call(|tx| Msg::Child(id.into(), tx))
            .await?
            .ok_or(ControlError::NotFound)
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
    /// and does not count toward the restart intensity. A start that answers
    /// ignore gives [`ControlError::Ignored`] (OTP's `{ok, undefined}`): the
    /// child stays stopped.
    pub async fn restart_child(&self, id: &str) -> Result<ChildRef, ControlError> {
        self.link.call(|tx| Msg::Restart(id.into(), tx)).await?
    }

    /// Deletes the spec of a stopped child.
    pub async fn delete_child(&self, id: &str) -> Result<(), ControlError> {
        self.link.call(|tx| Msg::Delete(id.into(), tx)).await?
    }

    /// Adds a child spec at the end of the list and starts it. On a failed
    /// start the spec is not kept; on an ignored one it is kept, stopped
    /// (unless temporary), and the answer is [`ControlError::Ignored`].
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ChildRef, ControlError> {
        self.link.call(|tx| Msg::StartChild(spec, tx)).await?
    }

    /// OTP's `sys:suspend/1`: once this returns, the supervisor handles
    /// nothing but [`resume`](Self::resume) and stop requests. Its
    /// children's exits and other calls wait in its mailbox, in order, and
    /// are handled after the resume as they would have been (a call made
    /// meanwhile waits for its answer until then). The parent's request to
    /// stop is still obeyed.
    pub async fn suspend(&self) -> Result<(), ControlError> {
        self.link.call(Msg::Suspend).await
    }

    /// OTP's `sys:resume/1`: the supervisor goes on with its mailbox, first
    /// in, first out. `Ok` also if it was not suspended.
    pub async fn resume(&self) -> Result<(), ControlError> {
        self.link.call(Msg::Resume).await
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
