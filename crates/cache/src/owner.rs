//! The table's owner: the table exists while an owner runs.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use atlas_supervisor::{Child, ChildContext, ChildSpec, ExitReason, ShutdownSignal};

use crate::shared::{incarnation_of, Shared};
use crate::Table;

/// Owns a [`Table`] the way an Erlang process owns its ETS table: each start
/// of the owner publishes a new, empty incarnation; when the owner stops,
/// crashes or is killed, that incarnation is gone for every handle.
///
/// Run it under a supervisor with [`child_spec`](TableOwner::child_spec), or
/// hold an [`Ownership`] from [`claim`](TableOwner::claim) yourself.
pub struct TableOwner<K, V, S> {
    table: Table<K, V, S>,
}

impl<K, V, S> Clone for TableOwner<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            table: self.table.clone(),
        }
    }
}

impl<K, V, S> TableOwner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// The owner of `table`'s entries (any handle of the table will do).
    pub fn new(table: &Table<K, V, S>) -> Self {
        Self { table: table.clone() }
    }

    /// Starts a new incarnation, empty, and returns the guard that keeps it
    /// alive: dropping the guard ends it (its entries are dropped, every
    /// handle misses). Claiming while another incarnation is live ends that
    /// one: the newest owner wins.
    pub fn claim(&self) -> Ownership<K, V, S> {
        let tag = self.table.shared.begin();
        Ownership {
            shared: Arc::clone(&self.table.shared),
            tag,
        }
    }

    /// Holds a new incarnation until `signal` fires, then ends it and exits
    /// with `Shutdown`. If the future is dropped first (its task aborted or
    /// killed), the incarnation ends all the same.
    pub async fn run(self, signal: ShutdownSignal) -> ExitReason {
        let ownership = self.claim();
        signal.cancelled().await;
        drop(ownership);
        ExitReason::Shutdown
    }
}

impl<K, V, S> TableOwner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// A permanent worker that owns the table. The new incarnation is
    /// published inside the start function, so the children started after
    /// this one already find a live table. Whatever ends the child's task
    /// (shutdown, `kill()`, abort) ends the incarnation with it, because the
    /// [`Ownership`] lives in the task's future and is dropped with it.
    pub fn child_spec(&self, id: impl Into<Arc<str>>) -> ChildSpec {
        let owner = self.clone();
        ChildSpec::worker(id, move |ctx: ChildContext| {
            let ownership = owner.claim();
            let signal = ctx.shutdown_signal();
            async move {
                Ok(Child::new(async move {
                    signal.cancelled().await;
                    drop(ownership);
                    ExitReason::Shutdown
                }))
            }
        })
    }
}

impl<K, V, S> fmt::Debug for TableOwner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableOwner").field("table", &self.table).finish()
    }
}

/// One live incarnation of a table; dropping it ends the incarnation.
///
/// This is the drop guard that makes an aborted owner's death visible: a
/// killed task's future is dropped, and this guard with it.
#[must_use = "the incarnation ends when the Ownership is dropped"]
pub struct Ownership<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    shared: Arc<Shared<K, V, S>>,
    tag: u64,
}

impl<K, V, S> Ownership<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// This incarnation's number (1 for the first owner start, then 2, …).
    pub fn incarnation(&self) -> u64 {
        incarnation_of(self.tag)
    }
}

impl<K, V, S> Drop for Ownership<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn drop(&mut self) {
        self.shared.end(self.tag);
    }
}

impl<K, V, S> fmt::Debug for Ownership<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ownership")
            .field("incarnation", &self.incarnation())
            .finish()
    }
}
