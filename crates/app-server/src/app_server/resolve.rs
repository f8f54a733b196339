//! The resolution chain of SPEC.md §5, run inside the AppServer.

use std::sync::Arc;

use super::cli;
use super::request::Resolved;
use crate::seams::{read_user_token, UserTokenRead};
use crate::tree::Incarnation;
use crate::{
    check_token_text, AppName, ManualFinding, NoTokenReport, Source, StorageFinding, StorageKey, Token, TokenError,
    TokenRecord, TokenTextError, TokensConfig, UserTokenFinding, USER_TOKEN_READ_TIMEOUT,
};

/// What one AppServer incarnation works with: its settings snapshot, and
/// the table and task supervisor of the tree incarnation it was started in
/// (never a newer one's).
pub(crate) struct ServerEnv {
    pub(crate) app: AppName,
    pub(crate) settings: Arc<TokensConfig>,
    pub(crate) inc: Arc<Incarnation>,
}

/// Which links a resolution starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A get: the table again, then storage, then the rest.
    Normal,
    /// A refresh or soft-expiry re-resolution: the table and the stored
    /// copy hold the token being replaced, so both are skipped.
    Replace,
}

/// A resolution's answer, and the expiry of a token it just cached (which
/// anchors the soft-expiry timer).
pub(crate) struct Outcome {
    pub(crate) resolved: Resolved,
    pub(crate) cached_until: Option<i64>,
}

impl Outcome {
    fn hit(token: Token, source: Source, cached_until: Option<i64>) -> Self {
        Self {
            resolved: Resolved {
                result: Ok(token),
                source,
            },
            cached_until,
        }
    }
}

impl ServerEnv {
    /// Runs the chain; the first link with a token wins.
    pub(crate) async fn resolve(&self, mode: Mode) -> Outcome {
        let settings = &*self.settings;
        let app = &self.app;
        let now = settings.clock.now();

        let storage = match mode {
            Mode::Replace => StorageFinding::Skipped,
            Mode::Normal => {
                // A caller who queued behind another finds its token here:
                // that is coalescing.
                if let Some(token) = self.inc.table.get(app.as_str(), now) {
                    return Outcome::hit(token, Source::Cache, None);
                }
                match settings.storage.get(app, StorageKey::Cached).await {
                    Ok(Some(TokenRecord {
                        token,
                        expires_at: Some(at),
                    })) if at > now && !token.is_empty() => match refused(app, "the stored cached token", &token) {
                        None => {
                            self.inc.table.put(app, token.clone(), at);
                            return Outcome::hit(token, Source::Storage, Some(at));
                        }
                        Some(e) => StorageFinding::Refused(e),
                    },
                    Ok(Some(rec)) => StorageFinding::Expired {
                        expires_at: rec.expires_at,
                    },
                    Ok(None) => StorageFinding::None,
                    Err(e) => {
                        tracing::warn!(app = %app, error = %e, "reading the stored cached token failed");
                        StorageFinding::Failed(e)
                    }
                }
            }
        };

        let user_token = if !settings.config_file_enabled {
            UserTokenFinding::Disabled
        } else {
            // Off the worker and bounded: it may read a file.
            match read_user_token(&settings.config_file_fn, USER_TOKEN_READ_TIMEOUT).await {
                UserTokenRead::Done(Some(token)) if !token.is_empty() => match refused(app, "your own token", &token) {
                    None => {
                        let at = self.cache(token.clone()).await;
                        return Outcome::hit(token, Source::Config, Some(at));
                    }
                    Some(e) => UserTokenFinding::Refused(e),
                },
                UserTokenRead::Done(_) => UserTokenFinding::None,
                UserTokenRead::TimedOut => {
                    tracing::warn!(
                        app = %app,
                        timeout_ms = u64::try_from(USER_TOKEN_READ_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
                        "reading your own token (environment, fly config file) timed out; skipping it"
                    );
                    UserTokenFinding::TimedOut {
                        after: USER_TOKEN_READ_TIMEOUT,
                    }
                }
                UserTokenRead::Panicked => {
                    tracing::warn!(app = %app, "reading your own token panicked; skipping it");
                    UserTokenFinding::None
                }
            }
        };

        let cli = match cli::acquire(settings, app).await {
            Ok(token) => {
                let at = self.cache(token.clone()).await;
                return Outcome::hit(token, Source::Cli, Some(at));
            }
            Err(found) => found,
        };

        let manual = match settings.storage.get(app, StorageKey::Manual).await {
            Ok(Some(rec)) if !rec.token.is_empty() => match refused(app, "the manual token", &rec.token) {
                None => return Outcome::hit(rec.token, Source::Manual, None),
                Some(e) => ManualFinding::Refused(e),
            },
            Ok(_) => ManualFinding::None,
            Err(e) => {
                tracing::error!(app = %app, error = %e, "reading the manual token failed");
                ManualFinding::Failed(e)
            }
        };

        let report = NoTokenReport {
            app: app.clone(),
            storage,
            user_token,
            cli,
            manual,
        };
        tracing::debug!(app = %app, %report, "no token available");
        Outcome {
            resolved: Resolved {
                result: Err(TokenError::NoTokenAvailable(Box::new(report))),
                source: Source::None,
            },
            cached_until: None,
        }
    }

    /// Puts a newly acquired token in the table (`expires_at = now + ttl`)
    /// and queues its persist; returns `expires_at`.
    async fn cache(&self, token: Token) -> i64 {
        let at = self.settings.clock.now().saturating_add(self.settings.ttl_secs());
        self.inc.table.put(&self.app, token.clone(), at);
        let record = TokenRecord {
            token,
            expires_at: Some(at),
        };
        let inc = &self.inc;
        inc.lanes
            .persist(&inc.tasks, self.settings.storage.clone(), self.app.clone(), record)
            .await;
        at
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
