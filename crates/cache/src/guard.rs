//! Borrowed reads and iteration under one entered epoch.

use std::fmt;
use std::hash::{BuildHasher, Hash};

use papaya::{Equivalent, HashMapRef, LocalGuard};

use crate::shared::{incarnation_of, Shared, Slot};
use crate::Expiring;

/// Borrowed access to one incarnation of a [`Table`](crate::Table), from
/// [`Table::guard`](crate::Table::guard).
///
/// References it hands out stay valid while the guard lives, even if the entry
/// is replaced or removed meanwhile (epoch-based reclamation). It serves the
/// incarnation that was live when it was made: once that one ends, lookups
/// miss, as they do through the table. Not `Send`: drop it before an `.await`.
pub struct TableGuard<'a, K, V, S> {
    shared: &'a Shared<K, V, S>,
    map: HashMapRef<'a, K, Slot<V>, S, LocalGuard<'a>>,
    tag: Option<u64>,
}

impl<'a, K, V, S> TableGuard<'a, K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    pub(crate) fn new(shared: &'a Shared<K, V, S>, tag: Option<u64>) -> Self {
        Self {
            shared,
            map: shared.pin(),
            tag,
        }
    }

    /// The tag, if its incarnation is still the live one.
    #[inline]
    fn live_tag(&self) -> Option<u64> {
        self.tag.filter(|&tag| tag == self.shared.word())
    }

    /// The incarnation this guard reads, while it is live.
    pub fn incarnation(&self) -> Option<u64> {
        self.live_tag().map(incarnation_of)
    }

    /// The value under `key`, borrowed for the guard's life.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let tag = self.live_tag()?;
        self.shared.step();
        match self.map.get(key) {
            Some(slot) if slot.tag == tag => Some(&slot.value),
            _ => None,
        }
    }

    /// Whether `key` has a value.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Every entry of this incarnation, in no particular order. Entries
    /// written or removed during the iteration may or may not be seen.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            inner: self.live_tag().map(|tag| {
                self.shared.step();
                (self.map.iter(), tag)
            }),
        }
    }
}

impl<K, V, S> TableGuard<'_, K, Expiring<V>, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// The value under `key` if its `expires_at` is after `now` (unix
    /// seconds), borrowed for the guard's life.
    #[inline]
    pub fn lookup<Q>(&self, key: &Q, now: i64) -> Option<&V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.get(key).and_then(|e| e.value_at(now))
    }
}

impl<K, V, S> fmt::Debug for TableGuard<'_, K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableGuard")
            .field("incarnation", &self.incarnation())
            .finish_non_exhaustive()
    }
}

/// Iterator over the entries of one incarnation, from [`TableGuard::iter`].
pub struct Iter<'g, K, V> {
    /// The map's iterator and the tag to keep; `None` when there is no table.
    inner: Option<(SlotIter<'g, K, V>, u64)>,
}

type SlotIter<'g, K, V> = papaya::Iter<'g, K, Slot<V>, LocalGuard<'g>>;

impl<'g, K: 'g, V: 'g> Iterator for Iter<'g, K, V> {
    type Item = (&'g K, &'g V);

    fn next(&mut self) -> Option<Self::Item> {
        let (iter, tag) = self.inner.as_mut()?;
        let tag = *tag;
        iter.find(|(_, slot)| slot.tag == tag).map(|(k, slot)| (k, &slot.value))
    }
}

impl<K, V> fmt::Debug for Iter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}
