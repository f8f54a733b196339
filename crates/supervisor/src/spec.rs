//! Child specifications: what to start and how to treat its exits.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::{ExitReason, KillHandle, ShutdownSignal, SupervisorRef};

/// When a child is restarted (OTP's `restart` key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RestartType {
    /// Always restarted, whatever the exit reason.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit (not after `Normal`/`Shutdown`).
    Transient,
    /// Never restarted; removed from the supervisor when it exits.
    Temporary,
}

impl RestartType {
    /// Whether an exit with `reason` calls for a restart.
    pub fn restarts_after(self, reason: &ExitReason) -> bool {
        match self {
            RestartType::Permanent => true,
            RestartType::Transient => !reason.is_normal(),
            RestartType::Temporary => false,
        }
    }
}

/// How a child is stopped (OTP's `shutdown` key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// Abort at once (`brutal_kill`); the exit reason is `Killed`.
    BrutalKill,
    /// Fire the [`ShutdownSignal`], abort if the child is still running when
    /// the duration has passed.
    Timeout(Duration),
    /// Fire the signal and wait for as long as it takes (the default for a
    /// child that is itself a supervisor).
    Infinity,
}

impl Default for Shutdown {
    /// OTP's worker default: 5 seconds.
    fn default() -> Self {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

/// Whether a child is a worker or a supervisor (OTP's `type` key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ChildKind {
    /// A plain worker.
    #[default]
    Worker,
    /// A supervisor; its default shutdown is [`Shutdown::Infinity`].
    Supervisor,
}

/// A child's start failed; the message says why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StartError {
    message: Arc<str>,
}

