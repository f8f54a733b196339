//! `(value, expires_at)` entries and the TTL-aware lookups.

use std::fmt;
use std::hash::{BuildHasher, Hash};

use papaya::Equivalent;

use crate::{NoTable, Table};

/// A value with the unix second at which it stops being served.
///
/// An entry is fresh at `now` only when `expires_at > now`: at
/// `expires_at == now` it is already a miss (the token table's rule, SPEC §3).
///
/// `Debug` shows `expires_at` but never the value (it may be a secret).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Expiring<V> {
    /// The stored value.
    pub value: V,
    /// Unix seconds; the entry is a miss from this second on.
    pub expires_at: i64,
}

impl<V> Expiring<V> {
    /// `value`, served while `now < expires_at`.
    pub fn new(value: V, expires_at: i64) -> Self {
        Self { value, expires_at }
    }

    /// Whether the entry is still served at `now` (unix seconds).
    #[inline]
    pub fn is_fresh_at(&self, now: i64) -> bool {
        self.expires_at > now
    }

    /// The value if the entry is fresh at `now`.
    #[inline]
    pub fn value_at(&self, now: i64) -> Option<&V> {
        self.is_fresh_at(now).then_some(&self.value)
    }
}

impl<V> fmt::Debug for Expiring<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expiring")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl<K, V, S> Table<K, Expiring<V>, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// `f` applied to the value under `key`, borrowed in place, if the entry
    /// expires after `now` (unix seconds, from the caller's clock: the table
    /// never reads the time itself). The hot path: no clone, no shared
    /// counter touched.
    #[inline]
    pub fn lookup_with<Q, R>(&self, key: &Q, now: i64, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.get_with(key, |e| e.value_at(now).map(f)).flatten()
    }

    /// A clone of the value under `key` if the entry expires after `now`.
    #[inline]
    pub fn lookup<Q>(&self, key: &Q, now: i64) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
        V: Clone,
    {
        self.lookup_with(key, now, V::clone)
    }

    /// Stores `value` under `key`, served while `now < expires_at`.
    pub fn insert_expiring(&self, key: K, value: V, expires_at: i64) -> Result<(), NoTable> {
        self.insert(key, Expiring::new(value, expires_at))
    }

    /// Removes every entry that is no longer fresh at `now`. Lookups never
    /// need this (they treat such entries as misses); it only frees memory.
    pub fn purge_expired(&self, now: i64) -> Result<(), NoTable> {
        self.retain(|_, e| e.is_fresh_at(now))
    }
}
