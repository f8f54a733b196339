//! The gate concurrent `start_or_lookup` callers wait at while one of them
//! starts the server.

use crate::loom::{AtomicBool, Notify, Ordering};

/// Opens once: when the server registers, or when its start ends without a
/// registration (failure, cancellation, panic). Waiters then look at the
/// registry again; the gate itself carries no result, so a waiter never
/// trusts anything but the map.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    open: AtomicBool,
    notify: Notify,
}

impl Gate {
    /// Lets every waiter through, now and later. Idempotent.
    pub(crate) fn open(&self) {
        self.open.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Completes once the gate is open (at once if it already is).
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag, so an `open` between the two
            // cannot be missed.
            notified.as_mut().enable();
            if self.open.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Gate;

    #[tokio::test]
    async fn an_open_gate_lets_every_waiter_through_now_and_later() {
        let gate = Arc::new(Gate::default());
        let early: Vec<_> = (0..4)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.wait().await })
            })
            .collect();
        tokio::task::yield_now().await;
        gate.open();
        for w in early {
            w.await.expect("woken");
        }
        gate.wait().await; // already open: at once
        gate.open(); // idempotent
        gate.wait().await;
    }
}
