//! [`RedisUrl`]: where the Redis store lives, parsed once and never printed
//! with its password.

use std::fmt;
use std::str::FromStr;

use crate::store_location::{url_scheme, REDIS_SCHEMES};

/// How the store reaches Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisTransport {
    /// `redis://HOST[:PORT][/DB]`: plain TCP.
    Tcp,
    /// `rediss://HOST[:PORT][/DB]`: TCP with TLS (rustls; the system's root
    /// certificates, unless the settings give others).
    Tls,
    /// `redis+unix:///PATH[?db=N]`: a Unix domain socket.
    Unix,
}

/// A Redis URL: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`,
/// `rediss://…` (TLS) or `redis+unix:///PATH[?db=N&user=U&pass=P]`.
///
/// `Display` and `Debug` show it **masked**: a password (in the user info
/// or in a `pass`/`password` query parameter) reads `***`, so the URL can go
/// into `status`, logs and error messages.
///
/// ```
/// use atlas_fly_cli::RedisUrl;
/// let url: RedisUrl = "redis://:hunter2@cache.internal:6380/2".parse().unwrap();
/// assert_eq!(url.to_string(), "redis://:***@cache.internal:6380/2");
/// assert_eq!(url.db(), 2);
/// assert!(!format!("{url:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    url: url::Url,
    transport: RedisTransport,
    db: i64,
}

/// Why a string is not a Redis URL. The message never holds a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedisUrlError {
    /// Not a URL at all.
    #[error("not a valid URL ({0})")]
    Syntax(String),
    /// A scheme other than `redis`, `rediss` and `redis+unix`.
    #[error("unsupported scheme `{0}://` (the store takes redis://, rediss:// or redis+unix://)")]
    Scheme(String),
    /// `redis://` or `rediss://` without a host.
    #[error("{0}:// needs a host: {0}://HOST[:PORT][/DB]")]
    NoHost(&'static str),
    /// `redis+unix://` without a socket path.
    #[error("redis+unix:// needs a socket path: redis+unix:///PATH")]
    NoSocket,
    /// The database is not a non-negative number.
    #[error("the database must be a number, as in redis://HOST:6379/0 (got `{0}`)")]
    Db(String),
}

