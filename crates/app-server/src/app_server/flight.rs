//! The single flight of a scope: look again → acquire → write.
//!
//! One function, [`ServerEnv::mint`], is the whole critical section, so a
//! store that coordinates processes or machines (a `flock` beside the file
//! store's record, a Redis lease) slots in through
//! [`Storage::lock_scope`](crate::Storage::lock_scope) and the failure note
//! ([`Storage::note_failure`](crate::Storage::note_failure),
//! [`Storage::failure_note`](crate::Storage::failure_note)):
//!
//! 1. the in-process flight comes first, so a process asks the store's
//!    lock once per scope, not once per caller;
//! 2. the lock is waited for at most the CLI timeout plus
//!    [`LOCK_WAIT_MARGIN`] (the longest a live holder can need), then the
//!    flight goes on without it, with a warning: a holder that hangs costs
//!    the others one wait, never their token;
//! 3. under the lock, the store is read again (another process may have
//!    written the token), then the failure note: a failure noted while this
//!    flight waited is its answer as it is, an older one within the failure
//!    window is [`CliFinding::RecentlyFailed`], so N processes behind a
//!    failing CLI run it once, not N times;
//! 4. a failing run leaves its note before the lock is released; a run
//!    that succeeds clears a note it found; the lease is released when the
//!    minted token's write has landed.

use std::time::{Duration, SystemTime};

use super::cli;
use super::resolve::ServerEnv;
use crate::config::secs;
use crate::scopes::ScopeSlot;
use crate::{expiry, CliFinding, FailureNote, Scope, ScopeLease, Source, StorageKey, Token, TokenRecord};

/// How much longer than the CLI timeout a flight waits for the store's
/// lock of its scope before it acquires without it: room for the holder's
/// reads, the killing of a CLI that timed out and the write of the token.
pub const LOCK_WAIT_MARGIN: Duration = Duration::from_secs(5);

impl ServerEnv {
    /// The scope's token: the one a concurrent flight just produced (source
    /// `cache`), a newer one found in the store (`storage`), or a new one
    /// from the CLI (`cli`), which becomes the scope's current token and is
    /// persisted in the background. `replacing` (a refresh, a soft expiry)
    /// is never taken back.
    ///
    /// Failures: the callers that waited behind a failing flight share its
    /// failure, and cold requests within `failure_window` of it get
    /// [`CliFinding::RecentlyFailed`] without a new run.
    pub(crate) async fn mint(
        &self,
        scope: &Scope,
        replacing: Option<&Token>,
    ) -> Result<(Token, i64, Source), CliFinding> {
        let config = &self.config;
        let slot = self.inc.scopes.slot(scope);
        let seen = slot.attempts();
        let _flight = loop {
            // Registered before the look, so a flight that lands between
            // the look and the wait still wakes us.
            let landed = slot.landed.notified();
            tokio::pin!(landed);
            landed.as_mut().enable();
            // Look again: another app's flight may have ended meanwhile.
            let now = config.clock.now();
            if let Some((token, at)) = slot.current(now).filter(|(t, _)| Some(t) != replacing) {
                return Ok((token, at, Source::Cache));
            }
            if let Some(failure) = slot.recent_failure(seen, config.settings.failure_window) {
                return Err(failure);
            }
            match slot.flight.try_lock() {
                Ok(guard) => {
                    break Landing {
                        slot: &slot,
                        guard: Some(guard),
                    }
                }
                Err(_) => landed.await,
            }
        };
        let waited_from = crate::seams::wall_now();
        let lease = self.lock(scope).await;
        let now = config.clock.now();
        // And in the store: another process may have written it.
        let key = StorageKey::Minted(scope.clone());
        if let Ok(Some(rec)) = config.storage.get(&key).await {
            if let Ok((token, at)) = super::links::usable_stored(self, rec, replacing, now) {
                slot.set_current(token.clone(), at);
                return Ok((token, at, Source::Storage));
            }
        }
        // Or its failure: another process may have just run a failing CLI.
        let noted = match config.storage.failure_note(scope).await {
            Ok(noted) => noted,
            Err(e) => {
                tracing::debug!(scope = %scope, error = %e, "cannot read the scope's failure note");
                None
            }
        };
        if let Some(note) = &noted {
            if let Some(finding) = self.answer_note(&slot, note, waited_from) {
                return Err(finding);
            }
        }

        // Acquire.
        let token = match cli::acquire(config, &self.app, scope).await {
            Ok(token) => token,
            Err(finding) => {
                slot.ran(Some(&finding));
                self.note(scope, Some(&finding)).await;
                return Err(finding);
            }
        };
        let now = config.clock.now();
        let local = now.saturating_add(secs(config.settings.ttl));
        let at = match expiry::cap(token.expose(), Some(local)) {
            Some(at) if at > now => at,
            _ => {
                tracing::warn!(scope = %scope, "`fly tokens create` printed a token that has already expired");
                slot.ran(Some(&CliFinding::AlreadyExpired));
                self.note(scope, Some(&CliFinding::AlreadyExpired)).await;
                return Err(CliFinding::AlreadyExpired);
            }
        };
        slot.ran(None);
        slot.set_current(token.clone(), at);
        if noted.is_some() {
            self.note(scope, None).await;
        }

        // Write, in the background, holding the lease until it lands.
        let record = TokenRecord::minted(scope.clone(), token.clone(), at);
        let inc = &self.inc;
        inc.lanes
            .persist(&inc.tasks, config.storage.clone(), self.app.clone(), record, lease);
        Ok((token, at, Source::Cli))
    }

