//! The static supervisor: `one_for_one`, `one_for_all`, `rest_for_one`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{AbortHandle, Id};

use crate::event::{emit, EventKind, Observer};
use crate::handle::{ControlError, ExitGuard, Link, Msg};
use crate::intensity::Intensity;
use crate::tasks::{run_start, ChildTasks};
use crate::{
    Child, ChildContext, ChildCounts, ChildInfo, ChildKind, ChildRef, ChildSpec, ChildState, ExitReason, RestartType,
    ShutdownSignal, StartError, SupervisorRef,
};

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
    /// reverse order and the error names the child.
    pub async fn start(self) -> Result<SupervisorRef, StartError> {
        let (handle, child) = self.start_inner(None, "supervisor").await?;
        tokio::spawn(child.future);
        Ok(handle)
    }

    /// Starts the supervisor as the child of another: `ctx` carries the
    /// parent's shutdown signal. Use it in a [`ChildSpec::supervisor`] start
    /// function, or let [`into_child_spec`](Self::into_child_spec) do it.
    pub async fn start_linked(self, ctx: ChildContext) -> Result<(SupervisorRef, Child), StartError> {
        self.start_inner(Some(ctx.shutdown), "supervisor").await
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

    async fn start_inner(
        self,
        parent: Option<ShutdownSignal>,
        default_name: &str,
    ) -> Result<(SupervisorRef, Child), StartError> {
        let name = self.name.unwrap_or_else(|| default_name.into());
        let (link, rx) = Link::new(name.clone());
        let exit = link.exit.clone();
        let handle = SupervisorRef { link };
        let mut core = Core {
            name,
            strategy: self.strategy,
            intensity: Intensity::new(self.max_restarts, self.period),
            slots: self.children.into_iter().map(Slot::new).collect(),
            tasks: ChildTasks::default(),
            retry: None,
            observer: self.observer,
        };
        let guard = ExitGuard(exit);
        if let Err(e) = core.init().await {
            guard.0.set(ExitReason::Shutdown);
            return Err(e);
        }
        let future = Box::pin(async move {
            let reason = core.run(parent, rx).await;
            guard.0.set(reason.clone());
            reason
        });
        Ok((handle.clone(), Child::supervisor(handle, future)))
    }
}

struct Running {
    abort: AbortHandle,
    signal: ShutdownSignal,
    supervisor: Option<SupervisorRef>,
}

enum SlotState {
    Running(Running),
    Stopped,
    Restarting,
}

struct Slot {
    spec: ChildSpec,
    state: SlotState,
}

impl Slot {
    fn new(spec: ChildSpec) -> Self {
        Self {
            spec,
            state: SlotState::Stopped,
        }
    }

    fn is_running(&self) -> bool {
        matches!(self.state, SlotState::Running(_))
    }

    fn info(&self) -> ChildInfo {
        let state = match &self.state {
            SlotState::Running(r) => ChildState::Running(ChildRef {
                id: self.spec.id.clone(),
                abort: r.abort.clone(),
                supervisor: r.supervisor.clone(),
            }),
            SlotState::Stopped => ChildState::Stopped,
            SlotState::Restarting => ChildState::Restarting,
        };
        ChildInfo {
            id: self.spec.id.clone(),
            state,
            kind: self.spec.kind,
            restart: self.spec.restart,
        }
    }
}

/// Whether the supervisor goes on after handling something.
enum Flow {
    Continue,
    Exit(ExitReason),
}

struct Core {
    name: Arc<str>,
    strategy: Strategy,
    intensity: Intensity,
    slots: Vec<Slot>,
    tasks: ChildTasks,
    /// A restart that failed and is tried again (OTP's `try_again_restart`).
    retry: Option<Arc<str>>,
    observer: Option<Observer>,
}

impl Core {
    fn emit(&self, child: &Arc<str>, kind: EventKind) {
        emit(self.observer.as_ref(), &self.name, child, kind);
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.slots.iter().position(|s| &*s.spec.id == id)
    }

    async fn init(&mut self) -> Result<(), StartError> {
        for idx in 0..self.slots.len() {
            if let Err(e) = self.start_slot(idx).await {
                self.terminate_all().await;
                let id = self.slots[idx].spec.id.clone();
                return Err(StartError::new(format!("child `{id}` failed to start: {e}")));
            }
        }
        Ok(())
    }

