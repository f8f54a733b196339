//! The one error of this crate.

/// There is no table to write to: no owner runs, or (for a bound handle) the
/// incarnation it was bound to has ended. Reads report this as a miss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("no table: its owner is not running")]
pub struct NoTable;
