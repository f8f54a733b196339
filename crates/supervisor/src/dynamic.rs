//! `DynamicSupervisor`: children started on demand, each restarted alone.
//! A builder and a handle over the one engine (`engine`), whose
//! `simple_one_for_one` strategy it selects.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::{self, Config, Kind};
use crate::event::Observer;
use crate::handle::{ControlError, Msg};
use crate::{
    AutoShutdown, Child, ChildContext, ChildCounts, ChildInfo, ChildRef, ChildSpec, ExitReason, ShutdownSignal,
    SupervisorRef,
};

/// A supervisor of children started at run time (Elixir's
/// `DynamicSupervisor`, OTP's `simple_one_for_one`): `one_for_one` restarts,
/// its own intensity, an optional cap on the number of children, and a
/// concurrent shutdown of all children.
#[derive(Clone)]
pub struct DynamicSupervisor {
    name: Option<Arc<str>>,
    max_restarts: u32,
    period: Duration,
    max_children: Option<usize>,
    auto_shutdown: AutoShutdown,
    observer: Option<Observer>,
}

impl Default for DynamicSupervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DynamicSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicSupervisor")
            .field("name", &self.name)
            .field("max_restarts", &self.max_restarts)
            .field("period", &self.period)
            .field("max_children", &self.max_children)
            .field("auto_shutdown", &self.auto_shutdown)
            .finish_non_exhaustive()
    }
}

impl DynamicSupervisor {
    /// No children, Elixir's default intensity (3 restarts in 5 s), no cap.
    pub fn new() -> Self {
        Self {
            name: None,
            max_restarts: 3,
            period: Duration::from_secs(5),
            max_children: None,
            auto_shutdown: AutoShutdown::Never,
            observer: None,
        }
    }

    /// Its name in events and logs.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// More than `max_restarts` restarts (of all children together) within
    /// any `period` make it give up.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// Refuse `start_child` once this many children are held.
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }

    /// OTP 24's `auto_shutdown`, as for [`Supervisor`](crate::Supervisor):
    /// each child's significance is its spec's.
    pub fn auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> Self {
        self.auto_shutdown = auto_shutdown;
        self
    }

    /// Sends every decision to `observer` as well as to `tracing`.
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs it as a root task.
    pub fn start(self) -> DynamicSupervisorRef {
        let (handle, future) = self.start_inner(None);
        tokio::spawn(future);
        DynamicSupervisorRef { sup: handle }
    }

    /// Runs it as the child of another supervisor (`ctx` carries the
    /// parent's shutdown signal).
    pub fn start_linked(self, ctx: ChildContext) -> (DynamicSupervisorRef, Child) {
        let (handle, future) = self.start_inner(Some(ctx.shutdown));
        (DynamicSupervisorRef { sup: handle }, Child::new(future))
    }

    /// A child spec that starts a new incarnation each time.
    pub fn into_child_spec(self, id: impl Into<Arc<str>>) -> ChildSpec {
        let id: Arc<str> = id.into();
        let this = if self.name.is_none() {
            self.name(id.clone())
        } else {
            self
        };
        ChildSpec::supervisor(id, move |ctx| {
            let (_, child) = this.clone().start_linked(ctx);
            async move { Ok(child) }
        })
    }

    fn start_inner(self, parent: Option<ShutdownSignal>) -> engine::Started {
        let config = Config {
            name: self.name.unwrap_or_else(|| "dynamic_supervisor".into()),
            kind: Kind::Dynamic {
                max_children: self.max_children,
            },
            max_restarts: self.max_restarts,
            period: self.period,
            auto_shutdown: self.auto_shutdown,
            observer: self.observer,
        };
        engine::start_empty(config, parent)
    }
}

/// A cloneable handle to a running [`DynamicSupervisor`].
#[derive(Clone)]
pub struct DynamicSupervisorRef {
    sup: SupervisorRef,
}

impl std::fmt::Debug for DynamicSupervisorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicSupervisorRef")
            .field("name", &self.name())
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl DynamicSupervisorRef {
    /// Its name.
    pub fn name(&self) -> &str {
        self.sup.name()
    }

    /// Starts a child from `spec` (its start function runs inside the
    /// supervisor) and returns a handle to it. A start that answers ignore
    /// keeps nothing and gives [`ControlError::Ignored`].
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ChildRef, ControlError> {
        self.sup.start_child(spec).await
    }

    /// Stops that incarnation by its shutdown policy and forgets it.
    pub async fn terminate_child(&self, child: &ChildRef) -> Result<(), ControlError> {
        let (pos, task) = (child.pos, child.task_id());
        self.sup.link.call(|tx| Msg::TerminateRef { pos, task, tx }).await?
    }

    /// The children, with their states (in no particular order).
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, ControlError> {
        self.sup.which_children().await
    }

    /// Counts of the children.
    pub async fn count_children(&self) -> Result<ChildCounts, ControlError> {
        self.sup.count_children().await
    }

    /// Holds it from handling anything but `resume` and stop requests, as
    /// [`SupervisorRef::suspend`].
    pub async fn suspend(&self) -> Result<(), ControlError> {
        self.sup.suspend().await
    }

    /// Lets it go on with its mailbox, as [`SupervisorRef::resume`].
    pub async fn resume(&self) -> Result<(), ControlError> {
        self.sup.resume().await
    }

    /// Whether it is running.
    pub fn is_alive(&self) -> bool {
        self.sup.is_alive()
    }

    /// Waits for its exit and returns the reason.
    pub async fn wait(&self) -> ExitReason {
        self.sup.wait().await
    }

    /// Stops all children concurrently, then itself; returns its exit reason.
    pub async fn shutdown(&self) -> ExitReason {
        self.sup.shutdown().await
    }
}
