//! [`default_config`] and [`ConfigOptions`]: a [`TokensConfig`] wired to the
//! real adapters of this crate.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use atlas_app_server::{OrgName, OrgNameError, Settings, Storage, StorageError, TokenKind, TokensConfig};

use crate::duration::{parse_cli_timeout, parse_duration, parse_ttl};
use crate::{
    Env, FileStorage, FlyConfig, OpenMode, ProcessCmd, StoreLocation, StoreLocationError, StoreSetting, TokenStore,
    FLY_ORG_ENV, STORE_DIR_ENV,
};
#[cfg(feature = "redis")]
use crate::{RedisSettings, RedisStore, RedisUrl};

/// How much longer than the CLI timeout a Redis lease lasts: the store's
/// own round trips around the CLI run (look again, write).
#[cfg(feature = "redis")]
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// The org named by `--org` ([`ConfigOptions::org`]) or `FLY_ORG` is not a
/// Fly org slug. The message says which, and what is wrong, never the
/// value (it may be a token pasted in the wrong place).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {from}: {error} (`fly orgs list` shows your orgs' slugs)")]
pub struct InvalidOrg {
    /// Where it came from: `--org` or `FLY_ORG`.
    pub from: &'static str,
    /// What is wrong with it.
    pub error: OrgNameError,
}

/// The token stack's configuration for this machine, with the defaults a
/// person gets from `fly-tokens`: equivalent to `ConfigOptions::new().build()`.
///
/// - CLI: [`ProcessCmd`] (`fly`, else `flyctl`, on `PATH`);
/// - user token: [`FlyConfig`] (`FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`,
///   `$FLY_CONFIG_DIR/config.yml` or `~/.fly/config.yml`), kept in memory
///   for 60 s and never stored;
/// - storage: the store `ATLAS_FLY_TOKENS_STORE` names (a directory, or a
///   Redis URL: [`RedisStore`](crate::RedisStore), shared by every process
///   and machine that uses it), else [`FileStorage`] in
///   [`default_store_dir`](crate::default_store_dir); when that is the
///   implicit default (no `ATLAS_FLY_TOKENS_DIR`) and cannot be created, a
///   private temporary directory (with a warning);
/// - org: `FLY_ORG` when set (`readonly` tokens are minted per org; with no
///   org the CLI is not run and the report says to set one);
/// - minted tokens are named `atlas@HOST SCOPE` and expire at Fly 10 min
///   after their local lifetime;
/// - the SPEC defaults for everything else ([`Settings::default`]).
///
/// Blocking: it opens (and may create) the store directory. A Redis store
/// is not contacted yet (so a stack can start while Redis is down).
///
/// # Errors
/// [`StorageError::Unavailable`] when the store setting names no store
/// (an unsupported `scheme://`), or the store directory cannot be used
/// (and, for the implicit default, neither can the temporary fallback).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use atlas_app_server::Tokens;
/// let tokens = Tokens::start(atlas_fly_cli::default_config()?).await?;
/// let token = tokens.get("my-app").await?;
/// # let _ = token;
/// tokens.shutdown().await; // lets background persists land
/// # Ok(()) }
/// ```
pub fn default_config() -> Result<TokensConfig, StorageError> {
    ConfigOptions::new().build()
}

