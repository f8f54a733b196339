//! `Storage`: where tokens are kept across restarts.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::failure_note::FailureNote;
use crate::{AppName, InvalidationFeed, Scope, Token};

/// Which record: the minted token of a [`Scope`], or an app's manual token.
///
/// The two kinds live in separate namespaces, and scopes keep orgs and apps
/// apart, so `Minted(Org("acme"))`, `Minted(App("acme"))` and
/// `Manual("acme")` are three different records. A store must keep them
/// apart too (the conformance suite checks it).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StorageKey {
    /// The token the fly CLI minted for a scope (an org for `readonly`, an
    /// app for `deploy`); it expires and can be minted again.
    Minted(Scope),
    /// The operator's override for one app; it cannot be re-acquired.
    Manual(AppName),
}

impl StorageKey {
    /// `minted` or `manual`.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageKey::Minted(_) => "minted",
            StorageKey::Manual(_) => "manual",
        }
    }

    /// The scope the record's token is for (a manual token is its app's).
    pub fn scope(&self) -> Scope {
        match self {
            StorageKey::Minted(scope) => scope.clone(),
            StorageKey::Manual(app) => Scope::App(app.clone()),
        }
    }
}

impl fmt::Display for StorageKey {
    /// `minted/org:acme`, `minted/app:my-app` or `manual/app:my-app`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind(), self.scope())
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where a stored token came from. (The user's own token is never stored,
/// so it has no source here.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordSource {
    /// Minted by `fly tokens create`.
    Cli,
    /// Set by the operator (`set_manual`).
    Manual,
}

impl RecordSource {
    /// `cli` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordSource::Cli => "cli",
            RecordSource::Manual => "manual",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cli" => Some(RecordSource::Cli),
            "manual" => Some(RecordSource::Manual),
            _ => None,
        }
    }
}

impl fmt::Display for RecordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored token: when it expires (unix seconds; `None` for manual), where
/// it came from and whom it is for. `Debug` never shows the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token.
    pub token: Token,
    /// When it stops being served, in unix seconds; `None`: no local expiry
    /// (manual tokens; the token's own expiry still applies).
    pub expires_at: Option<i64>,
    /// Where it came from.
    pub source: RecordSource,
    /// Whom it is for.
    pub scope: Scope,
}

impl TokenRecord {
    /// A minted token of `scope`.
    pub fn minted(scope: Scope, token: Token, expires_at: i64) -> Self {
        Self {
            token,
            expires_at: Some(expires_at),
            source: RecordSource::Cli,
            scope,
        }
    }

    /// `app`'s manual token.
    pub fn manual(app: AppName, token: Token) -> Self {
        Self {
            token,
            expires_at: None,
            source: RecordSource::Manual,
            scope: Scope::App(app),
        }
    }
}

/// A storage operation failed. The message never holds a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// Reading or writing failed (disk full, permissions, …).
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// The record exists but cannot be read (left in place for an operator
    /// when it is a manual record).
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    /// The backend cannot be reached.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Io(e.to_string())
    }
}

/// What [`Storage::lock_scope`] hands out: held while a scope's token is
/// looked up again, acquired and written; dropping it releases the lock.
///
/// The in-process single flight already runs one acquisition per scope at a
/// time; a store shared by several processes or machines extends that
/// across them (a `flock` beside the file store's record, a Redis lease),
/// by returning a lease that holds its lock until dropped.
#[must_use = "the lock is released when the lease is dropped"]
pub struct ScopeLease(Option<Box<dyn Send + Sync>>);

impl ScopeLease {
    /// No lock beyond the process's own single flight (stores that only
    /// one process uses).
    pub fn local() -> Self {
        ScopeLease(None)
    }

    /// A lease that releases its lock when `guard` is dropped.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        ScopeLease(Some(Box::new(guard)))
    }

    /// Whether this lease holds a lock of the store (not [`local`](Self::local)).
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for ScopeLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScopeLease").field(&self.is_held()).finish()
    }
}

