//! [`MemoryFleet`]: one in-memory store shared by several stacks of a test,
//! with the scope lock and the invalidation broadcast a shared store
//! (Redis, the file store's lock) gives them, and an outage switch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::{
    FailureNote, Invalidation, InvalidationFeed, MemoryStorage, Scope, ScopeLease, Storage, StorageError, StorageKey,
    Token, TokenRecord,
};

/// Messages on the bus: who sent it, and what.
type Message = (u64, Invalidation);

/// The shared part: the records, one lock per scope, the bus.
#[derive(Debug)]
struct Shared {
    records: MemoryStorage,
    locks: Mutex<HashMap<Scope, Arc<tokio::sync::Mutex<()>>>>,
    notes: Mutex<HashMap<Scope, FailureNote>>,
    bus: broadcast::Sender<Message>,
    next_id: AtomicU64,
}

/// A store several stacks of one test share, standing for a Redis that
/// several machines use: records, a per-scope lock held across the
/// acquisition ([`Storage::lock_scope`]), the failure notes of the lock's
/// holders ([`Storage::note_failure`]), and a broadcast of invalidations
/// (a member does not hear its own). Each stack gets a
/// [`member`](Self::member), which can be cut off from the store
/// ([`FleetMember::set_unavailable`]) to stand for an outage.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use atlas_app_server::testing::{storage_conformance, MemoryFleet};
/// let fleet = MemoryFleet::new();
/// storage_conformance(|| async { fleet.member() }).await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MemoryFleet {
    shared: Arc<Shared>,
}

impl Default for MemoryFleet {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryFleet {
    /// An empty store.
    pub fn new() -> Self {
        let (bus, _) = broadcast::channel(1024);
        MemoryFleet {
            shared: Arc::new(Shared {
                records: MemoryStorage::new(),
                locks: Mutex::new(HashMap::new()),
                notes: Mutex::new(HashMap::new()),
                bus,
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// A new user of the store (one per stack).
    pub fn member(&self) -> FleetMember {
        FleetMember {
            shared: self.shared.clone(),
            id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
            unavailable: Arc::new(AtomicBool::new(false)),
            published: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The records, as any member sees them.
    pub fn records(&self) -> &MemoryStorage {
        &self.shared.records
    }

    /// How many stacks are subscribed to the broadcast now.
    pub fn subscribers(&self) -> usize {
        self.shared.bus.receiver_count()
    }

    /// Tells every subscribed member that it may have missed messages (as
    /// a store that comes back after an outage does).
    pub fn resync_all(&self) {
        let _ = self.shared.bus.send((0, Invalidation::Resynced));
    }
}

/// One stack's handle on a [`MemoryFleet`]. Cloning shares the handle
/// (and its outage switch).
#[derive(Clone, Debug)]
pub struct FleetMember {
    shared: Arc<Shared>,
    id: u64,
    unavailable: Arc<AtomicBool>,
    published: Arc<AtomicUsize>,
}

impl FleetMember {
    /// While `on`, every operation fails with [`StorageError::Unavailable`]
    /// (the broadcast still arrives: a stack is told of the outage's end by
    /// [`MemoryFleet::resync_all`]).
    pub fn set_unavailable(&self, on: bool) {
        self.unavailable.store(on, Ordering::SeqCst);
    }

    /// How many invalidations this member published.
    pub fn published(&self) -> usize {
        self.published.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("fleet member cut off from the store".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Storage for FleetMember {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        self.check()?;
        self.shared.records.get(key).await
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        self.check()?;
        self.shared.records.put(key, record).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.check()?;
        self.shared.records.delete(key).await
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        self.check()?;
        self.shared.records.delete_if(key, token).await
    }
    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        self.check()?;
        let lock = self.shared.locks.lock().entry(scope.clone()).or_default().clone();
        Ok(ScopeLease::new(lock.lock_owned().await))
    }
    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        self.check()?;
        let mut notes = self.shared.notes.lock();
        match note {
            Some(note) => notes.insert(scope.clone(), note.clone()),
            None => notes.remove(scope),
        };
        Ok(())
    }
    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        self.check()?;
        Ok(self.shared.notes.lock().get(scope).cloned())
    }
    async fn publish_invalidation(&self, scope: &Scope) -> Result<(), StorageError> {
        self.check()?;
        self.published.fetch_add(1, Ordering::SeqCst);
        let _ = self.shared.bus.send((self.id, Invalidation::Scope(scope.clone())));
        Ok(())
    }
    fn subscribe_invalidations(&self) -> Option<InvalidationFeed> {
        let mut rx = self.shared.bus.subscribe();
        let me = self.id;
        let relay_handle = Arc::new(OnceLock::new());
        let (tx, feed) = InvalidationFeed::channel(AbortOnDrop(relay_handle.clone()));
        let relay = tokio::spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok((from, _)) if from == me => continue,
                    Ok((_, event)) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => Invalidation::Resynced,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if !tx.send(event) {
                    return;
                }
            }
        });
        let _ = relay_handle.set(relay.abort_handle());
        Some(feed)
    }
}

/// Ends the relay task with the feed.
struct AbortOnDrop(Arc<OnceLock<tokio::task::AbortHandle>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.get() {
            handle.abort();
        }
    }
}
