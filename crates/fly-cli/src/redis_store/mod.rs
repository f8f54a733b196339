//! The Redis store (feature `redis`): tokens, the acquisition lease and the
//! invalidation broadcast shared by every process and machine that points at
//! one Redis.
//!
//! # What it keeps in Redis
//!
//! Everything lives under one prefix (default [`DEFAULT_KEY_PREFIX`],
//! settable), so one Redis can serve several stacks:
//!
//! | key | holds | lifetime |
//! | --- | --- | --- |
//! | `{prefix}scope:{scope}` | a scope's acquired token, JSON `{"v":1,"token","expires_at","source","scope"}` | Redis expiry at the token's `expires_at` (`SET … PXAT`) |
//! | `{prefix}manual:{app}` | an app's manual token, same JSON | none: never expires |
//! | `{prefix}lease:{scope}` | the owner id of whoever is acquiring the scope | the lease time (`SET … NX PX`) |
//! | `{prefix}failure:{scope}` | the last failed CLI run of the scope, a [`FailureNote`](atlas_app_server::FailureNote) (sanitised, no token) | 1 h |
//! | `{prefix}invalidate` | (a pub/sub channel, not a key) `{"v":1,"scope","origin"}` | none; never holds a token |
//!
//! # Running Redis for it in production
//!
//! - **Persistence on** (AOF `appendonly yes`, or RDB snapshots): a manual
//!   token cannot be acquired again, so losing it on a Redis restart loses
//!   it for good. Scope tokens are re-acquired as needed.
//! - **No eviction of manual records**: use `maxmemory-policy noeviction`,
//!   or `volatile-*` (manual keys have no TTL, so `volatile-*` policies
//!   never evict them); never `allkeys-*`.
//! - The tokens are secrets: require a password (`requirepass` or ACL
//!   users, given in the URL) and TLS (`rediss://`) across machines. An ACL
//!   user needs, on `{prefix}*` keys and channels: `GET SET DEL EXISTS SCAN
//!   MGET`, scripts (`EVAL EVALSHA SCRIPT LOAD`), `PING SELECT PUBLISH
//!   SUBSCRIBE`.
//! - Expiry is absolute (`PXAT`): keep the clocks of the machines and of
//!   Redis in sync (NTP), or tokens expire early or late by the skew.
//!
//! # Outages
//!
//! Every operation ends within
//! [`RedisSettings::operation_deadline`] with
//! [`StorageError::Unavailable`](atlas_app_server::StorageError::Unavailable)
//! while Redis is away, and works again when it is back; the subscription
//! re-subscribes by itself and then reports [`BroadcastEvent::Resynced`].
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use atlas_app_server::Token;
//! use atlas_fly_cli::{RecordKey, RedisRecord, RedisSettings, RedisStore};
//!
//! let store = RedisStore::connect(RedisSettings::new("redis://127.0.0.1:6379/0".parse()?)).await?;
//! let scope = RecordKey::Scope("org:acme".into());
//! if let Some(lease) = store.lease("org:acme", Duration::from_secs(90), Duration::from_secs(95)).await? {
//!     if store.get(&scope).await?.is_none() {
//!         let record = RedisRecord {
//!             token: Token::new("FlyV1 fm2_minted"),
//!             expires_at: Some(1_900_000_000),
//!             source: "cli".into(),
//!             scope: Some("org:acme".into()),
//!         };
//!         store.put(&scope, &record).await?;
//!     }
//!     lease.release().await?;
//! }
//! store.publish_invalidation("org:acme").await?;
//! # Ok(()) }
//! ```

mod broadcast;
mod conn;
mod keys;
mod lease;
mod record;
mod settings;
mod storage;
mod store;
mod url;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use broadcast::{BroadcastEvent, Subscription, SubscriptionState};
pub use keys::RecordKey;
pub use lease::{Lease, LeaseWait};
pub use record::RedisRecord;
pub use settings::{
    PrefixError, RedisSettings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_LEASE_TIME,
    DEFAULT_RESPONSE_TIMEOUT,
};
pub use store::{CompareDelete, ListedRecord, RedisStore};
pub use url::{RedisTransport, RedisUrl, RedisUrlError};

/// A random `u64` (not for secrets): each call hashes a fresh counter with
/// std's randomly keyed hasher.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// A uniformly random pause in `[0, max]` ("full jitter").
fn jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return max;
    }
    Duration::from_nanos(random_u64() % (nanos + 1))
}

/// A fresh id naming this host and process: `HOST:PID:RANDOM`. Unique per
/// call, so two leases of one process are told apart too.
fn owner_id() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!(
        "{host}:{}:{:016x}{:016x}",
        std::process::id(),
        random_u64(),
        random_u64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stack holds these across tasks and inside `Box<dyn Send + Sync>`.
    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<RedisStore>();
        check::<Lease>();
        check::<Subscription>();
    }

    #[test]
    fn owner_ids_differ_and_jitter_stays_in_bounds() {
        assert_ne!(owner_id(), owner_id());
        for _ in 0..1000 {
            assert!(jitter(Duration::from_millis(10)) <= Duration::from_millis(10));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
