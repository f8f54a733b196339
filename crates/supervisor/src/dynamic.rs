//! `DynamicSupervisor`: children started on demand, each restarted alone.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, Id};
use tokio::time::Instant;

use crate::event::{emit, EventKind, Observer};
use crate::handle::{ControlError, ExitGuard, Link};
use crate::intensity::Intensity;
use crate::tasks::{run_start, ChildTasks};
use crate::{
    Child, ChildContext, ChildCounts, ChildInfo, ChildKind, ChildRef, ChildSpec, ChildState, ExitReason, Shutdown,
    ShutdownSignal, StartError,
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
            .finish_non_exhaustive()
    }
}

enum Msg {
    Start(ChildSpec, oneshot::Sender<Result<ChildRef, ControlError>>),
    Terminate(Id, oneshot::Sender<Result<(), ControlError>>),
    Which(oneshot::Sender<Vec<ChildInfo>>),
    Count(oneshot::Sender<ChildCounts>),
    Stop(ExitReason),
}

impl DynamicSupervisor {
    /// No children, Elixir's default intensity (3 restarts in 5 s), no cap.
    pub fn new() -> Self {
        Self {
            name: None,
            max_restarts: 3,
            period: Duration::from_secs(5),
            max_children: None,
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

    /// Sends every decision to `observer` as well as to `tracing`.
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs it as a root task.
    pub fn start(self) -> DynamicSupervisorRef {
        let (handle, child) = self.start_inner(None);
        tokio::spawn(child.future);
        handle
    }

    /// Runs it as the child of another supervisor (`ctx` carries the
    /// parent's shutdown signal).
    pub fn start_linked(self, ctx: ChildContext) -> (DynamicSupervisorRef, Child) {
        self.start_inner(Some(ctx.shutdown))
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

    fn start_inner(self, parent: Option<ShutdownSignal>) -> (DynamicSupervisorRef, Child) {
        let name = self.name.unwrap_or_else(|| "dynamic_supervisor".into());
        let (link, rx) = Link::new(name.clone());
        let exit = link.exit.clone();
        let handle = DynamicSupervisorRef { link };
        let mut core = DynCore {
            name,
            intensity: Intensity::new(self.max_restarts, self.period),
            max_children: self.max_children,
            children: HashMap::new(),
            retry: VecDeque::new(),
            tasks: ChildTasks::default(),
            observer: self.observer,
        };
        let guard = ExitGuard(exit);
        let future = Box::pin(async move {
            let reason = core.run(parent, rx).await;
            guard.0.set(reason.clone());
            reason
        });
        (handle, Child::new(future))
    }
}

/// A cloneable handle to a running [`DynamicSupervisor`].
#[derive(Clone)]
pub struct DynamicSupervisorRef {
    link: Link<Msg>,
}

impl std::fmt::Debug for DynamicSupervisorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicSupervisorRef")
            .field("name", &self.link.name)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl DynamicSupervisorRef {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.link.name
    }

    /// Starts a child from `spec` (its start function runs inside the
    /// supervisor) and returns a handle to it.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ChildRef, ControlError> {
        self.link.call(|tx| Msg::Start(spec, tx)).await?
    }

    /// Stops that incarnation by its shutdown policy and forgets it.
    pub async fn terminate_child(&self, child: &ChildRef) -> Result<(), ControlError> {
        let id = child.task_id();
        self.link.call(|tx| Msg::Terminate(id, tx)).await?
    }

    /// The children, with their states.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, ControlError> {
        self.link.call(Msg::Which).await
    }

    /// Counts of the children.
    pub async fn count_children(&self) -> Result<ChildCounts, ControlError> {
        self.link.call(Msg::Count).await
    }

    /// Whether it is running.
    pub fn is_alive(&self) -> bool {
        self.link.is_alive()
    }

    /// Waits for its exit and returns the reason.
    pub async fn wait(&self) -> ExitReason {
        self.link.exit.wait().await
    }

    /// Stops all children concurrently, then itself; returns its exit reason.
    pub async fn shutdown(&self) -> ExitReason {
        self.link.send(Msg::Stop(ExitReason::Shutdown));
        self.wait().await
    }
}

struct DynChild {
    spec: ChildSpec,
    abort: AbortHandle,
    signal: ShutdownSignal,
}

struct DynCore {
    name: Arc<str>,
    intensity: Intensity,
    max_children: Option<usize>,
    children: HashMap<Id, DynChild>,
    /// Specs whose restart failed, tried again (each try counts).
    retry: VecDeque<ChildSpec>,
    tasks: ChildTasks,
    observer: Option<Observer>,
}

impl DynCore {
    fn emit(&self, child: &Arc<str>, kind: EventKind) {
        emit(self.observer.as_ref(), &self.name, child, kind);
    }

    async fn start(&mut self, spec: ChildSpec) -> Result<ChildRef, StartError> {
        let signal = ShutdownSignal::new();
        match run_start(spec.start(signal.clone())).await {
            Ok(Child {
                future,
                supervisor,
                kill_handle,
            }) => {
                let abort = self.tasks.spawn(future);
                if let Some(handle) = &kill_handle {
                    handle.bind(&abort);
                }
                self.emit(&spec.id, EventKind::Started);
                let r = ChildRef {
                    id: spec.id.clone(),
                    abort: abort.clone(),
                    supervisor,
                };
                self.children.insert(abort.id(), DynChild { spec, abort, signal });
                Ok(r)
            }
            Err(e) => {
                self.emit(&spec.id, EventKind::StartFailed(e.clone()));
                Err(e)
            }
        }
    }

