//! The table handle: reads and writes go straight to the shared entries.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use papaya::Equivalent;

use crate::shared::{incarnation_of, with_live_bit, Shared, Slot};

/// The `bound` of a following handle (no tag is 0: tags have the live bit).
const FOLLOW: u64 = 0;
use crate::{NoTable, TableGuard, TableOwner};

/// The hasher a [`Table`] uses unless told otherwise: `foldhash`'s fast,
/// per-table seeded hasher (see the crate docs for why not SipHash).
pub type DefaultHashBuilder = foldhash::fast::RandomState;

/// A handle to a concurrent keyed table (set semantics: one value per key,
/// insert overwrites) whose life is its owner's.
///
/// Cheap to clone (one `Arc`); every clone sees the same entries. Any task or
/// thread reads and writes through it directly: no message to the owner, no
/// lock on the read path. A handle *follows* the owner: while no owner runs
/// every read misses and every write returns [`NoTable`]; when an owner
/// (re)starts, the same handle uses its new, empty table.
///
/// [`bind_current`](Table::bind_current) gives a handle *bound* to the
/// incarnation that is live now instead: it misses and refuses writes once
/// that incarnation ends, even after a restart, so a server started under one
/// incarnation can never write into the next.
///
/// `Debug` shows the incarnation and the size, never a key or a value.
pub struct Table<K, V, S = DefaultHashBuilder> {
    pub(crate) shared: Arc<Shared<K, V, S>>,
    /// [`FOLLOW`]: follows the live incarnation; otherwise the tag of the
    /// one incarnation this handle is bound to.
    bound: u64,
}

impl<K, V, S> Clone for Table<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            bound: self.bound,
        }
    }
}

impl<K, V> Table<K, V>
where
    K: Hash + Eq,
{
    /// A table with no owner yet: reads miss and writes return [`NoTable`]
    /// until a [`TableOwner`] starts.
    pub fn new() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }

    /// As [`new`](Table::new), with room for `capacity` entries before the
    /// first resize.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, DefaultHashBuilder::default())
    }
}

impl<K, V> Default for Table<K, V>
where
    K: Hash + Eq,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, S> Table<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// A table with no owner yet that hashes keys with `hasher`.
    pub fn with_hasher(hasher: S) -> Self {
        Self::from_map(papaya::HashMap::builder().hasher(hasher))
    }

    /// A table with no owner yet, room for `capacity` entries, hashing keys
    /// with `hasher`.
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        Self::from_map(papaya::HashMap::builder().hasher(hasher).capacity(capacity))
    }

    fn from_map(builder: papaya::HashMapBuilder<K, Slot<V>, S>) -> Self {
        // Blocking resizes: a write that fills the table finishes the copy
        // before going on, so reads never have to search a half-copied pair
        // of tables (with papaya's default incremental mode a finished batch
        // of inserts can leave every later read ~2x slower). Writes are rare
        // here, reads are the hot path.
        let map = builder.resize_mode(papaya::ResizeMode::Blocking).build();
        Self {
            shared: Arc::new(Shared::new(map)),
            bound: FOLLOW,
        }
    }

    /// The owner of this table, to run under a supervisor
    /// ([`TableOwner::child_spec`]) or by hand ([`TableOwner::claim`]).
    pub fn owner(&self) -> TableOwner<K, V, S> {
        TableOwner::new(self)
    }

    /// The tag of the incarnation this handle reads and writes now, if any.
    #[inline]
    pub(crate) fn tag(&self) -> Option<u64> {
        let word = self.shared.word();
        // One comparison for both kinds of handle (the hot path): a following
        // handle accepts any live word, a bound one only its own tag.
        let expected = if self.bound == FOLLOW {
            with_live_bit(word)
        } else {
            self.bound
        };
        (word == expected).then_some(word)
    }

    /// The number (1, 2, …: one per owner start) of the incarnation this
    /// handle uses now, or `None` when it has no table.
    pub fn incarnation(&self) -> Option<u64> {
        self.tag().map(incarnation_of)
    }

    /// Whether this handle has a table now (an owner runs and, for a bound
    /// handle, it is still the incarnation it was bound to).
    pub fn is_live(&self) -> bool {
        self.tag().is_some()
    }

    /// Whether this handle is bound to one incarnation
    /// (see [`bind_current`](Table::bind_current)).
    pub fn is_bound(&self) -> bool {
        self.bound != FOLLOW
    }

    /// A handle bound to the incarnation live now: it reads and writes that
    /// incarnation's table only, and misses / returns [`NoTable`] once it has
    /// ended, even when a new owner has started since.
    pub fn bind_current(&self) -> Result<Self, NoTable> {
        let tag = self.tag().ok_or(NoTable)?;
        Ok(Self {
            shared: Arc::clone(&self.shared),
            bound: tag,
        })
    }

    /// `f` applied to the value under `key`, borrowed in place (no clone, no
    /// reference count touched, so many threads reading one hot key scale).
    /// `None` when the key is absent or there is no table.
    #[inline]
    pub fn get_with<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let tag = self.tag()?;
        self.shared.get_with(tag, key, f)
    }

    /// A clone of the value under `key`. For values behind an `Arc`, cloning
    /// bumps a shared counter; prefer [`get_with`](Table::get_with) on hot keys.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
        V: Clone,
    {
        self.get_with(key, V::clone)
    }

    /// Whether `key` has a value.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.get_with(key, |_| ()).is_some()
    }

    /// Stores `value` under `key`, replacing any value there.
    ///
    /// `Err(NoTable)` when there is no table, or when the owner ended while
    /// the write was under way: then the value was dropped, and no read that
    /// starts after the owner's end sees it, in the ended incarnation or the
    /// next (a read that itself raced the end may have).
    pub fn insert(&self, key: K, value: V) -> Result<(), NoTable> {
        let tag = self.tag().ok_or(NoTable)?;
        if self.shared.insert(tag, key, value) {
            Ok(())
        } else {
            Err(NoTable)
        }
    }

    /// Removes the value under `key`; `Ok(true)` when there was one.
    pub fn remove<Q>(&self, key: &Q) -> Result<bool, NoTable>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let tag = self.tag().ok_or(NoTable)?;
        Ok(self.shared.remove(tag, key))
    }

    /// Keeps only the entries for which `keep` returns `true`.
    pub fn retain(&self, keep: impl FnMut(&K, &V) -> bool) -> Result<(), NoTable> {
        let tag = self.tag().ok_or(NoTable)?;
        self.shared.retain(tag, keep);
        Ok(())
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), NoTable> {
        self.retain(|_, _| false)
    }

    /// The number of entries; 0 when there is no table. In O(1): while an
    /// owner is ending under concurrent writes it may for an instant count a
    /// write that is being dropped.
    pub fn len(&self) -> usize {
        if self.tag().is_some() {
            self.shared.len()
        } else {
            0
        }
    }

    /// Whether the table has no entry (or there is no table).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A read guard: borrowed lookups and iteration over one consistent
    /// incarnation, with the epoch entered once for all of them. It is not
    /// `Send`; drop it before an `.await`.
    pub fn guard(&self) -> TableGuard<'_, K, V, S> {
        TableGuard::new(&self.shared, self.tag())
    }

    /// A copy of every entry, in no particular order.
    pub fn to_vec(&self) -> Vec<(K, V)>
    where
        K: Clone,
        V: Clone,
    {
        self.guard().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl<K, V, S> fmt::Debug for Table<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("incarnation", &self.incarnation())
            .field("bound", &self.is_bound())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
