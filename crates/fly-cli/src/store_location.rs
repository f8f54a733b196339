//! [`StoreLocation`]: which store a setting names (a directory or a Redis
//! URL), and the precedence among the settings that can name one.

use std::fmt;
use std::path::PathBuf;

#[cfg(feature = "redis")]
use crate::redis_store::{RedisUrl, RedisUrlError};
use crate::{default_store_dir, Env};

/// The environment variable that names the store: a directory or a URL.
pub const STORE_ENV: &str = "ATLAS_FLY_TOKENS_STORE";

/// The URL schemes of the Redis store.
pub const REDIS_SCHEMES: [&str; 3] = ["redis", "rediss", "redis+unix"];

/// The scheme of `s` when it starts like a URL (`scheme://`), else `None`:
/// lets a caller tell a URL (even an unsupported one) from a path.
///
/// ```
/// use atlas_fly_cli::url_scheme;
/// assert_eq!(url_scheme("rediss://h"), Some("rediss"));
/// assert_eq!(url_scheme("s3://bucket"), Some("s3"));
/// assert_eq!(url_scheme("/var/lib/tokens"), None);
/// assert_eq!(url_scheme("dir:with:colons"), None);
/// ```
pub fn url_scheme(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let (scheme, _) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// Where tokens are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// The file store in this directory.
    Dir(PathBuf),
    /// The Redis store at this URL (feature `redis`).
    #[cfg(feature = "redis")]
    Redis(RedisUrl),
}

/// Which setting named the store (for messages and `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreSetting {
    /// `--store`.
    Flag,
    /// `ATLAS_FLY_TOKENS_STORE`.
    StoreEnv,
    /// `ATLAS_FLY_TOKENS_DIR`, `XDG_DATA_HOME` or `HOME` (the file store's
    /// own default).
    DefaultDir,
}

impl fmt::Display for StoreSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreSetting::Flag => "--store",
            StoreSetting::StoreEnv => STORE_ENV,
            StoreSetting::DefaultDir => "the default store directory",
        })
    }
}

/// A store setting that names no usable store: a usage error (exit 2 in
/// `fly-tokens`). The message never holds a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreLocationError {
    /// A URL whose scheme names no store (never taken for a directory).
    #[error(
        "{setting}: unsupported store URL scheme `{scheme}://` (a directory, redis://, rediss:// or redis+unix://)"
    )]
    Scheme {
        /// The setting.
        setting: StoreSetting,
        /// The scheme as written.
        scheme: String,
    },
    /// A Redis URL that does not parse.
    #[cfg(feature = "redis")]
    #[error("{setting}: {error}")]
    BadRedisUrl {
        /// The setting.
        setting: StoreSetting,
        /// What is wrong.
        error: RedisUrlError,
    },
    /// A Redis URL in a build without the `redis` feature.
    #[error("{setting}: this build has no Redis store (built without the `redis` feature)")]
    NoRedis {
        /// The setting.
        setting: StoreSetting,
    },
    /// An empty `--store`.
    #[error("{setting}: empty (give a directory or a redis:// URL)")]
    Empty {
        /// The setting.
        setting: StoreSetting,
    },
}

impl StoreLocation {
    /// What `value` names: a URL with a store scheme, else a directory. A
    /// string that starts like a URL (`scheme://`) with another scheme is an
    /// error, never a directory called `scheme:`.
    ///
    /// # Errors
    /// [`StoreLocationError`].
    pub fn parse(value: &str, setting: StoreSetting) -> Result<Self, StoreLocationError> {
        if value.trim().is_empty() {
            return Err(StoreLocationError::Empty { setting });
        }
        match url_scheme(value) {
            None => Ok(StoreLocation::Dir(PathBuf::from(value))),
            Some(scheme) if REDIS_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) => redis(value, setting),
            Some(scheme) => Err(StoreLocationError::Scheme {
                setting,
                scheme: scheme.to_owned(),
            }),
        }
    }

    /// The store named by the first setting that names one: `flag`
    /// (`--store`), then `ATLAS_FLY_TOKENS_STORE`, then
    /// `ATLAS_FLY_TOKENS_DIR`, then the default directory; `Ok(None)` when
    /// none does (no `HOME` either).
    ///
    /// ```
    /// use atlas_fly_cli::{Env, StoreLocation, StoreSetting};
    /// let env = Env::from_pairs([("ATLAS_FLY_TOKENS_STORE", "/srv/tokens"), ("ATLAS_FLY_TOKENS_DIR", "/ignored")]);
    /// let (location, setting) = StoreLocation::resolve(None, &env).unwrap().unwrap();
    /// assert_eq!(location, StoreLocation::Dir("/srv/tokens".into()));
    /// assert_eq!(setting, StoreSetting::StoreEnv);
    /// assert!(StoreLocation::resolve(Some("s3://bucket"), &env).is_err());
    /// ```
    ///
    /// # Errors
    /// [`StoreLocationError`] for the first setting given, when it names no
    /// usable store (a later one is not tried: a typo must not silently
    /// send tokens elsewhere).
    pub fn resolve(flag: Option<&str>, env: &Env) -> Result<Option<(Self, StoreSetting)>, StoreLocationError> {
        if let Some(value) = flag {
            return Self::parse(value, StoreSetting::Flag).map(|l| Some((l, StoreSetting::Flag)));
        }
        if let Some(value) = env.non_empty(STORE_ENV) {
            return Self::parse(&value, StoreSetting::StoreEnv).map(|l| Some((l, StoreSetting::StoreEnv)));
        }
        // `ATLAS_FLY_TOKENS_DIR` is a directory by definition, and has
        // always been taken literally.
        Ok(default_store_dir(env).map(|d| (StoreLocation::Dir(d), StoreSetting::DefaultDir)))
    }
}

