//! `TokensConfig`: the seams and settings a token stack starts with.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::ClockRef;
use crate::{Clock, CmdFn, ConfigFileFn, MemoryStorage, NoCli, NoConfigFile, Storage};

/// Which token the fly CLI is asked to mint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// `fly tokens create readonly` (org-scoped, read-only; `-o ORG` when an
    /// org is configured). The default.
    #[default]
    Readonly,
    /// `fly tokens create deploy -a APP`: app-scoped, and able to write to
    /// the app.
    Deploy,
}

/// The configuration of a token stack: where it reaches the world (storage,
/// CLI, the user's own token, the clock) and its settings.
///
/// `TokensConfig::default()` is in-memory storage, no fly CLI (every CLI
/// attempt is an honest miss, never a fake token), no user token, the system
/// clock, and SPEC defaults: `ttl` 24 h, `cli_timeout` 15 s, soft-expiry lead
/// 1 h.
///
/// ```
/// use std::time::Duration;
/// use atlas_app_server::{cmd_fn, CmdOutput, TokensConfig};
/// let config = TokensConfig::default()
///     .cmd_fn(cmd_fn(|_program, _args| async {
///         Ok(CmdOutput::new(0, "FlyV1 fm2_abc\n", ""))
///     }))
///     .ttl(Duration::from_secs(3_600))
///     .org("my-org");
/// assert_eq!(config.get_ttl(), Duration::from_secs(3_600));
/// ```
#[derive(Clone)]
pub struct TokensConfig {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) cmd_fn: Arc<dyn CmdFn>,
    pub(crate) config_file_fn: Arc<dyn ConfigFileFn>,
    pub(crate) clock: ClockRef,
    pub(crate) ttl: Duration,
    pub(crate) cli_timeout: Duration,
    pub(crate) soft_expiry_lead: Duration,
    pub(crate) config_file_enabled: bool,
    pub(crate) org: Option<Arc<str>>,
    pub(crate) token_kind: TokenKind,
    pub(crate) name: Arc<str>,
    pub(crate) max_apps: Option<usize>,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            storage: Arc::new(MemoryStorage::new()),
            cmd_fn: Arc::new(NoCli),
            config_file_fn: Arc::new(NoConfigFile),
            clock: ClockRef::System,
            ttl: Self::DEFAULT_TTL,
            cli_timeout: Self::DEFAULT_CLI_TIMEOUT,
            soft_expiry_lead: Self::DEFAULT_SOFT_EXPIRY_LEAD,
            config_file_enabled: true,
            org: None,
            token_kind: TokenKind::Readonly,
            name: "tokens".into(),
            max_apps: None,
        }
    }
}

impl fmt::Debug for TokensConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokensConfig")
            .field("name", &self.name)
            .field("ttl", &self.ttl)
            .field("cli_timeout", &self.cli_timeout)
            .field("soft_expiry_lead", &self.soft_expiry_lead)
            .field("config_file_enabled", &self.config_file_enabled)
            .field("org", &self.org)
            .field("token_kind", &self.token_kind)
            .field("max_apps", &self.max_apps)
            .finish_non_exhaustive()
    }
}

impl TokensConfig {
    /// How long an acquired token is cached: 24 h.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3_600);
    /// How long the fly CLI may run: 15 s.
    pub const DEFAULT_CLI_TIMEOUT: Duration = Duration::from_secs(15);
    /// How long before expiry a cached token is re-acquired: 1 h.
    pub const DEFAULT_SOFT_EXPIRY_LEAD: Duration = Duration::from_secs(3_600);

    /// Where tokens are kept across restarts (default: [`MemoryStorage`]).
    /// Pass an `Arc` to keep a handle for yourself.
    pub fn storage<S: Storage>(mut self, storage: S) -> Self {
        self.storage = Arc::new(storage);
        self
    }

    /// How the fly CLI is run (default: [`NoCli`], always a miss). See
    /// [`cmd_fn`](crate::cmd_fn) to build one from a closure.
    pub fn cmd_fn<C: CmdFn>(mut self, cmd: C) -> Self {
        self.cmd_fn = Arc::new(cmd);
        self
    }

    /// Where the user's own token comes from (default: [`NoConfigFile`]). A
    /// closure `|| -> Option<Token>` works.
    pub fn config_file_fn<F: ConfigFileFn>(mut self, read: F) -> Self {
        self.config_file_fn = Arc::new(read);
        self
    }

