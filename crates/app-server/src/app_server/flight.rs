//! The single flight of a scope: look again → acquire → write.
//!
//! One function, [`ServerEnv::mint`], is the whole critical section, so a
//! store that coordinates processes or machines (issue 10: a `flock` beside
//! the file store's record, a Redis lease) slots in through
//! [`Storage::lock_scope`](crate::Storage::lock_scope) alone: the lease is
//! taken after the in-process flight (so a process asks for it once per
//! scope, not once per caller) and released when the minted token's write
//! has completed.

use super::cli;
use super::resolve::ServerEnv;
use crate::config::secs;
use crate::scopes::ScopeSlot;
use crate::{expiry, CliFinding, Scope, ScopeLease, Source, StorageKey, Token, TokenRecord};

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
        let now = config.clock.now();
        let lease = match config.storage.lock_scope(scope).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(scope = %scope, error = %e, "cannot lock the scope in the store; acquiring locally");
                ScopeLease::local()
            }
        };
        // And in the store: another process may have written it.
        let key = StorageKey::Minted(scope.clone());
        if let Ok(Some(rec)) = config.storage.get(&key).await {
            if let Ok((token, at)) = super::links::usable_stored(self, rec, replacing, now) {
                slot.set_current(token.clone(), at);
                return Ok((token, at, Source::Storage));
            }
        }

        // Acquire.
        let token = match cli::acquire(config, &self.app, scope).await {
            Ok(token) => token,
            Err(finding) => {
                slot.ran(Some(&finding));
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
                return Err(CliFinding::AlreadyExpired);
            }
        };
        slot.ran(None);
        slot.set_current(token.clone(), at);

        // Write, in the background, holding the lease until it lands.
        let record = TokenRecord::minted(scope.clone(), token.clone(), at);
        let inc = &self.inc;
        inc.lanes
            .persist(&inc.tasks, config.storage.clone(), self.app.clone(), record, lease);
        Ok((token, at, Source::Cli))
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
