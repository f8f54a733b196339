//! Every supervisor decision, as a value: for tracing and for tests.

use std::fmt;
use std::sync::Arc;

use crate::{ExitReason, StartError};

/// What a supervisor did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A child incarnation started.
    Started,
    /// A start attempt failed.
    StartFailed(StartError),
    /// A start attempt answered [`Child::ignore`](crate::Child::ignore):
    /// nothing runs.
    Ignored,
    /// A child incarnation exited (on its own, killed, or stopped).
    Exited(ExitReason),
    /// A child is about to be restarted after an exit.
    Restarting,
    /// The restart intensity was exceeded: the supervisor gives up.
    GaveUp,
    /// A significant child ended and the supervisor's `auto_shutdown`
    /// calls for its own shutdown (the child is the one named).
    AutoShutdown,
    /// The supervisor itself terminated with this reason.
    Terminated(ExitReason),
}

/// One decision of the supervisor named `supervisor` about `child`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The supervisor's name.
    pub supervisor: Arc<str>,
    /// The child's id (the supervisor's own name for `GaveUp`/`Terminated`).
    pub child: Arc<str>,
    /// What happened.
    pub kind: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::Started => write!(f, "{}: started {}", self.supervisor, self.child),
            EventKind::StartFailed(e) => {
                write!(f, "{}: {} failed to start: {e}", self.supervisor, self.child)
            }
            EventKind::Ignored => write!(f, "{}: {} answered ignore", self.supervisor, self.child),
            EventKind::Exited(r) => write!(f, "{}: {} exited: {r}", self.supervisor, self.child),
            EventKind::Restarting => write!(f, "{}: restarting {}", self.supervisor, self.child),
            EventKind::GaveUp => write!(f, "{}: restart intensity exceeded", self.supervisor),
            EventKind::AutoShutdown => {
                write!(
                    f,
                    "{}: significant child {} ended: auto shutdown",
                    self.supervisor, self.child
                )
            }
            EventKind::Terminated(r) => write!(f, "{}: terminated: {r}", self.supervisor),
        }
    }
}

/// Receives every [`Event`] of the supervisors it is given to, synchronously
/// and in order. Keep it cheap: it runs inside the supervisor.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync + 'static>;

/// Emits `kind` as a `tracing` event and to the observer, if any.
pub(crate) fn emit(observer: Option<&Observer>, supervisor: &Arc<str>, child: &Arc<str>, kind: EventKind) {
    match &kind {
        EventKind::Started => tracing::debug!(supervisor = %supervisor, child = %child, "child started"),
        EventKind::StartFailed(e) => {
            tracing::warn!(supervisor = %supervisor, child = %child, error = %e, "child failed to start")
        }
        EventKind::Ignored => tracing::debug!(supervisor = %supervisor, child = %child, "child start ignored"),
        EventKind::Exited(r) if r.is_normal() => {
            tracing::debug!(supervisor = %supervisor, child = %child, reason = %r, "child exited")
        }
        EventKind::Exited(r) => {
            tracing::warn!(supervisor = %supervisor, child = %child, reason = %r, "child exited abnormally")
        }
        EventKind::Restarting => tracing::debug!(supervisor = %supervisor, child = %child, "restarting child"),
        EventKind::GaveUp => {
            tracing::error!(supervisor = %supervisor, child = %child, "restart intensity exceeded, giving up")
        }
        EventKind::AutoShutdown => {
            tracing::info!(supervisor = %supervisor, child = %child, "significant child ended, shutting down")
        }
        EventKind::Terminated(r) => tracing::debug!(supervisor = %supervisor, reason = %r, "supervisor terminated"),
    }
    if let Some(obs) = observer {
        obs(&Event {
            supervisor: supervisor.clone(),
            child: child.clone(),
            kind,
        });
    }
}