/// The settings a person can choose, defined once: these fields **are** the
/// `fly-tokens` flags (`clap::Args`; flatten them into any clap command),
/// and [`build`](Self::build) turns them into a [`TokensConfig`] wired to
/// the real adapters. A field left `None` takes [`Settings::default`]'s
/// value.
///
/// ```
/// use std::time::Duration;
/// use atlas_fly_cli::{ConfigOptions, Env};
///
/// let dir = std::env::temp_dir().join(format!("atlas-options-doc-{}", std::process::id()));
/// let options = ConfigOptions {
///     store: Some(dir.clone().into()),                       // --store
///     fly_bin: Some("/usr/local/bin/flyctl".into()),         // --fly-bin
///     cli_timeout: Some(Duration::from_secs(30)),            // --cli-timeout 30s
///     no_config_file: true,                                  // --no-config-file
///     ..ConfigOptions::new()
/// }
/// .env(Env::from_pairs([("FLY_ORG", "acme")]));              // instead of the process environment
/// let config = options.build_with(options.open_store()?);
/// let settings = config.get_settings();
/// assert_eq!(settings.org.as_ref().map(|o| o.as_str()), Some("acme"));
/// assert_eq!(settings.cli_timeout, Duration::from_secs(30));
/// assert!(!settings.config_file_enabled);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, clap::Args)]
pub struct ConfigOptions {
    /// Where tokens are kept: a directory, or a Redis URL
    /// (redis://HOST:PORT/DB, with :PASSWORD@ before HOST if needed; rediss://… for TLS;
    /// redis+unix:///PATH) shared by every process and machine using it
    /// [default: $ATLAS_FLY_TOKENS_STORE, else $ATLAS_FLY_TOKENS_DIR, else
    /// $XDG_DATA_HOME/atlas/fly-tokens, else ~/.local/share/atlas/fly-tokens]
    #[arg(long = "store", global = true, value_name = "DIR|URL")]
    pub store: Option<OsString>,

    /// Redis store: the prefix of every key and of the channel, so one Redis
    /// can serve several stacks [default: atlas:fly-tokens:]
    #[cfg(feature = "redis")]
    #[arg(long, global = true, value_name = "PREFIX", value_parser = parse_prefix)]
    pub redis_prefix: Option<String>,

    /// Redis store: how long connecting (TCP, TLS, AUTH) may take [default: 2s]
    #[cfg(feature = "redis")]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_cli_timeout)]
    pub redis_connect_timeout: Option<Duration>,

    /// Redis store: how long one command may wait for its answer [default: 2s]
    #[cfg(feature = "redis")]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_cli_timeout)]
    pub redis_response_timeout: Option<Duration>,

    /// The fly CLI to run [default: `fly`, else `flyctl`, on PATH]
    #[arg(long, global = true, value_name = "PATH")]
    pub fly_bin: Option<PathBuf>,

    /// Fly org slug whose read-only token every app of it shares (`fly
    /// tokens create readonly -o ORG`) [default: $FLY_ORG]
    #[arg(long, global = true, value_name = "ORG")]
    pub org: Option<String>,

    /// Mint deploy tokens (`fly tokens create deploy -a APP`: one per app,
    /// able to deploy and change it) instead of the org's read-only one
    #[arg(long, global = true)]
    pub deploy: bool,

    /// How long a minted token is kept, at least 1s (it is minted to expire
    /// at Fly 10 min later), e.g. 12h, 30m [default: 24h]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Option<Duration>,

    /// How long your own token is kept in memory before it is read again (it
    /// is never stored) [default: 60s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub user_token_ttl: Option<Duration>,

    /// How long the fly CLI may run before it is killed, e.g. 15s, 1m [default: 15s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_cli_timeout)]
    pub cli_timeout: Option<Duration>,

    /// How long before expiry a token is re-acquired in the background (a
    /// long-running process only; 0 disables) [default: 1h]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub soft_expiry_lead: Option<Duration>,

    /// After the fly CLI failed for a scope, how long requests get the same
    /// answer instead of running it again (0 disables) [default: 10s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub failure_window: Option<Duration>,

    /// Do not use your own token (FLY_ACCESS_TOKEN, FLY_API_TOKEN, ~/.fly/config.yml)
    #[arg(long, global = true)]
    pub no_config_file: bool,

    /// Where `FLY_*`, `ATLAS_FLY_TOKENS_STORE`, `ATLAS_FLY_TOKENS_DIR`, `XDG_DATA_HOME`, `HOME` and
    /// `PATH` are read (the process environment by default).
    #[arg(skip)]
    pub env: Env,

