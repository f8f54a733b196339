//! The one supervision engine. OTP has one state machine in which
//! `simple_one_for_one` is one more strategy; so does this crate: the static
//! [`Supervisor`](crate::Supervisor) and the
//! [`DynamicSupervisor`](crate::DynamicSupervisor) are two builders of this
//! engine. One mailbox carries the children's exits, the engine's own
//! retries and the control calls, handled in arrival order.

mod check;
mod child_task;
mod mailbox;
mod slots;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use self::child_task::{run_start, ChildTask};
use self::mailbox::Mailbox;
use self::slots::{Running, Slot, SlotState, Slots};
use crate::event::{emit, EventKind, Observer};
use crate::handle::{ControlError, ExitGuard, Link, Msg, Retry};
use crate::intensity::Intensity;
use crate::{
    AutoShutdown, Child, ChildCounts, ChildFuture, ChildKind, ChildRef, ChildSpec, ExitReason, RestartType, Shutdown,
    ShutdownSignal, StartError, Strategy, SupervisorRef,
};

/// How the engine restarts: OTP's four strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Static(Strategy),
    /// `simple_one_for_one`: children started on demand, each restarted
    /// alone, no order, stopped concurrently.
    Dynamic {
        max_children: Option<usize>,
    },
}

/// A supervisor's settings.
pub(crate) struct Config {
    pub(crate) name: Arc<str>,
    pub(crate) kind: Kind,
    pub(crate) max_restarts: u32,
    pub(crate) period: Duration,
    pub(crate) auto_shutdown: AutoShutdown,
    pub(crate) observer: Option<Observer>,
}

/// A supervisor whose children have started, not yet running: its handle
/// and the future to spawn.
pub(crate) type Started = (SupervisorRef, ChildFuture);

/// Builds the engine, starts `specs` in order (OTP's `init/1`) and returns
/// the handle and the supervisor's future. `parent` is the parent's stop
/// request, for a supervisor that is a child.
pub(crate) async fn start(
    config: Config,
    specs: Vec<ChildSpec>,
    parent: Option<ShutdownSignal>,
) -> Result<Started, StartError> {
    let (handle, mut core, guard) = Core::new(config);
    if let Err(e) = core.init(specs).await {
        guard.0.set(ExitReason::Shutdown);
        return Err(e);
    }
    Ok((handle, core.into_future(parent, guard)))
}

/// A dynamic supervisor has no children to start: it is ready at once.
pub(crate) fn start_empty(config: Config, parent: Option<ShutdownSignal>) -> Started {
    let (handle, core, guard) = Core::new(config);
    (handle, core.into_future(parent, guard))
}

/// What a start attempt gave.
enum Outcome {
    Running(ChildRef),
    Ignored,
    Failed(StartError),
}

/// Whether the supervisor goes on after handling something.
enum Flow {
    Continue,
    Exit(ExitReason),
}

struct Core {
    name: Arc<str>,
    kind: Kind,
    auto_shutdown: AutoShutdown,
    intensity: Intensity,
    slots: Slots,
    mailbox: Mailbox,
    observer: Option<Observer>,
    /// The key of the next incarnation.
    next_key: u64,
    /// `sys:suspend`ed: only system messages are handled.
    suspended: bool,
}

impl Core {
    fn new(config: Config) -> (SupervisorRef, Core, ExitGuard) {
        let (link, rx) = Link::new(config.name.clone());
        let guard = ExitGuard(link.exit().clone());
        let core = Core {
            name: config.name,
            kind: config.kind,
            auto_shutdown: config.auto_shutdown,
            intensity: Intensity::new(config.max_restarts, config.period),
            slots: Slots::new(matches!(config.kind, Kind::Static(_))),
            mailbox: Mailbox::new(rx, link.sender()),
            observer: config.observer,
            next_key: 0,
            suspended: false,
        };
        (SupervisorRef { link }, core, guard)
    }

    fn into_future(mut self, parent: Option<ShutdownSignal>, guard: ExitGuard) -> ChildFuture {
        Box::pin(async move {
            let reason = self.run(parent).await;
            guard.0.set(reason.clone());
            reason
        })
    }

