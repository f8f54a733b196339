//! The AppServer's loop: one request at a time, like a `GenServer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{ExitReason, ShutdownSignal};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use super::invalidate::{invalidate, StoreFailed};
use super::mailbox::{CloseOnDrop, Mailbox};
use super::request::{Request, Resolved};
use super::resolve::{Mode, Outcome, ServerEnv};
use crate::{Source, StorageError, StorageKey, Token, TokenError, TokenRecord};

/// The first retry of a failed soft refresh comes 1–1.5 × this after it
/// (then twice as long each time, up to [`BACKOFF_CAP`]). Not shorter than
/// the default failure window, so a retry runs the CLI rather than reading
/// back the failure it is retrying.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// The longest wait between retries of a failed soft refresh.
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(10 * 60);

/// What woke the server.
enum Event {
    Request(Request),
    SoftExpiry,
}

/// One app's server. Everything it needs is in its [`ServerEnv`], taken
/// when it started; nothing is looked up again while it runs.
pub(crate) struct AppServer {
    env: ServerEnv,
    mailbox: Arc<Mailbox>,
    /// The background re-resolution before the cached token expires.
    /// Boxed: most servers idle with one armed, and an unarmed one then
    /// costs a pointer.
    soft_expiry: Option<Pin<Box<Sleep>>>,
    /// Failed soft refreshes in a row (the backoff's exponent).
    failures: u32,
}

