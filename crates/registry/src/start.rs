//! `start_or_lookup`: find the key's server, or start exactly one.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use hashbrown::hash_table;

use crate::gate::Gate;
use crate::shard::{Entry, Shards, Slot};
use crate::{Registry, StartOrLookupError};

/// How often in a row a started server may register and exit before its
/// handle is read, before `start_or_lookup` gives up with `Exited`.
const MAX_ATTEMPTS: u32 = 16;

/// What the map says about a key, read under its shard's write lock.
enum Found<H> {
    /// A live server: its handle.
    Live(H),
    /// Another caller is starting it.
    Starting(Arc<Gate>),
    /// Nobody: this caller now holds the `Starting` slot with this id.
    Claimed(u64, Arc<Gate>),
}

/// What the map says after our own start returned.
enum After<H> {
    Live(H),
    Starting(Arc<Gate>),
    /// Our `Starting` slot was still there: the server never registered.
    NeverRegistered,
    /// Nothing (or a dead handle): the server registered and is gone.
    Gone,
}

impl<K: Hash + Eq, H> Registry<K, H> {
    /// The handle of `key`'s live server, starting it with `start` if there
    /// is none (Elixir's `DynamicSupervisor.start_child` with a `:via`
    /// name, followed by a lookup on `already_started`).
    ///
    /// Any number of concurrent callers for a missing key run **one** start
    /// between them; the others wait (without holding any lock) until the
    /// server registers, then all return its handle. The server must
    /// register the key itself, with [`register`](Self::register), before
    /// `start`'s future completes: e.g. in the start function of an
    /// `atlas_supervisor::ChildSpec` run by `DynamicSupervisor::start_child`,
    /// as an OTP server registers in `init`. (So `start` must not itself
    /// wait for this key through the registry: it would wait for itself.)
    ///
    /// - If `start` fails but some server now holds the key (it lost a race
    ///   to it), that server's handle is returned, never the error.
    /// - If `start` fails, is cancelled or panics, the key is released and
    ///   one of the waiting callers starts it with its own `start`.
    /// - If the new server registered and already exited when `start`
    ///   returns, the caller starts again (calling `start` once more), up to
    ///   a bound ([`StartOrLookupError::Exited`]).
    ///
    /// Each caller's `start` runs only while that caller holds the key's
    /// starting slot, so two servers for one key are never started by this
    /// function.
    pub async fn start_or_lookup<F, Fut, T, E>(&self, key: &K, start: F) -> Result<H, StartOrLookupError<E>>
    where
        K: Clone,
        H: Clone,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let hash = self.shards.hash(key);
        if let Some(h) = self.shards.with_hashed(hash, key, H::clone) {
            return Ok(h);
        }
        // The slow path on the heap: the common case (a live server) stays a
        // small future that completes on its first poll.
        Box::pin(self.start_or_wait(hash, key, start)).await
    }

    async fn start_or_wait<F, Fut, T, E>(&self, hash: u64, key: &K, mut start: F) -> Result<H, StartOrLookupError<E>>
    where
        K: Clone,
        H: Clone,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let shards = &self.shards;
        let mut gone = 0;
        loop {
            let (id, gate) = match claim(shards, hash, key) {
                Found::Live(h) => return Ok(h),
                Found::Starting(gate) => {
                    gate.wait().await;
                    continue;
                }
                Found::Claimed(id, gate) => (id, gate),
            };
            // Releases the slot if `start` panics or this future is dropped.
            let pending = Pending {
                shards: shards.clone(),
                hash,
                id,
                gate,
            };
            let result = start().await;
            let after = pending.finish(key);
            match (result, after) {
                (_, After::Live(h)) => return Ok(h),
                (Err(e), After::Starting(gate)) => {
                    // Our start lost to a server that has since gone, and
                    // another caller is starting the next: take its result.
                    gate.wait().await;
                    return shards
                        .with_hashed(hash, key, H::clone)
                        .ok_or(StartOrLookupError::Start(e));
                }
                (Err(e), _) => return Err(StartOrLookupError::Start(e)),
                (Ok(_), After::NeverRegistered) => return Err(StartOrLookupError::NotRegistered),
                (Ok(_), After::Starting(gate)) => {
                    gone += 1;
                    gate.wait().await;
                }
                (Ok(_), After::Gone) => gone += 1,
            }
            if gone >= MAX_ATTEMPTS {
                return Err(StartOrLookupError::Exited(gone));
            }
        }
    }
}

/// Under the write lock: the live handle, another caller's gate, or a new
/// `Starting` slot for this caller (replacing a handle the liveness check
/// calls dead).
fn claim<K: Hash + Eq + Clone, H: Clone>(shards: &Shards<K, H>, hash: u64, key: &K) -> Found<H> {
    let mut guard = shards.shard(hash).write();
    let id = guard.next_id();
    let table = &mut *guard;
    let gate = Arc::new(Gate::default());
    let dead = match table.map.entry(hash, |e| e.key == *key, shards.hasher()) {
        hash_table::Entry::Occupied(mut o) => {
            let e = o.get_mut();
            match &e.slot {
                Slot::Registered(h) if shards.alive(h) => return Found::Live(h.clone()),
                Slot::Starting(g) => return Found::Starting(g.clone()),
                Slot::Registered(_) => {
                    e.id = id;
                    Some(std::mem::replace(&mut e.slot, Slot::Starting(gate.clone())))
                }
            }
        }
        hash_table::Entry::Vacant(v) => {
            v.insert(Entry {
                key: key.clone(),
                id,
                slot: Slot::Starting(gate.clone()),
            });
            None
        }
    };
    table.starting += 1;
    drop(guard);
    drop(dead);
    Found::Claimed(id, gate)
}

/// A caller's claim on a key's `Starting` slot. Dropped without `finish`
/// (panic in `start`, cancelled caller), it frees the slot and opens the
/// gate, so the key is never left wedged.
struct Pending<K: Hash + Eq, H> {
    shards: Arc<Shards<K, H>>,
    hash: u64,
    id: u64,
    gate: Arc<Gate>,
}

impl<K: Hash + Eq, H: Clone> Pending<K, H> {
    /// Frees the slot if it is still ours, opens the gate and reports what
    /// holds the key now, all under one write lock.
    fn finish(self, key: &K) -> After<H> {
        let mut table = self.shards.shard(self.hash).write();
        let after = if table.remove_id(self.hash, self.id).is_some() {
            After::NeverRegistered
        } else {
            match table.map.find(self.hash, |e| e.key == *key) {
                Some(Entry {
                    slot: Slot::Registered(h),
                    ..
                }) if self.shards.alive(h) => After::Live(h.clone()),
                Some(Entry {
                    slot: Slot::Starting(g),
                    ..
                }) => After::Starting(g.clone()),
                _ => After::Gone,
            }
        };
        drop(table);
        // `self` drops here: its `Drop` opens the gate (the slot is gone).
        after
    }
}

impl<K: Hash + Eq, H> Drop for Pending<K, H> {
    fn drop(&mut self) {
        self.shards.remove_id(self.hash, self.id);
        self.gate.open();
    }
}
