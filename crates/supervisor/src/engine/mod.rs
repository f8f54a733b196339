//! The one supervision engine. OTP has one state machine in which
//! `simple_one_for_one` is one more strategy; so does this crate: the static
//! [`Supervisor`](crate::Supervisor) and the
//! [`DynamicSupervisor`](crate::DynamicSupervisor) are two builders of this
//! engine. One mailbox carries the children's exits, the engine's own
//! retries and the control calls, handled in arrival order.

mod check;
mod child_task;
mod control;
mod mailbox;
mod restart;
#[cfg(feature = "testing")]
mod settle;
mod slots;
mod start;
mod stop;

use std::sync::Arc;
use std::time::Duration;

use self::mailbox::Mailbox;
use self::slots::{Slot, SlotState, Slots};
use crate::event::{emit, EventKind, Observer};
use crate::handle::{ControlError, ExitGuard, Link, Msg};
use crate::intensity::Intensity;
use crate::{
    AutoShutdown, ChildFuture, ChildRef, ChildSpec, ExitReason, RestartType, ShutdownSignal, StartError, Strategy,
    SupervisorRef,
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

    async fn run(&mut self, parent: Option<ShutdownSignal>) -> ExitReason {
        let reason = loop {
            let suspended = self.suspended;
            // The parent's stop request first (in OTP the parent's 'EXIT' is
            // a message in its place): a mailbox that never empties, such as
            // a start that always fails with a huge intensity, must not hold
            // up the parent's shutdown.
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
            Msg::Child(id, tx) => {
                let _ = tx.send(
                    self.slots
                        .find(&id)
                        .and_then(|pos| Some(self.slots.get(pos)?.info(pos))),
                );
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
            #[cfg(feature = "testing")]
            Msg::Settle(settle) => self.settle(settle),
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
