//! Background persists of cached tokens, ordered per app.
//!
//! A persist runs on the stack's task supervisor so the AppServer never
//! waits on storage for a token it already has. The danger of running it
//! later is ordering: a persist of a token that was then rejected must never
//! land after the `invalidate`/`refresh` that removed it, and an older
//! persist must never overwrite a newer one.
//!
//! Each app has a *lane* (shared by every incarnation of its server, so a
//! persist queued by a server that has since crashed is still ordered): a
//! ticket counter and a gate holding the *floor*, the highest ticket that
//! is written or void. A persist takes a ticket when it is queued and, under
//! the gate, writes only if its ticket is above the floor. An invalidation
//! raises the floor to every ticket issued so far, under the same gate,
//! before it deletes the stored record: a persist queued before it either
//! landed before the delete (and is deleted) or is skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use atlas_supervisor::TaskSupervisor;
use parking_lot::Mutex;

use crate::{AppName, Storage, StorageError, StorageKey, TokenRecord};

/// The lanes of one stack.
#[derive(Default)]
pub(crate) struct PersistLanes {
    lanes: Mutex<HashMap<AppName, Arc<Lane>>>,
}

#[derive(Default)]
struct Lane {
    issued: AtomicU64,
    floor: tokio::sync::Mutex<u64>,
}

/// A queued persist's place in its app's lane.
pub(crate) struct Ticket {
    lane: Arc<Lane>,
    number: u64,
}

impl PersistLanes {
    fn lane(&self, app: &AppName) -> Arc<Lane> {
        self.lanes.lock().entry(app.clone()).or_default().clone()
    }

    /// Drops a lane that nobody else holds: no persist is pending for the
    /// app, so a fresh lane later is equivalent.
    fn release(&self, app: &AppName, lane: Arc<Lane>) {
        let mut lanes = self.lanes.lock();
        // Under the map lock no new holder can appear; 2 = the map and us.
        if Arc::strong_count(&lane) == 2 {
            lanes.remove(app);
        }
    }

    /// Takes the next ticket of `app`'s lane, at the moment the persist is
    /// queued.
    pub(crate) fn ticket(&self, app: &AppName) -> Ticket {
        let lane = self.lane(app);
        let number = lane.issued.fetch_add(1, Ordering::SeqCst) + 1;
        Ticket { lane, number }
    }

    /// Queues `record` as `app`'s cached record on `tasks`. If the task
    /// supervisor is closed (the stack is restarting), writes inline.
    pub(crate) async fn persist(
        self: &Arc<Self>,
        tasks: &TaskSupervisor,
        storage: Arc<dyn Storage>,
        app: AppName,
        record: TokenRecord,
    ) {
        let ticket = self.ticket(&app);
        let lanes = self.clone();
        let job = {
            let app = app.clone();
            let record = record.clone();
            let storage = storage.clone();
            let lanes = lanes.clone();
            async move { lanes.write(ticket, &*storage, app, record).await }
        };
        if tasks.spawn(job).is_err() {
            tracing::warn!(app = %app, "task supervisor closed; persisting the cached token inline");
            let ticket = self.ticket(&app);
            lanes.write(ticket, &*storage, app, record).await;
        }
    }

    async fn write(&self, ticket: Ticket, storage: &dyn Storage, app: AppName, record: TokenRecord) {
        let Ticket { lane, number } = ticket;
        {
            let mut floor = lane.floor.lock().await;
            if number > *floor {
                if let Err(e) = storage.put(&app, StorageKey::Cached, record).await {
                    tracing::error!(app = %app, error = %e, "cached token persist failed");
                }
                *floor = number;
            } else {
                tracing::debug!(app = %app, "cached token persist superseded by a later write or an invalidation");
            }
        }
        self.release(&app, lane);
    }

    /// Voids every persist of `app` queued so far, then deletes its stored
    /// cached record (never the manual one).
    pub(crate) async fn invalidate(&self, storage: &dyn Storage, app: &AppName) -> Result<(), StorageError> {
        let lane = self.lane(app);
        let result = {
            let mut floor = lane.floor.lock().await;
            *floor = lane.issued.load(Ordering::SeqCst);
            storage.delete(app, StorageKey::Cached).await
        };
        self.release(app, lane);
        result
    }

    /// How many apps have a lane (a persist pending or an invalidation
    /// running), for tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lanes.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStorage, Token};

    fn rec(t: &str) -> TokenRecord {
        TokenRecord {
            token: Token::new(t),
            expires_at: Some(100),
        }
    }

    #[tokio::test]
    async fn a_persist_queued_before_an_invalidation_never_lands_after_it() {
        let lanes = Arc::new(PersistLanes::default());
        let store = MemoryStorage::new();
        let app = AppName::new("a").expect("valid");
        let t = lanes.ticket(&app);
        lanes.invalidate(&store, &app).await.expect("delete");
        lanes.write(t, &store, app.clone(), rec("rejected")).await;
        assert_eq!(store.get(&app, StorageKey::Cached).await.expect("get"), None);
        assert_eq!(lanes.len(), 0, "idle lanes are dropped");
    }

    #[tokio::test]
    async fn an_older_persist_never_overwrites_a_newer_one() {
        let lanes = Arc::new(PersistLanes::default());
        let store = MemoryStorage::new();
        let app = AppName::new("a").expect("valid");
        let old = lanes.ticket(&app);
        let new = lanes.ticket(&app);
        lanes.write(new, &store, app.clone(), rec("new")).await;
        lanes.write(old, &store, app.clone(), rec("old")).await;
        let got = store.get(&app, StorageKey::Cached).await.expect("get").expect("stored");
        assert_eq!(got.token.expose(), "new");
    }

    #[tokio::test]
    async fn a_persist_queued_after_an_invalidation_lands() {
        let lanes = Arc::new(PersistLanes::default());
        let store = MemoryStorage::new();
        let app = AppName::new("a").expect("valid");
        lanes.invalidate(&store, &app).await.expect("delete");
        let t = lanes.ticket(&app);
        lanes.write(t, &store, app.clone(), rec("fresh")).await;
        assert!(store.get(&app, StorageKey::Cached).await.expect("get").is_some());
    }
}
