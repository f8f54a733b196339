//! [`RedisStore`] behind the stack's [`Storage`] seam: records, the
//! fleet-wide lease as [`Storage::lock_scope`], and the invalidation
//! broadcast.

use async_trait::async_trait;

use atlas_app_server::{
    FailureNote, Invalidation, InvalidationFeed, RecordSource, Scope, ScopeLease, Storage, StorageError, StorageKey,
    Token, TokenRecord,
};
use redis::cmd;

use super::broadcast::BroadcastEvent;
use super::keys::RecordKey;
use super::lease::LeaseWait;
use super::record::RedisRecord;
use super::store::{CompareDelete, RedisStore};

/// How long Redis keeps a failure note: readers ignore notes older than
/// the failure window, which is seconds.
const NOTE_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// `Minted(scope)` is the scope's record (`{prefix}scope:org:acme`),
/// `Manual(app)` the app's manual one.
fn record_key(key: &StorageKey) -> RecordKey {
    match key {
        StorageKey::Minted(scope) => RecordKey::Scope(scope.to_string()),
        StorageKey::Manual(app) => RecordKey::Manual(app.clone()),
    }
}

fn to_redis(record: TokenRecord) -> RedisRecord {
    RedisRecord {
        token: record.token,
        expires_at: record.expires_at,
        source: record.source.as_str().to_owned(),
        scope: Some(record.scope.to_string()),
    }
}

/// The stack's record; a source it does not know is a damaged record.
fn from_redis(key: &StorageKey, record: RedisRecord) -> Result<TokenRecord, String> {
    let source = RecordSource::parse(&record.source).ok_or_else(|| format!("unknown source {:?}", record.source))?;
    // The key says whom the record is for when the record does not.
    let scope = record
        .scope
        .as_deref()
        .and_then(Scope::parse)
        .unwrap_or_else(|| key.scope());
    Ok(TokenRecord {
        token: record.token,
        expires_at: record.expires_at,
        source,
        scope,
    })
}