    fn emit(&self, child: &Arc<str>, kind: EventKind) {
        emit(self.observer.as_ref(), &self.name, child, kind);
    }

    fn is_dynamic(&self) -> bool {
        matches!(self.kind, Kind::Dynamic { .. })
    }

    /// OTP's `init_children/2`: check the whole list, then start in order;
    /// on a failure stop the started ones in reverse and fail.
    async fn init(&mut self, specs: Vec<ChildSpec>) -> Result<(), StartError> {
        check::check_specs(&specs, self.auto_shutdown)?;
        for spec in specs {
            self.slots.insert(Slot::new(spec));
        }
        for pos in self.slots.positions() {
            match self.start_slot(pos).await {
                Outcome::Running(_) => {}
                Outcome::Ignored => self.forget_ignored(pos),
                Outcome::Failed(e) => {
                    let id = self.id(pos);
                    self.terminate_all().await;
                    return Err(StartError::new(format!("child `{id}` failed to start: {e}")));
                }
            }
        }
        Ok(())
    }

    fn id(&self, pos: u32) -> Arc<str> {
        self.slots
            .get(pos)
            .map(|s| s.spec.id.clone())
            .unwrap_or_else(|| "?".into())
    }

    fn restart_type(&self, pos: u32) -> RestartType {
        self.slots.get(pos).map_or(RestartType::Temporary, |s| s.spec.restart)
    }

    fn set_state(&mut self, pos: u32, state: SlotState) {
        if let Some(slot) = self.slots.get_mut(pos) {
            slot.state = state;
        }
    }

    /// A child that ended or was stopped for good: a temporary child (any
    /// child of a dynamic supervisor) is removed, others kept stopped
    /// (OTP's `del_child`).
    fn forget_or_keep(&mut self, pos: u32) {
        if self.is_dynamic() || self.restart_type(pos) == RestartType::Temporary {
            self.slots.remove(pos);
        } else {
            self.set_state(pos, SlotState::Stopped);
        }
    }

    /// An ignored start at a supervisor's start or in a group restart: a
    /// temporary child is dropped (OTP's `start_children/2`).
    fn forget_ignored(&mut self, pos: u32) {
        if self.restart_type(pos) == RestartType::Temporary {
            self.slots.remove(pos);
        }
    }

    /// Runs the start function of slot `pos` and, on success, spawns the
    /// incarnation's task.
    async fn start_slot(&mut self, pos: u32) -> Outcome {
        let Some(slot) = self.slots.get(pos) else {
            return Outcome::Failed(StartError::new("no such child"));
        };
        let id = slot.spec.id.clone();
        let signal = ShutdownSignal::new();
        let started = run_start(slot.spec.start(signal.clone())).await;
        let child = match started {
            Ok(child) => child,
            Err(e) => {
                self.emit(&id, EventKind::StartFailed(e.clone()));
                return Outcome::Failed(e);
            }
        };
        let Child {
            future: Some(future),
            supervisor,
            kill_handle,
        } = child
        else {
            self.set_state(pos, SlotState::Stopped);
            self.emit(&id, EventKind::Ignored);
            return Outcome::Ignored;
        };
        let key = self.next_key;
        self.next_key += 1;
        let task = ChildTask::new(future, self.mailbox.sender().clone(), pos, key);
        let abort = tokio::spawn(task).abort_handle();
        if let Some(handle) = &kill_handle {
            handle.bind(&abort);
        }
        let child_ref = ChildRef {
            id: id.clone(),
            abort: abort.clone(),
            supervisor: supervisor.clone(),
            pos,
        };
        self.set_state(
            pos,
            SlotState::Running(Running {
                key,
                abort,
                signal,
                supervisor,
            }),
        );
        self.emit(&id, EventKind::Started);
        Outcome::Running(child_ref)
    }

