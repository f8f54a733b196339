//! The CLI link: the scope's single flight (`flight.rs`).

use crate::app_server::resolve::{Cx, Miss, Outcome, ServerEnv};
use crate::CliFinding;

/// Mints (or, after waiting for another app's flight, takes) the scope's
/// token. With no scope (`readonly` and no org) it is a miss that says to
/// set one.
pub(crate) async fn cli(env: &ServerEnv, cx: &Cx) -> Result<Outcome, Miss> {
    let scope = cx.scope.as_ref().ok_or(Miss::Cli(CliFinding::NoOrg))?;
    match env.mint(scope, cx.mode.replacing()).await {
        Ok((token, at, source)) => {
            env.hold_scope_token(scope, &token, at);
            Ok(Outcome::hit(token, source, Some(at)))
        }
        Err(finding) => Err(Miss::Cli(finding)),
    }
}
