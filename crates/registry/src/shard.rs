//! The registry's storage: a fixed array of independently locked hash
//! tables, and the entries they hold.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::gate::Gate;
use crate::loom::RwLock;

/// What a key is bound to.
pub(crate) enum Slot<H> {
    /// A live server's handle.
    Registered(H),
    /// A `start_or_lookup` caller is starting the key's server; others wait
    /// at the gate. Lookups see no entry.
    Starting(Arc<Gate>),
}

/// One key's entry. `id` names this binding (registration or start) and is
/// unique within its shard for the registry's life, so a guard that comes
/// late never removes a newer binding of the same key.
pub(crate) struct Entry<K, H> {
    pub(crate) key: K,
    pub(crate) id: u64,
    pub(crate) slot: Slot<H>,
}

/// One shard's table.
pub(crate) struct Table<K, H> {
    pub(crate) map: HashTable<Entry<K, H>>,
    /// Source of entry ids (taken under the write lock: no shared counter).
    next_id: u64,
    /// How many entries are `Starting` (they don't count in `len`).
    pub(crate) starting: usize,
}

impl<K, H> Table<K, H> {
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Removes the binding `id`, if it is still there, and returns its slot.
    pub(crate) fn remove_id(&mut self, hash: u64, id: u64) -> Option<Slot<H>> {
        let entry = self.map.find_entry(hash, |e| e.id == id).ok()?;
        let (entry, _) = entry.remove();
        if matches!(entry.slot, Slot::Starting(_)) {
            self.starting -= 1;
        }
        Some(entry.slot)
    }
}

/// A shard on its own cache lines, so that two threads working on different
/// shards don't share a lock word's line.
///
/// Each shard is reference-counted on its own: a [`Registration`] holds only
/// its key's shard, so registering and dropping guards on different shards
/// never touch a shared counter.
///
/// [`Registration`]: crate::Registration
#[repr(align(128))]
pub(crate) struct Shard<K, H> {
    pub(crate) table: RwLock<Table<K, H>>,
}

impl<K, H> Shard<K, H> {
    /// Removes the binding `id` (of a key hashed to `hash`), if it is still
    /// there; opens its gate if it was a start.
    pub(crate) fn remove_id(&self, hash: u64, id: u64) -> bool {
        let removed = self.table.write().remove_id(hash, id);
        // Outside the lock: dropping a handle or waking waiters runs code we
        // don't control.
        match removed {
            Some(Slot::Starting(gate)) => {
                gate.open();
                true
            }
            Some(Slot::Registered(_)) => true,
            None => false,
        }
    }

    /// Whether the binding `id` is still in place.
    pub(crate) fn holds_id(&self, hash: u64, id: u64) -> bool {
        self.table.read().map.find(hash, |e| e.id == id).is_some()
    }
}

/// Whether a handle still belongs to a running server (see
/// [`RegistryBuilder::liveness`](crate::RegistryBuilder::liveness)).
pub(crate) type Liveness<H> = Box<dyn Fn(&H) -> bool + Send + Sync + 'static>;

/// The registry: its shards, hasher and liveness check.
pub(crate) struct Shards<K, H> {
    hasher: DefaultHashBuilder,
    shards: Box<[Arc<Shard<K, H>>]>,
    /// `64 - log2(shards.len())`.
    shift: u32,
    liveness: Option<Liveness<H>>,
}

impl<K: Hash + Eq, H> Shards<K, H> {
    pub(crate) fn new(shards: usize, liveness: Option<Liveness<H>>) -> Self {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let shards = (0..n)
            .map(|_| {
                Arc::new(Shard {
                    table: RwLock::new(Table {
                        map: HashTable::new(),
                        next_id: 0,
                        starting: 0,
                    }),
                })
            })
            .collect();
        Self {
            hasher: DefaultHashBuilder::default(),
            shards,
            shift: 64 - n.trailing_zeros(),
            liveness,
        }
    }

    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard index of `hash`. The top 7 bits are skipped: the table uses them
    /// as its per-bucket tag, and a shard whose keys all share them would
    /// match tags more often.
    fn index(&self, hash: u64) -> usize {
        if self.shift >= 64 {
            0
        } else {
            ((hash << 7) >> self.shift) as usize
        }
    }

    /// The table of `hash`'s shard.
    pub(crate) fn shard(&self, hash: u64) -> &RwLock<Table<K, H>> {
        &self.shards[self.index(hash)].table
    }

    /// `hash`'s shard itself, for a guard to keep.
    pub(crate) fn shard_arc(&self, hash: u64) -> Arc<Shard<K, H>> {
        self.shards[self.index(hash)].clone()
    }

    pub(crate) fn shards(&self) -> impl Iterator<Item = &RwLock<Table<K, H>>> {
        self.shards.iter().map(|s| &s.table)
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The table's rehash function.
    pub(crate) fn hasher(&self) -> impl Fn(&Entry<K, H>) -> u64 + '_ {
        move |e| self.hasher.hash_one(&e.key)
    }

    /// Whether `handle` passes the liveness check (always, without one).
    pub(crate) fn alive(&self, handle: &H) -> bool {
        match &self.liveness {
            Some(f) => f(handle),
            None => true,
        }
    }

    pub(crate) fn has_liveness(&self) -> bool {
        self.liveness.is_some()
    }

    /// Runs `f` on the live handle bound to `key`, under the shard's read
    /// lock.
    pub(crate) fn with_hashed<Q, R>(&self, hash: u64, key: &Q, f: impl FnOnce(&H) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let table = self.shard(hash).read();
        match table.map.find(hash, |e| e.key.borrow() == key) {
            Some(Entry {
                slot: Slot::Registered(h),
                ..
            }) if self.alive(h) => Some(f(h)),
            _ => None,
        }
    }

    /// Removes the binding `id` of the key hashed to `hash`, if it is still
    /// there; opens its gate if it was a start.
    pub(crate) fn remove_id(&self, hash: u64, id: u64) -> bool {
        self.shards[self.index(hash)].remove_id(hash, id)
    }
}