    /// This process answers one request and exits (the `fly-tokens`
    /// commands): a Redis store does not listen for the other stacks'
    /// invalidations (`RedisSettings::listen_for_invalidations`), which
    /// would only cost a connection. Off by default.
    #[arg(skip)]
    pub one_shot: bool,
}

impl ConfigOptions {
    /// The defaults of [`default_config`], reading the process environment.
    pub fn new() -> Self {
        ConfigOptions::default()
    }

    /// Reads `FLY_*`, `ATLAS_FLY_TOKENS_DIR`, `XDG_DATA_HOME`, `HOME` and
    /// `PATH` from `env` instead of the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Keeps tokens in `dir` (`--store DIR`).
    pub fn store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store = Some(dir.into().into_os_string());
        self
    }

    /// Keeps tokens where `location` says (`--store DIR|URL`): a
    /// directory, or a Redis URL.
    pub fn store(mut self, location: impl Into<OsString>) -> Self {
        self.store = Some(location.into());
        self
    }

    /// The org (`--org`); without it, `FLY_ORG`.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// The org these options pass as `-o`: the explicit one ([`org`](Self::org),
    /// `--org`) when given, otherwise `FLY_ORG`; blank values count as unset.
    ///
    /// # Errors
    /// [`InvalidOrg`] when that value is not a Fly org slug. (The
    /// configuration built from these options drops such an org with a
    /// warning instead; check here first to refuse it.)
    ///
    /// ```
    /// use atlas_fly_cli::{ConfigOptions, Env};
    /// let options = ConfigOptions::new().env(Env::from_pairs([("FLY_ORG", "-rf")]));
    /// assert_eq!(options.resolved_org().unwrap_err().to_string(),
    ///     "invalid FLY_ORG: the org starts with `-`; an org slug never does (it would be read as a flag) \
    ///      (`fly orgs list` shows your orgs' slugs)");
    /// assert_eq!(options.org("acme").resolved_org().unwrap().unwrap().as_str(), "acme");
    /// ```
    pub fn resolved_org(&self) -> Result<Option<OrgName>, InvalidOrg> {
        let (org, from) = match self.org.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(org) => (org.to_owned(), "--org"),
            None => match self.env.non_empty(FLY_ORG_ENV) {
                Some(org) => (org, FLY_ORG_ENV),
                None => return Ok(None),
            },
        };
        OrgName::new(&org).map(Some).map_err(|error| InvalidOrg { from, error })
    }

    /// The store these options name and which setting named it:
    /// [`store`](Self::store) (`--store`), then `ATLAS_FLY_TOKENS_STORE`,
    /// then `ATLAS_FLY_TOKENS_DIR`, then the default directory
    /// ([`StoreLocation::resolve`]); `Ok(None)` when nothing names one.
    ///
    /// ```
    /// use atlas_fly_cli::{ConfigOptions, Env, StoreLocation};
    /// let options = ConfigOptions::new().env(Env::from_pairs([("ATLAS_FLY_TOKENS_STORE", "redis://:pw@cache:6379/2")]));
    /// let (location, _) = options.resolved_store()?.expect("named");
    /// assert_eq!(location.to_string(), "redis://:***@cache:6379/2");
    /// assert!(options.store("s3://bucket").resolved_store().is_err(), "never a directory called `s3:`");
    /// # Ok::<(), atlas_fly_cli::StoreLocationError>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreLocationError`] when the first setting given names no usable
    /// store (an unsupported `scheme://`, a bad Redis URL): a usage error.
    pub fn resolved_store(&self) -> Result<Option<(StoreLocation, StoreSetting)>, StoreLocationError> {
        match &self.store {
            // Not UTF-8: no URL, so a directory.
            Some(flag) => match flag.to_str() {
                Some(flag) => StoreLocation::resolve(Some(flag), &self.env),
                None => Ok(Some((StoreLocation::Dir(PathBuf::from(flag)), StoreSetting::Flag))),
            },
            None => StoreLocation::resolve(None, &self.env),
        }
    }

    /// The store directory these options name, when they name a directory
    /// (see [`resolved_store`](Self::resolved_store)).
    pub fn resolved_store_dir(&self) -> Option<PathBuf> {
        match self.resolved_store() {
            Ok(Some((StoreLocation::Dir(dir), _))) => Some(dir),
            _ => None,
        }
    }

    /// The Redis settings these options give a store at `url`: the
    /// `--redis-*` values, and a lease that outlasts the CLI timeout (a live
    /// holder never loses it mid-acquisition).
    #[cfg(feature = "redis")]
    pub fn redis_settings(&self, url: RedisUrl) -> RedisSettings {
        let mut settings = RedisSettings::new(url);
        if let Some(prefix) = &self.redis_prefix {
            // Checked when parsed; one that fails here keeps the default.
            settings = settings.clone().prefix(prefix.clone()).unwrap_or(settings);
        }
        if let Some(t) = self.redis_connect_timeout {
            settings = settings.connect_timeout(t);
        }
        if let Some(t) = self.redis_response_timeout {
            settings = settings.response_timeout(t);
        }
        let cli_timeout = self.cli_timeout.unwrap_or(Settings::default().cli_timeout);
        settings
            .lease_time(cli_timeout + LEASE_MARGIN)
            .listen_for_invalidations(!self.one_shot)
    }

    /// The user-token reader these options configure (for saying where the
    /// user's own token was looked for).
    pub fn fly_config(&self) -> FlyConfig {
        FlyConfig::with_env(self.env.clone())
    }

    /// Opens the store these options name, for reading and writing: a
    /// [`FileStorage`] (blocking: it may create the directory) or a
    /// [`RedisStore`](crate::RedisStore) (not contacted yet).
    ///
    /// An explicit directory (`--store`, `ATLAS_FLY_TOKENS_STORE`,
    /// `ATLAS_FLY_TOKENS_DIR`) is used or is an error; only the implicit
    /// default falls back, with a warning, to a private temporary directory
    /// when it cannot be created (see [`FileStorage::open_or_fallback`]).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the setting names no store, or
    /// the store cannot be used (and, for the implicit default, neither can
    /// the fallback).
    pub fn open_store(&self) -> Result<TokenStore, StorageError> {
        self.open_store_as(OpenMode::ReadWrite, true)
    }

    /// Like [`open_store`](Self::open_store), but never the temporary
    /// fallback: for what cannot be re-acquired (a manual token), which must
    /// not end up in a shared temp dir. Blocking.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the store cannot be used, or when
    /// no store is named at all.
    pub fn open_store_without_fallback(&self) -> Result<TokenStore, StorageError> {
        self.open_store_as(OpenMode::ReadWrite, false)
    }

    /// Opens the store these options name for listing it: a file store
    /// read-only (nothing is created or changed, and a store that does not
    /// exist is empty, [`FileStorage::open_read_only`]; for the implicit
    /// default that does not exist, the temporary fallback is listed when it
    /// exists). Blocking.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the setting names no store, or
    /// the store exists but is refused (not private) or cannot be looked at.
    pub fn open_store_read_only(&self) -> Result<TokenStore, StorageError> {
        self.open_store_as(OpenMode::ReadOnly, true)
    }

    fn open_store_as(&self, mode: OpenMode, may_fall_back: bool) -> Result<TokenStore, StorageError> {
        let resolved = self
            .resolved_store()
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let (dir, setting) = match resolved {
            #[cfg(feature = "redis")]
            Some((StoreLocation::Redis(url), _)) => return RedisStore::new(self.redis_settings(url)).map(Into::into),
            Some((StoreLocation::Dir(dir), setting)) => (dir, setting),
            None if may_fall_back => return FileStorage::open_temp(mode).map(Into::into),
            None => {
                return Err(StorageError::Unavailable(format!(
                    "no token store is configured ({STORE_DIR_ENV}, XDG_DATA_HOME, HOME), and this is never kept in \
                     a temporary one: set one, or pass --store"
                )))
            }
        };
        let explicit = setting != StoreSetting::DefaultDir || self.env.non_empty(STORE_DIR_ENV).is_some();
        let store = if explicit || !may_fall_back {
            FileStorage::open_with(dir, mode)
        } else {
            FileStorage::open_or_fallback(dir, mode)
        };
        store.map(Into::into)
    }

    /// The per-server [`Settings`] these options choose.
    pub fn settings(&self) -> Settings {
        let d = Settings::default();
        Settings {
            ttl: self.ttl.unwrap_or(d.ttl),
            user_token_ttl: self.user_token_ttl.unwrap_or(d.user_token_ttl),
            cli_timeout: self.cli_timeout.unwrap_or(d.cli_timeout),
            soft_expiry_lead: self.soft_expiry_lead.unwrap_or(d.soft_expiry_lead),
            failure_window: self.failure_window.unwrap_or(d.failure_window),
            config_file_enabled: !self.no_config_file,
            org: self.resolved_org().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ignoring the org");
                None
            }),
            token_kind: if self.deploy {
                TokenKind::Deploy
            } else {
                TokenKind::Readonly
            },
            minter: minter().into(),
        }
    }

    /// Opens the store ([`open_store`](Self::open_store)) and returns the
    /// configuration.
    ///
    /// # Errors
    /// As [`open_store`](Self::open_store).
    pub fn build(&self) -> Result<TokensConfig, StorageError> {
        Ok(self.build_with(self.open_store()?))
    }

    /// The configuration with `store` as its storage (keep a clone of the
    /// store to list or inspect it yourself).
    pub fn build_with<S: Storage>(&self, store: S) -> TokensConfig {
        let mut cmd = ProcessCmd::new();
        if let Some(bin) = &self.fly_bin {
            cmd = cmd.fly_bin(bin);
        }
        if let Some(path) = self.env.var("PATH") {
            cmd = cmd.search_path(path);
        }
        TokensConfig::default()
            .storage(store)
            .cmd_fn(cmd)
            .config_file_fn(self.fly_config())
            .settings(self.settings())
    }
}

