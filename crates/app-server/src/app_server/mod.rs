//! The AppServer: one per app, the only place its token is resolved.
//!
//! - **Mailbox**: a lock-protected `VecDeque` and a `Notify` (see
//!   `mailbox.rs`): an idle server's empty mailbox allocates nothing.
//! - **Coalescing**: requests are handled one at a time. A get first looks
//!   at the table again (a caller who queued behind another finds its
//!   token there); when a resolution ends, every get that queued up during
//!   it gets the same answer, so the CLI runs once for all of them, whether
//!   it succeeds or fails.
//! - **Scopes**: apps whose tokens share a scope (an org) share its token,
//!   its single flight and its failure window (`scopes.rs`, `flight.rs`).
//! - **Persists** go to the task supervisor, ordered per scope by the
//!   stack's persist lanes (`persist.rs`).
//! - **Fencing**: a server keeps the table of the tree incarnation it was
//!   started in; a newer incarnation has a new table, so an old server's
//!   late write lands in a dead table and is dropped.

mod cli;
mod flight;
mod invalidate;
mod links;
mod mailbox;
mod request;
mod resolve;
mod server;

use std::fmt;
use std::sync::Arc;

use atlas_supervisor::{Child, ChildContext, ChildSpec, KillHandle, RestartType, StartError};
use tokio::sync::oneshot;

pub use flight::LOCK_WAIT_MARGIN;
pub(crate) use invalidate::invalidate;
pub(crate) use request::{Request, Resolved};

use self::mailbox::Mailbox;
use self::resolve::ServerEnv;
use self::server::AppServer;
use crate::tree::Incarnation;
use crate::{AppName, TokensConfig};

/// A handle to a running AppServer, as [`Tokens::whereis`](crate::Tokens::whereis)
/// returns it. Cheap to clone; tied to one incarnation of the server.
#[derive(Clone)]
pub struct AppServerRef {
    app: AppName,
    mailbox: Arc<Mailbox>,
    kill: KillHandle,
}

impl fmt::Debug for AppServerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppServerRef")
            .field("app", &self.app)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl PartialEq for AppServerRef {
    /// The same incarnation of the same server.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.mailbox, &other.mailbox)
    }
}

impl Eq for AppServerRef {}

/// A handle to a server that has stopped but whose registry entry is still
/// there (as between a kill and the task's drop), for tests.
#[cfg(test)]
pub(crate) fn stopped_ref(app: AppName) -> AppServerRef {
    let mailbox = Arc::new(Mailbox::default());
    mailbox.close();
    AppServerRef {
        app,
        mailbox,
        kill: KillHandle::new(),
    }
}

/// The request was not answered: the server stopped first.
pub(crate) struct Down;

impl AppServerRef {
    /// The app this server resolves tokens for.
    pub fn app(&self) -> &AppName {
        &self.app
    }

    /// Whether this incarnation is still running.
    pub fn is_alive(&self) -> bool {
        !self.mailbox.is_closed()
    }

    /// Fault injection, as `Process.exit(pid, :kill)`: the server's task is
    /// aborted (exit reason `Killed`; a request it was handling is dropped,
    /// a running CLI future with it, and queued callers see it down) and its
    /// supervisor restarts it. The shared table keeps the app's token.
    pub fn kill(&self) {
        self.kill.kill();
    }

    /// Sends a request and waits for its answer.
    pub(crate) async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, Down> {
        let (tx, rx) = oneshot::channel();
        self.mailbox.send(make(tx)).map_err(|_| Down)?;
        rx.await.map_err(|_| Down)
    }
}

/// The child spec of `app`'s server in incarnation `inc`, reading its
/// settings from `config` when (each incarnation of) it starts.
///
/// The server registers itself in its start function (OTP's `init`), so
/// `start_or_lookup` callers get its handle before its task runs. An
/// incarnation that finds the name taken (a supervisor restart racing a
/// caller's start) answers `ignore`, as an OTP server's `init` would: no
/// task runs and nothing is restarted.
pub(crate) fn child_spec(
    inc: Arc<Incarnation>,
    config: Arc<parking_lot::RwLock<Arc<TokensConfig>>>,
    app: AppName,
) -> ChildSpec {
    let id: Arc<str> = app.as_str().into();
    ChildSpec::worker(id, move |ctx: ChildContext| {
        // Settings are snapshotted here, at start: reconfiguring the stack
        // later does not change a running server.
        let settings = config.read().clone();
        let mailbox = Arc::new(Mailbox::default());
        let kill = KillHandle::new();
        let handle = AppServerRef {
            app: app.clone(),
            mailbox: mailbox.clone(),
            kill: kill.clone(),
        };
        let registered = inc.registry.register(app.clone(), handle);
        let env = ServerEnv {
            app: app.clone(),
            config: settings,
            inc: inc.clone(),
        };
        async move {
            let Ok(registration) = registered else {
                return Ok::<_, StartError>(Child::ignore());
            };
            let server = AppServer::new(env, mailbox);
            Ok(Child::new(server.run(ctx.shutdown_signal(), registration)).with_kill_handle(kill))
        }
    })
    .restart(RestartType::Transient)
}
