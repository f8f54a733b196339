//! The store link: the stored minted record of the app's scope.

use crate::app_server::resolve::{refused, Cx, Miss, Outcome, ServerEnv};
use crate::{expiry, Source, StorageFinding, StorageKey, Token, TokenRecord};

/// A hit only while its `expires_at`, capped by the token's own expiry, is
/// in the future; the hit becomes the scope's current token and goes in the
/// table.
pub(crate) async fn store(env: &ServerEnv, cx: &Cx) -> Result<Outcome, Miss> {
    let scope = cx.scope.as_ref().ok_or(Miss::Storage(StorageFinding::NoScope))?;
    let found = env.config.storage.get(&StorageKey::Minted(scope.clone())).await;
    let finding = match found {
        Ok(None) => StorageFinding::None,
        Ok(Some(rec)) => match usable(env, rec, cx.mode.replacing(), cx.now) {
            Ok((token, at)) => {
                env.inc.scopes.slot(scope).set_current(token.clone(), at);
                env.hold_scope_token(scope, &token, at);
                return Ok(Outcome::hit(token, Source::Storage, Some(at)));
            }
            Err(finding) => finding,
        },
        Err(e) => {
            tracing::warn!(app = %env.app, scope = %scope, error = %e, "reading the stored minted token failed");
            StorageFinding::Failed(e)
        }
    };
    Err(Miss::Storage(finding))
}

/// Whether a stored minted record can be served at `now`: not the token
/// being replaced, unexpired once capped by the token's own expiry, one
/// line of printable characters. The token and its capped expiry, or why
/// not. (The flight's look in the store applies the same rule.)
pub(crate) fn usable(
    env: &ServerEnv,
    rec: TokenRecord,
    replacing: Option<&Token>,
    now: i64,
) -> Result<(Token, i64), StorageFinding> {
    if Some(&rec.token) == replacing {
        return Err(StorageFinding::Skipped);
    }
    match expiry::cap(rec.token.expose(), rec.expires_at) {
        Some(at) if at > now && !rec.token.is_empty() => match refused(&env.app, "the stored minted token", &rec.token)
        {
            Some(e) => Err(StorageFinding::Refused(e)),
            None => Ok((rec.token, at)),
        },
        expires_at => Err(StorageFinding::Expired { expires_at }),
    }
}
