//! [`TokenStore`]: the store a [`ConfigOptions`](crate::ConfigOptions)
//! names, opened: the file store or Redis, behind one [`Storage`].

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use atlas_app_server::{
    FailureNote, InvalidationFeed, Scope, ScopeLease, Storage, StorageError, StorageKey, Token, TokenRecord,
};

#[cfg(feature = "redis")]
use crate::RedisStore;
use crate::{FileStorage, StoreLocation};

/// An opened store: where the stack keeps its tokens.
///
/// ```
/// use atlas_fly_cli::{ConfigOptions, TokenStore};
/// let dir = std::env::temp_dir().join(format!("atlas-token-store-doc-{}", std::process::id()));
/// let store = ConfigOptions::new().store_dir(&dir).open_store()?;
/// assert!(matches!(store, TokenStore::File(_)));
/// assert_eq!(store.to_string(), dir.display().to_string());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub enum TokenStore {
    /// One file per record in a private directory (one host).
    File(FileStorage),
    /// Redis, shared by every process and machine that points at it.
    #[cfg(feature = "redis")]
    Redis(RedisStore),
}

impl TokenStore {
    /// Where it is: the file store's directory, or Redis's URL (masked).
    pub fn location(&self) -> StoreLocation {
        match self {
            TokenStore::File(store) => StoreLocation::Dir(store.dir().to_owned()),
            #[cfg(feature = "redis")]
            TokenStore::Redis(store) => StoreLocation::Redis(store.settings().url().clone()),
        }
    }

    /// Waits, at most `within`, for what this store finishes in the
    /// background after the stack stopped (the releases of Redis leases, so
    /// that other processes need not wait for them to lapse); call it before
    /// the process exits. Whether everything finished.
    pub async fn settle(&self, within: Duration) -> bool {
        match self {
            TokenStore::File(_) => {
                let _ = within;
                true
            }
            #[cfg(feature = "redis")]
            TokenStore::Redis(store) => store.settle(within).await,
        }
    }
}

impl fmt::Display for TokenStore {
    /// The directory, or the URL with its password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.location(), f)
    }
}

impl From<FileStorage> for TokenStore {
    fn from(store: FileStorage) -> Self {
        TokenStore::File(store)
    }
}

#[cfg(feature = "redis")]
impl From<RedisStore> for TokenStore {
    fn from(store: RedisStore) -> Self {
        TokenStore::Redis(store)
    }
}

/// Runs `$call` on whichever store this is.
macro_rules! each {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            TokenStore::File($s) => $call,
            #[cfg(feature = "redis")]
            TokenStore::Redis($s) => $call,
        }
    };
}

#[async_trait]
impl Storage for TokenStore {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        each!(self, s => Storage::get(s, key).await)
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        each!(self, s => Storage::put(s, key, record).await)
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        each!(self, s => Storage::delete(s, key).await)
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        each!(self, s => Storage::delete_if(s, key, token).await)
    }
    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        each!(self, s => Storage::lock_scope(s, scope).await)
    }
    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        each!(self, s => Storage::note_failure(s, scope, note).await)
    }
    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        each!(self, s => Storage::failure_note(s, scope).await)
    }
    async fn publish_invalidation(&self, scope: &Scope) -> Result<(), StorageError> {
        each!(self, s => Storage::publish_invalidation(s, scope).await)
    }
    fn subscribe_invalidations(&self) -> Option<InvalidationFeed> {
        each!(self, s => Storage::subscribe_invalidations(s))
    }
}
