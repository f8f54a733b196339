//! [`RedisStore`]: records in Redis, with Redis's own expiry.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use atlas_app_server::{StorageError, Token};
use redis::{cmd, Script, Value};

use super::conn::Conn;
use super::keys::{valid_scope, Keys, RecordKey};
use super::lease::{lease_unless_script, Releases};
use super::record::{self, RedisRecord};
use super::settings::RedisSettings;

/// Deletes `KEYS[1]` only while its record's token is `ARGV[1]`. Returns 1
/// (deleted), 0 (absent) or 2 (holds another token, or is not a record).
const DELETE_IF_TOKEN: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, rec = pcall(cjson.decode, v)
if ok and type(rec) == 'table' and rec.token == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 2
";

/// Deletes `KEYS[1]` only while its value is `ARGV[1]`: releases a lease
/// that is still ours, removes a damaged value no writer has replaced.
const DELETE_IF_VALUE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Records fetched per `MGET` when listing.
const LIST_BATCH: usize = 100;

/// What [`RedisStore::delete_if_token`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareDelete {
    /// The record held that token and is gone.
    Deleted,
    /// There was no record.
    Absent,
    /// The record holds another token (a fresher one): kept.
    Kept,
}

/// One entry of [`RedisStore::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedRecord {
    /// Which record.
    pub key: RecordKey,
    /// The record, or why its value cannot be read.
    pub record: Result<RedisRecord, String>,
}

/// Tokens kept in Redis, shared by every process and machine that uses the
/// same Redis and prefix (see the [module docs](crate::redis_store) for the
/// key layout).
///
/// - Scope records carry Redis's own expiry (`SET … PXAT`), so an expired
///   token disappears by itself; manual records never expire.
/// - A damaged scope record is removed (if no writer replaced it meanwhile)
///   and read as a miss, since it can be acquired again; a damaged manual
///   record is [`StorageError::Corrupt`] and stays for an operator.
/// - Redis down: every operation fails with [`StorageError::Unavailable`]
///   within [`RedisSettings::operation_deadline`], and works again once
///   Redis is back, with no action from the caller.
///
/// Cloning shares the connection.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) settings: RedisSettings,
    pub(crate) keys: Keys,
    pub(crate) conn: Conn,
    /// Who this store is, in leases and broadcasts.
    pub(crate) origin: String,
    delete_if_token: Script,
    pub(crate) delete_if_value: Script,
    pub(crate) lease_unless: Script,
    /// Releases of dropped leases still in flight.
    pub(crate) releases: Releases,
}