#[cfg(feature = "redis")]
fn redis(value: &str, setting: StoreSetting) -> Result<StoreLocation, StoreLocationError> {
    RedisUrl::parse(value)
        .map(StoreLocation::Redis)
        .map_err(|error| StoreLocationError::BadRedisUrl { setting, error })
}

#[cfg(not(feature = "redis"))]
fn redis(_value: &str, setting: StoreSetting) -> Result<StoreLocation, StoreLocationError> {
    Err(StoreLocationError::NoRedis { setting })
}

impl fmt::Display for StoreLocation {
    /// The directory, or the URL masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Dir(d) => write!(f, "{}", d.display()),
            #[cfg(feature = "redis")]
            StoreLocation::Redis(url) => write!(f, "{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<StoreLocation, StoreLocationError> {
        StoreLocation::parse(s, StoreSetting::Flag)
    }

    #[test]
    fn directories_and_urls() {
        assert_eq!(parse("/var/lib/t"), Ok(StoreLocation::Dir("/var/lib/t".into())));
        assert_eq!(parse("rel/dir"), Ok(StoreLocation::Dir("rel/dir".into())));
        assert_eq!(
            parse("dir:with:colons"),
            Ok(StoreLocation::Dir("dir:with:colons".into()))
        );
        assert_eq!(
            parse("s3://bucket/x"),
            Err(StoreLocationError::Scheme {
                setting: StoreSetting::Flag,
                scheme: "s3".into()
            })
        );
        assert!(matches!(parse("file:///tmp/x"), Err(StoreLocationError::Scheme { .. })));
        assert_eq!(
            parse(" "),
            Err(StoreLocationError::Empty {
                setting: StoreSetting::Flag
            })
        );
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_urls() {
        let Ok(StoreLocation::Redis(url)) = parse("redis://:pw@h:6379/1") else {
            panic!("a redis URL");
        };
        assert_eq!(url.db(), 1);
        assert_eq!(StoreLocation::Redis(url).to_string(), "redis://:***@h:6379/1");
        assert!(matches!(parse("rediss://h"), Ok(StoreLocation::Redis(_))));
        assert!(matches!(parse("redis+unix:///s.sock"), Ok(StoreLocation::Redis(_))));
        let err = parse("redis://:pw@h/notadb").expect_err("bad db");
        assert!(matches!(err, StoreLocationError::BadRedisUrl { .. }));
        assert!(!err.to_string().contains("pw@"), "{err}");
    }

    #[test]
    fn precedence() {
        let env = Env::from_pairs([
            ("ATLAS_FLY_TOKENS_STORE", "/from-store-env"),
            ("ATLAS_FLY_TOKENS_DIR", "/from-dir-env"),
            ("HOME", "/home/me"),
        ]);
        let resolve = |flag, env: &Env| StoreLocation::resolve(flag, env).expect("ok").expect("some");
        assert_eq!(
            resolve(Some("/flag"), &env),
            (StoreLocation::Dir("/flag".into()), StoreSetting::Flag)
        );
        assert_eq!(
            resolve(None, &env),
            (StoreLocation::Dir("/from-store-env".into()), StoreSetting::StoreEnv)
        );
        let env = Env::from_pairs([("ATLAS_FLY_TOKENS_DIR", "/from-dir-env"), ("HOME", "/home/me")]);
        assert_eq!(
            resolve(None, &env),
            (StoreLocation::Dir("/from-dir-env".into()), StoreSetting::DefaultDir)
        );
        let env = Env::from_pairs([("ATLAS_FLY_TOKENS_STORE", "  "), ("HOME", "/home/me")]);
        assert_eq!(
            resolve(None, &env),
            (
                StoreLocation::Dir("/home/me/.local/share/atlas/fly-tokens".into()),
                StoreSetting::DefaultDir
            )
        );
        assert_eq!(StoreLocation::resolve(None, &Env::empty()), Ok(None));
        // A bad first setting is an error, not a reason to try the next one.
        let env = Env::from_pairs([("ATLAS_FLY_TOKENS_STORE", "ftp://x"), ("ATLAS_FLY_TOKENS_DIR", "/d")]);
        assert!(StoreLocation::resolve(None, &env).is_err());
    }

    #[test]
    fn scheme_detection() {
        assert_eq!(url_scheme("redis+unix:///x"), Some("redis+unix"));
        assert_eq!(url_scheme("./relative://odd"), None);
        assert_eq!(url_scheme("://x"), None);
        assert_eq!(url_scheme("C:\\dir"), None);
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_urls_need_the_feature() {
        assert_eq!(
            parse("redis://h"),
            Err(StoreLocationError::NoRedis {
                setting: StoreSetting::Flag
            })
        );
    }
}