    /// OTP's `do_terminate/2`: stops slot `pos` if it runs (by its policy,
    /// waiting for its exit alone), leaving it `Stopped`.
    async fn shutdown_slot(&mut self, pos: u32) {
        let Some(slot) = self.slots.get_mut(pos) else {
            return;
        };
        let SlotState::Running(r) = std::mem::replace(&mut slot.state, SlotState::Stopped) else {
            return;
        };
        let (id, policy) = (slot.spec.id.clone(), slot.spec.shutdown);
        match policy {
            Shutdown::BrutalKill => r.abort.abort(),
            Shutdown::Timeout(d) => {
                r.signal.fire();
                if let Ok(reason) = tokio::time::timeout(d, self.mailbox.exit_of(pos, r.key)).await {
                    self.emit(&id, EventKind::Exited(reason));
                    return;
                }
                r.abort.abort();
            }
            Shutdown::Infinity => r.signal.fire(),
        }
        let reason = self.mailbox.exit_of(pos, r.key).await;
        self.emit(&id, EventKind::Exited(reason));
    }

    /// The supervisor's own termination: in reverse start order, each child
    /// fully stopped before the next; a dynamic supervisor's concurrently.
    async fn terminate_all(&mut self) {
        if self.is_dynamic() {
            return self.terminate_concurrently().await;
        }
        for pos in self.slots.positions().into_iter().rev() {
            self.shutdown_slot(pos).await;
        }
    }

