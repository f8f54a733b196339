//! `TokensConfig` (what a stack is made of) and `Settings` (how its
//! AppServers behave).
//!
//! The split: [`TokensConfig`] holds the stack-level parts, shared by every
//! server for the stack's whole life (storage, clock, the CLI runner, the
//! user-token reader, the tree's name and cap); [`Settings`] holds what each
//! AppServer snapshots when it starts, and what
//! [`Tokens::reconfigure`](crate::Tokens::reconfigure) replaces. A new
//! setting is one field and one builder method of `Settings` (and, for the
//! `fly-tokens` binary, one field of `atlas_fly_cli::ConfigOptions`, which
//! is the binary's flags).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::ClockRef;
use crate::{AppName, Clock, CmdFn, ConfigFileFn, MemoryStorage, NoCli, NoConfigFile, OrgName, Scope, Storage};

/// Which token the fly CLI is asked to mint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// `fly tokens create readonly -o ORG`: read-only, for the whole org,
    /// shared by every app of the org (scope [`Scope::Org`]). The default.
    #[default]
    Readonly,
    /// `fly tokens create deploy -a APP`: can deploy to and change the app,
    /// one per app (scope [`Scope::App`]).
    Deploy,
}

impl TokenKind {
    /// `readonly` or `deploy`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Readonly => "readonly",
            TokenKind::Deploy => "deploy",
        }
    }
}

/// How long past the local lifetime a minted token stays valid at Fly
/// (`--expiry` = ttl + this): enough to be served to its last second, and
/// short, so a token nobody uses any more dies on its own soon after.
pub const MINT_MARGIN: Duration = Duration::from_secs(10 * 60);

/// What each AppServer snapshots when it starts (SPEC.md §5 defaults).
///
/// ```
/// use std::time::Duration;
/// use atlas_app_server::{OrgName, Scope, Settings, AppName};
/// let s = Settings::default().org(OrgName::new("acme")?).ttl(Duration::from_secs(3_600));
/// let app = AppName::new("my-app")?;
/// let scope = s.scope_for(&app).expect("an org is set");
/// assert_eq!(
///     s.cli_args(&scope),
///     ["tokens", "create", "readonly", "-o", "acme", "--expiry", "4200s", "--name", "atlas org:acme", "--json"]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How long a minted token is cached and stored (`expires_at = now +
    /// ttl`, capped by the token's own expiry). Default 24 h.
    pub ttl: Duration,
    /// How long the user's own token sits in the in-memory table before it
    /// is read again (it is never stored). Default 60 s.
    pub user_token_ttl: Duration,
    /// How long the fly CLI may run before it is stopped. Default 15 s.
    pub cli_timeout: Duration,
    /// How long before expiry a cached token is re-acquired in the
    /// background (at a random 80–100 % of it; zero disables). Default 1 h.
    pub soft_expiry_lead: Duration,
    /// After the CLI failed for a scope, cold requests for it within this
    /// window get the same report instead of running the CLI again (zero
    /// disables). Default 10 s.
    pub failure_window: Duration,
    /// Whether the user's own token (`FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`,
    /// the config file) is consulted at all. Default `true`.
    pub config_file_enabled: bool,
    /// The org of `readonly` tokens (`-o ORG`); without it the CLI link is
    /// a miss that says to set one. Default none.
    pub org: Option<OrgName>,
    /// Which token the CLI mints. Default [`TokenKind::Readonly`].
    pub token_kind: TokenKind,
    /// Who mints, the start of every minted token's `--name` (then the
    /// scope), so an operator can find them in `fly tokens list`. Default
    /// `atlas`; `atlas-fly-cli` adds the host name.
    pub minter: Arc<str>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ttl: Self::DEFAULT_TTL,
            user_token_ttl: Self::DEFAULT_USER_TOKEN_TTL,
            cli_timeout: Self::DEFAULT_CLI_TIMEOUT,
            soft_expiry_lead: Self::DEFAULT_SOFT_EXPIRY_LEAD,
            failure_window: Self::DEFAULT_FAILURE_WINDOW,
            config_file_enabled: true,
            org: None,
            token_kind: TokenKind::Readonly,
            minter: "atlas".into(),
        }
    }
}

