//! What the apps of one scope share: the scope's token, its single flight
//! and its recent failure.
//!
//! The table stays keyed by app, so a warm `get` is one table read in the
//! caller's task whatever the scope. Everything shared per scope lives in a
//! [`ScopeSlot`], one per scope that has been asked for, in the tree
//! incarnation's [`Scopes`] (a table restart forgets them with the cache):
//!
//! - `flight`: the single flight. "Look again → acquire → write" for a
//!   scope runs under it, so concurrent cold apps of one org run the CLI
//!   once between them (`app_server/flight.rs`); `landed` wakes everyone
//!   who waited when it ends.
//! - `current`: the scope's token and its expiry; a cold app of the scope
//!   takes it from here without a store read.
//! - `failure`: the last CLI failure, so that cold requests within the
//!   failure window get the same report instead of a new CLI run, and the
//!   callers that queued behind a failing flight share its failure.
//! - `apps`: the apps whose table entry holds the scope's token, so that
//!   invalidating one drops it for all of them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::{AppName, CliFinding, Scope, Token};

/// The scope slots of one tree incarnation.
#[derive(Default)]
pub(crate) struct Scopes {
    slots: Mutex<HashMap<Scope, Arc<ScopeSlot>>>,
}

impl Scopes {
    /// The slot of `scope`, made on first use.
    pub(crate) fn slot(&self, scope: &Scope) -> Arc<ScopeSlot> {
        self.slots.lock().entry(scope.clone()).or_default().clone()
    }

    /// The slot of `scope`, if it has one.
    pub(crate) fn get(&self, scope: &Scope) -> Option<Arc<ScopeSlot>> {
        self.slots.lock().get(scope).cloned()
    }

    /// Every slot.
    pub(crate) fn all(&self) -> Vec<Arc<ScopeSlot>> {
        self.slots.lock().values().cloned().collect()
    }
}

/// One scope's shared state (see the module docs).
#[derive(Default)]
pub(crate) struct ScopeSlot {
    pub(crate) flight: tokio::sync::Mutex<()>,
    /// Woken, all at once, when a flight ends: the callers that waited for
    /// it look at its outcome together instead of taking the flight lock in
    /// turn (a chain of 1,000 hand-offs through a busy run queue).
    pub(crate) landed: tokio::sync::Notify,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<(Token, i64)>,
    /// Flights that ran the CLI so far; a caller compares the count before
    /// and after waiting for the flight to know whether one ran meanwhile.
    attempts: u64,
    failure: Option<Failure>,
    apps: HashSet<AppName>,
}

struct Failure {
    at: Instant,
    attempt: u64,
    finding: CliFinding,
}

impl ScopeSlot {
    /// The scope's token, if it is still valid at `now`.
    pub(crate) fn current(&self, now: i64) -> Option<(Token, i64)> {
        self.state.lock().current.clone().filter(|(_, at)| *at > now)
    }

    /// The scope's token, valid or not.
    pub(crate) fn current_token(&self) -> Option<Token> {
        self.state.lock().current.as_ref().map(|(t, _)| t.clone())
    }

    /// Makes `token` the scope's token.
    pub(crate) fn set_current(&self, token: Token, expires_at: i64) {
        let mut state = self.state.lock();
        state.current = Some((token, expires_at));
        state.failure = None;
    }

    /// Records that `app`'s table entry holds the scope's token.
    pub(crate) fn served(&self, app: &AppName) {
        let mut state = self.state.lock();
        if !state.apps.contains(app) {
            state.apps.insert(app.clone());
        }
    }

    /// Forgets the scope's token if it is `token`, and returns the apps
    /// that were served it (their table entries are the caller's to drop);
    /// another token (the user's own, say) leaves the scope as it is.
    pub(crate) fn drop_token(&self, token: &Token) -> Vec<AppName> {
        let mut state = self.state.lock();
        if !state.current.as_ref().is_some_and(|(t, _)| t == token) {
            return Vec::new();
        }
        state.current = None;
        state.apps.drain().collect()
    }

    /// Forgets the scope's token, whatever it is (another stack dropped
    /// it), and returns every app that was served it.
    pub(crate) fn forget(&self) -> Vec<AppName> {
        let mut state = self.state.lock();
        state.current = None;
        state.apps.drain().collect()
    }

    /// How many flights have run the CLI so far.
    pub(crate) fn attempts(&self) -> u64 {
        self.state.lock().attempts
    }

    /// Counts a CLI run and remembers its failure (`None`: it succeeded).
    pub(crate) fn ran(&self, failure: Option<&CliFinding>) {
        let mut state = self.state.lock();
        state.attempts += 1;
        let attempt = state.attempts;
        state.failure = failure.map(|finding| Failure {
            at: Instant::now(),
            attempt,
            finding: finding.clone(),
        });
    }

    /// Remembers a failure another user of the store had `ago` (its note,
    /// `app_server/flight.rs`) as the scope's last one, without counting it
    /// as a run of this process: cold requests get it as
    /// [`CliFinding::RecentlyFailed`] for what is left of the window.
    pub(crate) fn noted_failure(&self, finding: &CliFinding, ago: Duration) {
        let mut state = self.state.lock();
        let now = Instant::now();
        state.failure = Some(Failure {
            at: now.checked_sub(ago).unwrap_or(now),
            attempt: state.attempts,
            finding: finding.clone(),
        });
    }

    /// The failure a caller gets instead of running the CLI again: the
    /// failure of a flight that ran while it waited (`seen` = the attempts
    /// count before it waited), as it is; or one within `window`, as
    /// [`CliFinding::RecentlyFailed`].
    pub(crate) fn recent_failure(&self, seen: u64, window: Duration) -> Option<CliFinding> {
        let state = self.state.lock();
        let failure = state.failure.as_ref()?;
        if failure.attempt > seen {
            return Some(failure.finding.clone());
        }
        let ago = failure.at.elapsed();
        (!window.is_zero() && ago < window).then(|| CliFinding::RecentlyFailed {
            ago,
            finding: Box::new(failure.finding.clone()),
        })
    }
}
