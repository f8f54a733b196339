//! The scenario's spec tree as engine supervisors, each observed by the
//! trace's recorder.

use std::time::Duration;

use atlas_supervisor::testing::{Recorder, Workers};
use atlas_supervisor::{ChildSpec, Supervisor};

use super::scenario::{Node, SupNode};
use super::worker;

/// The engine supervisor for `node`. Cloning it and starting the clone gives
/// a fresh incarnation with the full static spec list (OTP note 11).
pub fn supervisor(node: &SupNode, trace: &Recorder, workers: &Workers) -> Supervisor {
    let name = if node.id.is_empty() { "root" } else { &node.id };
    Supervisor::new(node.strategy)
        .name(name)
        .intensity(
            u32::try_from(node.max_restarts).unwrap_or(u32::MAX),
            Duration::from_secs(node.max_seconds),
        )
        .auto_shutdown(node.auto_shutdown)
        .children(node.children.iter().map(|c| child_spec(c, trace, workers)))
        .observer(trace.observer())
}

fn child_spec(node: &Node, trace: &Recorder, workers: &Workers) -> ChildSpec {
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