    async fn run(&mut self, parent: Option<ShutdownSignal>, mut rx: mpsc::UnboundedReceiver<Msg>) -> ExitReason {
        let mut rx_open = true;
        let reason = loop {
            if let Some(spec) = self.retry.pop_front() {
                if let Some(r) = self.restart(spec).await {
                    break r;
                }
                continue;
            }
            let parent_stop = async {
                match &parent {
                    Some(s) => s.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = parent_stop => break ExitReason::Shutdown,
                (id, reason) = self.tasks.next_exit() => {
                    if let Some(r) = self.child_exited(id, reason).await {
                        break r;
                    }
                }
                msg = rx.recv(), if rx_open => match msg {
                    None => rx_open = false,
                    Some(Msg::Stop(r)) => break r,
                    Some(msg) => self.handle(msg).await,
                },
            }
        };
        self.terminate_all().await;
        let name = self.name.clone();
        self.emit(&name, EventKind::Terminated(reason.clone()));
        reason
    }

    async fn child_exited(&mut self, id: Id, reason: ExitReason) -> Option<ExitReason> {
        let child = self.children.remove(&id)?;
        self.emit(&child.spec.id, EventKind::Exited(reason.clone()));
        if child.spec.restart.restarts_after(&reason) {
            self.restart(child.spec).await
        } else {
            None
        }
    }

    /// Counts the restart, then starts the child again; a failed start is
    /// queued for another try. `Some` means give up with that reason.
    async fn restart(&mut self, spec: ChildSpec) -> Option<ExitReason> {
        if !self.intensity.add(Instant::now()) {
            self.emit(&spec.id, EventKind::GaveUp);
            return Some(ExitReason::Shutdown);
        }
        self.emit(&spec.id, EventKind::Restarting);
        if self.start(spec.clone()).await.is_err() {
            self.retry.push_back(spec);
        }
        None
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Start(spec, tx) => {
                let full = self
                    .max_children
                    .is_some_and(|max| self.children.len() + self.retry.len() >= max);
                let r = if full {
                    Err(ControlError::MaxChildren)
                } else {
                    self.start(spec).await.map_err(ControlError::StartFailed)
                };
                let _ = tx.send(r);
            }
            Msg::Terminate(id, tx) => {
                let r = match self.children.remove(&id) {
                    Some(c) => {
                        let reason = self.tasks.stop(&c.abort, &c.signal, c.spec.shutdown).await;
                        self.emit(&c.spec.id, EventKind::Exited(reason));
                        Ok(())
                    }
                    None => Err(ControlError::NotFound),
                };
                let _ = tx.send(r);
            }
            Msg::Which(tx) => {
                let mut rows: Vec<ChildInfo> = self
                    .children
                    .values()
                    .map(|c| ChildInfo {
                        id: c.spec.id.clone(),
                        state: ChildState::Running(ChildRef {
                            id: c.spec.id.clone(),
                            abort: c.abort.clone(),
                            supervisor: None,
                        }),
                        kind: c.spec.kind,
                        restart: c.spec.restart,
                    })
                    .collect();
                rows.extend(self.retry.iter().map(|s| ChildInfo {
                    id: s.id.clone(),
                    state: ChildState::Restarting,
                    kind: s.kind,
                    restart: s.restart,
                }));
                let _ = tx.send(rows);
            }
            Msg::Count(tx) => {
                let mut c = ChildCounts::default();
                for spec in self.children.values().map(|c| &c.spec).chain(self.retry.iter()) {
                    c.specs += 1;
                    match spec.kind {
                        ChildKind::Supervisor => c.supervisors += 1,
                        ChildKind::Worker => c.workers += 1,
                    }
                }
                c.active = self.children.len();
                let _ = tx.send(c);
            }
            Msg::Stop(_) => {}
        }
    }

    /// Stops every child at once (as `simple_one_for_one` does): signal all,
    /// abort the brutal ones, then abort each timed one at its deadline.
    async fn terminate_all(&mut self) {
        self.retry.clear();
        let now = Instant::now();
        let mut deadlines: Vec<(Instant, AbortHandle)> = Vec::new();
        for c in self.children.values() {
            match c.spec.shutdown {
                Shutdown::BrutalKill => c.abort.abort(),
                Shutdown::Timeout(d) => {
                    c.signal.fire();
                    deadlines.push((now + d, c.abort.clone()));
                }
                Shutdown::Infinity => c.signal.fire(),
            }
        }
        deadlines.sort_by_key(|(t, _)| *t);
        let mut next = 0;
        while !self.children.is_empty() {
            let sleep = async {
                match deadlines.get(next) {
                    Some((t, _)) => tokio::time::sleep_until(*t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                (id, reason) = self.tasks.next_exit() => {
                    if let Some(c) = self.children.remove(&id) {
                        self.emit(&c.spec.id, EventKind::Exited(reason));
                    }
                }
                () = sleep => {
                    deadlines[next].1.abort();
                    next += 1;
                }
            }
        }
    }
}
