//! What callers ask an AppServer, and what it answers.

use tokio::sync::oneshot;

use crate::{Source, Token, TokenError};

/// A resolution's answer: the token (or why none) and which link gave it.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) result: Result<Token, TokenError>,
    pub(crate) source: Source,
}

/// One request in an AppServer's mailbox.
pub(crate) enum Request {
    /// Resolve (table re-check first: a caller who queued behind another may
    /// find the token already there).
    Get(oneshot::Sender<Resolved>),
    /// Invalidate, then resolve without taking the replaced token back, as
    /// one step.
    Refresh(oneshot::Sender<Resolved>),
    /// Drop the token the app was served, for its whole scope, in the table
    /// and the store.
    Invalidate(oneshot::Sender<Result<(), TokenError>>),
    /// Store the manual override, synchronously.
    SetManual(Token, oneshot::Sender<Result<(), TokenError>>),
    /// Remove the manual override, synchronously.
    ClearManual(oneshot::Sender<Result<(), TokenError>>),
}

impl Request {
    /// The reply sender of a get (or, with `refresh_too`, of a refresh);
    /// any other request is given back.
    pub(crate) fn into_resolve_reply(self, refresh_too: bool) -> Result<oneshot::Sender<Resolved>, Request> {
        match self {
            Request::Get(tx) => Ok(tx),
            Request::Refresh(tx) if refresh_too => Ok(tx),
            other => Err(other),
        }
    }
}
