//! The scenario's spec tree as engine supervisors, and the engine's events
//! as trace lines.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use atlas_supervisor::{ChildSpec, Event, EventKind, ExitReason, Observer, Supervisor};

use super::scenario::{Node, SupNode};
use super::worker::{self, Workers};

/// The trace being written: engine events and the runner's own lines, in
/// the order they happen (observers are called synchronously, in causal
/// order, and the runtime has a single thread).
#[derive(Default)]
pub struct Trace {
    lines: Mutex<Vec<String>>,
}

impl Trace {
    pub fn push(&self, line: String) {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).push(line);
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How an exit reason is printed: panics and errors are the scenario's
/// `crash` (OTP's `{crash}`).
pub fn reason_name(reason: &ExitReason) -> &'static str {
    match reason {
        ExitReason::Normal => "normal",
        ExitReason::Shutdown => "shutdown",
        ExitReason::Killed => "killed",
        ExitReason::Panic(_) | ExitReason::Error(_) => "crash",
    }
}

fn observer(trace: &Arc<Trace>, workers: &Arc<Workers>) -> Observer {
    let (trace, workers) = (trace.clone(), workers.clone());
    Arc::new(move |e: &Event| {
        let line = match &e.kind {
            EventKind::Started => format!("start {}", e.child),
            EventKind::StartFailed(_) => format!("start_failed {}", e.child),
            EventKind::Ignored => format!("start_ignored {}", e.child),
            // A worker that exited on the runner's order wrote its line.
            EventKind::Exited(_) if workers.take_traced(&e.child) => return,
            EventKind::Exited(r) => format!("stop {} {}", e.child, reason_name(r)),
            // Decisions without a line of their own; the root's end is
            // written by the runner (`supervisor_exit`), a nested
            // supervisor's by its parent (`stop`).
            EventKind::Restarting | EventKind::GaveUp | EventKind::AutoShutdown | EventKind::Terminated(_) => return,
        };
        trace.push(line);
    })
}

/// The engine supervisor for `node`. Cloning it and starting the clone gives
/// a fresh incarnation with the full static spec list (OTP note 11).
pub fn supervisor(node: &SupNode, trace: &Arc<Trace>, workers: &Arc<Workers>) -> Supervisor {
    let name = if node.id.is_empty() { "root" } else { &node.id };
    Supervisor::new(node.strategy)
        .name(name)
        .intensity(
            u32::try_from(node.max_restarts).unwrap_or(u32::MAX),
            Duration::from_secs(node.max_seconds),
        )
        .auto_shutdown(node.auto_shutdown)
        .children(node.children.iter().map(|c| child_spec(c, trace, workers)))
        .observer(observer(trace, workers))
}

fn child_spec(node: &Node, trace: &Arc<Trace>, workers: &Arc<Workers>) -> ChildSpec {
    match node {
        Node::Worker(w) => worker::spec(w, workers),
        // Its start function calls `Supervisor::start_linked` on a fresh
        // clone at every start; kind supervisor, shutdown infinity.
        Node::Supervisor(s) => supervisor(s, trace, workers)
            .into_child_spec(s.id.clone())
            .restart(s.restart)
            .significant(s.significant),
    }
}
