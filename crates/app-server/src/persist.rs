//! Background persists of minted tokens, ordered per scope.
//!
//! A persist runs on the stack's task supervisor so the AppServer never
//! waits on storage for a token it already has. The danger of running it
//! later is ordering: a persist of a token that was then rejected must never
//! land after the `invalidate`/`refresh` that removed it, and an older
//! persist must never overwrite a newer one.
//!
//! Each scope has a *lane* (per stack, shared by every incarnation of the
//! tree, so a persist queued by a server that has since crashed is still
//! ordered): a ticket counter and a gate holding the *floor*, the highest
//! ticket that is written or void. A persist takes a ticket when it is
//! queued and, under the gate, writes only if its ticket is above the
//! floor. An invalidation raises the floor to every ticket issued so far,
//! under the same gate, before it deletes the stored record: a persist
//! queued before it either landed before the delete (and is deleted) or is
//! skipped.
//!
//! **The write's completion, not the task's, releases the gate.** A store
//! may write on another thread (the file store's `put` runs on
//! `spawn_blocking`): aborting the persist task (a kill of `tasks`, its
//! shutdown timeout) drops the `put` future but not the write already under
//! way. So the write runs in a task of its own that owns the gate's guard
//! and is never aborted: however the persist task ends, the gate opens only
//! when `put` has returned, and an invalidation waiting at the gate deletes
//! after the write, never before. This holds for any [`Storage`], blocking
//! or not. The same task holds the store's [`ScopeLease`] until the write
//! is done, so another process that takes the lease next finds the record.

use std::collections::HashMap;
use std::sync::Arc;

use atlas_supervisor::TaskSupervisor;
use parking_lot::Mutex;

use crate::loom::{AtomicU64, Ordering};
use crate::{AppName, Scope, ScopeLease, Storage, StorageError, StorageKey, Token, TokenRecord};

/// The lanes of one stack.
#[derive(Default)]
pub(crate) struct PersistLanes {
    lanes: Mutex<HashMap<Scope, Arc<Lane>>>,
    /// Rejected tokens a refresh could not delete from the store while it
    /// was unreachable, by scope: deleted once it is back.
    owed: Mutex<HashMap<Scope, Token>>,
}

#[derive(Default)]
struct Lane {
    issued: AtomicU64,
    floor: Arc<crate::loom::Mutex<u64>>,
}

/// A queued persist's place in its scope's lane.
pub(crate) struct Ticket {
    lane: Arc<Lane>,
    number: u64,
}

impl PersistLanes {
    fn lane(&self, scope: &Scope) -> Arc<Lane> {
        self.lanes.lock().entry(scope.clone()).or_default().clone()
    }

    /// Drops a lane that nobody else holds: no persist is pending for the
    /// scope, so a fresh lane later is equivalent.
    fn release(&self, scope: &Scope, lane: Arc<Lane>) {
        let mut lanes = self.lanes.lock();
        // Under the map lock no new holder can appear; 2 = the map and us.
        if Arc::strong_count(&lane) == 2 {
            lanes.remove(scope);
        }
    }

    /// Takes the next ticket of `scope`'s lane, at the moment the persist is
    /// queued.
    pub(crate) fn ticket(&self, scope: &Scope) -> Ticket {
        let lane = self.lane(scope);
        let number = lane.issued.fetch_add(1, Ordering::SeqCst) + 1;
        Ticket { lane, number }
    }

    /// Queues `record` as its scope's minted record on `tasks`, holding
    /// `lease` until it is written. If the task supervisor is closed (the
    /// stack is restarting), writes inline.
    /// `app` (whose resolution minted the token) names the write in logs.
    pub(crate) fn persist(
        self: &Arc<Self>,
        tasks: &TaskSupervisor,
        storage: Arc<dyn Storage>,
        app: AppName,
        record: TokenRecord,
        lease: ScopeLease,
    ) {
        let ticket = self.ticket(&record.scope);
        // The parts wait here until a task takes them: a job the task
        // supervisor refuses is dropped unrun, and the parts are still here.
        let parts = Arc::new(Mutex::new(Some((ticket, storage, app, record, lease))));
        let job = {
            let (lanes, parts) = (self.clone(), parts.clone());
            async move {
                let taken = parts.lock().take();
                if let Some((ticket, storage, app, record, lease)) = taken {
                    lanes.write(ticket, storage, app, record, lease).await;
                }
            }
        };
        if tasks.spawn(job).is_err() {
            let taken = parts.lock().take();
            if let Some((ticket, storage, app, record, lease)) = taken {
                tracing::warn!("task supervisor closed; persisting the minted token in a plain task");
                let lanes = self.clone();
                tokio::spawn(async move { lanes.write(ticket, storage, app, record, lease).await });
            }
        }
    }

