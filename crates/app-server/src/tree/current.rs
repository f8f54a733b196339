//! The running incarnation of a stack's tree. The facade's fast path does
//! not come here: it reads the table through a handle that follows the
//! owner's incarnations by itself (`atlas-cache`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use atlas_registry::Registry;
use atlas_supervisor::{DynamicSupervisorRef, TaskSupervisor};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::persist::PersistLanes;
use crate::table::TokenTable;
use crate::{AppName, AppServerRef};

/// The parts of one incarnation of the tree, published together when its
/// last child (`apps`) has started. A `rest_for_one` restart of any child
/// ends with a new `apps` and so a new incarnation.
pub(crate) struct Incarnation {
    /// Counts incarnations of this stack, from 1.
    pub(crate) generation: u64,
    pub(crate) registry: Registry<AppName, AppServerRef>,
    /// Cleared when the registry child's incarnation ends.
    pub(crate) registry_alive: Arc<AtomicBool>,
    pub(crate) table: TokenTable,
    /// What the apps of each scope share; forgotten with the cache.
    pub(crate) scopes: crate::scopes::Scopes,
    /// The read of the user's token in flight, shared by the apps.
    pub(crate) user_token_reads: crate::seams::UserTokenReads,
    pub(crate) tasks: TaskSupervisor,
    pub(crate) apps: DynamicSupervisorRef,
    /// Per stack, not per incarnation: a persist queued by an old
    /// incarnation is still ordered against a newer one's invalidation.
    pub(crate) lanes: Arc<PersistLanes>,
}

impl Incarnation {
    /// Whether all its parts still run (a restart of any child stops
    /// `apps` too, but not at once).
    pub(crate) fn is_running(&self) -> bool {
        self.apps.is_alive()
            && self.registry_alive.load(Ordering::Acquire)
            && self.table.is_alive()
            && self.tasks.is_open()
    }
}

/// The children started so far in the current (re)start of the tree.
#[derive(Default)]
pub(crate) struct Parts {
    pub(crate) registry: Option<(Registry<AppName, AppServerRef>, Arc<AtomicBool>)>,
    pub(crate) tasks: Option<TaskSupervisor>,
}

/// Where a stack's running incarnation is found.
pub(crate) struct Current {
    generation: AtomicU64,
    slot: RwLock<Option<Arc<Incarnation>>>,
    pub(crate) parts: Mutex<Parts>,
    changed: Notify,
}

impl Default for Current {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            slot: RwLock::new(None),
            parts: Mutex::new(Parts::default()),
            changed: Notify::new(),
        }
    }
}

impl Current {
    /// The generation of the running incarnation (bumped on every publish
    /// and clear).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The generation the next incarnation gets.
    pub(crate) fn next_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire) + 1
    }

    /// Makes `inc` the running incarnation and wakes those waiting for one.
    pub(crate) fn publish(&self, inc: Arc<Incarnation>) {
        let generation = inc.generation;
        *self.slot.write() = Some(inc);
        self.generation.store(generation, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Forgets the running incarnation (the stack has stopped) so that its
    /// table and registry are dropped.
    pub(crate) fn clear(&self) {
        let old = self.slot.write().take();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
        drop(old);
    }

    /// The running incarnation, if any.
    pub(crate) fn get(&self) -> Option<Arc<Incarnation>> {
        self.slot.read().clone()
    }

    /// Completes once an incarnation newer than `generation` is published
    /// (or the slot is cleared).
    pub(crate) async fn changed_since(&self, generation: u64) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.generation.load(Ordering::Acquire) > generation {
                return;
            }
            notified.await;
        }
    }
}
