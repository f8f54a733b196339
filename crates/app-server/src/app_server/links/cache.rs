//! The cache link: the table again, then the scope's current token.

use crate::app_server::resolve::{Cx, Miss, Mode, Outcome, ServerEnv};
use crate::Source;

/// A caller who queued behind another finds its token in the table: that
/// is coalescing. A cold app of a scope that already has a token takes it
/// from the scope, with no store read and no CLI run. A re-resolution
/// skips the table (it holds the token being replaced) and takes the
/// scope's token only if it is a newer one.
pub(crate) fn cache(env: &ServerEnv, cx: &Cx) -> Result<Outcome, Miss> {
    if cx.mode == Mode::Normal {
        if let Some(token) = env.inc.table.get(env.app.as_str(), cx.now) {
            return Ok(Outcome::hit(token, Source::Cache, None));
        }
    }
    let scope = cx.scope.as_ref().ok_or(Miss::Cache)?;
    let slot = env.inc.scopes.get(scope).ok_or(Miss::Cache)?;
    match slot.current(cx.now) {
        Some((token, at)) if Some(&token) != cx.mode.replacing() => {
            env.hold_scope_token(scope, &token, at);
            Ok(Outcome::hit(token, Source::Cache, Some(at)))
        }
        _ => Err(Miss::Cache),
    }
}
