//! The AppServer's loop: one request at a time, like a `GenServer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{ExitReason, ShutdownSignal};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use super::mailbox::{CloseOnDrop, Mailbox};
use super::request::{Request, Resolved};
use super::resolve::{Mode, Outcome, ServerEnv};
use crate::{Source, StorageError, StorageKey, TokenError, TokenRecord};

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
    /// Re-resolution `soft_expiry_lead` before the cached token expires.
    /// Boxed: most servers idle with one armed, and an unarmed one then
    /// costs a pointer.
    soft_expiry: Option<Pin<Box<Sleep>>>,
}

/// Completes when the timer fires; never when there is none.
async fn fired(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

impl AppServer {
    pub(crate) fn new(env: ServerEnv, mailbox: Arc<Mailbox>) -> Self {
        let mut server = Self {
            env,
            mailbox,
            soft_expiry: None,
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
        match req {
            Request::Get(tx) => {
                let outcome = self.env.resolve(Mode::Normal).await;
                self.settle(outcome, tx, false);
            }
            Request::Refresh(tx) => {
                if let Err(e) = self.invalidate().await {
                    // The new token's persist overwrites the stored copy.
                    tracing::error!(app = %self.env.app, error = %e, "refresh could not delete the stored token");
                }
                let outcome = self.env.resolve(Mode::Replace).await;
                self.settle(outcome, tx, true);
            }
            Request::Invalidate(tx) => {
                let result = self.invalidate().await.map_err(TokenError::Storage);
                let _ = tx.send(result);
            }
            Request::SetManual(token, tx) => {
                let record = TokenRecord {
                    token,
                    expires_at: None,
                };
                let storage = &self.env.settings.storage;
                let result = storage.put(&self.env.app, StorageKey::Manual, record).await;
                let result = result.map_err(|e| {
                    tracing::error!(app = %self.env.app, error = %e, "manual token persist failed");
                    TokenError::PersistFailed(e)
                });
                let _ = tx.send(result);
            }
            Request::ClearManual(tx) => {
                let storage = &self.env.settings.storage;
                let result = storage.delete(&self.env.app, StorageKey::Manual).await;
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

    /// Removes the table entry and the stored cached record, voiding every
    /// persist queued before (the original's bug: it kept the stored copy).
    async fn invalidate(&mut self) -> Result<(), StorageError> {
        self.env.inc.table.remove(self.env.app.as_str());
        self.soft_expiry = None;
        let storage = &*self.env.settings.storage;
        self.env.inc.lanes.invalidate(storage, &self.env.app).await
    }

    /// Re-acquires the token before it expires, with no caller waiting.
    async fn soft_expiry(&mut self) {
        tracing::debug!(app = %self.env.app, "soft expiry: re-acquiring the token");
        let outcome = self.env.resolve(Mode::Replace).await;
        match outcome.cached_until {
            Some(at) => self.arm(at),
            None => tracing::warn!(
                app = %self.env.app,
                source = outcome.resolved.source.as_str(),
                "soft-expiry re-acquisition found no new cached token; the current one stays until it expires"
            ),
        }
    }

    /// Schedules the re-resolution `lead` before `expires_at` (unix
    /// seconds); nothing when the lead is zero or not shorter than the
    /// remaining lifetime.
    fn arm(&mut self, expires_at: i64) {
        let lead = self.env.settings.soft_expiry_lead;
        let remaining = expires_at.saturating_sub(self.env.settings.clock.now());
        let remaining = Duration::from_secs(u64::try_from(remaining).unwrap_or(0));
        if lead.is_zero() || lead >= remaining {
            self.soft_expiry = None;
            return;
        }
        let Some(deadline) = Instant::now().checked_add(remaining - lead) else {
            self.soft_expiry = None;
            return;
        };
        match &mut self.soft_expiry {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.soft_expiry = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }
}
