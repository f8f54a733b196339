//! # atlas-supervisor
//!
//! Erlang/OTP supervision trees on tokio. A [`Supervisor`] starts its
//! children in order, watches them, and restarts them by the rules of OTP's
//! `supervisor` module; a [`DynamicSupervisor`] starts children on demand; a
//! [`TaskSupervisor`] runs fire-and-forget tasks. The crate depends on no
//! other part of atlas and can be used alone.
//!
//! ```
//! use std::time::Duration;
//! use atlas_supervisor::{ChildSpec, ExitReason, Strategy, Supervisor};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sup = Supervisor::new(Strategy::OneForOne)
//!     .intensity(3, Duration::from_secs(5))
//!     .child(ChildSpec::task("worker", |stop| async move {
//!         stop.cancelled().await; // a real worker would do its job here
//!         ExitReason::Shutdown
//!     }))
//!     .start()
//!     .await
//!     .expect("starts");
//!
//! let worker = sup.child("worker").await.unwrap().child_ref().unwrap().clone();
//! worker.kill(); // fault injection: exit reason `killed`
//! # tokio::task::yield_now().await;
//! // ...the supervisor restarts it: a new incarnation is running.
//! let again = sup.child("worker").await.unwrap();
//! assert!(again.child_ref().is_some_and(|r| *r != worker));
//! assert_eq!(sup.shutdown().await, ExitReason::Shutdown);
//! # }
//! ```
//!
//! ## Semantics
//!
//! | strategy | on a restart-worthy exit of child `c` |
//! |---|---|
//! | `OneForOne` | `c` is started again |
//! | `OneForAll` | the others are stopped in reverse start order, then all start in order |
//! | `RestForOne` | the children after `c` are stopped in reverse order, then `c` and those start in order |
//!
//! Which exits are restart-worthy is decided by the [`RestartType`] (see the
//! table on [`ExitReason`]). More than `max_restarts` restarts within any
//! `period` (a true sliding window) make the supervisor give up: it stops
//! its children in reverse order and exits with `Shutdown`, which its own
//! parent handles. A restart whose start fails is retried, and each retry
//! counts toward the intensity, as in OTP.
//!
//! One engine runs every kind of supervisor (the [`DynamicSupervisor`] is
//! OTP's `simple_one_for_one` strategy of it), and it handles its
//! children's exits, its own retries and the control calls in the order
//! they arrive, through one mailbox, as an OTP supervisor does: a retry
//! queues behind the exits already pending. [`SupervisorRef::suspend`] and
//! [`resume`](SupervisorRef::resume) hold a supervisor as `sys:suspend`
//! does. OTP 24's significant children and [`AutoShutdown`] are supported
//! and validated as OTP validates them, and a start function may answer
//! [`Child::ignore`].
//!
//! A `rest_for_one` restart of the second of three children reads, as
//! [`Event`]s:
//!
//! ```text
//! b exited: error: crash     c stopped: shutdown
//! b started                  c started
//! ```
//!
//! Every decision is a `tracing` event with the supervisor's name and the
//! child's id, and can also be collected through an [`Observer`].
//!
//! ## Features
//!
//! - `testing` (off by default): the [`testing`] module, helpers to test
//!   code built on supervisors: a [`testing::Recorder`] of events as OTP
//!   trace lines, scripted workers ([`testing::Workers`]) and
//!   [`testing::settle`].
//!
//! ## What it does not do
//!
//! No distribution, no hot code upgrade, and no process links outside the
//! tree: a child is a tokio task, and a panic in it is an abnormal exit of
//! that child only.

mod child;
mod dynamic;
mod engine;
mod event;
mod exit;
mod handle;
mod intensity;
mod kill_handle;
mod loom;
mod signal;
mod spec;
mod supervisor;
mod task_supervisor;
#[cfg(feature = "testing")]
pub mod testing;

pub use child::{ChildCounts, ChildInfo, ChildRef, ChildState};
pub use dynamic::{DynamicSupervisor, DynamicSupervisorRef};
pub use event::{Event, EventKind, Observer};
pub use exit::ExitReason;
pub use handle::{ControlError, SupervisorRef};
pub use kill_handle::KillHandle;
pub use signal::ShutdownSignal;
pub use spec::{
    Child, ChildContext, ChildFuture, ChildKind, ChildSpec, RestartType, Shutdown, StartError, StartFuture,
};
pub use supervisor::{AutoShutdown, Strategy, Supervisor};
pub use task_supervisor::{Closed, TaskSupervisor};