impl RedisUrl {
    /// Parses and checks `s`.
    ///
    /// # Errors
    /// [`RedisUrlError`] saying what is wrong; it never quotes a password.
    pub fn parse(s: &str) -> Result<Self, RedisUrlError> {
        // An unsupported scheme is named before anything else is checked,
        // so `http://…` says "unsupported scheme", not "bad port".
        if let Some(scheme) = url_scheme(s) {
            if !REDIS_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
                return Err(RedisUrlError::Scheme(scheme.to_owned()));
            }
        }
        let url = url::Url::parse(s.trim()).map_err(|e| RedisUrlError::Syntax(e.to_string()))?;
        let (transport, db) = match url.scheme() {
            scheme @ ("redis" | "rediss") => {
                let scheme: &'static str = if scheme == "redis" { "redis" } else { "rediss" };
                if url.host_str().map_or(true, str::is_empty) {
                    return Err(RedisUrlError::NoHost(scheme));
                }
                let db = match url.path().trim_start_matches('/') {
                    "" => 0,
                    path => parse_db(path)?,
                };
                let transport = if scheme == "redis" {
                    RedisTransport::Tcp
                } else {
                    RedisTransport::Tls
                };
                (transport, db)
            }
            "redis+unix" => {
                if url.path().is_empty() || url.path() == "/" {
                    return Err(RedisUrlError::NoSocket);
                }
                let db = match url.query_pairs().find(|(k, _)| k == "db") {
                    Some((_, v)) => parse_db(&v)?,
                    None => 0,
                };
                (RedisTransport::Unix, db)
            }
            other => return Err(RedisUrlError::Scheme(other.to_owned())),
        };
        Ok(RedisUrl { url, transport, db })
    }

    /// TCP, TLS or a Unix socket.
    pub fn transport(&self) -> RedisTransport {
        self.transport
    }

    /// The logical database (`SELECT`), 0 unless the URL says otherwise.
    pub fn db(&self) -> i64 {
        self.db
    }

    /// The URL with its password: for the Redis client only.
    pub(crate) fn expose(&self) -> &str {
        self.url.as_str()
    }

    /// The password's spellings that could appear in a message (as written
    /// in the URL and percent-decoded), for scrubbing.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut add = |raw: &str| {
            if raw.is_empty() {
                return;
            }
            out.push(raw.to_owned());
            if let Ok(decoded) = percent_decode(raw) {
                if decoded != raw {
                    out.push(decoded);
                }
            }
        };
        if let Some(p) = self.url.password() {
            add(p);
        }
        for (k, v) in self.url.query_pairs() {
            if is_password_param(&k) {
                add(&v);
            }
        }
        out
    }

    /// `text` with every spelling of the password replaced by `***`: for
    /// messages from the client library, which may echo what it was given.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in self.secrets() {
            text = text.replace(&secret, "***");
        }
        text
    }

    fn masked(&self) -> String {
        let mut url = self.url.clone();
        if url.password().is_some() {
            // Cannot fail: a URL with a password has a host.
            let _ = url.set_password(Some("***"));
        }
        if url.query_pairs().any(|(k, _)| is_password_param(&k)) {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if is_password_param(&k) {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        // `*` is kept as is in the user info, but be sure no encoding of
        // the mask turns into something else.
        url.as_str().replace("%2A", "*")
    }
}

fn parse_db(s: &str) -> Result<i64, RedisUrlError> {
    s.parse::<u32>()
        .map(i64::from)
        .map_err(|_| RedisUrlError::Db(s.to_owned()))
}

fn is_password_param(key: &str) -> bool {
    matches!(key, "pass" | "password")
}

fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied(), bytes.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

impl FromStr for RedisUrl {
    type Err = RedisUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RedisUrl::parse(s)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> RedisUrl {
        RedisUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn tcp_tls_and_unix_forms() {
        let u = parse("redis://127.0.0.1:6380/3");
        assert_eq!((u.transport(), u.db()), (RedisTransport::Tcp, 3));
        assert_eq!(u.to_string(), "redis://127.0.0.1:6380/3");
        let u = parse("redis://cache");
        assert_eq!((u.transport(), u.db()), (RedisTransport::Tcp, 0));
        let u = parse("rediss://cache.example:6379/");
        assert_eq!((u.transport(), u.db()), (RedisTransport::Tls, 0));
        let u = parse("redis+unix:///run/redis/redis.sock?db=5");
        assert_eq!((u.transport(), u.db()), (RedisTransport::Unix, 5));
        assert_eq!(u.to_string(), "redis+unix:///run/redis/redis.sock?db=5");
    }

    #[test]
    fn a_password_is_never_shown() {
        for (input, shown) in [
            ("redis://:hunter2@h:1/0", "redis://:***@h:1/0"),
            ("redis://admin:hunter2@h:1", "redis://admin:***@h:1"),
            ("rediss://admin:hun%40ter2@h", "rediss://admin:***@h"),
            (
                "redis+unix:///tmp/r.sock?db=1&pass=hunter2",
                "redis+unix:///tmp/r.sock?db=1&pass=***",
            ),
        ] {
            let u = parse(input);
            assert_eq!(u.to_string(), shown, "{input}");
            let debug = format!("{u:?}");
            assert!(!debug.contains("hunter2") && !debug.contains("hun%40ter2"), "{debug}");
        }
        let u = parse("redis://user@h");
        assert_eq!(u.to_string(), "redis://user@h");
    }

    #[test]
    fn scrub_removes_raw_and_decoded_passwords() {
        let u = parse("redis://admin:p%40ss@h");
        assert_eq!(u.scrub("auth p@ss failed for p%40ss"), "auth *** failed for ***");
        assert_eq!(parse("redis://h").scrub("nothing secret"), "nothing secret");
    }

    #[test]
    fn bad_urls_are_named() {
        let err = |s: &str| RedisUrl::parse(s).expect_err(s);
        assert_eq!(err("http://h"), RedisUrlError::Scheme("http".into()));
        assert_eq!(err("unix:///tmp/s"), RedisUrlError::Scheme("unix".into()));
        assert_eq!(err("redis:///0"), RedisUrlError::NoHost("redis"));
        assert_eq!(err("redis+unix://"), RedisUrlError::NoSocket);
        assert_eq!(err("redis://h/x"), RedisUrlError::Db("x".into()));
        assert_eq!(err("redis://h/-1"), RedisUrlError::Db("-1".into()));
        assert!(matches!(err("redis://h:99999"), RedisUrlError::Syntax(_)));
        let msg = err("redis://:hunter2@h/db").to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
