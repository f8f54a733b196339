//! The user-token link: `FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`, `config.yml`.

use crate::app_server::resolve::{refused, Cx, Miss, Outcome, ServerEnv};
use crate::config::secs;
use crate::seams::UserTokenRead;
use crate::{expiry, Source, UserTokenFinding, USER_TOKEN_READ_TIMEOUT};

/// The user's own token is theirs: it goes in the table for
/// `user_token_ttl` (capped by its own expiry) and is **never stored**, so
/// a changed or removed value wins on the next miss, and a process started
/// with the user token disabled never sees one.
///
/// The read runs off the worker and is bounded: it may read a file. The
/// stack's apps share a read in flight (the token is the user's, not an app's).
pub(crate) async fn user_token(env: &ServerEnv, cx: &Cx) -> Result<Outcome, Miss> {
    let settings = &env.config.settings;
    let app = &env.app;
    if !settings.config_file_enabled {
        return Err(Miss::UserToken(UserTokenFinding::Disabled));
    }
    let read = env
        .inc
        .user_token_reads
        .read(&env.config.config_file_fn, USER_TOKEN_READ_TIMEOUT);
    let token = match read.await {
        UserTokenRead::Done(Some(token)) if !token.is_empty() && Some(&token) != cx.mode.replacing() => token,
        UserTokenRead::Done(_) => return Err(Miss::UserToken(UserTokenFinding::None)),
        UserTokenRead::TimedOut => {
            tracing::warn!(
                app = %app,
                timeout_ms = u64::try_from(USER_TOKEN_READ_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
                "reading your own token (environment, fly config file) timed out; skipping it"
            );
            return Err(Miss::UserToken(UserTokenFinding::TimedOut {
                after: USER_TOKEN_READ_TIMEOUT,
            }));
        }
        UserTokenRead::Panicked => {
            tracing::warn!(app = %app, "reading your own token panicked; skipping it");
            return Err(Miss::UserToken(UserTokenFinding::None));
        }
    };
    if let Some(e) = refused(app, "your own token", &token) {
        return Err(Miss::UserToken(UserTokenFinding::Refused(e)));
    }
    let local = cx.now.saturating_add(secs(settings.user_token_ttl));
    match expiry::cap(token.expose(), Some(local)) {
        Some(at) if at > cx.now => {
            env.inc.table.put(&env.app, token.clone(), at);
            Ok(Outcome::hit(token, Source::Config, Some(at)))
        }
        _ => Err(Miss::UserToken(UserTokenFinding::Expired)),
    }
}