/// Completes when the timer fires; never when there is none.
async fn fired(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// A random point in `[low, high]` × `d`: so that a fleet that filled its
/// caches together does not refresh together.
fn jittered(d: Duration, low: f64, high: f64) -> Duration {
    d.mul_f64(low + fastrand::f64() * (high - low))
}

impl AppServer {
    pub(crate) fn new(env: ServerEnv, mailbox: Arc<Mailbox>) -> Self {
        let mut server = Self {
            env,
            mailbox,
            soft_expiry: None,
            failures: 0,
        };
        // A restarted server finds its predecessor's token still in the
        // table (an AppServer crash keeps the cache): keep its refresh due.
        if let Some(at) = server.env.inc.table.expiry(server.env.app.as_str()) {
            server.arm(at);
        }
        server
    }

    /// Serves until stopped (`Shutdown`); a kill aborts the task. `guard`
    /// (the registry entry) and the mailbox's closing are dropped with the
    /// task, however it ends.
    pub(crate) async fn run<G: Send>(mut self, stop: ShutdownSignal, guard: G) -> ExitReason {
        let _guard = guard;
        let mailbox = self.mailbox.clone();
        let _close = CloseOnDrop(mailbox.clone());
        loop {
            let event = tokio::select! {
                biased;
                () = stop.cancelled() => return ExitReason::Shutdown,
                req = mailbox.recv() => Event::Request(req),
                () = fired(&mut self.soft_expiry) => {
                    self.soft_expiry = None;
                    Event::SoftExpiry
                }
            };
            // Boxed so that the idle server's future stays small: the chain's
            // state exists only while a request is handled.
            let work: Pin<Box<dyn Future<Output = ()> + Send + '_>> = Box::pin(self.handle(event));
            tokio::select! {
                biased;
                // Dropping `work` drops a running CLI future, which stops
                // the process.
                () = stop.cancelled() => return ExitReason::Shutdown,
                () = work => {}
            }
        }
    }

    async fn handle(&mut self, event: Event) {
        let req = match event {
            Event::SoftExpiry => return self.soft_expiry().await,
            Event::Request(req) => req,
        };
        let app = self.env.app.clone();
        let app = &app;
        match req {
            Request::Get(tx) => {
                let outcome = self.env.resolve(Mode::Normal).await;
                self.settle(outcome, tx, false);
            }
            Request::Refresh(tx) => {
                let replaced = match self.invalidate().await {
                    Ok(replaced) => replaced,
                    // The store cannot be reached at all (a Redis outage):
                    // it cannot hand the rejected token to anyone either, and
                    // a fleet outage must not stop token resolution.
                    Err(StoreFailed {
                        error: e @ StorageError::Unavailable(_),
                        replaced,
                    }) => {
                        tracing::warn!(app = %app, error = %e, "refresh: the store is unavailable, so its copy of the rejected token stays there until it is back; acquiring a new one anyway");
                        let scope = self.env.config.settings.scope_for(app);
                        if let (Some(scope), Some(token)) = (scope, &replaced) {
                            self.env.inc.lanes.owe_delete(scope, token.clone());
                        }
                        replaced
                    }
                    Err(StoreFailed { error: e, .. }) => {
                        // The rejected token may still be in the store: say
                        // so rather than hand out a new one that hides it.
                        tracing::error!(app = %app, error = %e, "refresh could not delete the stored token");
                        let failed = Resolved {
                            result: Err(TokenError::Storage(e)),
                            source: Source::None,
                        };
                        return self.settle(
                            Outcome {
                                resolved: failed,
                                cached_until: None,
                            },
                            tx,
                            true,
                        );
                    }
                };
                let outcome = self.env.resolve(Mode::Replace(replaced)).await;
                if outcome.resolved.source == Source::Manual {
                    tracing::warn!(
                        app = %app,
                        "refresh: the app has only its manual token, returned again; set a new one with set_manual if it was rejected"
                    );
                }
                self.settle(outcome, tx, true);
            }
            Request::Invalidate(tx) => {
                let result = self
                    .invalidate()
                    .await
                    .map(|_| ())
                    .map_err(|f| TokenError::Storage(f.error));
                let _ = tx.send(result);
            }
            Request::SetManual(token, tx) => {
                let record = TokenRecord::manual(app.clone(), token);
                let storage = &self.env.config.storage;
                let result = storage.put(&StorageKey::Manual(app.clone()), record).await;
                let result = result.map_err(|e| {
                    tracing::error!(app = %app, error = %e, "manual token persist failed");
                    TokenError::PersistFailed(e)
                });
                let _ = tx.send(result);
            }
            Request::ClearManual(tx) => {
                let storage = &self.env.config.storage;
                let result = storage.delete(&StorageKey::Manual(app.clone())).await;
                let _ = tx.send(result.map_err(TokenError::Storage));
            }
        }
    }

    /// Replies, re-anchors the soft-expiry timer, and answers every get
    /// (and, after a refresh, every refresh) that queued up meanwhile with
    /// the same result: they were concurrent with this resolution, so it is
    /// theirs too, and a failing CLI runs once for all of them.
    fn settle(&mut self, outcome: Outcome, tx: oneshot::Sender<Resolved>, refresh: bool) {
        if let Some(at) = outcome.cached_until {
            self.failures = 0;
            self.arm(at);
        } else if refresh {
            // The token the timer was for is gone.
            self.soft_expiry = None;
        }
        let resolved = outcome.resolved;
        let coalesced = Resolved {
            result: resolved.result.clone(),
            // A coalesced caller reads what the first one put in the table.
            source: match resolved.source {
                Source::Storage | Source::Config | Source::Cli => Source::Cache,
                other => other,
            },
        };
        let _ = tx.send(resolved);
        while let Some(tx) = self.mailbox.pop_map(|r| r.into_resolve_reply(refresh)) {
            let _ = tx.send(coalesced.clone());
        }
    }

    /// Drops the token this app was served, for its whole scope, in the
    /// table and the store (`invalidate.rs`), voiding every persist queued
    /// before (the original's bug: it kept the stored copy).
    async fn invalidate(&mut self) -> Result<Option<Token>, StoreFailed> {
        self.soft_expiry = None;
        self.failures = 0;
        invalidate(&self.env.inc, &self.env.config, &self.env.app).await
    }

    /// Re-acquires the token before it expires, with no caller waiting. A
    /// failure leaves the current token in the table (served until its
    /// real expiry) and is retried with capped, jittered exponential
    /// backoff while that token is still valid.
    async fn soft_expiry(&mut self) {
        let app = self.env.app.as_str();
        let now = self.env.config.clock.now();
        let (Some(current), Some(until)) = (self.env.inc.table.token(app), self.env.inc.table.expiry(app)) else {
            // Invalidated meanwhile: nobody holds a token to keep fresh.
            return;
        };
        if until <= now {
            return;
        }
        tracing::debug!(app = %app, "soft expiry: re-acquiring the token");
        let outcome = self.env.resolve(Mode::Replace(Some(current))).await;
        if let Some(at) = outcome.cached_until {
            self.failures = 0;
            self.arm(at);
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let exp = BACKOFF_BASE.saturating_mul(1 << (self.failures - 1).min(16));
        let delay = jittered(exp.min(BACKOFF_CAP), 1.0, 1.5);
        let left = Duration::from_secs(u64::try_from(until - now).unwrap_or(0));
        if delay >= left {
            tracing::warn!(
                app = %app,
                source = outcome.resolved.source.as_str(),
                "soft-expiry re-acquisition failed; the current token is served until it expires"
            );
            return;
        }
        tracing::warn!(
            app = %app,
            source = outcome.resolved.source.as_str(),
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "soft-expiry re-acquisition failed; the current token is still served, retrying"
        );
        self.schedule(delay);
    }

    /// Schedules the re-resolution at a random 80–100 % of `lead` before
    /// `expires_at` (unix seconds); nothing when the lead is zero or not
    /// shorter than the remaining lifetime.
    fn arm(&mut self, expires_at: i64) {
        let lead = self.env.config.settings.soft_expiry_lead;
        let remaining = expires_at.saturating_sub(self.env.config.clock.now());
        let remaining = Duration::from_secs(u64::try_from(remaining).unwrap_or(0));
        if lead.is_zero() || lead >= remaining {
            self.soft_expiry = None;
            return;
        }
        self.schedule(remaining - jittered(lead, 0.8, 1.0));
    }

    fn schedule(&mut self, after: Duration) {
        let Some(deadline) = Instant::now().checked_add(after) else {
            self.soft_expiry = None;
            return;
        };
        match &mut self.soft_expiry {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.soft_expiry = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }
}
