//! Starting children: a supervisor's own start (OTP's `init_children/2`),
//! one start attempt, and a group's starts in a restart.

use super::child_task::{run_start, ChildTask};
use super::slots::{Running, Slot, SlotState};
use super::{check, Core, Outcome};
use crate::event::EventKind;
use crate::{Child, ChildRef, ChildSpec, RestartType, ShutdownSignal, StartError};

impl Core {
    /// OTP's `init_children/2`: check the whole list, then start in order;
    /// on a failure stop the started ones in reverse and fail.
    pub(super) async fn init(&mut self, specs: Vec<ChildSpec>) -> Result<(), StartError> {
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

    /// An ignored start at a supervisor's start or in a group restart: a
    /// temporary child is dropped (OTP's `start_children/2`).
    pub(super) fn forget_ignored(&mut self, pos: u32) {
        if self.restart_type(pos) == RestartType::Temporary {
            self.slots.remove(pos);
        }
    }

    /// Runs the start function of slot `pos` and, on success, spawns the
    /// incarnation's task.
    pub(super) async fn start_slot(&mut self, pos: u32) -> Outcome {
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

    /// OTP's `start_children/2` over the group: the first failure stops it
    /// and is returned.
    pub(super) async fn start_group(&mut self, from: usize) -> Option<u32> {
        for pos in self.slots.positions_from(from) {
            match self.start_slot(pos).await {
                Outcome::Running(_) => {}
                Outcome::Ignored => self.forget_ignored(pos),
                Outcome::Failed(_) => return Some(pos),
            }
        }
        None
    }
}
