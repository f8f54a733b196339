//! The supervisor's one mailbox: first in, first out, with OTP's selective
//! receive (wait for one child's exit, leaving the rest queued in order)
//! and the suspended mode of `sys:suspend` (system messages only).

use std::collections::VecDeque;

use tokio::sync::mpsc;

use crate::handle::Msg;
use crate::ExitReason;

pub(super) struct Mailbox {
    rx: mpsc::UnboundedReceiver<Msg>,
    /// Messages taken out of turn by a selective receive, still in their
    /// order and ahead of `rx`.
    deferred: VecDeque<Msg>,
    /// Its own sending end: the supervisor's retries, and every child's
    /// exit report, go to the back of this same queue.
    me: mpsc::UnboundedSender<Msg>,
}

impl Mailbox {
    pub(super) fn new(rx: mpsc::UnboundedReceiver<Msg>, me: mpsc::UnboundedSender<Msg>) -> Self {
        Self {
            rx,
            deferred: VecDeque::new(),
            me,
        }
    }

    pub(super) fn sender(&self) -> &mpsc::UnboundedSender<Msg> {
        &self.me
    }

    /// Queues a message to itself, behind everything already there.
    pub(super) fn to_self(&self, msg: Msg) {
        let _ = self.me.send(msg);
    }

    async fn recv(&mut self) -> Msg {
        match self.rx.recv().await {
            Some(msg) => msg,
            // Cannot happen: `me` keeps the channel open.
            None => std::future::pending().await,
        }
    }

    /// The next message; when `suspended`, the next system message, every
    /// other one staying queued in its place. Cancel-safe.
    pub(super) async fn next(&mut self, suspended: bool) -> Msg {
        if !suspended {
            if let Some(msg) = self.deferred.pop_front() {
                return msg;
            }
            return self.recv().await;
        }
        if let Some(i) = self.deferred.iter().position(Msg::is_system) {
            if let Some(msg) = self.deferred.remove(i) {
                return msg;
            }
        }
        loop {
            let msg = self.recv().await;
            if msg.is_system() {
                return msg;
            }
            self.deferred.push_back(msg);
        }
    }

    /// Selective receive: the exit of incarnation `key` of slot `pos`;
    /// everything else stays queued, in order.
    pub(super) async fn exit_of(&mut self, pos: u32, key: u64) -> ExitReason {
        let is_it = |m: &Msg| matches!(m, Msg::Exit { pos: p, key: k, .. } if *p == pos && *k == key);
        if let Some(i) = self.deferred.iter().position(is_it) {
            if let Some(Msg::Exit { reason, .. }) = self.deferred.remove(i) {
                return reason;
            }
        }
        loop {
            match self.recv().await {
                Msg::Exit { pos: p, key: k, reason } if p == pos && k == key => return reason,
                other => self.deferred.push_back(other),
            }
        }
    }

    /// The next exit of any child, everything else staying queued (a
    /// dynamic supervisor's concurrent shutdown collects its children's
    /// exits as they come).
    pub(super) async fn any_exit(&mut self) -> (u32, u64, ExitReason) {
        if let Some(i) = self.deferred.iter().position(|m| matches!(m, Msg::Exit { .. })) {
            if let Some(Msg::Exit { pos, key, reason }) = self.deferred.remove(i) {
                return (pos, key, reason);
            }
        }
        loop {
            match self.recv().await {
                Msg::Exit { pos, key, reason } => return (pos, key, reason),
                other => self.deferred.push_back(other),
            }
        }
    }
}
