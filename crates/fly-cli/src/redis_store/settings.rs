//! [`RedisSettings`]: the URL, the key prefix and the timeouts.

use std::fmt;
use std::time::Duration;

use super::url::RedisUrl;

/// The key prefix when none is set: one Redis can serve several stacks, each
/// under its own prefix.
pub const DEFAULT_KEY_PREFIX: &str = "atlas:fly-tokens:";
/// How long establishing a connection (TCP, TLS, `AUTH`, `SELECT`) may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may wait for its answer.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a scope's acquisition lease lasts: the CLI's default timeout
/// (15 s) plus a margin for the store's own round trips. A holder that dies
/// delays the others by at most this.
pub const DEFAULT_LEASE_TIME: Duration = Duration::from_secs(20);
/// How much longer than the lease time a waiter waits before it acquires
/// on its own (the holder's lease has lapsed by then, unless another
/// caller took it over).
const LEASE_WAIT_MARGIN: Duration = Duration::from_secs(5);

/// Where and how the Redis store talks to Redis.
///
/// Every operation of the store ends within `connect_timeout +
/// response_timeout` (with [`StorageError::Unavailable`] when Redis does not
/// answer), so a Redis outage never hangs a caller.
///
/// [`StorageError::Unavailable`]: atlas_app_server::StorageError::Unavailable
///
/// ```
/// use std::time::Duration;
/// use atlas_fly_cli::RedisSettings;
///
/// let settings = RedisSettings::new("redis://:pw@10.0.0.5:6379/1".parse()?)
///     .prefix("staging:fly-tokens:")?
///     .connect_timeout(Duration::from_millis(500));
/// assert_eq!(settings.key_prefix(), "staging:fly-tokens:");
/// assert_eq!(settings.url().to_string(), "redis://:***@10.0.0.5:6379/1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RedisSettings {
    url: RedisUrl,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    lease_time: Duration,
    tls_root_pem: Option<Vec<u8>>,
    listen: bool,
}

/// A key prefix the store cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the Redis key prefix must be non-empty printable text without spaces (got {0:?})")]
pub struct PrefixError(pub String);

impl RedisSettings {
    /// The defaults: [`DEFAULT_KEY_PREFIX`], [`DEFAULT_CONNECT_TIMEOUT`],
    /// [`DEFAULT_RESPONSE_TIMEOUT`], the system's root certificates for TLS.
    pub fn new(url: RedisUrl) -> Self {
        RedisSettings {
            url,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            lease_time: DEFAULT_LEASE_TIME,
            tls_root_pem: None,
            listen: true,
        }
    }

    /// Every key (and the channel) starts with `prefix`.
    ///
    /// # Errors
    /// [`PrefixError`] for an empty prefix or one with spaces or control
    /// characters (it would be hard to type into `redis-cli`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Result<Self, PrefixError> {
        let prefix = prefix.into();
        if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PrefixError(prefix));
        }
        self.prefix = prefix;
        Ok(self)
    }

    /// Bound on establishing a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on one command's answer.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long a scope's acquisition lease lasts ([`DEFAULT_LEASE_TIME`]):
    /// set it above the CLI timeout, so a live holder never loses its lease
    /// mid-acquisition.
    pub fn lease_time(mut self, time: Duration) -> Self {
        self.lease_time = time;
        self
    }

    /// Trust these PEM root certificates (instead of the system's) for
    /// `rediss://`: for a Redis behind a private CA.
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_pem = Some(pem.into());
        self
    }

    /// Whether a stack on this store subscribes to the other stacks'
    /// invalidations (on by default). A process that answers one request and
    /// exits (the `fly-tokens` commands) gains nothing from listening, and
    /// saves a connection per run by not doing so; it still publishes its own.
    pub fn listen_for_invalidations(mut self, listen: bool) -> Self {
        self.listen = listen;
        self
    }

    /// Whether stacks on this store listen (see
    /// [`listen_for_invalidations`](Self::listen_for_invalidations)).
    pub fn listens_for_invalidations(&self) -> bool {
        self.listen
    }

    /// The URL (its `Display` is masked).
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The connect timeout.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The response timeout.
    pub fn get_response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The lease time.
    pub fn get_lease_time(&self) -> Duration {
        self.lease_time
    }

    /// How long a caller waits for another's lease before it acquires on its
    /// own: the lease time plus a margin.
    pub fn lease_wait(&self) -> Duration {
        self.lease_time + LEASE_WAIT_MARGIN
    }

    /// The longest any one operation may take: connecting, then answering.
    pub fn operation_deadline(&self) -> Duration {
        self.connect_timeout + self.response_timeout
    }

    pub(crate) fn tls_root_pem(&self) -> Option<&[u8]> {
        self.tls_root_pem.as_deref()
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("listen", &self.listen)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("lease_time", &self.lease_time)
            .field("tls_root_pem", &self.tls_root_pem.as_ref().map(|_| "set"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_must_be_typable() {
        let s = || RedisSettings::new("redis://h".parse().expect("url"));
        assert_eq!(s().key_prefix(), DEFAULT_KEY_PREFIX);
        assert!(s().prefix("").is_err());
        assert!(s().prefix("a b").is_err());
        assert!(s().prefix("a\nb").is_err());
        assert_eq!(s().prefix("x:").expect("prefix").key_prefix(), "x:");
    }

    #[test]
    fn waiters_outlast_the_lease() {
        let s = RedisSettings::new("redis://h".parse().expect("url")).lease_time(Duration::from_secs(40));
        assert_eq!(s.get_lease_time(), Duration::from_secs(40));
        assert!(
            s.lease_wait() > s.get_lease_time(),
            "a dead holder's lease lapses before a waiter gives up"
        );
    }

    #[test]
    fn debug_masks_the_password() {
        let s = RedisSettings::new("redis://:hunter2@h".parse().expect("url"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            s.operation_deadline(),
            DEFAULT_CONNECT_TIMEOUT + DEFAULT_RESPONSE_TIMEOUT
        );
    }
}