    /// `simple_one_for_one`'s shutdown: ask (or kill) every child at once,
    /// then kill each timed-out one at its deadline.
    async fn terminate_concurrently(&mut self) {
        let now = Instant::now();
        let mut deadlines = Vec::new();
        let mut waiting = 0usize;
        for pos in self.slots.positions() {
            let Some(slot) = self.slots.get_mut(pos) else { continue };
            let Some(r) = slot.running() else {
                slot.state = SlotState::Stopped;
                continue;
            };
            match slot.spec.shutdown {
                Shutdown::BrutalKill => r.abort.abort(),
                Shutdown::Timeout(d) => {
                    r.signal.fire();
                    deadlines.push((now + d, r.abort.clone()));
                }
                Shutdown::Infinity => r.signal.fire(),
            }
            waiting += 1;
        }
        deadlines.sort_by_key(|(t, _)| *t);
        let mut next = 0;
        while waiting > 0 {
            let deadline = deadlines.get(next).map(|(t, _)| *t);
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                (pos, key, reason) = self.mailbox.any_exit() => {
                    let Some(slot) = self.slots.get_mut(pos) else { continue };
                    if slot.running().is_some_and(|r| r.key == key) {
                        slot.state = SlotState::Stopped;
                        let id = slot.spec.id.clone();
                        self.emit(&id, EventKind::Exited(reason));
                        waiting -= 1;
                    }
                }
                () = sleep => {
                    deadlines[next].1.abort();
                    next += 1;
                }
            }
        }
    }

    /// OTP's `terminate_children/2` over the group from the `from`-th child
    /// on: reverse order; temporary children removed, others kept stopped.
    async fn terminate_group(&mut self, from: usize) {
        for pos in self.slots.positions_from(from).into_iter().rev() {
            self.shutdown_slot(pos).await;
            if self.restart_type(pos) == RestartType::Temporary {
                self.slots.remove(pos);
            }
        }
    }

    /// OTP's `start_children/2` over the group: the first failure stops it
    /// and is returned.
    async fn start_group(&mut self, from: usize) -> Option<u32> {
        for pos in self.slots.positions_from(from) {
            match self.start_slot(pos).await {
                Outcome::Running(_) => {}
                Outcome::Ignored => self.forget_ignored(pos),
                Outcome::Failed(_) => return Some(pos),
            }
        }
        None
    }

    async fn run(&mut self, parent: Option<ShutdownSignal>) -> ExitReason {
        let reason = loop {
            let suspended = self.suspended;
            let msg = tokio::select! {
                biased;
                () = parent_stop(parent.as_ref()) => {
                    self.terminate_all().await;
                    break ExitReason::Shutdown;
                }
                msg = self.mailbox.next(suspended) => msg,
            };
            if let Flow::Exit(r) = self.handle(msg).await {
                break r;
            }
        };
        let name = self.name.clone();
        self.emit(&name, EventKind::Terminated(reason.clone()));
        reason
    }

    async fn handle(&mut self, msg: Msg) -> Flow {
        match msg {
            Msg::Exit { pos, key, reason } => return self.child_exited(pos, key, reason).await,
            Msg::Retry(retry) => return self.retry(retry).await,
            Msg::Which(tx) => {
                let _ = tx.send(self.slots.iter().map(|(pos, s)| s.info(pos)).collect());
            }
            Msg::Count(tx) => {
                let _ = tx.send(self.counts());
            }
            Msg::Terminate(id, tx) => {
                let r = match self.slots.find(&id) {
                    Some(pos) => {
                        self.shutdown_slot(pos).await;
                        self.forget_or_keep(pos);
                        Ok(())
                    }
                    None => Err(ControlError::NotFound),
                };
                let _ = tx.send(r);
            }
            Msg::TerminateRef { pos, task, tx } => {
                let found = self
                    .slots
                    .get(pos)
                    .and_then(Slot::running)
                    .is_some_and(|r| r.abort.id() == task);
                let r = if found {
                    self.shutdown_slot(pos).await;
                    self.forget_or_keep(pos);
                    Ok(())
                } else {
                    Err(ControlError::NotFound)
                };
                let _ = tx.send(r);
            }
            Msg::Restart(id, tx) => {
                let r = self.restart_child(&id).await;
                let _ = tx.send(r);
            }
            Msg::Delete(id, tx) => {
                let r = match self
                    .slots
                    .find(&id)
                    .map(|pos| (pos, self.slots.get(pos).map(|s| &s.state)))
                {
                    None => Err(ControlError::NotFound),
                    Some((_, Some(SlotState::Running(_)))) => Err(ControlError::Running),
                    Some((_, Some(SlotState::Restarting))) => Err(ControlError::Restarting),
                    Some((pos, _)) => {
                        self.slots.remove(pos);
                        Ok(())
                    }
                };
                let _ = tx.send(r);
            }
            Msg::StartChild(spec, tx) => {
                let r = self.start_child(spec).await;
                let _ = tx.send(r);
            }
            Msg::Stop(reason) => {
                self.terminate_all().await;
                return Flow::Exit(reason);
            }
            Msg::Suspend(tx) => {
                self.suspended = true;
                let _ = tx.send(());
            }
            Msg::Resume(tx) => {
                self.suspended = false;
                let _ = tx.send(());
            }
        }
        Flow::Continue
    }

    /// OTP's `handle_info({'EXIT', …})` → `do_restart/3`.
    async fn child_exited(&mut self, pos: u32, key: u64, reason: ExitReason) -> Flow {
        let Some(slot) = self.slots.get_mut(pos) else {
            return Flow::Continue;
        };
        if !slot.running().is_some_and(|r| r.key == key) {
            return Flow::Continue; // an incarnation already let go of
        }
        slot.state = SlotState::Stopped;
        let (id, restart, significant) = (slot.spec.id.clone(), slot.spec.restart, slot.spec.significant);
        self.emit(&id, EventKind::Exited(reason.clone()));
        if restart.restarts_after(&reason) {
            return self.restart(pos).await;
        }
        self.forget_or_keep(pos);
        if self.auto_shutdown_due(significant) {
            self.emit(&id, EventKind::AutoShutdown);
            self.terminate_all().await;
            return Flow::Exit(ExitReason::Shutdown);
        }
        Flow::Continue
    }

    /// OTP's `do_auto_shutdown/2`, after a significant child ended without a
    /// restart (it is already marked stopped or removed).
    fn auto_shutdown_due(&self, significant: bool) -> bool {
        if !significant {
            return false;
        }
        match self.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => true,
            AutoShutdown::AllSignificant => !self.slots.iter().any(|(_, s)| s.spec.significant && s.has_pid()),
        }
    }

    /// OTP's `handle_cast({try_again_restart, _})`: only if the child still
    /// waits for it. It yields first, so that a start that always fails
    /// leaves the runtime to other tasks between its attempts.
    async fn retry(&mut self, retry: Retry) -> Flow {
        tokio::task::yield_now().await;
        let pos = match retry {
            Retry::Id(id) => self.slots.find(&id),
            Retry::Slot(pos) => Some(pos),
        };
        match pos {
            Some(pos) if matches!(self.slots.get(pos).map(|s| &s.state), Some(SlotState::Restarting)) => {
                self.restart(pos).await
            }
            _ => Flow::Continue,
        }
    }

    /// OTP's `restart/2`: count the restart, then restart by strategy. A
    /// failed start leaves the child `Restarting` and queues a retry behind
    /// whatever is in the mailbox; the retry counts again.
    async fn restart(&mut self, pos: u32) -> Flow {
        let id = self.id(pos);
        if !self.intensity.add(Instant::now()) {
            self.emit(&id, EventKind::GaveUp);
            self.forget_or_keep(pos);
            self.terminate_all().await;
            return Flow::Exit(ExitReason::Shutdown);
        }
        self.emit(&id, EventKind::Restarting);
        let failed = match self.kind {
            Kind::Static(Strategy::OneForOne) | Kind::Dynamic { .. } => match self.start_slot(pos).await {
                Outcome::Running(_) => None,
                // Counted, not retried; a dynamic supervisor keeps nothing.
                Outcome::Ignored => {
                    if self.is_dynamic() {
                        self.slots.remove(pos);
                    }
                    None
                }
                Outcome::Failed(_) => Some(pos),
            },
            Kind::Static(strategy) => {
                self.set_state(pos, SlotState::Stopped);
                let from = if strategy == Strategy::RestForOne {
                    self.slots.rank(pos)
                } else {
                    0
                };
                self.terminate_group(from).await;
                self.start_group(from).await
            }
        };
        if let Some(pos) = failed {
            self.set_state(pos, SlotState::Restarting);
            let retry = if self.is_dynamic() {
                Retry::Slot(pos)
            } else {
                Retry::Id(self.id(pos))
            };
            self.mailbox.to_self(Msg::Retry(retry));
        }
        Flow::Continue
    }

    /// OTP's `handle_call({restart_child, Id})`: no retry, no count.
    async fn restart_child(&mut self, id: &str) -> Result<ChildRef, ControlError> {
        let pos = self.slots.find(id).ok_or(ControlError::NotFound)?;
        match self.slots.get(pos).map(|s| &s.state) {
            Some(SlotState::Running(_)) => return Err(ControlError::Running),
            Some(SlotState::Restarting) => return Err(ControlError::Restarting),
            _ => {}
        }
        match self.start_slot(pos).await {
            Outcome::Running(r) => Ok(r),
            Outcome::Ignored => Err(ControlError::Ignored),
            Outcome::Failed(e) => Err(ControlError::StartFailed(e)),
        }
    }

    /// OTP's `handle_start_child/2` (`simple_one_for_one`: `start_child`).
    async fn start_child(&mut self, spec: ChildSpec) -> Result<ChildRef, ControlError> {
        check::check_spec(&spec, self.auto_shutdown).map_err(ControlError::StartFailed)?;
        match self.kind {
            Kind::Dynamic {
                max_children: Some(max),
            } if self.slots.len() >= max => return Err(ControlError::MaxChildren),
            Kind::Static(_) if self.slots.find(&spec.id).is_some() => return Err(ControlError::AlreadyPresent),
            _ => {}
        }
        let pos = self.slots.insert(Slot::new(spec));
        match self.start_slot(pos).await {
            Outcome::Running(r) => Ok(r),
            Outcome::Ignored => {
                if self.is_dynamic() {
                    self.slots.remove(pos);
                } else {
                    self.forget_ignored(pos);
                }
                Err(ControlError::Ignored)
            }
            Outcome::Failed(e) => {
                self.slots.remove(pos);
                Err(ControlError::StartFailed(e))
            }
        }
    }

    fn counts(&self) -> ChildCounts {
        let mut c = ChildCounts {
            specs: self.slots.len(),
            ..ChildCounts::default()
        };
        for (_, s) in self.slots.iter() {
            match s.spec.kind {
                ChildKind::Supervisor => c.supervisors += 1,
                ChildKind::Worker => c.workers += 1,
            }
            if s.running().is_some() {
                c.active += 1;
            }
        }
        c
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Children never outlive their supervisor, even when it is aborted.
        self.slots.abort_all();
    }
}

/// Completes when the parent asks this supervisor to stop; never for a root.
async fn parent_stop(parent: Option<&ShutdownSignal>) {
    match parent {
        Some(s) => s.cancelled().await,
        None => std::future::pending().await,
    }
}
