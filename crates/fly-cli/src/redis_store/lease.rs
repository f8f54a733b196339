//! [`Lease`]: fleet-wide mutual exclusion on one scope's acquisition.
//!
//! `SET {prefix}lease:{scope} OWNER NX PX ttl` takes it; a script deletes it
//! only while it still holds `OWNER`, so a holder slower than its lease never
//! frees the lease of the one that took over. A holder that dies frees
//! nothing: its lease lapses after `ttl`, and only then can another take it.
//! Waiting polls with jittered, capped backoff (no keyspace notifications,
//! which a managed Redis may not offer); [`RedisStore::lease_unless`] also
//! stops waiting as soon as the record the holder was to write is there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use atlas_app_server::StorageError;
use redis::{cmd, Script};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::keys::RecordKey;
use super::store::RedisStore;

/// `KEYS[1]` record, `KEYS[2]` lease, `ARGV[1]` owner, `ARGV[2]` ms: 2
/// when the record exists (nothing to acquire), 1 when the lease was taken,
/// 0 when another holds it. One atomic step, one round trip per poll.
const LEASE_UNLESS_RECORD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 2 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
";

pub(crate) fn lease_unless_script() -> Script {
    Script::new(LEASE_UNLESS_RECORD)
}

/// What [`RedisStore::lease_unless`] came back with.
#[derive(Debug)]
pub enum LeaseWait {
    /// The lease is ours: look again, acquire, write, release.
    Acquired(Lease),
    /// The record is there (another holder wrote it): nothing to acquire.
    Written,
    /// Another holds the lease still, after the whole wait.
    TimedOut,
}

/// The first pause between two attempts while another holds the lease.
const POLL_MIN: Duration = Duration::from_millis(5);
/// The longest pause: the delay a waiter adds after the holder is done.
const POLL_MAX: Duration = Duration::from_millis(100);

/// A held lease. Release it with [`release`](Self::release); dropping it
/// releases it in the background when a tokio runtime is at hand, else it
/// lapses after its time.
#[must_use = "a lease is released when dropped"]
pub struct Lease {
    store: RedisStore,
    key: String,
    owner: String,
    released: bool,
}

impl Lease {
    /// The owner id the lease holds (host, process, a random part).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Releases the lease if it is still ours. `Ok(false)`: it had lapsed
    /// (and perhaps another holds it now, which is left alone).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`]; the lease then lapses by itself.
    pub async fn release(mut self) -> Result<bool, StorageError> {
        self.released = true;
        release(&self.store, &self.key, &self.owner).await
    }
}

impl Drop for Lease {
    /// Releases in a task, counted so that [`RedisStore::settle`] can wait
    /// for it before the process exits (else a lost release would make the
    /// others wait for the lease to lapse).
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (store, key, owner) = (self.store.clone(), std::mem::take(&mut self.key), self.owner.clone());
            store.inner.releases.start();
            let pending = PendingRelease(store);
            rt.spawn(async move {
                let _ = release(&pending.0, &key, &owner).await;
                drop(pending);
            });
        }
    }
}

/// Releases started by dropped leases and not finished yet.
#[derive(Debug, Default)]
pub(crate) struct Releases {
    pending: AtomicUsize,
    idle: Notify,
}

/// One release in flight; done (or cancelled) when dropped.
struct PendingRelease(RedisStore);

impl Drop for PendingRelease {
    fn drop(&mut self) {
        self.0.inner.releases.finish();
    }
}

impl Releases {
    fn start(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
    }

    fn finish(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    pub(crate) async fn settle(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            // Registered before the count is read: no wake-up is missed.
            let idle = self.idle.notified();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.pending.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("owner", &self.owner)
            .finish()
    }
}

async fn release(store: &RedisStore, key: &str, owner: &str) -> Result<bool, StorageError> {
    let script = store.inner.delete_if_value.clone();
    let (key, owner) = (key.to_owned(), owner.to_owned());
    let deleted = store
        .inner
        .conn
        .run("release a lease", |mut c| async move {
            script.key(key).arg(owner).invoke_async::<i64>(&mut c).await
        })
        .await?;
    Ok(deleted == 1)
}

/// An attempt to take a lease that its caller may abandon: dropped armed,
/// it releases the lease the attempt may have taken (compare-and-delete on
/// its own owner id, so nobody else's lease), counted by `settle`.
struct Abandoned {
    store: Option<RedisStore>,
    key: String,
    owner: String,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else { return };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (key, owner) = (std::mem::take(&mut self.key), std::mem::take(&mut self.owner));
            store.inner.releases.start();
            let pending = PendingRelease(store);
            rt.spawn(async move {
                let _ = release(&pending.0, &key, &owner).await;
                drop(pending);
            });
        }
    }
}

