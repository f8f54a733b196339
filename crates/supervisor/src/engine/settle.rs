//! The engine's side of `testing::settle`: an answer once nothing is
//! pending, as the OTP oracle waits for a quiescent tree.

use super::slots::SlotState;
use super::Core;
use crate::handle::{Msg, Settle, Settled};

impl Core {
    /// Answers if nothing is pending, else queues the request again behind
    /// what is. Each round handles at least one pending message first, so
    /// it ends unless restarts go on for ever.
    pub(super) fn settle(&mut self, mut settle: Settle) {
        if self.is_quiet() {
            let nested = self
                .slots
                .iter()
                .filter_map(|(_, s)| s.running()?.supervisor.clone())
                .collect();
            let _ = settle.tx.send(Settled {
                waited: settle.waited,
                nested,
            });
        } else {
            settle.waited = true;
            self.mailbox.to_self(Msg::Settle(settle));
        }
    }

    /// No retry is queued (no child is restarting) and no exit is unhandled:
    /// a running child whose task has ended has its exit in the mailbox (the
    /// task sends it before it ends).
    fn is_quiet(&self) -> bool {
        self.slots.iter().all(|(_, s)| match &s.state {
            SlotState::Running(r) => !r.abort.is_finished(),
            SlotState::Stopped => true,
            SlotState::Restarting => false,
        })
    }
}
