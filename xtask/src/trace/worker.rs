//! The scenario's workers: `atlas_supervisor::testing`'s scripted workers,
//! which write their own `stop` lines as the oracle's workers do.

use std::time::Duration;

use atlas_supervisor::testing::{Script, Workers};
use atlas_supervisor::{ChildSpec, Shutdown};

use super::scenario::{ShutdownSpec, WorkerNode};

/// The child spec of a worker node.
pub fn spec(node: &WorkerNode, workers: &Workers) -> ChildSpec {
    let script = Script::new()
        .fail_starts(node.fail_starts.iter().copied())
        .ignore_starts(node.ignore_starts.iter().copied())
        .ignore_shutdown(node.ignores_shutdown);
    let shutdown = match node.shutdown {
        ShutdownSpec::BrutalKill => Shutdown::BrutalKill,
        ShutdownSpec::Millis(ms) => Shutdown::Timeout(Duration::from_millis(ms)),
        ShutdownSpec::Infinity => Shutdown::Infinity,
    };
    workers
        .scripted(&node.id, script)
        .restart(node.restart)
        .shutdown(shutdown)
        .significant(node.significant)
}
