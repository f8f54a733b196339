//! The primitives the incarnation hand-off is built on, in one place
//! (tokio's `src/loom/` pattern): `std`'s in a normal build, loom's under
//! `--cfg atlas_loom`, so that the models in `tests/loom_cache.rs` explore
//! every interleaving of an owner's restart with readers and late writers.

#[cfg(not(atlas_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(atlas_loom)]
pub(crate) use ::loom::sync::atomic::{AtomicU64, Ordering};

/// What loom needs to see of the entry map, which is papaya's and built on
/// `std` atomics that loom neither sees nor interleaves: under loom, one
/// read-modify-write of a loom atomic before each map operation. That makes
/// every map operation a point where loom may switch threads (the race of a
/// write's liveness check with the write itself lives there), and gives it
/// the ordering papaya's operations on an entry give each other (each sees
/// the effects of the ones before it). Nothing at all in a normal build.
///
/// It orders all map operations, not only those on one key: the models use
/// one key, or stay correct without cross-key ordering.
#[derive(Debug, Default)]
pub(crate) struct MapOrder {
    #[cfg(atlas_loom)]
    clock: ::loom::sync::atomic::AtomicUsize,
}

impl MapOrder {
    /// Marks the start of one map operation.
    #[inline(always)]
    pub(crate) fn step(&self) {
        #[cfg(atlas_loom)]
        self.clock.fetch_add(1, Ordering::AcqRel);
    }
}