impl fmt::Debug for ConfigOptions {
    /// The store as [`StoreLocation`] shows it: a Redis password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.store.as_ref().map(|s| match s.to_str() {
            Some(s) => match StoreLocation::parse(s, StoreSetting::Flag) {
                Ok(location) => location.to_string(),
                Err(_) => atlas_app_server::mask_secrets(s),
            },
            None => PathBuf::from(s).display().to_string(),
        });
        let mut d = f.debug_struct("ConfigOptions");
        d.field("store", &store);
        #[cfg(feature = "redis")]
        d.field("redis_prefix", &self.redis_prefix)
            .field("redis_connect_timeout", &self.redis_connect_timeout)
            .field("redis_response_timeout", &self.redis_response_timeout);
        d.field("fly_bin", &self.fly_bin)
            .field("org", &self.org)
            .field("deploy", &self.deploy)
            .field("ttl", &self.ttl)
            .field("user_token_ttl", &self.user_token_ttl)
            .field("cli_timeout", &self.cli_timeout)
            .field("soft_expiry_lead", &self.soft_expiry_lead)
            .field("failure_window", &self.failure_window)
            .field("no_config_file", &self.no_config_file)
            .field("env", &self.env)
            .finish()
    }
}

/// `--redis-prefix`: one [`RedisSettings::prefix`] takes.
#[cfg(feature = "redis")]
fn parse_prefix(s: &str) -> Result<String, String> {
    RedisSettings::new(RedisUrl::parse("redis://localhost").map_err(|e| e.to_string())?)
        .prefix(s)
        .map(|settings| settings.key_prefix().to_owned())
        .map_err(|e| e.to_string())
}

/// Who mints: `atlas@HOST`, so an operator can tell in `fly tokens list`
/// which machine minted a token (the scope follows in the name).
fn minter() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        });
    match host {
        Some(host) => format!("atlas@{host}"),
        None => "atlas".to_owned(),
    }
}
