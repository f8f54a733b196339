//! `Storage`: where tokens are kept across restarts.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::{AppName, Token};

/// Which of an app's two records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StorageKey {
    /// A token the chain acquired (storage, config file, CLI); it expires.
    Cached,
    /// The operator's override; no expiry, cannot be re-acquired.
    Manual,
}

impl StorageKey {
    /// `cached` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageKey::Cached => "cached",
            StorageKey::Manual => "manual",
        }
    }
}

impl std::fmt::Display for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored token and when it expires (unix seconds; `None` for manual).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// The token.
    pub token: Token,
    /// When it stops being valid, in unix seconds; `None`: never.
    pub expires_at: Option<i64>,
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

/// Durable keeping of tokens, two records per app (`cached`, `manual`).
///
/// Contract (checked by `testing::storage_conformance`, feature `testing`):
/// `put` overwrites; `delete` of an absent record is `Ok`; the two keys of
/// an app and the records of different apps are independent.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The record, or `None`.
    async fn get(&self, app: &AppName, key: StorageKey) -> Result<Option<TokenRecord>, StorageError>;
    /// Stores the record, replacing any previous one.
    async fn put(&self, app: &AppName, key: StorageKey, record: TokenRecord) -> Result<(), StorageError>;
    /// Removes the record; absent is fine.
    async fn delete(&self, app: &AppName, key: StorageKey) -> Result<(), StorageError>;
}

#[async_trait]
impl<T: Storage + ?Sized> Storage for Arc<T> {
    async fn get(&self, app: &AppName, key: StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        (**self).get(app, key).await
    }
    async fn put(&self, app: &AppName, key: StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        (**self).put(app, key, record).await
    }
    async fn delete(&self, app: &AppName, key: StorageKey) -> Result<(), StorageError> {
        (**self).delete(app, key).await
    }
}

/// In-process [`Storage`]: a map behind a mutex. Nothing survives the
/// process; the default storage of `TokensConfig` and of tests.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    records: Mutex<HashMap<(AppName, StorageKey), TokenRecord>>,
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
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get(&self, app: &AppName, key: StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        Ok(self.records.lock().get(&(app.clone(), key)).cloned())
    }
    async fn put(&self, app: &AppName, key: StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        self.records.lock().insert((app.clone(), key), record);
        Ok(())
    }
    async fn delete(&self, app: &AppName, key: StorageKey) -> Result<(), StorageError> {
        self.records.lock().remove(&(app.clone(), key));
        Ok(())
    }
}
