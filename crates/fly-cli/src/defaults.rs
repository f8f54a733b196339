//! [`default_config`] and [`ConfigOptions`]: a [`TokensConfig`] wired to the
//! real adapters of this crate.

use std::path::PathBuf;
use std::time::Duration;

use atlas_app_server::{OrgName, OrgNameError, Settings, StorageError, TokenKind, TokensConfig};

use crate::duration::{parse_cli_timeout, parse_duration, parse_ttl};
use crate::{default_store_dir, Env, FileStorage, FlyConfig, OpenMode, ProcessCmd, FLY_ORG_ENV, STORE_DIR_ENV};

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
/// - storage: [`FileStorage`] in [`default_store_dir`]; when that is the
///   implicit default (no `ATLAS_FLY_TOKENS_DIR`) and cannot be created, a
///   private temporary directory (with a warning);
/// - org: `FLY_ORG` when set (`readonly` tokens are minted per org; with no
///   org the CLI is not run and the report says to set one);
/// - minted tokens are named `atlas@HOST SCOPE` and expire at Fly 10 min
///   after their local lifetime;
/// - the SPEC defaults for everything else ([`Settings::default`]).
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
///     store_dir: Some(dir.clone()),                          // --store
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
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigOptions {
    /// Token store directory [default: $ATLAS_FLY_TOKENS_DIR, else
    /// $XDG_DATA_HOME/atlas/fly-tokens, else ~/.local/share/atlas/fly-tokens]
    #[arg(long = "store", global = true, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,

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

    /// Where `FLY_*`, `ATLAS_FLY_TOKENS_DIR`, `XDG_DATA_HOME`, `HOME` and
    /// `PATH` are read (the process environment by default).
    #[arg(skip)]
    pub env: Env,
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

    /// Keeps tokens in `dir` (`--store`) instead of [`default_store_dir`].
    pub fn store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store_dir = Some(dir.into());
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
    pub fn build_with(&self, store: FileStorage) -> TokensConfig {
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
