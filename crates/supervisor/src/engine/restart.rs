//! What an exit leads to: OTP's `do_restart/3`, `restart/2`, the retry
//! (`try_again_restart`) and the automatic shutdown of OTP 24.

use tokio::time::Instant;

use super::slots::SlotState;
use super::{Core, Flow, Kind, Outcome};
use crate::event::EventKind;
use crate::handle::{Msg, Retry};
use crate::{AutoShutdown, ExitReason, Strategy};

impl Core {
    /// OTP's `handle_info({'EXIT', …})` → `do_restart/3`.
    pub(super) async fn child_exited(&mut self, pos: u32, key: u64, reason: ExitReason) -> Flow {
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
    pub(super) fn auto_shutdown_due(&self, significant: bool) -> bool {
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
    pub(super) async fn retry(&mut self, retry: Retry) -> Flow {
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
    pub(super) async fn restart(&mut self, pos: u32) -> Flow {
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
}
