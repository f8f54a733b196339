//! `TokenError`: what the facade returns. No variant ever holds a token.

use crate::{AppNameError, NoTokenReport, StorageError, TokenTextError};

/// Why a token operation failed. Messages never contain a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Every link of the chain missed; the report says what each found.
    #[error("{0}")]
    NoTokenAvailable(Box<NoTokenReport>),
    /// The app name is not a valid Fly app name.
    #[error("invalid app name: {0}")]
    InvalidAppName(#[from] AppNameError),
    /// `set_manual` could not store the manual token (it cannot be
    /// re-acquired, so the failure is the caller's to handle).
    #[error("manual token persist failed: {0}")]
    PersistFailed(StorageError),
    /// A synchronous storage operation (`invalidate`, `clear_manual`) failed.
    #[error("storage failed: {0}")]
    Storage(StorageError),
    /// The token given to `set_manual` is empty.
    #[error("the token is empty")]
    EmptyToken,
    /// The token given to `set_manual` is not one line of printable
    /// characters (see [`check_token_text`](crate::check_token_text)).
    #[error("not a token: {0}")]
    InvalidToken(TokenTextError),
    /// The app's server stopped before it answered (crashed, killed, or the
    /// stack is restarting).
    #[error("the AppServer for {0} stopped before it answered")]
    ServerDown(crate::AppName),
    /// The stack is shut down, or its tree gave up restarting.
    #[error("the token stack is not running")]
    StackDown,
    /// The stack's tree could not start.
    #[error("the token stack could not start: {0}")]
    StartFailed(atlas_supervisor::StartError),
    /// `max_apps` AppServers are running already.
    #[error("too many apps: the AppServer limit is reached")]
    TooManyApps,
}

impl TokenError {
    /// The report, when no token was available.
    pub fn no_token_report(&self) -> Option<&NoTokenReport> {
        match self {
            TokenError::NoTokenAvailable(r) => Some(r),
            _ => None,
        }
    }
}