impl StartError {
    /// A start error with this message.
    pub fn new(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string().into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// What a child's task runs until it exits.
pub type ChildFuture = Pin<Box<dyn Future<Output = ExitReason> + Send + 'static>>;

pin_project_lite::pin_project! {
    /// Maps a child future's output into its [`ExitReason`].
    struct IntoExit<F> {
        #[pin]
        inner: F,
    }
}

impl<F, R> Future for IntoExit<F>
where
    F: Future<Output = R>,
    R: Into<ExitReason>,
{
    type Output = ExitReason;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<ExitReason> {
        self.project().inner.poll(cx).map(Into::into)
    }
}

/// A started child, not yet running: the future the supervisor spawns as the
/// child's task, returned by a successful start; or [`Child::ignore`].
pub struct Child {
    /// `None`: the start answered ignore.
    pub(crate) future: Option<ChildFuture>,
    pub(crate) supervisor: Option<SupervisorRef>,
    pub(crate) kill_handle: Option<KillHandle>,
}

impl Child {
    /// A child that runs `future` to its exit reason.
    pub fn new<F, R>(future: F) -> Self
    where
        F: Future<Output = R> + Send + 'static,
        R: Into<ExitReason>,
    {
        Self {
            // A map future, not `async move { future.await.into() }`: the
            // async block would hold the future twice (as its capture and as
            // the awaited local), doubling every idle child's size.
            future: Some(Box::pin(IntoExit { inner: future })),
            supervisor: None,
            kill_handle: None,
        }
    }

    /// OTP's `ignore` from a start function: the start succeeds, but no
    /// task runs. The supervisor keeps the spec, stopped (a temporary child
    /// ignored when its supervisor starts is dropped, as in OTP), and
    /// [`restart_child`](crate::SupervisorRef::restart_child) may start it
    /// later. A restart that is ignored has counted toward the intensity
    /// and is not retried. A dynamic supervisor keeps nothing.
    pub fn ignore() -> Self {
        Self {
            future: None,
            supervisor: None,
            kill_handle: None,
        }
    }

    /// Whether this is [`Child::ignore`].
    pub fn is_ignore(&self) -> bool {
        self.future.is_none()
    }

    /// A child that is itself a supervisor, reachable through `handle` (from
    /// [`ChildRef::supervisor`](crate::ChildRef::supervisor)).
    pub fn supervisor(handle: SupervisorRef, future: ChildFuture) -> Self {
        Self {
            future: Some(future),
            supervisor: Some(handle),
            kill_handle: None,
        }
    }

    /// Binds `handle` to this incarnation's task when the supervisor spawns
    /// it, so that the child can hand out a way to kill itself from its
    /// start function.
    pub fn with_kill_handle(mut self, handle: KillHandle) -> Self {
        self.kill_handle = Some(handle);
        self
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("ignore", &self.is_ignore())
            .finish_non_exhaustive()
    }
}

/// What a start function is given.
#[derive(Clone, Debug)]
pub struct ChildContext {
    pub(crate) shutdown: ShutdownSignal,
}

impl ChildContext {
    /// A context with a fresh signal (for starting a child by hand).
    pub fn new(shutdown: ShutdownSignal) -> Self {
        Self { shutdown }
    }

    /// The signal this incarnation's supervisor fires to stop it.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }
}

/// The future a start function returns.
pub type StartFuture = Pin<Box<dyn Future<Output = Result<Child, StartError>> + Send + 'static>>;

type StartFn = Arc<dyn Fn(ChildContext) -> StartFuture + Send + Sync + 'static>;

/// How to start a child and how to treat it: id, reusable start factory,
/// restart type, shutdown policy, kind and whether it is significant.
///
/// The start function is called again after every restart, so it must build
/// a fresh incarnation each time. It runs inside the supervisor (as OTP's
/// `start_link` does): the supervisor waits for it before going on.
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: Arc<str>,
    pub(crate) start: StartFn,
    pub(crate) restart: RestartType,
    pub(crate) shutdown: Shutdown,
    pub(crate) kind: ChildKind,
    pub(crate) significant: bool,
}

impl ChildSpec {
    /// A worker started by `start`, which may do asynchronous set-up and then
    /// returns the running [`Child`] (or a [`StartError`]).
    pub fn worker<F, Fut>(id: impl Into<Arc<str>>, start: F) -> Self
    where
        F: Fn(ChildContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Child, StartError>> + Send + 'static,
    {
        Self {
            id: id.into(),
            start: Arc::new(move |ctx| Box::pin(start(ctx))),
            restart: RestartType::Permanent,
            shutdown: Shutdown::default(),
            kind: ChildKind::Worker,
            significant: false,
        }
    }

    /// A worker with no set-up step: each incarnation runs `run(signal)`.
    pub fn task<F, Fut, R>(id: impl Into<Arc<str>>, run: F) -> Self
    where
        F: Fn(ShutdownSignal) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: Into<ExitReason>,
    {
        let run = Arc::new(run);
        Self::worker(id, move |ctx: ChildContext| {
            let fut = run(ctx.shutdown_signal());
            async move { Ok(Child::new(fut)) }
        })
    }

    /// A child that is a supervisor: kind `Supervisor`, shutdown `Infinity`.
    pub fn supervisor<F, Fut>(id: impl Into<Arc<str>>, start: F) -> Self
    where
        F: Fn(ChildContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Child, StartError>> + Send + 'static,
    {
        Self {
            kind: ChildKind::Supervisor,
            shutdown: Shutdown::Infinity,
            ..Self::worker(id, start)
        }
    }

    /// Set the restart type (default `Permanent`).
    pub fn restart(mut self, restart: RestartType) -> Self {
        self.restart = restart;
        self
    }

    /// Set the shutdown policy (default 5 s for workers, `Infinity` for
    /// supervisors).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// OTP 24's `significant` (default `false`): the exit of a significant
    /// child that is not restarted may shut its supervisor down, by the
    /// supervisor's [`AutoShutdown`](crate::AutoShutdown). Only a transient
    /// or temporary child may be significant, and only under a supervisor
    /// whose `auto_shutdown` is not `Never`: otherwise the supervisor's
    /// start (or `start_child`) is refused, as OTP refuses it.
    pub fn significant(mut self, significant: bool) -> Self {
        self.significant = significant;
        self
    }

    /// Whether it is significant.
    pub fn is_significant(&self) -> bool {
        self.significant
    }

    /// The child's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The restart type.
    pub fn restart_type(&self) -> RestartType {
        self.restart
    }

    /// The shutdown policy.
    pub fn shutdown_policy(&self) -> Shutdown {
        self.shutdown
    }

    /// Worker or supervisor.
    pub fn kind(&self) -> ChildKind {
        self.kind
    }

    /// Calls the start function. A panic in its synchronous part (before
    /// the future it returns) is a failed start like one in the future.
    pub(crate) fn start(&self, shutdown: ShutdownSignal) -> StartFuture {
        let call = std::panic::AssertUnwindSafe(|| (self.start)(ChildContext { shutdown }));
        std::panic::catch_unwind(call)
            .unwrap_or_else(|_| Box::pin(std::future::ready(Err(StartError::new("start function panicked")))))
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .field("significant", &self.significant)
            .finish_non_exhaustive()
    }
}
