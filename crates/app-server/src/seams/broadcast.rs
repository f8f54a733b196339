//! The invalidation broadcast of a store shared by several stacks: what one
//! stack drops, the others drop too.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::Scope;

/// How many events wait for the stack before the feed reports
/// [`Invalidation::Resynced`] instead of queueing more.
const FEED_CAPACITY: usize = 1024;

/// What another user of a shared store tells this stack.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalidation {
    /// Another stack dropped this scope's token (a rejected token, a
    /// refresh): drop it here too, for every app of the scope.
    Scope(Scope),
    /// Messages may have been missed (the store was away, or the feed
    /// overflowed): drop every scope's token held in memory.
    Resynced,
}

/// The receiving end of a store's invalidation broadcast, which a stack
/// takes from [`Storage::subscribe_invalidations`](crate::Storage::subscribe_invalidations)
/// when it starts.
///
/// It owns whatever produces the events (a subscription task, say: the
/// `source` of [`channel`](Self::channel)), so dropping the feed ends it.
pub struct InvalidationFeed {
    rx: mpsc::Receiver<Invalidation>,
    lagged: Arc<AtomicBool>,
    _source: Box<dyn Send + Sync>,
}

/// The sending end of an [`InvalidationFeed`]. Cheap to clone; sending
/// never blocks.
#[derive(Clone)]
pub struct InvalidationSender {
    tx: mpsc::Sender<Invalidation>,
    lagged: Arc<AtomicBool>,
}

impl InvalidationFeed {
    /// A feed and its sender; the feed keeps `source` alive (dropped with
    /// the feed).
    pub fn channel(source: impl Send + Sync + 'static) -> (InvalidationSender, InvalidationFeed) {
        let (tx, rx) = mpsc::channel(FEED_CAPACITY);
        let lagged = Arc::new(AtomicBool::new(false));
        let sender = InvalidationSender {
            tx,
            lagged: lagged.clone(),
        };
        let feed = InvalidationFeed {
            rx,
            lagged,
            _source: Box::new(source),
        };
        (sender, feed)
    }

    /// The next event; `None` once every sender is gone. Events the queue
    /// had no room for come back as one [`Invalidation::Resynced`].
    pub async fn recv(&mut self) -> Option<Invalidation> {
        // Set only while the queue is full, so never missed by a caller
        // waiting on an empty queue.
        if self.lagged.swap(false, Ordering::AcqRel) {
            return Some(Invalidation::Resynced);
        }
        self.rx.recv().await
    }
}

impl InvalidationSender {
    /// Hands `event` to the feed. When the feed is full, the stack is told
    /// to resynchronise instead (nothing is lost: it drops everything).
    /// Whether the feed is still there.
    pub fn send(&self, event: Invalidation) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lagged.store(true, Ordering::Release);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl fmt::Debug for InvalidationFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidationFeed").finish_non_exhaustive()
    }
}

impl fmt::Debug for InvalidationSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidationSender").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrgName;

    #[tokio::test]
    async fn a_full_feed_turns_into_one_resync() {
        let (tx, mut feed) = InvalidationFeed::channel(());
        let scope = Scope::Org(OrgName::new("acme").expect("valid"));
        for _ in 0..FEED_CAPACITY + 5 {
            assert!(tx.send(Invalidation::Scope(scope.clone())));
        }
        assert_eq!(feed.recv().await, Some(Invalidation::Resynced), "the overflow first");
        for _ in 0..FEED_CAPACITY {
            assert_eq!(feed.recv().await, Some(Invalidation::Scope(scope.clone())));
        }
        drop(tx);
        assert_eq!(feed.recv().await, None, "ends with its senders");
    }

    #[tokio::test]
    async fn dropping_the_feed_drops_its_source_and_closes_the_sender() {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let (tx, feed) = InvalidationFeed::channel(Flag(dropped.clone()));
        drop(feed);
        assert!(dropped.load(Ordering::SeqCst));
        assert!(!tx.send(Invalidation::Resynced));
    }
}
