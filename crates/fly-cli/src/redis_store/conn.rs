//! The store's connection: made on first use, remade after an outage, and
//! every operation bounded by the settings' timeouts.

use std::future::Future;
use std::time::Duration;

use atlas_app_server::StorageError;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, RedisError, RedisResult};

use super::settings::RedisSettings;
use super::url::RedisUrl;

/// One multiplexed connection shared by every operation of a store.
///
/// The [`ConnectionManager`] cannot be built while Redis is down, and its
/// own reconnect hands the failure of an attempt made during an outage to
/// the next operation (a reconnect that fails for another reason, say a new
/// password, would stick), so it is made lazily and dropped after a
/// deadline or any error that is not the server's answer: the next
/// operation then starts afresh. Recovery needs no caller action.
pub(crate) struct Conn {
    client: Client,
    url: RedisUrl,
    connect_timeout: Duration,
    response_timeout: Duration,
    manager: Mutex<Option<ConnectionManager>>,
    /// One connection attempt at a time (callers queue on it, each within
    /// its own deadline).
    connecting: tokio::sync::Mutex<()>,
}

impl Conn {
    pub(crate) fn new(settings: &RedisSettings) -> Result<Self, StorageError> {
        Ok(Conn {
            client: client(settings)?,
            url: settings.url().clone(),
            connect_timeout: settings.get_connect_timeout(),
            response_timeout: settings.get_response_timeout(),
            manager: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn deadline(&self) -> Duration {
        self.connect_timeout + self.response_timeout
    }

    /// Runs `op` on the connection within [`deadline`](Self::deadline).
    /// `what` names the operation in the error.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, StorageError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let deadline = self.deadline();
        let attempt = async {
            let manager = self.manager().await?;
            op(manager).await
        };
        match tokio::time::timeout(deadline, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if needs_fresh_connection(&e) {
                    *self.manager.lock() = None;
                }
                Err(self.error(what, &e))
            }
            Err(_) => {
                *self.manager.lock() = None;
                Err(StorageError::Unavailable(format!(
                    "redis at {}: {what}: no answer within {} ms",
                    self.url,
                    deadline.as_millis()
                )))
            }
        }
    }

    /// The error for a failed `what`; the password never shows.
    pub(crate) fn error(&self, what: &str, e: &RedisError) -> StorageError {
        let msg = format!(
            "redis at {}: {what} failed: {}",
            self.url,
            self.url.scrub(&e.to_string())
        );
        match e.kind() {
            ErrorKind::TypeError => StorageError::Corrupt(msg),
            _ if e.code() == Some("WRONGTYPE") => StorageError::Corrupt(msg),
            _ => StorageError::Unavailable(msg),
        }
    }

    async fn manager(&self) -> RedisResult<ConnectionManager> {
        if let Some(m) = self.manager.lock().clone() {
            return Ok(m);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(m) = self.manager.lock().clone() {
            return Ok(m);
        }
        // No retries inside: an operation tries one connection, and the
        // caller's deadline (not the library's backoff) bounds the wait.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.connect_timeout)
            .set_response_timeout(self.response_timeout)
            .set_number_of_retries(0);
        let m = self.client.get_connection_manager_with_config(config).await?;
        *self.manager.lock() = Some(m.clone());
        Ok(m)
    }
}

/// The Redis client for `settings` (no I/O yet).
pub(crate) fn client(settings: &RedisSettings) -> Result<Client, StorageError> {
    let url = settings.url();
    let built = match settings.tls_root_pem() {
        Some(pem) => Client::build_with_tls(
            url.expose(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        ),
        None => Client::open(url.expose()),
    };
    built.map_err(|e| StorageError::Unavailable(format!("redis at {url}: {}", url.scrub(&e.to_string()))))
}

/// Whether to start afresh: after anything but an answer from the server
/// (an error reply, a value of the wrong type). The manager's own reconnect
/// keeps the failure of an attempt made while Redis was down and hands it to
/// the next operation, even once Redis is back; a fresh connection does not,
/// so the first operation after an outage already works.
fn needs_fresh_connection(e: &RedisError) -> bool {
    e.code().is_none() && e.kind() != ErrorKind::TypeError
}