impl Settings {
    /// 24 h.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3_600);
    /// 60 s.
    pub const DEFAULT_USER_TOKEN_TTL: Duration = Duration::from_secs(60);
    /// 15 s.
    pub const DEFAULT_CLI_TIMEOUT: Duration = Duration::from_secs(15);
    /// 1 h.
    pub const DEFAULT_SOFT_EXPIRY_LEAD: Duration = Duration::from_secs(3_600);
    /// 10 s.
    pub const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(10);

    /// Sets [`ttl`](Self::ttl).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets [`user_token_ttl`](Self::user_token_ttl).
    pub fn user_token_ttl(mut self, ttl: Duration) -> Self {
        self.user_token_ttl = ttl;
        self
    }

    /// Sets [`cli_timeout`](Self::cli_timeout).
    pub fn cli_timeout(mut self, timeout: Duration) -> Self {
        self.cli_timeout = timeout;
        self
    }

    /// Sets [`soft_expiry_lead`](Self::soft_expiry_lead).
    pub fn soft_expiry_lead(mut self, lead: Duration) -> Self {
        self.soft_expiry_lead = lead;
        self
    }

    /// Sets [`failure_window`](Self::failure_window).
    pub fn failure_window(mut self, window: Duration) -> Self {
        self.failure_window = window;
        self
    }

    /// Sets [`config_file_enabled`](Self::config_file_enabled).
    pub fn config_file_enabled(mut self, enabled: bool) -> Self {
        self.config_file_enabled = enabled;
        self
    }

    /// Sets [`org`](Self::org).
    pub fn org(mut self, org: OrgName) -> Self {
        self.org = Some(org);
        self
    }

    /// Sets [`token_kind`](Self::token_kind).
    pub fn token_kind(mut self, kind: TokenKind) -> Self {
        self.token_kind = kind;
        self
    }

    /// Sets [`minter`](Self::minter).
    pub fn minter(mut self, minter: impl Into<Arc<str>>) -> Self {
        self.minter = minter.into();
        self
    }

    /// The scope `app`'s minted token is for: its org for `readonly`
    /// (`None` when no org is set), the app itself for `deploy`.
    pub fn scope_for(&self, app: &AppName) -> Option<Scope> {
        match self.token_kind {
            TokenKind::Readonly => self.org.clone().map(Scope::Org),
            TokenKind::Deploy => Some(Scope::App(app.clone())),
        }
    }

    /// The `--expiry` of a minted token, as a Go duration (flyctl parses it
    /// with `time.ParseDuration`): the local lifetime plus [`MINT_MARGIN`].
    pub fn mint_expiry(&self) -> String {
        format!("{}s", (self.ttl + MINT_MARGIN).as_secs())
    }

    /// The `--name` of a minted token: the minter, then the scope.
    pub fn mint_name(&self, scope: &Scope) -> String {
        format!("{} {scope}", self.minter)
    }

    /// The arguments of the CLI call that mints `scope`'s token (the program
    /// is `fly`): `tokens create readonly -o ORG` for an org, `tokens create
    /// deploy -a APP` for an app, then `--expiry D --name N --json`.
    pub fn cli_args(&self, scope: &Scope) -> Vec<String> {
        let mut args: Vec<String> = match scope {
            Scope::Org(org) => ["tokens", "create", "readonly", "-o", org.as_str()]
                .map(str::to_owned)
                .into(),
            Scope::App(app) => ["tokens", "create", "deploy", "-a", app.as_str()]
                .map(str::to_owned)
                .into(),
        };
        args.extend([
            "--expiry".to_owned(),
            self.mint_expiry(),
            "--name".to_owned(),
            self.mint_name(scope),
            "--json".to_owned(),
        ]);
        args
    }
}