    /// The store's lock of `scope`, waited for at most the CLI timeout
    /// plus [`LOCK_WAIT_MARGIN`]; past that, or when the store cannot lock,
    /// a warning and no lock (the flight goes on alone).
    async fn lock(&self, scope: &Scope) -> ScopeLease {
        let config = &self.config;
        let bound = config.settings.cli_timeout.saturating_add(LOCK_WAIT_MARGIN);
        match tokio::time::timeout(bound, config.storage.lock_scope(scope)).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(e)) => {
                tracing::warn!(scope = %scope, error = %e, "cannot lock the scope in the store; acquiring without the lock");
                ScopeLease::local()
            }
            Err(_) => {
                tracing::warn!(
                    scope = %scope,
                    waited_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
                    "another user of the store has held the scope's lock longer than the CLI timeout allows; \
                     acquiring without the lock"
                );
                ScopeLease::local()
            }
        }
    }

    /// What a flight answers for another process's failure `note`, instead
    /// of running the CLI: the failure itself when it was noted after the
    /// flight began to wait for the lock (it ran while this one waited),
    /// else [`CliFinding::RecentlyFailed`] within the failure window; `None`
    /// when the note is too old. The slot keeps it for this process's
    /// callers.
    fn answer_note(&self, slot: &ScopeSlot, note: &FailureNote, waited_from: SystemTime) -> Option<CliFinding> {
        let window = self.config.settings.failure_window;
        let ago = note.age();
        if note.at >= waited_from {
            slot.ran(Some(&note.finding));
            return Some(note.finding.clone());
        }
        if window.is_zero() || ago >= window {
            return None;
        }
        slot.noted_failure(&note.finding, ago);
        Some(CliFinding::RecentlyFailed {
            ago,
            finding: Box::new(note.finding.clone()),
        })
    }

    /// Leaves (or, with `None`, clears) the scope's failure note for the
    /// other users of the store; a store that cannot costs them a CLI run,
    /// no more, so a failure here is only logged.
    async fn note(&self, scope: &Scope, finding: Option<&CliFinding>) {
        let note = finding.map(|f| FailureNote::now(f.clone()));
        if let Err(e) = self.config.storage.note_failure(scope, note.as_ref()).await {
            tracing::warn!(scope = %scope, error = %e, "cannot update the scope's failure note in the store");
        }
    }
}

/// The flight lock; dropping it (however the flight ends, a kill or a
/// timeout included) releases the lock, then wakes every caller that
/// waited for the flight (in that order: a waiter woken while the lock is
/// still held would find it taken and wait for a landing that never comes).
struct Landing<'a> {
    slot: &'a ScopeSlot,
    guard: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.slot.landed.notify_waiters();
    }
}
