//! The registry's errors.

use std::fmt;

/// `register` found the key held by a live server (OTP's
/// `{error, {already_started, Pid}}`); it carries that server's handle.
#[derive(Clone, thiserror::Error)]
#[error("the key is already registered to a live server")]
pub struct AlreadyRegistered<H> {
    pub(crate) existing: H,
}

impl<H> AlreadyRegistered<H> {
    /// The handle of the server that holds the key.
    pub fn existing(&self) -> &H {
        &self.existing
    }

    /// Takes the handle of the server that holds the key.
    pub fn into_existing(self) -> H {
        self.existing
    }
}

// By hand: handles need not be `Debug`, and may hold things not to print.
impl<H> fmt::Debug for AlreadyRegistered<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlreadyRegistered").finish_non_exhaustive()
    }
}

/// Why [`Registry::start_or_lookup`](crate::Registry::start_or_lookup) has no
/// handle to give.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartOrLookupError<E> {
    /// The start function failed and no server holds the key.
    #[error("starting the server failed: {0}")]
    Start(E),
    /// The start function succeeded but no server registered the key before
    /// it returned: the server must register itself during its start (as an
    /// OTP server registers in `init`, before `start_link` returns).
    #[error("the start succeeded but the server never registered its key")]
    NotRegistered,
    /// Each server started for the key registered and then exited before its
    /// handle could be handed out, this many times in a row.
    #[error("the server exited right after registering, {0} times in a row")]
    Exited(u32),
}