    async fn start_slot(&mut self, idx: usize) -> Result<ChildRef, StartError> {
        let signal = ShutdownSignal::new();
        let spec = &self.slots[idx].spec;
        let id = spec.id.clone();
        match run_start(spec.start(signal.clone())).await {
            Ok(child) => {
                let abort = self.tasks.spawn(child.future);
                if let Some(handle) = &child.kill_handle {
                    handle.bind(&abort);
                }
                let child_ref = ChildRef {
                    id: id.clone(),
                    abort: abort.clone(),
                    supervisor: child.supervisor.clone(),
                };
                self.slots[idx].state = SlotState::Running(Running {
                    abort,
                    signal,
                    supervisor: child.supervisor,
                });
                self.emit(&id, EventKind::Started);
                Ok(child_ref)
            }
            Err(e) => {
                self.emit(&id, EventKind::StartFailed(e.clone()));
                Err(e)
            }
        }
    }

    /// Stops slot `idx` if it runs, leaving it `Stopped`.
    async fn shutdown_slot(&mut self, idx: usize) {
        let state = std::mem::replace(&mut self.slots[idx].state, SlotState::Stopped);
        if let SlotState::Running(r) = state {
            let reason = self
                .tasks
                .stop(&r.abort, &r.signal, self.slots[idx].spec.shutdown)
                .await;
            let id = self.slots[idx].spec.id.clone();
            self.emit(&id, EventKind::Exited(reason));
        }
    }

    /// The supervisor's own termination: running children, reverse order.
    async fn terminate_all(&mut self) {
        for idx in (0..self.slots.len()).rev() {
            self.shutdown_slot(idx).await;
        }
    }

    /// OTP's `terminate_children` over the group `from..`: stopped in
    /// reverse order; temporary children are removed, others kept stopped.
    async fn terminate_group(&mut self, from: usize) {
        for idx in (from..self.slots.len()).rev() {
            self.shutdown_slot(idx).await;
            if self.slots[idx].spec.restart == RestartType::Temporary {
                self.slots.remove(idx);
            }
        }
    }

