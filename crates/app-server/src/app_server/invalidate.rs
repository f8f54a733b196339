//! Invalidation: the rejected token leaves the table, the scope and the
//! store, for every app of its scope.

use crate::tree::Incarnation;
use crate::{AppName, StorageError, Token, TokensConfig};

/// Drops the token `app` was served: its table entry; and, when it is (or,
/// for an app that holds nothing, would be) the scope's minted token, the
/// scope's current token, the table entries of every app of the scope that
/// holds it, and the stored record, compared by token, after voiding every
/// persist queued before (`persist.rs`). Returns the token replaced, which
/// the re-resolution of a refresh must not take back.
///
/// The scope is the one `app` resolves to under `config`, so a process that
/// never served the app (a fresh `fly-tokens invalidate APP`) still finds
/// the stored record. The manual token is never touched. Once the record is
/// gone, every other stack that shares the store is told to drop the
/// scope's token too ([`Storage::publish_invalidation`](crate::Storage::publish_invalidation)).
///
/// When the store fails, the token has still left this process's memory:
/// the error comes with the token replaced.
pub(crate) async fn invalidate(
    inc: &Incarnation,
    config: &TokensConfig,
    app: &AppName,
) -> Result<Option<Token>, StoreFailed> {
    let served = inc.table.token(app.as_str());
    inc.table.remove(app.as_str());
    let Some(scope) = config.settings.scope_for(app) else {
        return Ok(served);
    };
    let slot = inc.scopes.get(&scope);
    let current = slot.as_ref().and_then(|s| s.current_token());
    let replaced = served.or(current);
    if let (Some(slot), Some(token)) = (&slot, &replaced) {
        for other in slot.drop_token(token) {
            if inc.table.token(other.as_str()).as_ref() == Some(token) {
                inc.table.remove(other.as_str());
            }
        }
    }
    let deleted = match inc.lanes.invalidate(&*config.storage, &scope, replaced.as_ref()).await {
        Ok(deleted) => deleted,
        Err(error) => return Err(StoreFailed { error, replaced }),
    };
    // The record is gone: no other stack can read it back after this.
    if let Err(e) = config.storage.publish_invalidation(&scope).await {
        tracing::warn!(scope = %scope, error = %e, "could not tell the other stacks sharing the store to drop the token");
    }
    Ok(replaced.or(deleted))
}

/// The store step of an invalidation failed.
pub(crate) struct StoreFailed {
    pub(crate) error: StorageError,
    /// The token that left this process's memory, if it held one.
    pub(crate) replaced: Option<Token>,
}