    async fn write(
        &self,
        ticket: Ticket,
        storage: Arc<dyn Storage>,
        app: AppName,
        record: TokenRecord,
        lease: ScopeLease,
    ) {
        let Ticket { lane, number } = ticket;
        let scope = record.scope.clone();
        let mut floor = lane.floor.clone().lock_owned().await;
        if number > *floor {
            let key = StorageKey::Minted(scope.clone());
            // See the module docs: this task owns the gate until `put`
            // returns, whatever happens to the persist task awaiting it.
            let write = crate::loom::spawn(async move {
                let result = storage.put(&key, record).await;
                *floor = number;
                drop(floor);
                drop(lease);
                result
            });
            match write.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(app = %app, scope = %scope, error = %e, "minted token persist failed"),
                Err(e) => tracing::error!(app = %app, scope = %scope, error = %e, "minted token persist task failed"),
            }
        } else {
            tracing::debug!(scope = %scope, "minted token persist superseded by a later write or an invalidation");
            drop(floor);
        }
        self.release(&scope, lane);
    }

    /// Voids every persist of `scope` queued so far, then deletes its stored
    /// minted record if it holds `replaced` (compare-and-delete), or, when
    /// the caller knows no token, whatever token it holds now. Returns the
    /// token it deleted, if any.
    pub(crate) async fn invalidate(
        &self,
        storage: &dyn Storage,
        scope: &Scope,
        replaced: Option<&Token>,
    ) -> Result<Option<Token>, StorageError> {
        let lane = self.lane(scope);
        let result = async {
            let mut floor = lane.floor.lock().await;
            *floor = lane.issued.load(Ordering::SeqCst);
            let key = StorageKey::Minted(scope.clone());
            let target = match replaced {
                Some(t) => Some(t.clone()),
                None => storage.get(&key).await?.map(|r| r.token),
            };
            match target {
                Some(t) => Ok(storage.delete_if(&key, &t).await?.then_some(t)),
                None => Ok(None),
            }
        }
        .await;
        self.release(scope, lane);
        result
    }

    /// Remembers that `scope`'s stored record may still hold the rejected
    /// `token` (the store was unreachable when it was to be deleted).
    pub(crate) fn owe_delete(&self, scope: Scope, token: Token) {
        self.owed.lock().insert(scope, token);
    }

    /// Deletes the owed records that still hold their rejected token
    /// (compare-and-delete: a fresh token stored meanwhile stays), and tells
    /// the other stacks; what fails again stays owed. Returns how many were
    /// settled.
    pub(crate) async fn pay_owed(&self, storage: &dyn Storage) -> usize {
        let owed: Vec<(Scope, Token)> = self.owed.lock().drain().collect();
        let mut paid = 0;
        for (scope, token) in owed {
            match storage.delete_if(&StorageKey::Minted(scope.clone()), &token).await {
                Ok(deleted) => {
                    paid += 1;
                    if deleted {
                        if let Err(e) = storage.publish_invalidation(&scope).await {
                            tracing::warn!(scope = %scope, error = %e, "could not tell the other stacks to drop the rejected token");
                        }
                    }
                    tracing::info!(scope = %scope, deleted, "the store is back: removed the rejected token a refresh could not");
                }
                Err(e) => {
                    tracing::warn!(scope = %scope, error = %e, "still cannot remove the rejected token from the store");
                    self.owed.lock().entry(scope).or_insert(token);
                }
            }
        }
        paid
    }

    /// How many scopes have a lane (a persist pending or an invalidation
    /// running), for tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lanes.lock().len()
    }
}

// Under `atlas_loom` the lane's primitives are loom's: only the loom
// models below run there.
#[cfg(all(test, not(atlas_loom)))]
mod tests {
    use super::*;
    use crate::{MemoryStorage, OrgName};

    fn scope() -> Scope {
        Scope::Org(OrgName::new("acme").expect("valid"))
    }

    fn app() -> AppName {
        AppName::new("my-app").expect("valid")
    }

    fn rec(t: &str) -> TokenRecord {
        TokenRecord::minted(scope(), Token::new(t), 100)
    }

    async fn stored(store: &MemoryStorage) -> Option<String> {
        let rec = store.get(&StorageKey::Minted(scope())).await.expect("get");
        rec.map(|r| r.token.expose().to_owned())
    }

    #[tokio::test]
    async fn a_persist_queued_before_an_invalidation_never_lands_after_it() {
        let lanes = Arc::new(PersistLanes::default());
        let store = Arc::new(MemoryStorage::new());
        let t = lanes.ticket(&scope());
        lanes.invalidate(&*store, &scope(), None).await.expect("delete");
        lanes
            .write(t, store.clone(), app(), rec("rejected"), ScopeLease::local())
            .await;
        assert_eq!(stored(&store).await, None);
        assert_eq!(lanes.len(), 0, "idle lanes are dropped");
    }

    #[tokio::test]
    async fn an_older_persist_never_overwrites_a_newer_one() {
        let lanes = Arc::new(PersistLanes::default());
        let store = Arc::new(MemoryStorage::new());
        let old = lanes.ticket(&scope());
        let new = lanes.ticket(&scope());
        lanes
            .write(new, store.clone(), app(), rec("new"), ScopeLease::local())
            .await;
        lanes
            .write(old, store.clone(), app(), rec("old"), ScopeLease::local())
            .await;
        assert_eq!(stored(&store).await.as_deref(), Some("new"));
    }