impl RedisStore {
    /// Takes the lease on `scope` for `ttl` if nobody holds it; `Ok(None)`
    /// when someone does.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn try_lease(&self, scope: &str, ttl: Duration) -> Result<Option<Lease>, StorageError> {
        let key = self.inner.keys.lease(scope);
        let owner = super::owner_id();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let taken: Option<String> = {
            let (key, owner) = (key.clone(), owner.clone());
            self.inner
                .conn
                .run("take a lease", |mut c| async move {
                    cmd("SET")
                        .arg(key)
                        .arg(owner)
                        .arg("NX")
                        .arg("PX")
                        .arg(ttl_ms)
                        .query_async(&mut c)
                        .await
                })
                .await?
        };
        Ok(taken.map(|_| Lease {
            store: self.clone(),
            key,
            owner,
            released: false,
        }))
    }

    /// Takes the lease on `scope` for `ttl`, waiting up to `wait` while
    /// another holds it; `Ok(None)` when `wait` ran out. A holder that died
    /// holds it at most until its own `ttl` lapses.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] (Redis went away while waiting).
    pub async fn lease(&self, scope: &str, ttl: Duration, wait: Duration) -> Result<Option<Lease>, StorageError> {
        let deadline = Instant::now() + wait;
        let mut pause = POLL_MIN;
        loop {
            if let Some(lease) = self.try_lease(scope, ttl).await? {
                return Ok(Some(lease));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // Full jitter keeps waiters on many machines from polling in step.
            let nap = super::jitter(pause).min(deadline - now);
            tokio::time::sleep(nap).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// Like [`lease`](Self::lease), but done as soon as `record` exists:
    /// the holder wrote what this caller was going to acquire, so it need
    /// not wait for the holder's release (which a holder that exits or
    /// dies right after writing may never send).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] (Redis went away while waiting).
    pub async fn lease_unless(
        &self,
        scope: &str,
        record: &RecordKey,
        ttl: Duration,
        wait: Duration,
    ) -> Result<LeaseWait, StorageError> {
        let (lease_key, record_key) = (self.inner.keys.lease(scope), self.inner.keys.record(record));
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let deadline = Instant::now() + wait;
        let mut pause = POLL_MIN;
        loop {
            let owner = super::owner_id();
            let script = self.inner.lease_unless.clone();
            // A caller that gives up mid-attempt (drops this future) may have
            // taken the lease on the server without ever seeing it: released.
            let mut abandoned = Abandoned {
                store: Some(self.clone()),
                key: lease_key.clone(),
                owner: owner.clone(),
            };
            let outcome = {
                let (lease_key, record_key, owner) = (lease_key.clone(), record_key.clone(), owner.clone());
                self.inner
                    .conn
                    .run("take a lease", |mut c| async move {
                        script
                            .key(record_key)
                            .key(lease_key)
                            .arg(owner)
                            .arg(ttl_ms)
                            .invoke_async::<i64>(&mut c)
                            .await
                    })
                    .await
            };
            // Kept armed on an error: the attempt may have reached the server.
            if outcome.is_ok() {
                abandoned.store = None;
            }
            match outcome? {
                2 => return Ok(LeaseWait::Written),
                1 => {
                    return Ok(LeaseWait::Acquired(Lease {
                        store: self.clone(),
                        key: lease_key,
                        owner,
                        released: false,
                    }))
                }
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(LeaseWait::TimedOut);
            }
            tokio::time::sleep(super::jitter(pause).min(deadline - now)).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// Waits (at most `within`) for the releases of dropped leases to reach
    /// Redis; call it before the process exits. Whether they all did.
    pub async fn settle(&self, within: Duration) -> bool {
        self.inner.releases.settle(within).await
    }
}