    /// The unix-seconds clock for token expiry (default: [`SystemClock`](crate::SystemClock)).
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    /// How long a token from the config file or the CLI is cached
    /// (`expires_at = now + ttl`; default 24 h).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long the CLI may run before its future is dropped (which stops
    /// the process) and the attempt counts as a miss (default 15 s).
    pub fn cli_timeout(mut self, timeout: Duration) -> Self {
        self.cli_timeout = timeout;
        self
    }

    /// How long before a cached token expires the AppServer re-acquires it
    /// in the background (default 1 h; zero disables).
    pub fn soft_expiry_lead(mut self, lead: Duration) -> Self {
        self.soft_expiry_lead = lead;
        self
    }

    /// Whether the user's own token (`FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`,
    /// the config file) is consulted at all (default `true`).
    pub fn config_file_enabled(mut self, enabled: bool) -> Self {
        self.config_file_enabled = enabled;
        self
    }

    /// The Fly org passed to the CLI as `-o ORG`.
    pub fn org(mut self, org: impl Into<Arc<str>>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Which token the CLI mints (default [`TokenKind::Readonly`]).
    pub fn token_kind(mut self, kind: TokenKind) -> Self {
        self.token_kind = kind;
        self
    }

    /// The name of the stack's root supervisor, in events and logs
    /// (default `tokens`). Names are labels only: stacks never share state.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Refuse to run more than `max` AppServers at once (default: no cap).
    pub fn max_apps(mut self, max: usize) -> Self {
        self.max_apps = Some(max);
        self
    }

    /// The configured TTL.
    pub fn get_ttl(&self) -> Duration {
        self.ttl
    }

    /// The configured CLI timeout.
    pub fn get_cli_timeout(&self) -> Duration {
        self.cli_timeout
    }

    /// The configured soft-expiry lead.
    pub fn get_soft_expiry_lead(&self) -> Duration {
        self.soft_expiry_lead
    }

    /// Whether the user's own token is consulted.
    pub fn is_config_file_enabled(&self) -> bool {
        self.config_file_enabled
    }

    /// The configured org.
    pub fn get_org(&self) -> Option<&str> {
        self.org.as_deref()
    }

    /// Which token the CLI mints.
    pub fn get_token_kind(&self) -> TokenKind {
        self.token_kind
    }

    /// The arguments of the CLI call for `app` (the program is `fly`):
    /// `tokens create readonly` with `-o ORG` when an org is set (without a
    /// terminal and without an org flyctl refuses: "slug argument must be
    /// specified when not running interactively"), or `tokens create deploy
    /// -a APP` for [`TokenKind::Deploy`].
    ///
    /// ```
    /// use atlas_app_server::{TokenKind, TokensConfig};
    /// let c = TokensConfig::default().org("acme");
    /// assert_eq!(c.cli_args("my-app"), ["tokens", "create", "readonly", "-o", "acme"]);
    /// let c = c.token_kind(TokenKind::Deploy);
    /// assert_eq!(c.cli_args("my-app"), ["tokens", "create", "deploy", "-a", "my-app"]);
    /// ```
    pub fn cli_args<'a>(&'a self, app: &'a str) -> Vec<&'a str> {
        match self.token_kind {
            TokenKind::Readonly => {
                let mut args = vec!["tokens", "create", "readonly"];
                if let Some(org) = self.org.as_deref() {
                    args.extend(["-o", org]);
                }
                args
            }
            TokenKind::Deploy => vec!["tokens", "create", "deploy", "-a", app],
        }
    }

    /// `ttl` in whole seconds, saturating.
    pub(crate) fn ttl_secs(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_args_follow_flyctl() {
        let c = TokensConfig::default();
        assert_eq!(c.cli_args("a"), ["tokens", "create", "readonly"]);
        let c = c.org("acme");
        assert_eq!(c.cli_args("a"), ["tokens", "create", "readonly", "-o", "acme"]);
        let c = c.token_kind(TokenKind::Deploy);
        assert_eq!(c.cli_args("my-app"), ["tokens", "create", "deploy", "-a", "my-app"]);
    }

    #[test]
    fn defaults_are_the_spec_ones() {
        let c = TokensConfig::default();
        assert_eq!(c.get_ttl(), Duration::from_secs(86_400));
        assert_eq!(c.get_cli_timeout(), Duration::from_secs(15));
        assert_eq!(c.get_soft_expiry_lead(), Duration::from_secs(3_600));
        assert!(c.is_config_file_enabled());
        assert_eq!(c.get_org(), None);
    }
}