    #[tokio::test]
    async fn invalidate_deletes_only_the_token_being_replaced() {
        let lanes = Arc::new(PersistLanes::default());
        let store = Arc::new(MemoryStorage::new());
        let t = lanes.ticket(&scope());
        lanes
            .write(t, store.clone(), app(), rec("fresh"), ScopeLease::local())
            .await;
        let gone = lanes.invalidate(&*store, &scope(), Some(&Token::new("rejected"))).await;
        assert_eq!(gone.expect("ok"), None);
        assert_eq!(
            stored(&store).await.as_deref(),
            Some("fresh"),
            "another's fresh token stays"
        );
        let gone = lanes.invalidate(&*store, &scope(), None).await.expect("ok");
        assert_eq!(gone.map(|t| t.expose().to_owned()).as_deref(), Some("fresh"));
        assert_eq!(stored(&store).await, None);
    }
}

/// loom models of the lane: every interleaving (up to a preemption bound) of
/// a queued persist's write with an invalidation or another write, which the
/// tests above can only sample. Run by `cargo xtask loom`; their names start
/// with `loom_`, the filter the step runs them under.
#[cfg(all(test, atlas_loom))]
mod loom_models {
    use ::loom::future::block_on;
    use ::loom::thread;
    use async_trait::async_trait;

    use super::*;
    use crate::OrgName;

    /// Runs `f` under every interleaving with at most `preemptions` forced
    /// switches (unless `LOOM_MAX_PREEMPTIONS` says otherwise).
    fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
        let mut builder = ::loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(preemptions);
        }
        builder.check(f);
    }

    /// A one-record store on a loom mutex: each operation is a point where
    /// loom may switch threads.
    #[derive(Default)]
    struct LoomStore(::loom::sync::Mutex<Option<TokenRecord>>);

    impl LoomStore {
        fn token(&self) -> Option<String> {
            let rec = self.0.lock().expect("unpoisoned");
            rec.as_ref().map(|r| r.token.expose().to_owned())
        }
    }

    #[async_trait]
    impl Storage for LoomStore {
        async fn get(&self, _: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
            Ok(self.0.lock().expect("unpoisoned").clone())
        }
        async fn put(&self, _: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
            *self.0.lock().expect("unpoisoned") = Some(record);
            Ok(())
        }
        async fn delete(&self, _: &StorageKey) -> Result<(), StorageError> {
            *self.0.lock().expect("unpoisoned") = None;
            Ok(())
        }
        async fn delete_if(&self, _: &StorageKey, token: &Token) -> Result<bool, StorageError> {
            let mut rec = self.0.lock().expect("unpoisoned");
            if rec.as_ref().is_some_and(|r| r.token == *token) {
                *rec = None;
                return Ok(true);
            }
            Ok(false)
        }
    }

    fn scope() -> Scope {
        Scope::Org(OrgName::new("acme").expect("valid"))
    }

    fn rec(t: &str) -> TokenRecord {
        TokenRecord::minted(scope(), Token::new(t), 100)
    }

    /// Writes `t` with `ticket` on a thread of its own.
    fn write_on_thread(
        lanes: &Arc<PersistLanes>,
        store: &Arc<LoomStore>,
        ticket: Ticket,
        t: &'static str,
    ) -> thread::JoinHandle<()> {
        let (lanes, store) = (lanes.clone(), store.clone());
        thread::spawn(move || {
            let app = AppName::new("my-app").expect("valid");
            block_on(lanes.write(ticket, store, app, rec(t), ScopeLease::local()));
        })
    }

    /// A persist queued (its ticket taken) before an invalidation, written
    /// concurrently with it: it lands before the delete (and is deleted)
    /// or is skipped, never after.
    #[test]
    fn loom_a_persist_queued_before_an_invalidation_never_lands_after_it() {
        model(3, || {
            let lanes = Arc::new(PersistLanes::default());
            let store = Arc::new(LoomStore::default());
            let writer = write_on_thread(&lanes, &store, lanes.ticket(&scope()), "rejected");
            block_on(lanes.invalidate(&*store, &scope(), None)).expect("invalidate");
            writer.join().expect("writer");
            assert_eq!(store.token(), None, "the rejected token landed after the invalidation");
            assert_eq!(lanes.len(), 0, "idle lanes are dropped");
        });
    }

    /// Two persists queued one after the other, written concurrently: the
    /// older never overwrites the newer.
    #[test]
    fn loom_an_older_persist_never_overwrites_a_newer_one() {
        model(3, || {
            let lanes = Arc::new(PersistLanes::default());
            let store = Arc::new(LoomStore::default());
            let old = lanes.ticket(&scope());
            let new = lanes.ticket(&scope());
            let old = write_on_thread(&lanes, &store, old, "old");
            let new = write_on_thread(&lanes, &store, new, "new");
            old.join().expect("old writer");
            new.join().expect("new writer");
            assert_eq!(store.token().as_deref(), Some("new"));
            assert_eq!(lanes.len(), 0, "idle lanes are dropped");
        });
    }
}
