//! [`default_config`] and [`ConfigOptions`]: a [`TokensConfig`] wired to the
//! real adapters of this crate.

use std::path::PathBuf;
use std::time::Duration;

use atlas_app_server::{OrgName, OrgNameError, StorageError, TokensConfig};

use crate::{
    default_store_dir, resolve_org, Env, FileStorage, FlyConfig, OpenMode, ProcessCmd, FLY_ORG_ENV, STORE_DIR_ENV,
};

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
///   `$FLY_CONFIG_DIR/config.yml` or `~/.fly/config.yml`);
/// - storage: [`FileStorage`] in [`default_store_dir`]; when that is the
///   implicit default (no `ATLAS_FLY_TOKENS_DIR`) and cannot be created, a
///   private temporary directory (with a warning);
/// - org: `FLY_ORG` when set (passed as `-o`);
/// - the SPEC defaults for `ttl` (24 h), `cli_timeout` (15 s) and the
///   soft-expiry lead (1 h).
///
/// Blocking: it opens (and may create) the store directory.
///
/// # Errors
/// [`StorageError::Unavailable`] when the store directory cannot be used
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

/// Options for a [`TokensConfig`] wired to the real adapters (the
/// builder-ish form of [`default_config`]); every `fly-tokens` flag maps to
/// one method here.
///
/// ```
/// use std::time::Duration;
/// use atlas_fly_cli::{ConfigOptions, Env};
///
/// let dir = std::env::temp_dir().join(format!("atlas-options-doc-{}", std::process::id()));
/// let options = ConfigOptions::new()
///     .env(Env::from_pairs([("FLY_ORG", "acme")]))   // instead of the process environment
///     .store_dir(&dir)                                // --store
///     .fly_bin("/usr/local/bin/flyctl")               // --fly-bin
///     .cli_timeout(Duration::from_secs(30))           // --cli-timeout 30s
///     .config_file_enabled(false);                    // --no-config-file
/// let store = options.open_store()?;
/// let config = options.build_with(store);
/// assert_eq!(config.get_org(), Some("acme"));
/// assert_eq!(config.get_cli_timeout(), Duration::from_secs(30));
/// assert!(!config.is_config_file_enabled());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConfigOptions {
    env: Env,
    store_dir: Option<PathBuf>,
    fly_bin: Option<PathBuf>,
    org: Option<String>,
    ttl: Option<Duration>,
    cli_timeout: Option<Duration>,
    config_file_enabled: bool,
}

impl Default for ConfigOptions {
    fn default() -> Self {
        ConfigOptions::new()
    }
}

impl ConfigOptions {
    /// The defaults of [`default_config`], reading the process environment.
    pub fn new() -> Self {
        ConfigOptions {
            env: Env::process(),
            store_dir: None,
            fly_bin: None,
            org: None,
            ttl: None,
            cli_timeout: None,
            config_file_enabled: true,
        }
    }

    /// Reads `FLY_*`, `ATLAS_FLY_TOKENS_DIR`, `XDG_DATA_HOME`, `HOME` and
    /// `PATH` from `env` instead of the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Keeps tokens in `dir` (`--store`) instead of [`default_store_dir`].
    pub fn store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store_dir = Some(dir.into());
        self
    }

    /// Runs this file as the fly CLI (`--fly-bin`) instead of looking up
    /// `fly`/`flyctl` on `PATH`.
    pub fn fly_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.fly_bin = Some(path.into());
        self
    }

    /// The org passed as `-o` (`--org`); without it, `FLY_ORG`.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// How long an acquired token is cached (`--ttl`; default 24 h).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How long the fly CLI may run (`--cli-timeout`; default 15 s).
    pub fn cli_timeout(mut self, timeout: Duration) -> Self {
        self.cli_timeout = Some(timeout);
        self
    }

    /// Whether the user's own token (environment and config file) is
    /// consulted (`--no-config-file` sets `false`; default `true`).
    pub fn config_file_enabled(mut self, enabled: bool) -> Self {
        self.config_file_enabled = enabled;
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

    /// The store directory these options name: the explicit one, else
    /// [`default_store_dir`]; `None` when nothing names one.
    pub fn resolved_store_dir(&self) -> Option<PathBuf> {
        self.store_dir.clone().or_else(|| default_store_dir(&self.env))
    }

    /// The user-token reader these options configure (for saying where the
    /// user's own token was looked for).
    pub fn fly_config(&self) -> FlyConfig {
        FlyConfig::with_env(self.env.clone())
    }

    /// Opens the [`FileStorage`] these options name, for reading and
    /// writing. Blocking.
    ///
    /// An explicit directory (`store_dir`, `ATLAS_FLY_TOKENS_DIR`) is used or
    /// is an error; only the implicit default falls back, with a warning, to
    /// a private temporary directory when it cannot be created (see
    /// [`FileStorage::open_or_fallback`]).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the store cannot be used (and, for
    /// the implicit default, neither can the fallback).
    pub fn open_store(&self) -> Result<FileStorage, StorageError> {
        self.open_store_as(OpenMode::ReadWrite, true)
    }

    /// Like [`open_store`](Self::open_store), but never the temporary
    /// fallback: for what cannot be re-acquired (a manual token), which must
    /// not end up in a shared temp dir. Blocking.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the store cannot be used, or when
    /// no store directory is named at all.
    pub fn open_store_without_fallback(&self) -> Result<FileStorage, StorageError> {
        self.open_store_as(OpenMode::ReadWrite, false)
    }

    /// Opens the store these options name read-only, for listing it: nothing
    /// is created or changed, and a store that does not exist is empty
    /// ([`FileStorage::open_read_only`]). For the implicit default that does
    /// not exist, the temporary fallback is listed when it exists. Blocking.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the store exists but is refused
    /// (not private) or cannot be looked at.
    pub fn open_store_read_only(&self) -> Result<FileStorage, StorageError> {
        self.open_store_as(OpenMode::ReadOnly, true)
    }

    fn open_store_as(&self, mode: OpenMode, may_fall_back: bool) -> Result<FileStorage, StorageError> {
        let explicit = self.store_dir.is_some() || self.env.non_empty(STORE_DIR_ENV).is_some();
        match self.resolved_store_dir() {
            Some(dir) if explicit || !may_fall_back => FileStorage::open_with(dir, mode),
            Some(dir) => FileStorage::open_or_fallback(dir, mode),
            None if may_fall_back => FileStorage::open_temp(mode),
            None => Err(StorageError::Unavailable(format!(
                "no token store directory is configured ({STORE_DIR_ENV}, XDG_DATA_HOME, HOME), and this is \
                 never kept in a temporary one: set one, or pass --store"
            ))),
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
    pub fn build_with(&self, store: FileStorage) -> TokensConfig {
        let mut cmd = ProcessCmd::new();
        if let Some(bin) = &self.fly_bin {
            cmd = cmd.fly_bin(bin);
        }
        if let Some(path) = self.env.var("PATH") {
            cmd = cmd.search_path(path);
        }
        let mut config = TokensConfig::default()
            .storage(store)
            .cmd_fn(cmd)
            .config_file_fn(self.fly_config())
            .config_file_enabled(self.config_file_enabled);
        if let Some(org) = resolve_org(self.org.as_deref(), &self.env) {
            config = config.org(org);
        }
        if let Some(ttl) = self.ttl {
            config = config.ttl(ttl);
        }
        if let Some(timeout) = self.cli_timeout {
            config = config.cli_timeout(timeout);
        }
        config
    }
}