    async fn run(&mut self, parent: Option<ShutdownSignal>, mut rx: mpsc::UnboundedReceiver<Msg>) -> ExitReason {
        let mut rx_open = true;
        let reason = loop {
            if let Some(id) = self.retry.take() {
                if let Some(idx) = self.find(&id) {
                    if matches!(self.slots[idx].state, SlotState::Restarting) {
                        if let Flow::Exit(r) = self.restart(idx).await {
                            break r;
                        }
                    }
                }
                continue;
            }
            if let Some((id, reason)) = self.tasks.pop_early() {
                if let Flow::Exit(r) = self.child_exited(id, reason).await {
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
            let flow = tokio::select! {
                biased;
                () = parent_stop => {
                    self.terminate_all().await;
                    Flow::Exit(ExitReason::Shutdown)
                }
                (id, reason) = self.tasks.next_exit() => self.child_exited(id, reason).await,
                msg = rx.recv(), if rx_open => match msg {
                    Some(msg) => self.handle(msg).await,
                    // Nobody holds a handle any more; keep supervising.
                    None => { rx_open = false; Flow::Continue }
                },
            };
            if let Flow::Exit(r) = flow {
                break r;
            }
        };
        let name = self.name.clone();
        self.emit(&name, EventKind::Terminated(reason.clone()));
        reason
    }

    async fn child_exited(&mut self, id: Id, reason: ExitReason) -> Flow {
        let Some(idx) = self
            .slots
            .iter()
            .position(|s| matches!(&s.state, SlotState::Running(r) if r.abort.id() == id))
        else {
            return Flow::Continue; // an incarnation we already let go of
        };
        self.slots[idx].state = SlotState::Stopped;
        let spec = &self.slots[idx].spec;
        let (child, restart) = (spec.id.clone(), spec.restart);
        self.emit(&child, EventKind::Exited(reason.clone()));
        if restart.restarts_after(&reason) {
            self.restart(idx).await
        } else {
            if restart == RestartType::Temporary {
                self.slots.remove(idx);
            }
            Flow::Continue
        }
    }

    /// OTP's `restart/2`: count the restart, then restart by strategy. A
    /// failed start leaves the child `Restarting` and queues a retry, which
    /// counts again.
    async fn restart(&mut self, idx: usize) -> Flow {
        let child = self.slots[idx].spec.id.clone();
        if !self.intensity.add(tokio::time::Instant::now()) {
            self.emit(&child, EventKind::GaveUp);
            if self.slots[idx].spec.restart == RestartType::Temporary {
                self.slots.remove(idx);
            } else {
                self.slots[idx].state = SlotState::Stopped;
            }
            self.terminate_all().await;
            return Flow::Exit(ExitReason::Shutdown);
        }
        self.emit(&child, EventKind::Restarting);
        let failed = match self.strategy {
            Strategy::OneForOne => match self.start_slot(idx).await {
                Ok(_) => None,
                Err(_) => Some(idx),
            },
            Strategy::OneForAll | Strategy::RestForOne => {
                self.slots[idx].state = SlotState::Stopped;
                let from = if self.strategy == Strategy::RestForOne { idx } else { 0 };
                self.terminate_group(from).await;
                let mut failed = None;
                for i in from..self.slots.len() {
                    if self.start_slot(i).await.is_err() {
                        failed = Some(i);
                        break;
                    }
                }
                failed
            }
        };
        if let Some(i) = failed {
            self.slots[i].state = SlotState::Restarting;
            self.retry = Some(self.slots[i].spec.id.clone());
        }
        Flow::Continue
    }

    async fn handle(&mut self, msg: Msg) -> Flow {
        match msg {
            Msg::Which(tx) => {
                let _ = tx.send(self.slots.iter().map(Slot::info).collect());
            }
            Msg::Count(tx) => {
                let _ = tx.send(self.counts());
            }
            Msg::Terminate(id, tx) => {
                let r = match self.find(&id) {
                    Some(idx) => {
                        self.shutdown_slot(idx).await;
                        if self.slots[idx].spec.restart == RestartType::Temporary {
                            self.slots.remove(idx);
                        }
                        Ok(())
                    }
                    None => Err(ControlError::NotFound),
                };
                let _ = tx.send(r);
            }
            Msg::Restart(id, tx) => {
                let r = match self.find(&id) {
                    None => Err(ControlError::NotFound),
                    Some(idx) => match self.slots[idx].state {
                        SlotState::Running(_) => Err(ControlError::Running),
                        SlotState::Restarting => Err(ControlError::Restarting),
                        SlotState::Stopped => self.start_slot(idx).await.map_err(ControlError::StartFailed),
                    },
                };
                let _ = tx.send(r);
            }
            Msg::Delete(id, tx) => {
                let r = match self.find(&id) {
                    None => Err(ControlError::NotFound),
                    Some(idx) => match self.slots[idx].state {
                        SlotState::Running(_) => Err(ControlError::Running),
                        SlotState::Restarting => Err(ControlError::Restarting),
                        SlotState::Stopped => {
                            self.slots.remove(idx);
                            Ok(())
                        }
                    },
                };
                let _ = tx.send(r);
            }
            Msg::StartChild(spec, tx) => {
                let r = if self.find(&spec.id).is_some() {
                    Err(ControlError::AlreadyPresent)
                } else {
                    self.slots.push(Slot::new(spec));
                    let idx = self.slots.len() - 1;
                    let r = self.start_slot(idx).await;
                    if r.is_err() {
                        self.slots.remove(idx);
                    }
                    r.map_err(ControlError::StartFailed)
                };
                let _ = tx.send(r);
            }
            Msg::Stop(reason) => {
                self.terminate_all().await;
                return Flow::Exit(reason);
            }
        }
        Flow::Continue
    }

    fn counts(&self) -> ChildCounts {
        let mut c = ChildCounts {
            specs: self.slots.len(),
            ..ChildCounts::default()
        };
        for s in &self.slots {
            match s.spec.kind {
                ChildKind::Supervisor => c.supervisors += 1,
                ChildKind::Worker => c.workers += 1,
            }
            if s.is_running() {
                c.active += 1;
            }
        }
        c
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Children never outlive their supervisor, even when it is aborted.
        self.tasks.abort_all();
    }
}
