//! # atlas-registry
//!
//! A registry of unique keys to the handles of live servers, with a
//! race-safe `start_or_lookup`: Elixir's `Registry` (`keys: :unique`) used
//! as a `{:via, Registry, {reg, key}}` name, without a registry process.
//!
//! - [`Registry::register`] binds a key to a handle and returns a
//!   [`Registration`] guard. The server moves the guard into its task, so
//!   the entry goes away by itself however the task ends: it returns, it
//!   panics, it is aborted (`ChildRef::kill`), its supervisor stops it.
//!   A restarted server registers again and lookups see the new handle; a
//!   guard of an old incarnation dropped late never removes the new entry.
//! - [`Registry::lookup`] is synchronous: a read lock on one of several
//!   shards, no global lock, never a wait on a server.
//! - [`Registry::start_or_lookup`] returns the key's live server or starts
//!   one: any number of concurrent callers for a missing key run exactly one
//!   start and all get its handle; a start that fails, panics or is
//!   cancelled releases the key to the next caller.
//!
//! ```
//! use std::time::Duration;
//! use atlas_registry::Registry;
//! use atlas_supervisor::{Child, ChildContext, ChildSpec, DynamicSupervisor, ExitReason, RestartType};
//! use tokio::sync::mpsc;
//!
//! /// The server's handle: a way to send it requests.
//! type Server = mpsc::UnboundedSender<String>;
//!
//! /// The child spec of `app`'s server: it registers itself in its start
//! /// function (OTP's `init`) and keeps the guard for as long as it runs.
//! fn server_spec(registry: Registry<String, Server>, app: &str) -> ChildSpec {
//!     let app = app.to_owned();
//!     ChildSpec::worker(app.clone(), move |ctx: ChildContext| {
//!         let (tx, mut rx) = mpsc::unbounded_channel();
//!         let registered = registry.register(app.clone(), tx);
//!         async move {
//!             let Ok(registration) = registered else {
//!                 // Another incarnation holds the key: step aside (OTP's `ignore`).
//!                 return Ok(Child::new(async { ExitReason::Normal }));
//!             };
//!             let stop = ctx.shutdown_signal();
//!             Ok(Child::new(async move {
//!                 let _registration = registration; // unregisters on any exit
//!                 tokio::select! {
//!                     () = stop.cancelled() => ExitReason::Shutdown,
//!                     _ = async { while rx.recv().await.is_some() {} } => ExitReason::Normal,
//!                 }
//!             }))
//!         }
//!     })
//!     .restart(RestartType::Transient)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry: Registry<String, Server> = Registry::new();
//! let apps = DynamicSupervisor::new().intensity(20, Duration::from_secs(60)).start();
//! let app = "my-app".to_owned();
//! let start = || apps.start_child(server_spec(registry.clone(), &app));
//!
//! // Ten concurrent callers: one server, and all of them get its handle.
//! let handles = futures::future::join_all((0..10).map(|_| registry.start_or_lookup(&app, start))).await;
//! let server = registry.lookup("my-app").expect("registered");
//! assert!(handles.iter().all(|h| h.as_ref().expect("started").same_channel(&server)));
//! assert_eq!(apps.count_children().await.expect("running").active, 1);
//!
//! // The server's end removes its entry; the next caller starts a new one.
//! let child = apps.which_children().await.expect("running")[0].child_ref().cloned();
//! apps.terminate_child(&child.expect("running")).await.expect("stopped");
//! assert!(registry.lookup("my-app").is_none());
//! let again = registry.start_or_lookup(&app, start).await.expect("started");
//! assert!(!again.same_channel(&server));
//! apps.shutdown().await;
//! assert!(registry.is_empty());
//! # }
//! ```
//!
//! ## Servers under a supervisor
//!
//! A supervised server registers in its start function and moves the guard
//! into its task, as above. Make it `Transient` and let an incarnation that
//! finds its key taken ([`AlreadyRegistered`]) exit `Normal` at once (OTP's
//! `ignore`): a supervisor's restart and a `start_or_lookup` caller may both
//! start the key after a crash, and the one that registers second then steps
//! aside instead of failing its start (a failing restart is retried at once
//! and counts toward the supervisor's intensity).
//!
//! ## How it works
//!
//! Keys live in a fixed array of `hashbrown` tables, each behind its own
//! `parking_lot` read-write lock and cache line, picked by the key's hash
//! (randomly seeded `foldhash`). An entry is either a registered handle or a
//! *starting* slot with a gate. `start_or_lookup` claims a missing key by
//! putting a starting slot in it under the shard's write lock; later callers
//! find the slot and wait at its gate (no lock held) until the server
//! registers or the start ends, then look again. Every binding carries an
//! id unique within its shard, and a guard removes only its own id. The
//! guard's drop runs when the task's future is dropped, which happens
//! before its supervisor can see the exit: once anyone has observed a
//! server's end, no lookup returns its handle. (Between `ChildRef::kill`
//! and the abort taking effect the task still exists, and so does its
//! entry.)
//!
//! ## What it does not do
//!
//! Unique keys only (no duplicate-key registry, no dispatch or pub/sub),
//! one process (no distribution), and no monitoring of tasks that did not
//! take a guard: liveness is the guard's life, plus an optional check of the
//! handle ([`RegistryBuilder::liveness`]).

mod error;
mod gate;
mod loom;
mod registration;
mod registry;
mod shard;
mod start;

pub use error::{AlreadyRegistered, StartOrLookupError};
pub use registration::Registration;
pub use registry::{Registry, RegistryBuilder};