impl RedisStore {
    /// A store for `settings`. Nothing is sent yet: the connection is made
    /// by the first operation (so a store can be made while Redis is down).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the client cannot be configured
    /// (for example TLS roots that are not PEM).
    pub fn new(settings: RedisSettings) -> Result<Self, StorageError> {
        let conn = Conn::new(&settings)?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                keys: Keys::new(settings.key_prefix()),
                settings,
                conn,
                origin: super::owner_id(),
                delete_if_token: Script::new(DELETE_IF_TOKEN),
                delete_if_value: Script::new(DELETE_IF_VALUE),
                lease_unless: lease_unless_script(),
                releases: Releases::default(),
            }),
        })
    }

    /// [`new`](Self::new), then a `PING`: fails now when Redis cannot be
    /// reached.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn connect(settings: RedisSettings) -> Result<Self, StorageError> {
        let store = Self::new(settings)?;
        store.ping().await?;
        Ok(store)
    }

    /// The settings.
    pub fn settings(&self) -> &RedisSettings {
        &self.inner.settings
    }

    /// This store's id in leases and broadcasts (host, process, a random
    /// part): never a secret.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// Whether Redis answers.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.inner
            .conn
            .run("PING", |mut c| async move {
                cmd("PING").query_async::<String>(&mut c).await
            })
            .await
            .map(drop)
    }

    /// The record, or `None`.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`]; [`StorageError::Corrupt`] for a
    /// manual record that cannot be read.
    pub async fn get(&self, key: &RecordKey) -> Result<Option<RedisRecord>, StorageError> {
        check(key)?;
        let name = self.inner.keys.record(key);
        let value: Option<Vec<u8>> = {
            let name = name.clone();
            self.inner
                .conn
                .run(
                    "GET",
                    |mut c| async move { cmd("GET").arg(name).query_async(&mut c).await },
                )
                .await?
        };
        let Some(value) = value else { return Ok(None) };
        match record::decode(&value) {
            Ok(rec) => Ok(Some(rec)),
            Err(reason) => self.damaged(key, &name, value, &reason).await,
        }
    }

    async fn damaged(
        &self,
        key: &RecordKey,
        name: &str,
        value: Vec<u8>,
        reason: &str,
    ) -> Result<Option<RedisRecord>, StorageError> {
        match key {
            RecordKey::Manual(app) => Err(StorageError::Corrupt(format!(
                "manual token record of {app} (redis key {name}) is unreadable: {reason}; left in place for an \
                 operator (set the manual token again, or delete the key)"
            ))),
            RecordKey::Scope(scope) => {
                let script = self.inner.delete_if_value.clone();
                let target = name.to_owned();
                let removed = self
                    .inner
                    .conn
                    .run("delete a damaged record", |mut c| async move {
                        script.key(target).arg(value).invoke_async::<i64>(&mut c).await
                    })
                    .await;
                tracing::warn!(
                    scope = %scope,
                    reason = %reason,
                    removed = matches!(removed, Ok(1)),
                    "cached token record in redis was unreadable; treating it as a miss"
                );
                Ok(None)
            }
        }
    }

    /// Stores `record` under `key`, replacing any previous one. A scope
    /// record with an expiry gets it as Redis's own (`PXAT`); one already
    /// expired is deleted instead. A manual record never expires.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn put(&self, key: &RecordKey, rec: &RedisRecord) -> Result<(), StorageError> {
        check(key)?;
        let name = self.inner.keys.record(key);
        let expiry = match key {
            RecordKey::Scope(_) => rec.expires_at.map(pxat),
            RecordKey::Manual(_) => None,
        };
        if expiry.is_some_and(|at| at <= now_ms()) {
            return self.delete(key).await;
        }
        let value = record::encode(rec);
        self.inner
            .conn
            .run("SET", |mut c| async move {
                let mut set = cmd("SET");
                set.arg(name).arg(value);
                if let Some(at) = expiry {
                    set.arg("PXAT").arg(at);
                }
                set.query_async::<()>(&mut c).await
            })
            .await
    }

    /// Removes the record; absent is fine.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn delete(&self, key: &RecordKey) -> Result<(), StorageError> {
        check(key)?;
        let name = self.inner.keys.record(key);
        self.inner
            .conn
            .run("DEL", |mut c| async move {
                cmd("DEL").arg(name).query_async::<i64>(&mut c).await
            })
            .await
            .map(drop)
    }

    /// Removes the record only while it still holds `token`, in one atomic
    /// step on the server (a script): two concurrent refreshes never delete
    /// each other's fresh token.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn delete_if_token(&self, key: &RecordKey, token: &Token) -> Result<CompareDelete, StorageError> {
        check(key)?;
        let name = self.inner.keys.record(key);
        let script = self.inner.delete_if_token.clone();
        let token = token.expose().to_owned();
        let outcome = self
            .inner
            .conn
            .run("compare-and-delete", |mut c| async move {
                script.key(name).arg(token).invoke_async::<i64>(&mut c).await
            })
            .await?;
        Ok(match outcome {
            1 => CompareDelete::Deleted,
            0 => CompareDelete::Absent,
            _ => CompareDelete::Kept,
        })
    }

    /// Every record under the prefix, sorted by key: for `status`. Walks the
    /// keyspace with `SCAN` (never `KEYS`, which blocks a shared Redis);
    /// leases and foreign keys are left out.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn list(&self) -> Result<Vec<ListedRecord>, StorageError> {
        let pattern = self.inner.keys.scan_pattern();
        let mut found = BTreeSet::new();
        let mut cursor: u64 = 0;
        loop {
            let pattern = pattern.clone();
            let (next, batch): (u64, Vec<String>) = self
                .inner
                .conn
                .run("SCAN", |mut c| async move {
                    cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            found.extend(
                batch
                    .iter()
                    .filter_map(|k| Some((self.inner.keys.parse(k)?, k.clone()))),
            );
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let found: Vec<(RecordKey, String)> = found.into_iter().collect();
        let mut out = Vec::with_capacity(found.len());
        for chunk in found.chunks(LIST_BATCH) {
            let names: Vec<String> = chunk.iter().map(|(_, n)| n.clone()).collect();
            let values: Vec<Value> = self
                .inner
                .conn
                .run("MGET", |mut c| async move {
                    cmd("MGET").arg(names).query_async(&mut c).await
                })
                .await?;
            for ((key, _), value) in chunk.iter().zip(values) {
                // Gone since the scan (expired, deleted): not listed.
                let Value::BulkString(bytes) = value else { continue };
                out.push(ListedRecord {
                    key: key.clone(),
                    record: record::decode(&bytes),
                });
            }
        }
        Ok(out)
    }
}

fn check(key: &RecordKey) -> Result<(), StorageError> {
    match key {
        RecordKey::Scope(scope) if !valid_scope(scope) => Err(StorageError::Io(format!(
            "invalid scope {scope:?}: it must be non-empty printable text without spaces"
        ))),
        _ => Ok(()),
    }
}

/// Unix seconds as `PXAT` milliseconds, saturating.
fn pxat(expires_at: i64) -> i64 {
    expires_at.saturating_mul(1000)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", self.inner.settings.url())
            .field("prefix", &self.inner.settings.key_prefix())
            .finish()
    }
}
