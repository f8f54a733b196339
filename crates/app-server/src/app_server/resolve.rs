//! The resolution chain of SPEC.md §5, run inside the AppServer.
//!
//! **The order of the links is stated here, in [`CHAIN`], and nowhere
//! else.** Each link lives in its own file under `links/` and answers a hit
//! or a miss with its finding; adding a link is a variant of [`Link`], its
//! place in `CHAIN`, its file, and its finding in the report.

use std::sync::Arc;

use super::links;
use super::request::Resolved;
use crate::tree::Incarnation;
use crate::{check_token_text, TokenTextError};
use crate::{
    AppName, CliFinding, ManualFinding, NoTokenReport, Scope, Source, StorageFinding, Token, TokenError, TokensConfig,
    UserTokenFinding,
};

/// One link of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// The table again (coalescing), then the scope's current token.
    Cache,
    /// The stored minted record of the app's scope.
    Store,
    /// The user's own token (environment, config file); never stored.
    UserToken,
    /// `fly tokens create`, once per scope (the single flight).
    Cli,
    /// The stored manual override of the app.
    Manual,
}

/// The chain, first hit wins.
pub(crate) const CHAIN: [Link; 5] = [Link::Cache, Link::Store, Link::UserToken, Link::Cli, Link::Manual];

/// What one AppServer incarnation works with: its config snapshot, and
/// the table, scopes and task supervisor of the tree incarnation it was
/// started in (never a newer one's).
pub(crate) struct ServerEnv {
    pub(crate) app: AppName,
    pub(crate) config: Arc<TokensConfig>,
    pub(crate) inc: Arc<Incarnation>,
}

/// Which links a resolution accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A get: the table again, then the rest.
    Normal,
    /// A refresh or soft-expiry re-resolution: the table is skipped, and so
    /// is any copy (the scope's current token, the stored record, the
    /// user's token) equal to the token being replaced; a newer one stored
    /// meanwhile is taken.
    Replace(Option<Token>),
}

impl Mode {
    /// The token being replaced, if any.
    pub(crate) fn replacing(&self) -> Option<&Token> {
        match self {
            Mode::Normal => None,
            Mode::Replace(t) => t.as_ref(),
        }
    }
}

/// What the links of one resolution share.
pub(crate) struct Cx {
    pub(crate) mode: Mode,
    pub(crate) now: i64,
    pub(crate) scope: Option<Scope>,
}

/// A resolution's answer, and the expiry of a token it just cached (which
/// anchors the soft-expiry timer).
pub(crate) struct Outcome {
    pub(crate) resolved: Resolved,
    pub(crate) cached_until: Option<i64>,
}

impl Outcome {
    pub(crate) fn hit(token: Token, source: Source, cached_until: Option<i64>) -> Self {
        Self {
            resolved: Resolved {
                result: Ok(token),
                source,
            },
            cached_until,
        }
    }
}

/// What a link that had no token found.
pub(crate) enum Miss {
    Cache,
    Storage(StorageFinding),
    UserToken(UserTokenFinding),
    Cli(CliFinding),
    Manual(ManualFinding),
}

impl ServerEnv {
    /// Runs the chain; the first link with a token wins.
    pub(crate) async fn resolve(&self, mode: Mode) -> Outcome {
        let cx = Cx {
            mode,
            now: self.config.clock.now(),
            scope: self.config.settings.scope_for(&self.app),
        };
        let mut report = NoTokenReport {
            app: self.app.clone(),
            scope: cx.scope.clone(),
            storage: StorageFinding::None,
            user_token: UserTokenFinding::None,
            cli: CliFinding::NotRun("not reached".into()),
            manual: ManualFinding::None,
        };
        for link in CHAIN {
            let step = match link {
                Link::Cache => links::cache(self, &cx),
                Link::Store => links::store(self, &cx).await,
                Link::UserToken => links::user_token(self, &cx).await,
                Link::Cli => links::cli(self, &cx).await,
                Link::Manual => links::manual(self, &cx).await,
            };
            match step {
                Ok(outcome) => return outcome,
                Err(Miss::Cache) => {}
                Err(Miss::Storage(f)) => report.storage = f,
                Err(Miss::UserToken(f)) => report.user_token = f,
                Err(Miss::Cli(f)) => report.cli = f,
                Err(Miss::Manual(f)) => report.manual = f,
            }
        }
        tracing::debug!(app = %self.app, %report, "no token available");
        Outcome {
            resolved: Resolved {
                result: Err(TokenError::NoTokenAvailable(Box::new(report))),
                source: Source::None,
            },
            cached_until: None,
        }
    }

    /// Puts the scope's token in the table for this app, and notes that the
    /// app holds it (an invalidation of the scope drops it here too).
    pub(crate) fn hold_scope_token(&self, scope: &Scope, token: &Token, expires_at: i64) {
        self.inc.table.put(&self.app, token.clone(), expires_at);
        self.inc.scopes.slot(scope).served(&self.app);
    }
}

/// The check of SPEC.md §5 on a value a link found: `Some` (and a warning
/// saying where the bad character is, never the value) when it cannot be a
/// token, which makes it that link's miss.
pub(crate) fn refused(app: &AppName, what: &str, token: &Token) -> Option<TokenTextError> {
    let problem = check_token_text(token.expose()).err()?;
    tracing::warn!(app = %app, %problem, "{what} is not one line of printable characters; not using it");
    Some(problem)
}