/// The stack's storage on Redis (see the [module docs](crate::redis_store)):
///
/// - records as [`RedisStore::get`]/[`put`](RedisStore::put) keep them (a
///   minted record expires in Redis at its `expires_at`, so one stored
///   already expired is not kept);
/// - `delete_if` is the server-side compare-and-delete;
/// - `lock_scope` is the fleet-wide lease ([`RedisStore::lease_unless`]):
///   granted when nobody else is acquiring the scope, or, once another
///   holder has written the scope's record, a local lease (the flight then
///   finds that record). While Redis is down the error makes the flight
///   acquire on its own, with a warning;
/// - a failed CLI run's [`FailureNote`] is kept for the next holder of the
///   lease under `{prefix}failure:{scope}` for an hour (readers ignore
///   older ones anyway);
/// - invalidations go out on the channel and come back through a
///   [`Subscription`](super::Subscription), whose `Resynced` after an
///   outage becomes [`Invalidation::Resynced`] (unless the settings say
///   [not to listen](crate::RedisSettings::listen_for_invalidations)).
///
/// Give each stack a store of its own ([`RedisStore::new`], not a clone):
/// a store does not hear what it published itself.
#[async_trait]
impl Storage for RedisStore {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        let Some(record) = RedisStore::get(self, &record_key(key)).await? else {
            return Ok(None);
        };
        match from_redis(key, record) {
            Ok(record) => Ok(Some(record)),
            Err(reason) => Err(StorageError::Corrupt(format!("{key} in redis: {reason}"))),
        }
    }

    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        RedisStore::put(self, &record_key(key), &to_redis(record)).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        RedisStore::delete(self, &record_key(key)).await
    }

    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        let outcome = self.delete_if_token(&record_key(key), token).await?;
        Ok(outcome == CompareDelete::Deleted)
    }

    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        let name = scope.to_string();
        let record = RecordKey::Scope(name.clone());
        let settings = self.settings();
        let (ttl, wait) = (settings.get_lease_time(), settings.lease_wait());
        Ok(match self.lease_unless(&name, &record, ttl, wait).await? {
            LeaseWait::Acquired(lease) => ScopeLease::new(lease),
            LeaseWait::Written => ScopeLease::local(),
            LeaseWait::TimedOut => {
                tracing::warn!(
                    scope = %scope,
                    waited_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "another process kept the scope's redis lease; acquiring without it"
                );
                ScopeLease::local()
            }
        })
    }

    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        let key = self.inner.keys.failure(&scope.to_string());
        match note {
            Some(note) => {
                let text = note.encode();
                let ttl_ms = u64::try_from(NOTE_TTL.as_millis()).unwrap_or(u64::MAX);
                self.inner
                    .conn
                    .run("SET a failure note", |mut c| async move {
                        cmd("SET")
                            .arg(key)
                            .arg(text)
                            .arg("PX")
                            .arg(ttl_ms)
                            .query_async::<()>(&mut c)
                            .await
                    })
                    .await
            }
            None => self
                .inner
                .conn
                .run("DEL a failure note", |mut c| async move {
                    cmd("DEL").arg(key).query_async::<i64>(&mut c).await
                })
                .await
                .map(drop),
        }
    }

    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        let key = self.inner.keys.failure(&scope.to_string());
        let text: Option<String> = self
            .inner
            .conn
            .run("GET a failure note", |mut c| async move {
                cmd("GET").arg(key).query_async(&mut c).await
            })
            .await?;
        // An unreadable note is no note.
        Ok(text.as_deref().and_then(FailureNote::decode))
    }

    async fn publish_invalidation(&self, scope: &Scope) -> Result<(), StorageError> {
        RedisStore::publish_invalidation(self, &scope.to_string())
            .await
            .map(drop)
    }

    fn subscribe_invalidations(&self) -> Option<InvalidationFeed> {
        if !self.settings().listens_for_invalidations() {
            return None;
        }
        // The feed owns the subscription (dropping it ends the task), and the
        // subscription's callback feeds it: tie the knot through a slot.
        let slot = std::sync::Arc::new(parking_lot::Mutex::new(None));
        let (tx, feed) = InvalidationFeed::channel(SubscriptionSlot(slot.clone()));
        let subscription = self.subscribe(move |event| {
            let event = match event {
                BroadcastEvent::Invalidated { scope, .. } => match Scope::parse(&scope) {
                    Some(scope) => Invalidation::Scope(scope),
                    None => {
                        tracing::debug!("ignoring an invalidation of a scope that is not org:… or app:…");
                        return;
                    }
                },
                BroadcastEvent::Resynced => Invalidation::Resynced,
            };
            tx.send(event);
        });
        *slot.lock() = Some(subscription);
        Some(feed)
    }
}

/// Holds the subscription for its feed.
struct SubscriptionSlot(std::sync::Arc<parking_lot::Mutex<Option<super::Subscription>>>);

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        // Aborts the subscription's task (and so drops its callback).
        drop(self.0.lock().take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlas_app_server::{AppName, OrgName};

    #[test]
    fn a_store_told_not_to_listen_has_no_feed() {
        let url = "redis://127.0.0.1:1/0".parse().expect("url");
        let store = RedisStore::new(crate::RedisSettings::new(url).listen_for_invalidations(false)).expect("store");
        // No runtime here: a store that listened would have to spawn its task.
        assert!(store.subscribe_invalidations().is_none());
    }

    #[test]
    fn keys_and_records_map_both_ways() {
        let org = Scope::Org(OrgName::new("acme").expect("org"));
        let key = StorageKey::Minted(org.clone());
        assert_eq!(record_key(&key), RecordKey::Scope("org:acme".into()));
        let app = AppName::new("web").expect("app");
        assert_eq!(
            record_key(&StorageKey::Manual(app.clone())),
            RecordKey::Manual(app.clone())
        );
        let rec = TokenRecord::minted(org, Token::new("FlyV1 fm2_x"), 5);
        assert_eq!(from_redis(&key, to_redis(rec.clone())), Ok(rec));
        // A record without a scope is the key's.
        let manual = StorageKey::Manual(app.clone());
        let bare = RedisRecord {
            token: Token::new("t"),
            expires_at: None,
            source: "manual".into(),
            scope: None,
        };
        assert_eq!(
            from_redis(&manual, bare.clone()).expect("readable").scope,
            Scope::App(app)
        );
        let odd = RedisRecord {
            source: "carrier-pigeon".into(),
            ..bare
        };
        assert!(from_redis(&manual, odd).is_err());
    }
}
