//! The manual link: the operator's override, per app.

use crate::app_server::resolve::{refused, Cx, Miss, Outcome, ServerEnv};
use crate::{expiry, ManualFinding, Source, StorageKey};

/// No local expiry, but one past the token's own expiry is reported as
/// expired and not served.
pub(crate) async fn manual(env: &ServerEnv, cx: &Cx) -> Result<Outcome, Miss> {
    let found = env.config.storage.get(&StorageKey::Manual(env.app.clone())).await;
    let finding = match found {
        Ok(Some(rec)) if !rec.token.is_empty() => match refused(&env.app, "the manual token", &rec.token) {
            Some(e) => ManualFinding::Refused(e),
            None => match expiry::cap(rec.token.expose(), None) {
                Some(at) if at <= cx.now => ManualFinding::Expired { at },
                _ => return Ok(Outcome::hit(rec.token, Source::Manual, None)),
            },
        },
        Ok(_) => ManualFinding::None,
        Err(e) => {
            tracing::error!(app = %env.app, error = %e, "reading the manual token failed");
            ManualFinding::Failed(e)
        }
    };
    Err(Miss::Manual(finding))
}
