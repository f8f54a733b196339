//! `Tokens`: the facade of one token stack.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use atlas_registry::StartOrLookupError;
use atlas_supervisor::{ControlError, SupervisorRef};
use tokio::sync::oneshot;
use tracing::field::Empty;
use tracing::Instrument;

use crate::app_server::{self, AppServerRef, Request, Resolved};
use crate::clock::ClockRef;
use crate::tree::{self, Incarnation, Stack};
use crate::{Acquirer, AppName, Settings, Source, Token, TokenError, TokensConfig};

/// A result with the link that produced it and who answered.
type Traced = (Result<Token, TokenError>, Source, Acquirer);

/// How often a request is sent again after the server it went to stopped
/// before answering (killed, crashed), while the tree itself keeps running.
const ATTEMPTS: usize = 4;

/// A running token stack: its supervision tree and the way in.
///
/// Cheap to clone; clones share the stack. Each stack is independent: two
/// in one process (as in parallel tests) never see each other. It runs on
/// the tokio runtime it was started in until [`shutdown`](Self::shutdown)
/// (dropping the handles does not stop it, as a detached supervisor).
#[derive(Clone)]
pub struct Tokens {
    /// The stack's table and clock, held here (not behind `inner`) so that
    /// the fast path follows no more pointers than a bare table lookup.
    table: crate::table::Tokens,
    clock: ClockRef,
    inner: Arc<Inner>,
}

struct Inner {
    stack: Arc<Stack>,
    root: SupervisorRef,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").field("root", &self.inner.root).finish()
    }
}

impl Tokens {
    /// Starts a stack: its tree (`registry`, `table`, `tasks`, `apps`
    /// under a `rest_for_one` root) runs on the current tokio runtime.
    pub async fn start(config: TokensConfig) -> Result<Tokens, TokenError> {
        let name = config.name.clone();
        let max_apps = config.max_apps;
        let stack = Arc::new(Stack::new(config));
        let root = tree::supervisor(&stack, name, max_apps)
            .start()
            .await
            .map_err(TokenError::StartFailed)?;
        Ok(Tokens {
            table: stack.table.clone(),
            clock: stack.clock.clone(),
            inner: Arc::new(Inner { stack, root }),
        })
    }

    /// The token of `app`: from the shared table in the caller's own task
    /// when it holds an unexpired one (no message is sent), otherwise from
    /// the app's AppServer, started on demand. A `tokens.get` span records
    /// `app`, `source` and `acquirer`.
    pub fn get<'a>(&'a self, app: &'a str) -> impl Future<Output = Result<Token, TokenError>> + Send + 'a {
        TokenOnly(Get::new(self, app))
    }

    /// The table's unexpired token for `app`, read in the caller's task;
    /// `None` on a miss (or an invalid name). Never starts anything.
    #[inline]
    pub fn cached(&self, app: &str) -> Option<Token> {
        self.lookup(app)
    }

    /// The fast path. The name is not validated first: every key in the
    /// table is a validated [`AppName`], so a string that is not one can
    /// only miss, and a hit proves the name valid. (Validation runs before
    /// anything is written or started, on the slow path.)
    #[inline]
    fn lookup(&self, app: &str) -> Option<Token> {
        self.table.lookup(app, self.clock.now())
    }

