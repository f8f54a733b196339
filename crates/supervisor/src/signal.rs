//! The graceful-stop request a supervisor sends to a child.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Fires once when the child's supervisor asks it to stop.
///
/// A well-behaved child selects on [`ShutdownSignal::cancelled`] and returns
/// [`ExitReason::Shutdown`](crate::ExitReason::Shutdown). A child that ignores
/// it is aborted when its [`Shutdown`](crate::Shutdown) timeout runs out.
#[derive(Clone, Debug, Default)]
pub struct ShutdownSignal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    fired: AtomicBool,
    notify: Notify,
}

impl ShutdownSignal {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the holder to stop. Idempotent.
    pub fn fire(&self) {
        self.inner.fired.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether the stop was requested.
    pub fn is_fired(&self) -> bool {
        self.inner.fired.load(Ordering::Acquire)
    }

    /// Completes once the stop is requested (at once if it already was).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag, so a `fire` between the two
            // cannot be missed.
            notified.as_mut().enable();
            if self.is_fired() {
                return;
            }
            notified.await;
        }
    }
}