/// Durable keeping of tokens: a scope's minted token, an app's manual one.
///
/// Contract (checked by `testing::storage_conformance`, feature `testing`):
/// `put` overwrites; `delete` of an absent record is `Ok`; records of
/// different keys are independent (an org and an app of one name, the
/// minted and the manual record of one app); a record reads back exactly
/// (token bytes, expiry, source, scope); `delete_if` removes a record only
/// while it still holds the given token, atomically with respect to other
/// calls on the same store. A minted record past its `expires_at` may be
/// dropped by the store itself (Redis expires it); a manual record never is.
///
/// A store that several processes or machines share coordinates them
/// through [`lock_scope`](Self::lock_scope) (one acquisition of a scope at a
/// time) and the invalidation broadcast
/// ([`publish_invalidation`](Self::publish_invalidation),
/// [`subscribe_invalidations`](Self::subscribe_invalidations)); the
/// defaults are for a store one process uses alone.
///
/// The user's own token is never stored (SPEC.md §6).
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The record, or `None`.
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError>;
    /// Stores the record, replacing any previous one.
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError>;
    /// Removes the record; absent is fine.
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError>;
    /// Compare-and-delete: removes the record only if it holds `token`
    /// (the one being replaced); `Ok(true)` when it did. A record replaced
    /// meanwhile by a fresh token (another refresh, another process) stays.
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError>;
    /// Locks `scope` for one "look again → acquire → write" across every
    /// user of this store. The default is [`ScopeLease::local`]: the
    /// process's single flight is all the coordination there is.
    ///
    /// It may wait as long as another user holds the lock: the caller
    /// bounds the wait (the CLI timeout plus
    /// [`LOCK_WAIT_MARGIN`](crate::LOCK_WAIT_MARGIN), then it acquires
    /// without the lock, with a warning) by dropping the future, which must
    /// then stop waiting and never take the lock later. A lock whose holder
    /// died must be freed by the store (a `flock` is freed with its file
    /// descriptor, a Redis lease lapses).
    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        let _ = scope;
        Ok(ScopeLease::local())
    }
    /// Tells every other stack that uses this store that `scope`'s token
    /// was dropped (`invalidate`, `refresh`), so that none keeps serving it
    /// from memory. Called after the stored record is deleted. The default
    /// does nothing: a store only one stack uses has no one to tell.
    async fn publish_invalidation(&self, scope: &Scope) -> Result<(), StorageError> {
        let _ = scope;
        Ok(())
    }
    /// What the other stacks that use this store publish, for a stack to
    /// drop what they dropped; taken once, when a stack starts (within its
    /// tokio runtime). A stack does not hear its own invalidations. The
    /// default, `None`: there is no broadcast.
    fn subscribe_invalidations(&self) -> Option<InvalidationFeed> {
        None
    }
    /// Keeps `note`, the failure of the CLI run the holder of `scope`'s
    /// lease just had, for the next holder (another process, another
    /// machine); `None` removes the note (the CLI has succeeded since).
    ///
    /// Called by the lease holder before it releases the lease, so a waiter
    /// that takes the lease next finds the note and answers it instead of
    /// running the CLI again (`app_server/flight.rs`: a note written while
    /// the waiter waited is its answer as it is, an older one within the
    /// failure window a [`CliFinding::RecentlyFailed`](crate::CliFinding::RecentlyFailed)).
    /// A store may forget a note after a while (an hour is plenty: readers
    /// ignore older ones) and should keep it beside the scope's lease;
    /// [`FailureNote::encode`] is its text form. The default keeps nothing
    /// (stores that only one process uses: its own failure window covers
    /// it).
    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        let _ = (scope, note);
        Ok(())
    }
    /// The note [`note_failure`](Self::note_failure) left for `scope`, if
    /// the store keeps one; an unreadable note is `Ok(None)`. The default
    /// keeps none.
    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        let _ = scope;
        Ok(None)
    }
}

#[async_trait]
impl<T: Storage + ?Sized> Storage for Arc<T> {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        (**self).get(key).await
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        (**self).put(key, record).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        (**self).delete(key).await
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        (**self).delete_if(key, token).await
    }
    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        (**self).lock_scope(scope).await
    }
    async fn publish_invalidation(&self, scope: &Scope) -> Result<(), StorageError> {
        (**self).publish_invalidation(scope).await
    }
    fn subscribe_invalidations(&self) -> Option<InvalidationFeed> {
        (**self).subscribe_invalidations()
    }
    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        (**self).note_failure(scope, note).await
    }
    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        (**self).failure_note(scope).await
    }
}

/// In-process [`Storage`]: a map behind a mutex. Nothing survives the
/// process; the default storage of `TokensConfig` and of tests.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    records: Mutex<HashMap<StorageKey, TokenRecord>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.lock().len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.lock().is_empty()
    }

    /// Every key it holds, sorted.
    pub fn keys(&self) -> Vec<StorageKey> {
        let mut keys: Vec<_> = self.records.lock().keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        Ok(self.records.lock().get(key).cloned())
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        self.records.lock().insert(key.clone(), record);
        Ok(())
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.records.lock().remove(key);
        Ok(())
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        let mut records = self.records.lock();
        if records.get(key).is_some_and(|r| r.token == *token) {
            records.remove(key);
            return Ok(true);
        }
        Ok(false)
    }
}
