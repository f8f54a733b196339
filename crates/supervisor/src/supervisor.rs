//! The static supervisor: `one_for_one`, `one_for_all`, `rest_for_one`.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::{self, Config, Kind};
use crate::event::Observer;
use crate::{Child, ChildContext, ChildSpec, ShutdownSignal, StartError, SupervisorRef};

/// Which children a supervisor restarts when one exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Only the exited child.
    OneForOne,
    /// All children: the others are stopped in reverse start order, then all
    /// are started again in order.
    OneForAll,
    /// The exited child and those started after it.
    RestForOne,
}

/// When a supervisor shuts itself down after a significant child ended
/// without being restarted (OTP 24's `auto_shutdown`; see
/// [`ChildSpec::significant`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AutoShutdown {
    /// Never (the default); no child may then be significant.
    #[default]
    Never,
    /// When any significant child ends.
    AnySignificant,
    /// When the last significant child that still has a task (running, or
    /// with its exit or its restart still pending) ends.
    AllSignificant,
}

/// A supervisor's configuration: strategy, intensity and child specs.
///
/// Start it as a root with [`start`](Self::start), or as the child of another
/// supervisor with [`into_child_spec`](Self::into_child_spec).
#[derive(Clone)]
pub struct Supervisor {
    name: Option<Arc<str>>,
    strategy: Strategy,
    max_restarts: u32,
    period: Duration,
    auto_shutdown: AutoShutdown,
    children: Vec<ChildSpec>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("max_restarts", &self.max_restarts)
            .field("period", &self.period)
            .field("auto_shutdown", &self.auto_shutdown)
            .field("children", &self.children)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor with `strategy`, no children, and OTP's default
    /// intensity: 1 restart in 5 seconds.
    pub fn new(strategy: Strategy) -> Self {
        Self {
            name: None,
            strategy,
            max_restarts: 1,
            period: Duration::from_secs(5),
            auto_shutdown: AutoShutdown::Never,
            children: Vec::new(),
            observer: None,
        }
    }

    /// Its name in events and logs (default: `supervisor`, or the child id
    /// when started as a child).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// More than `max_restarts` restarts within any `period` make the
    /// supervisor give up (stop its children and exit with `Shutdown`).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// OTP 24's `auto_shutdown` (default [`AutoShutdown::Never`]).
    pub fn auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> Self {
        self.auto_shutdown = auto_shutdown;
        self
    }

    /// Appends a child; children start in the order they are added.
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.children.push(spec);
        self
    }

    /// Appends several children.
    pub fn children(mut self, specs: impl IntoIterator<Item = ChildSpec>) -> Self {
        self.children.extend(specs);
        self
    }

    /// Sends every decision of this supervisor to `observer` as well as to
    /// `tracing`.
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Starts the children in order and runs the supervisor as a task of its
    /// own. If a child fails to start, the started ones are stopped in
    /// reverse order and the error names the child. A child list that OTP
    /// refuses (a `significant` child that may not be, a repeated id) fails
    /// the start before any child starts.
    pub async fn start(self) -> Result<SupervisorRef, StartError> {
        let (handle, future) = self.start_inner(None).await?;
        tokio::spawn(future);
        Ok(handle)
    }

    /// Starts the supervisor as the child of another: `ctx` carries the
    /// parent's shutdown signal. Use it in a [`ChildSpec::supervisor`] start
    /// function, or let [`into_child_spec`](Self::into_child_spec) do it.
    pub async fn start_linked(self, ctx: ChildContext) -> Result<(SupervisorRef, Child), StartError> {
        let (handle, future) = self.start_inner(Some(ctx.shutdown)).await?;
        Ok((handle.clone(), Child::supervisor(handle, future)))
    }

    /// A child spec (kind supervisor, shutdown `Infinity`) that starts a new
    /// incarnation of this supervisor each time.
    pub fn into_child_spec(self, id: impl Into<Arc<str>>) -> ChildSpec {
        let id: Arc<str> = id.into();
        let name = self.name.clone().unwrap_or_else(|| id.clone());
        let this = self.name(name);
        ChildSpec::supervisor(id, move |ctx| {
            let this = this.clone();
            async move { this.start_linked(ctx).await.map(|(_, child)| child) }
        })
    }

    async fn start_inner(self, parent: Option<ShutdownSignal>) -> Result<engine::Started, StartError> {
        let config = Config {
            name: self.name.unwrap_or_else(|| "supervisor".into()),
            kind: Kind::Static(self.strategy),
            max_restarts: self.max_restarts,
            period: self.period,
            auto_shutdown: self.auto_shutdown,
            observer: self.observer,
        };
        engine::start(config, self.children, parent).await
    }
}
