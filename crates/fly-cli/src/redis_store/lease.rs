//! [`Lease`]: fleet-wide mutual exclusion on one scope's acquisition.
//!
//! `SET {prefix}lease:{scope} OWNER NX PX ttl` takes it; a script deletes it
//! only while it still holds `OWNER`, so a holder slower than its lease never
//! frees the lease of the one that took over. A holder that dies frees
//! nothing: its lease lapses after `ttl`, and only then can another take it.
//! Waiting polls with jittered, capped backoff (no keyspace notifications,
//! which a managed Redis may not offer).

use std::time::Duration;

use atlas_app_server::StorageError;
use redis::cmd;
use tokio::time::Instant;

use super::store::RedisStore;

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
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (store, key, owner) = (self.store.clone(), std::mem::take(&mut self.key), self.owner.clone());
            rt.spawn(async move {
                let _ = release(&store, &key, &owner).await;
            });
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
}