    /// Like [`get`](Self::get), with the link that produced the answer and
    /// who answered (the `source` and `acquirer` of its span).
    pub fn get_traced<'a>(
        &'a self,
        app: &'a str,
    ) -> impl Future<Output = (Result<Token, TokenError>, Source, Acquirer)> + Send + 'a {
        Get::new(self, app)
    }

    /// The slow path's future, boxed and built out of line: the fast path's
    /// future stays a few words and its poll a small stack frame.
    #[inline(never)]
    fn slow_get<'a>(&'a self, app: &'a str) -> Pin<Box<dyn Future<Output = Traced> + Send + 'a>> {
        let span = tracing::info_span!("tokens.get", app, source = Empty, acquirer = Empty);
        Box::pin(self.get_slow(app, span))
    }

    async fn get_slow(&self, app: &str, span: tracing::Span) -> Traced {
        let app = match AppName::new(app) {
            Ok(app) => app,
            Err(e) => {
                record(&span, Source::None, Acquirer::Facade);
                return (Err(e.into()), Source::None, Acquirer::Facade);
            }
        };
        let resolved = self.resolve(&app, Request::Get).instrument(span.clone()).await;
        record(&span, resolved.source, Acquirer::AppServer);
        (resolved.result, resolved.source, Acquirer::AppServer)
    }

    /// Re-acquires `app`'s token after the Fly API rejected it: the server
    /// invalidates (as [`invalidate`](Self::invalidate): the scope's token
    /// for every app of the scope) and resolves again as one step, never
    /// taking the rejected token back, so no caller sees it in between; the
    /// scope's token is minted once. A failed delete of the stored copy is
    /// returned as [`TokenError::Storage`], except while the store cannot
    /// be reached at all ([`StorageError::Unavailable`](crate::StorageError::Unavailable),
    /// a Redis outage): then the refresh goes on, with a warning, since
    /// nobody can read the stale copy either. An app with nothing but a
    /// manual token gets it again (with a warning). Recorded as a
    /// `tokens.refresh` span.
    pub async fn refresh(&self, app: &str) -> Result<Token, TokenError> {
        let span = tracing::info_span!("tokens.refresh", app, source = Empty, acquirer = Empty);
        let app = match AppName::new(app) {
            Ok(app) => app,
            Err(e) => {
                record(&span, Source::None, Acquirer::Facade);
                return Err(e.into());
            }
        };
        let resolved = self.resolve(&app, Request::Refresh).instrument(span.clone()).await;
        record(&span, resolved.source, Acquirer::AppServer);
        resolved.result
    }

    /// Drops the token `app` was served before returning: its table entry
    /// and, for a minted token, the token of its whole scope (every app of
    /// the scope, and the stored record, compared by token so a fresh one
    /// stored meanwhile stays); never the manual one. A persist queued
    /// before never brings it back. The scope is the one `app` resolves to
    /// under the current settings, so this works in a process that never
    /// served the app. An app with no server (or a killed one whose entry
    /// lingers) is handled here, and nothing is started.
    pub async fn invalidate(&self, app: &str) -> Result<(), TokenError> {
        let app = AppName::new(app)?;
        match self.call(&app, false, Request::Invalidate).await {
            Ok(Some(done)) => return done,
            Ok(None) | Err(TokenError::ServerDown(_)) => {}
            Err(e) => return Err(e),
        }
        let inc = self.incarnation().await?;
        let config = self.inner.stack.config.read().clone();
        app_server::invalidate(&inc, &config, &app)
            .await
            .map_err(|f| TokenError::Storage(f.error))?;
        // A server that registered meanwhile may have read the record before
        // the delete: let it invalidate too, after what it is doing.
        match self.call(&app, false, Request::Invalidate).await {
            Ok(Some(done)) => done,
            Ok(None) | Err(TokenError::ServerDown(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Stores `token` as `app`'s manual override, synchronously: a storage
    /// failure is returned as [`TokenError::PersistFailed`] (a manual token
    /// cannot be re-acquired). A token that is empty or not one line of
    /// printable characters ([`check_token_text`](crate::check_token_text))
    /// is refused before anything is stored.
    pub async fn set_manual(&self, app: &str, token: impl Into<Token>) -> Result<(), TokenError> {
        let app = AppName::new(app)?;
        let token = token.into();
        match crate::check_token_text(token.expose()) {
            Ok(()) => {}
            Err(crate::TokenTextError::Empty) => return Err(TokenError::EmptyToken),
            Err(e) => return Err(TokenError::InvalidToken(e)),
        }
        self.call(&app, true, |tx| Request::SetManual(token.clone(), tx))
            .await?
            .unwrap_or(Err(TokenError::ServerDown(app)))
    }

    /// Removes `app`'s manual override, synchronously.
    pub async fn clear_manual(&self, app: &str) -> Result<(), TokenError> {
        let app = AppName::new(app)?;
        if let Some(done) = self.call(&app, false, Request::ClearManual).await? {
            return done;
        }
        self.inner
            .stack
            .storage
            .delete(&crate::StorageKey::Manual(app))
            .await
            .map_err(TokenError::Storage)
    }

    /// The running AppServer of `app`, if there is one.
    pub fn whereis(&self, app: &str) -> Option<AppServerRef> {
        AppName::validate(app).ok()?;
        self.inner.stack.current.get()?.registry.lookup(app)
    }

    /// The apps whose AppServer is running, in no particular order.
    pub fn running_apps(&self) -> Vec<AppName> {
        self.inner
            .stack
            .current
            .get()
            .map(|inc| inc.registry.keys())
            .unwrap_or_default()
    }

    /// The root supervisor, whose children are `registry`, `table`, `tasks`
    /// and `apps` (for `which_children`, and fault injection with
    /// `ChildRef::kill`).
    pub fn supervisor(&self) -> SupervisorRef {
        self.inner.root.clone()
    }

    /// Replaces the settings that AppServers started from now on snapshot
    /// (TTLs, timeouts, org, kind…). Running servers keep theirs. The
    /// stack's parts (storage, clock, CLI runner, user-token reader) are its
    /// own and stay.
    pub fn reconfigure(&self, settings: Settings) {
        let config = &self.inner.stack.config;
        let next = TokensConfig {
            settings,
            ..(**config.read()).clone()
        };
        *config.write() = Arc::new(next);
    }

    /// The settings AppServers started from now on snapshot.
    pub fn settings(&self) -> Settings {
        self.inner.stack.config.read().settings.clone()
    }

    /// Stops the stack: the AppServers first, then the task supervisor,
    /// which finishes the queued background persists, then the rest.
    /// Returns once it has stopped; calls made afterwards fail with
    /// [`TokenError::StackDown`].
    pub async fn shutdown(&self) {
        let last = self.inner.stack.current.get();
        self.inner.root.shutdown().await;
        if let Some(inc) = last {
            inc.tasks.wait_idle().await;
        }
        self.inner.stack.current.clear();
        // Ends the store's subscription, if any.
        drop(self.inner.stack.feed.lock().take());
    }

    /// Resolves through the app's server, starting it if needed.
    async fn resolve(&self, app: &AppName, make: fn(oneshot::Sender<Resolved>) -> Request) -> Resolved {
        match self.call(app, true, make).await {
            Ok(Some(resolved)) => resolved,
            Ok(None) => Resolved {
                result: Err(TokenError::ServerDown(app.clone())),
                source: Source::None,
            },
            Err(e) => Resolved {
                result: Err(e),
                source: Source::None,
            },
        }
    }

    /// Sends a request to `app`'s server and returns its answer; `None`
    /// when `start` is false and no server runs. Waits through a restart
    /// of the tree; resends when the server stopped before answering.
    async fn call<T>(
        &self,
        app: &AppName,
        start: bool,
        make: impl Fn(oneshot::Sender<T>) -> Request,
    ) -> Result<Option<T>, TokenError> {
        let mut attempts = 0;
        loop {
            let inc = self.incarnation().await?;
            let server = if start {
                match self.start_or_lookup(&inc, app).await {
                    Ok(server) => server,
                    Err(StartOrLookupError::Start(ControlError::MaxChildren)) => return Err(TokenError::TooManyApps),
                    Err(_) if !inc.is_running() => continue,
                    Err(_) => {
                        attempts += 1;
                        if attempts >= ATTEMPTS {
                            return Err(TokenError::ServerDown(app.clone()));
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                }
            } else {
                match inc.registry.lookup(app) {
                    Some(server) => server,
                    None => return Ok(None),
                }
            };
            match server.call(&make).await {
                Ok(answer) => return Ok(Some(answer)),
                Err(app_server::Down) if !inc.is_running() => continue,
                Err(app_server::Down) => {
                    attempts += 1;
                    if attempts >= ATTEMPTS {
                        return Err(TokenError::ServerDown(app.clone()));
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    async fn start_or_lookup(
        &self,
        inc: &Arc<Incarnation>,
        app: &AppName,
    ) -> Result<AppServerRef, StartOrLookupError<ControlError>> {
        let config = &self.inner.stack.config;
        inc.registry
            .start_or_lookup(app, || {
                let spec = app_server::child_spec(inc.clone(), config.clone(), app.clone());
                inc.apps.start_child(spec)
            })
            .await
    }

    /// The running incarnation of the tree, waiting through a restart;
    /// `StackDown` once the root has stopped.
    async fn incarnation(&self) -> Result<Arc<Incarnation>, TokenError> {
        let current = &self.inner.stack.current;
        loop {
            if !self.inner.root.is_alive() {
                return Err(TokenError::StackDown);
            }
            let seen = current.generation();
            match current.get() {
                Some(inc) if inc.is_running() => return Ok(inc),
                _ => {
                    tokio::select! {
                        () = current.changed_since(seen) => {}
                        _ = self.inner.root.wait() => return Err(TokenError::StackDown),
                    }
                }
            }
        }
    }
}

/// The span of a fast-path hit.
#[inline]
fn fast_span(app: &str) -> tracing::Span {
    tracing::info_span!("tokens.get", app, source = "cache", acquirer = "facade")
}

/// The future of `get_traced`: written by hand rather than as an `async`
/// fn so that a fast-path hit is one branch on a pointer, the lookup and
/// return (an `async` fn's state machine costs a few more ns here, which
/// is a sizeable share of a ~20 ns lookup).
struct Get<'a> {
    tokens: &'a Tokens,
    app: &'a str,
    slow: Option<Pin<Box<dyn Future<Output = Traced> + Send + 'a>>>,
}

impl<'a> Get<'a> {
    fn new(tokens: &'a Tokens, app: &'a str) -> Self {
        Self {
            tokens,
            app,
            slow: None,
        }
    }
}

impl Future for Get<'_> {
    type Output = Traced;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Traced> {
        let this = &mut *self;
        let slow = match &mut this.slow {
            Some(slow) => slow,
            None => {
                if let Some(token) = this.tokens.lookup(this.app) {
                    let _span = fast_span(this.app);
                    return Poll::Ready((Ok(token), Source::Cache, Acquirer::Facade));
                }
                this.slow.insert(this.tokens.slow_get(this.app))
            }
        };
        slow.as_mut().poll(cx)
    }
}

/// `get`'s future: `get_traced`'s, without the trace.
struct TokenOnly<'a>(Get<'a>);

impl Future for TokenOnly<'_> {
    type Output = Result<Token, TokenError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|(result, _, _)| result)
    }
}

#[inline]
fn record(span: &tracing::Span, source: Source, acquirer: Acquirer) {
    // `Span::record` looks the field up by name even on a disabled span.
    if span.is_disabled() {
        return;
    }
    span.record("source", source.as_str());
    span.record("acquirer", acquirer.as_str());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStorage, OrgName, Scope, Storage, StorageKey, TokenRecord};

    #[tokio::test]
    async fn invalidate_deletes_even_while_a_stopped_servers_entry_lingers() {
        let store = Arc::new(MemoryStorage::new());
        let org = OrgName::new("acme").expect("valid");
        let tokens = Tokens::start(
            TokensConfig::default()
                .storage(store.clone())
                .configure(|s| s.org(org.clone())),
        )
        .await
        .expect("starts");
        let key = StorageKey::Minted(Scope::Org(org.clone()));
        let rec = TokenRecord::minted(Scope::Org(org), Token::new("FlyV1 fm2_cmVqZWN0ZWQ="), i64::MAX);
        store.put(&key, rec).await.expect("put");
        // A killed server whose registry entry has not gone yet: every
        // request to it comes back unanswered.
        let app = AppName::new("my-app").expect("valid");
        let inc = tokens.incarnation().await.expect("runs");
        let Ok(_lingering) = inc.registry.register(app.clone(), app_server::stopped_ref(app)) else {
            panic!("the name is free");
        };
        tokens.invalidate("my-app").await.expect("not ServerDown");
        assert_eq!(store.get(&key).await.expect("get"), None, "the stored token is gone");
        tokens.shutdown().await;
    }
}
