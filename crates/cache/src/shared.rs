//! The state every handle of one table shares: the entries and the word that
//! says which incarnation (if any) is live.
//!
//! Visibility is structural: an entry is stored with the state word that was
//! live when it was written (its *tag*), and a read accepts it only when the
//! tag equals the live word it loaded. The word only grows (the incarnation
//! number is bumped on every start, the live bit cleared on every end), so a
//! tag from an ended incarnation can never match again. A writer that loaded
//! the old word just before the owner died leaves at most an invisible entry,
//! which it removes itself (or a sweep does), and it never overwrites an entry
//! of a later incarnation.

use std::hash::{BuildHasher, Hash};

use papaya::{Equivalent, HashMapRef, LocalGuard, Operation};

use crate::loom::{AtomicU64, MapOrder, Ordering};

/// Low bit of the state word: an incarnation is live.
const LIVE: u64 = 1;

/// One stored value, tagged with the state word of the incarnation that wrote it.
pub(crate) struct Slot<V> {
    pub(crate) tag: u64,
    pub(crate) value: V,
}

/// Entries and incarnation state of one table.
///
/// Aligned to two cache lines so that the `Arc` counters in front of it,
/// written whenever a handle is cloned or dropped, never share a line (or an
/// adjacent-line prefetch pair) with the read-hot state word and map root.
#[repr(align(128))]
pub(crate) struct Shared<K, V, S> {
    /// `incarnation << 1 | LIVE`; 0 before the first owner starts.
    state: AtomicU64,
    map: papaya::HashMap<K, Slot<V>, S>,
    /// The map's own ordering, as the loom models see it (nothing otherwise).
    order: MapOrder,
}

/// Whether a state word (or tag) belongs to a live incarnation.
#[cfg(test)]
pub(crate) fn is_live(word: u64) -> bool {
    word & LIVE != 0
}

/// `word` with the live bit set.
#[inline]
pub(crate) fn with_live_bit(word: u64) -> u64 {
    word | LIVE
}

/// The incarnation number (1, 2, …) a state word or tag stands for.
pub(crate) fn incarnation_of(word: u64) -> u64 {
    word >> 1
}

impl<K, V, S> Shared<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    pub(crate) fn new(map: papaya::HashMap<K, Slot<V>, S>) -> Self {
        Self {
            state: AtomicU64::new(0),
            map,
            order: MapOrder::default(),
        }
    }

    /// The entries, pinned for one operation.
    #[inline]
    pub(crate) fn pin(&self) -> HashMapRef<'_, K, Slot<V>, S, LocalGuard<'_>> {
        self.order.step();
        self.map.pin()
    }

    /// Marks one more operation on a map pinned earlier (see [`MapOrder`]).
    #[inline]
    pub(crate) fn step(&self) {
        self.order.step();
    }

    /// How many entries the map holds, of any incarnation.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.order.step();
        self.map.len()
    }

    /// The current state word.
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    /// Starts a new incarnation and returns its tag. Any incarnation still
    /// live is ended by this (the newest owner wins).
    pub(crate) fn begin(&self) -> u64 {
        let mut cur = self.word();
        loop {
            let next = ((incarnation_of(cur) + 1) << 1) | LIVE;
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // Entries of an incarnation that was taken over are not
                    // swept by their owner (its `end` finds the word changed).
                    self.sweep();
                    return next;
                }
                Err(seen) => cur = seen,
            }
        }
    }

    /// Ends the incarnation `tag` if it is still the live one, and drops its
    /// entries: the table is gone with its owner.
    pub(crate) fn end(&self, tag: u64) {
        if self
            .state
            .compare_exchange(tag, tag & !LIVE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.sweep();
        }
    }

    /// Removes every entry whose tag is not the live word. The word is read
    /// per entry, after the entry: a tag that equals it is of the live
    /// incarnation, so a concurrent start's fresh entries are never lost.
    pub(crate) fn sweep(&self) {
        self.pin().retain(|_, slot| {
            // papaya loaded this entry (`Acquire`) before calling us, after
            // a retry too: the word read next is at least its writer's.
            self.order.step();
            slot.tag == self.word()
        });
    }

    /// `f` of the value stored under `key` by incarnation `tag`.
    #[inline]
    pub(crate) fn get_with<Q, R>(&self, tag: u64, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        match self.pin().get(key) {
            Some(slot) if slot.tag == tag => Some(f(&slot.value)),
            _ => None,
        }
    }

    /// Stores `value` under `key` in incarnation `tag`, if that incarnation
    /// is still live before and after the write.
    pub(crate) fn insert(&self, tag: u64, key: K, value: V) -> bool {
        self.word() == tag && self.write(tag, key, value)
    }

    /// The write itself, for a writer that found `tag` live a moment ago.
    fn write(&self, tag: u64, key: K, value: V) -> bool {
        let mut slot = Some(Slot { tag, value });
        self.pin().compute(key, |current| match current {
            // A later incarnation wrote this key: this writer is stale (its
            // owner ended after the check above) and must not clobber it.
            Some((_, newer)) if newer.tag > tag => Operation::Abort(()),
            // papaya calls again only when a concurrent write changed the
            // entry after it took the slot; that write comes after this one.
            _ => slot.take().map_or(Operation::Abort(()), Operation::Insert),
        });
        if self.word() != tag {
            // The owner ended between the check and the write: the entry is
            // invisible (its tag is dead), and this removes it so it does not
            // linger in memory or in `len`.
            self.sweep();
            return false;
        }
        true
    }

    /// Removes `key` from incarnation `tag`; whether it was there.
    pub(crate) fn remove<Q>(&self, tag: u64, key: &Q) -> bool
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        matches!(self.pin().remove_if(key, |_, slot| slot.tag == tag), Ok(Some(_)))
    }

    /// Removes every entry of incarnation `tag` for which `keep` is false.
    /// Entries of other incarnations are left to [`sweep`](Self::sweep).
    pub(crate) fn retain(&self, tag: u64, mut keep: impl FnMut(&K, &V) -> bool) {
        self.pin().retain(|k, slot| slot.tag != tag || keep(k, &slot.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared<u32, &'static str, foldhash::fast::RandomState> {
        Shared::new(papaya::HashMap::builder().hasher(Default::default()).build())
    }

    /// A writer that passed the liveness check just before its owner died,
    /// and writes only after a new owner has written the same key.
    #[test]
    fn a_stale_write_landing_late_clobbers_nothing_and_leaves_nothing() {
        let s = shared();
        let old = s.begin();
        s.end(old);
        let new = s.begin();
        assert!(s.insert(new, 1, "new"));
        assert!(!s.write(old, 1, "stale"), "the stale writer is told it lost");
        assert!(!s.write(old, 2, "stale"));
        assert_eq!(s.get_with(new, &1, |v| *v), Some("new"));
        assert_eq!(s.get_with(new, &2, |v| *v), None);
        assert_eq!(s.len(), 1, "the stale entry was swept");
    }

    #[test]
    fn tags_only_grow_and_a_dead_tag_never_matches_again() {
        let s = shared();
        assert!(!is_live(s.word()));
        let first = s.begin();
        let second = s.begin(); // takeover
        assert!(second > first && is_live(second));
        s.end(first); // the taken-over owner ending changes nothing
        assert_eq!(s.word(), second);
        s.end(second);
        assert!(!is_live(s.word()));
        assert_eq!(incarnation_of(s.begin()), 3);
    }
}
