//! Stopping children: one by its shutdown policy (waiting for its exit
//! alone), all of them in reverse order or, for a dynamic supervisor, at
//! once, and a group in a restart.

use tokio::time::Instant;

use super::slots::SlotState;
use super::Core;
use crate::event::EventKind;
use crate::{RestartType, Shutdown};

impl Core {
    /// OTP's `do_terminate/2`: stops slot `pos` if it runs (by its policy,
    /// waiting for its exit alone), leaving it `Stopped`.
    pub(super) async fn shutdown_slot(&mut self, pos: u32) {
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
    pub(super) async fn terminate_all(&mut self) {
        if self.is_dynamic() {
            return self.terminate_concurrently().await;
        }
        for pos in self.slots.positions().into_iter().rev() {
            self.shutdown_slot(pos).await;
        }
    }

    /// `simple_one_for_one`'s shutdown: ask (or kill) every child at once,
    /// then kill each timed-out one at its deadline.
    pub(super) async fn terminate_concurrently(&mut self) {
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
    pub(super) async fn terminate_group(&mut self, from: usize) {
        for pos in self.slots.positions_from(from).into_iter().rev() {
            self.shutdown_slot(pos).await;
            if self.restart_type(pos) == RestartType::Temporary {
                self.slots.remove(pos);
            }
        }
    }
}