/// Whole seconds of `d`, saturating.
pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// What a token stack is made of: where it reaches the world (storage, the
/// CLI runner, the user's own token, the clock), its name and cap, and the
/// [`Settings`] its AppServers start with.
///
/// `TokensConfig::default()` is in-memory storage, no fly CLI (every CLI
/// attempt is an honest miss, never a fake token), no user token, the
/// system clock and `Settings::default()`.
///
/// ```
/// use std::time::Duration;
/// use atlas_app_server::{cmd_fn, CmdOutput, OrgName, TokensConfig};
/// let config = TokensConfig::default()
///     .cmd_fn(cmd_fn(|_program, _args| async {
///         Ok(CmdOutput::new(0, "{\"token\":\"FlyV1 fm2_abc\"}\n", ""))
///     }))
///     .configure(|s| s.ttl(Duration::from_secs(3_600)).org(OrgName::new("my-org").expect("valid")));
/// assert_eq!(config.get_settings().ttl, Duration::from_secs(3_600));
/// ```
#[derive(Clone)]
pub struct TokensConfig {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) cmd_fn: Arc<dyn CmdFn>,
    pub(crate) config_file_fn: Arc<dyn ConfigFileFn>,
    pub(crate) clock: ClockRef,
    pub(crate) name: Arc<str>,
    pub(crate) max_apps: Option<usize>,
    pub(crate) settings: Settings,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            storage: Arc::new(MemoryStorage::new()),
            cmd_fn: Arc::new(NoCli),
            config_file_fn: Arc::new(NoConfigFile),
            clock: ClockRef::System,
            name: "tokens".into(),
            max_apps: None,
            settings: Settings::default(),
        }
    }
}

impl fmt::Debug for TokensConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokensConfig")
            .field("name", &self.name)
            .field("max_apps", &self.max_apps)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokensConfig {
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

    /// Replaces the settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Adjusts the settings: `config.configure(|s| s.ttl(hour).org(acme))`.
    pub fn configure(mut self, adjust: impl FnOnce(Settings) -> Settings) -> Self {
        self.settings = adjust(self.settings);
        self
    }

    /// The settings.
    pub fn get_settings(&self) -> &Settings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(s: &str) -> OrgName {
        OrgName::new(s).expect("valid")
    }

    #[test]
    fn cli_args_follow_flyctl() {
        let s = Settings::default().minter("atlas@host");
        let app = AppName::new("my-app").expect("valid");
        assert_eq!(s.scope_for(&app), None, "no org, no readonly scope");
        let s = s.org(org("acme"));
        let scope = s.scope_for(&app).expect("org");
        assert_eq!(
            s.cli_args(&scope),
            [
                "tokens",
                "create",
                "readonly",
                "-o",
                "acme",
                "--expiry",
                "87000s",
                "--name",
                "atlas@host org:acme",
                "--json"
            ]
        );
        let s = s.token_kind(TokenKind::Deploy);
        let scope = s.scope_for(&app).expect("app");
        assert_eq!(
            s.cli_args(&scope),
            [
                "tokens",
                "create",
                "deploy",
                "-a",
                "my-app",
                "--expiry",
                "87000s",
                "--name",
                "atlas@host app:my-app",
                "--json"
            ]
        );
    }

    #[test]
    fn the_mint_expiry_covers_the_ttl_and_at_most_an_hour_more() {
        for ttl in [60, 3_600, 86_400, 7 * 86_400] {
            let s = Settings::default().ttl(Duration::from_secs(ttl));
            let d: u64 = s.mint_expiry().trim_end_matches('s').parse().expect("seconds");
            assert!(d > ttl && d <= ttl + 3_600, "{ttl} -> {d}");
        }
    }

    #[test]
    fn defaults_are_the_spec_ones() {
        let s = Settings::default();
        assert_eq!(s.ttl, Duration::from_secs(86_400));
        assert_eq!(s.user_token_ttl, Duration::from_secs(60));
        assert_eq!(s.cli_timeout, Duration::from_secs(15));
        assert_eq!(s.soft_expiry_lead, Duration::from_secs(3_600));
        assert_eq!(s.failure_window, Duration::from_secs(10));
        assert!(s.config_file_enabled);
        assert_eq!(s.org, None);
    }
}
