//! The AppServer's mailbox: a queue behind a mutex and one `Notify`.
//!
//! Most AppServers sit idle with an empty mailbox for hours, so its empty
//! cost is what matters: a tokio `mpsc` channel allocates its first block of
//! 32 slots up front (about 1 KiB for a bounded one), while an empty
//! `VecDeque` allocates nothing. Requests are rare (the fast path never
//! sends one), so one uncontended lock per request costs nothing that shows.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::request::Request;

/// A single-consumer queue of requests that can be closed.
#[derive(Default)]
pub(crate) struct Mailbox {
    state: Mutex<State>,
    /// Wakes the server for a request. `notify_one` leaves a
    /// permit when the server is not waiting, so nothing pushed between the
    /// server's check and its wait is missed; the server only ever has one
    /// waiter, and re-checks the state after every wake.
    ready: Notify,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Request>,
    closed: bool,
}

impl Mailbox {
    /// Queues `req`; gives it back if the server has stopped.
    pub(crate) fn send(&self, req: Request) -> Result<(), Request> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(req);
        }
        state.queue.push_back(req);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// The next request, waiting for one.
    pub(crate) async fn recv(&self) -> Request {
        loop {
            if let Some(req) = self.state.lock().queue.pop_front() {
                return req;
            }
            self.ready.notified().await;
        }
    }

    /// Takes the request at the front if `take` accepts it (`Ok`); one it
    /// gives back (`Err`) stays at the front. Used to answer callers who
    /// queued up during a resolution with its result.
    pub(crate) fn pop_map<T>(&self, take: impl FnOnce(Request) -> Result<T, Request>) -> Option<T> {
        let mut state = self.state.lock();
        let req = state.queue.pop_front()?;
        match take(req) {
            Ok(t) => Some(t),
            Err(req) => {
                state.queue.push_front(req);
                None
            }
        }
    }

    /// Refuses further requests and drops the queued ones (their callers
    /// see the server as down).
    pub(crate) fn close(&self) {
        let queued = {
            let mut state = self.state.lock();
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        // Outside the lock: dropping reply senders wakes the callers.
        drop(queued);
    }

    /// Whether the server has stopped.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }
}

/// Closes the mailbox when the server's task ends, however it ends.
pub(crate) struct CloseOnDrop(pub(crate) Arc<Mailbox>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}
