//! [`Registry`]: the map from unique keys to live servers' handles.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use hashbrown::hash_table;

use crate::shard::{Entry, Liveness, Shards, Slot};
use crate::{AlreadyRegistered, Registration};

/// A registry of unique keys to the handles of live servers (Elixir's
/// `Registry` with `keys: :unique`).
///
/// A cheap handle: clones share one registry. Many registries can live in
/// one process; none is global. See the [crate docs](crate) for the rules
/// that tie an entry to its server's life.
///
/// Lookups take only a read lock on one of several shards, never a global
/// lock, and never wait on a server.
pub struct Registry<K, H> {
    pub(crate) shards: Arc<Shards<K, H>>,
}

impl<K, H> Clone for Registry<K, H> {
    fn clone(&self) -> Self {
        Self {
            shards: self.shards.clone(),
        }
    }
}

/// Builds a [`Registry`] with non-default settings.
pub struct RegistryBuilder<K, H> {
    shards: Option<usize>,
    liveness: Option<Liveness<H>>,
    key: PhantomData<fn() -> K>,
}

impl<K: Hash + Eq, H> RegistryBuilder<K, H> {
    /// The number of independently locked shards, rounded up to a power of
    /// two (default: four per available core, at least 32).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// A second line of defence: `alive(handle)` is asked on every lookup,
    /// and a handle it calls dead is treated as absent (and replaced by the
    /// next `register` or `start_or_lookup`).
    ///
    /// The [`Registration`] guard already removes an entry on every way a
    /// server's task can end; this check covers guards that outlive their
    /// server by mistake (moved into a detached task, leaked). Give it only
    /// a cheap, lock-free test such as a channel's `is_closed`: it runs under
    /// a shard's read lock.
    pub fn liveness<F>(mut self, alive: F) -> Self
    where
        F: Fn(&H) -> bool + Send + Sync + 'static,
    {
        self.liveness = Some(Box::new(alive));
        self
    }

    /// The registry.
    pub fn build(self) -> Registry<K, H> {
        // Many more shards than threads, so that two threads rarely meet on
        // one lock word; a shard costs 128 bytes.
        let shards = self
            .shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(32, |n| n.get() * 4).max(32));
        Registry {
            shards: Arc::new(Shards::new(shards, self.liveness)),
        }
    }
}

impl<K, H> fmt::Debug for RegistryBuilder<K, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("shards", &self.shards)
            .field("liveness", &self.liveness.is_some())
            .finish()
    }
}

impl<K: Hash + Eq, H> Default for Registry<K, H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq, H> Registry<K, H> {
    /// An empty registry with the default settings.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for a registry with other settings.
    pub fn builder() -> RegistryBuilder<K, H> {
        RegistryBuilder {
            shards: None,
            liveness: None,
            key: PhantomData,
        }
    }

    /// The handle of the live server registered under `key`, if any (OTP's
    /// `whereis`).
    ///
    /// A key whose server is still starting has no handle yet: this returns
    /// `None` at once rather than wait (use
    /// [`start_or_lookup`](Self::start_or_lookup) to wait for it).
    pub fn lookup<Q>(&self, key: &Q) -> Option<H>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        H: Clone,
    {
        self.with(key, H::clone)
    }

    /// Runs `f` on the handle registered under `key` without cloning it.
    ///
    /// `f` runs under the shard's read lock: keep it short and don't call
    /// back into this registry from it.
    pub fn with<Q, R>(&self, key: &Q, f: impl FnOnce(&H) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.shards.hash(key);
        self.shards.with_hashed(hash, key, f)
    }

    /// Whether a live server is registered under `key`.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.with(key, |_| ()).is_some()
    }

    /// Binds `key` to `handle` for as long as the returned guard lives.
    ///
    /// The server moves the [`Registration`] into its task; whichever way the
    /// task ends, the guard is dropped and the entry goes. If a live server
    /// already holds the key, the error carries its handle. A key that a
    /// `start_or_lookup` caller is starting is taken, and that caller and
    /// its waiters receive this handle.
    pub fn register(&self, key: K, handle: H) -> Result<Registration<K, H>, AlreadyRegistered<H>>
    where
        H: Clone,
    {
        let shards = &*self.shards;
        let hash = shards.hash(&key);
        let mut guard = shards.shard(hash).write();
        let id = guard.next_id();
        let table = &mut *guard;
        let replaced = match table.map.entry(hash, |e| e.key == key, shards.hasher()) {
            hash_table::Entry::Occupied(mut o) => {
                let e = o.get_mut();
                if let Slot::Registered(existing) = &e.slot {
                    if shards.alive(existing) {
                        return Err(AlreadyRegistered {
                            existing: existing.clone(),
                        });
                    }
                }
                e.id = id;
                Some(std::mem::replace(&mut e.slot, Slot::Registered(handle)))
            }
            hash_table::Entry::Vacant(v) => {
                v.insert(Entry {
                    key,
                    id,
                    slot: Slot::Registered(handle),
                });
                None
            }
        };
        if let Some(Slot::Starting(_)) = replaced {
            table.starting -= 1;
        }
        drop(guard);
        // Outside the lock: wake the starter's waiters, drop a dead handle.
        if let Some(Slot::Starting(gate)) = replaced {
            gate.open();
        }
        Ok(Registration {
            shard: shards.shard_arc(hash),
            hash,
            id,
        })
    }

    /// Removes the server registered under `key` and returns its handle.
    ///
    /// The server keeps running; its [`Registration`] becomes inert, so a
    /// later drop of it leaves a newer entry for the key alone. A key that
    /// is still starting is left alone.
    pub fn unregister<Q>(&self, key: &Q) -> Option<H>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.shards.hash(key);
        let mut table = self.shards.shard(hash).write();
        let found = table
            .map
            .find_entry(hash, |e| e.key.borrow() == key && matches!(e.slot, Slot::Registered(_)))
            .ok()?;
        let (entry, _) = found.remove();
        drop(table);
        match entry.slot {
            Slot::Registered(h) => Some(h),
            Slot::Starting(_) => None,
        }
    }

    /// How many servers are registered (a moment's count: servers come and
    /// go concurrently).
    pub fn len(&self) -> usize {
        if self.shards.has_liveness() {
            return self.fold(0, |n, _, _| n + 1);
        }
        self.shards
            .shards()
            .map(|s| {
                let t = s.read();
                t.map.len() - t.starting
            })
            .sum()
    }

    /// Whether no server is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The registered keys, as a snapshot taken one shard at a time.
    pub fn keys(&self) -> Vec<K>
    where
        K: Clone,
    {
        self.fold(Vec::new(), |mut v, k, _| {
            v.push(k.clone());
            v
        })
    }

    /// The registered keys and handles, as a snapshot taken one shard at a
    /// time.
    pub fn entries(&self) -> Vec<(K, H)>
    where
        K: Clone,
        H: Clone,
    {
        self.fold(Vec::new(), |mut v, k, h| {
            v.push((k.clone(), h.clone()));
            v
        })
    }

    fn fold<A>(&self, init: A, mut f: impl FnMut(A, &K, &H) -> A) -> A {
        let mut acc = init;
        for shard in self.shards.shards() {
            let table = shard.read();
            for e in table.map.iter() {
                if let Slot::Registered(h) = &e.slot {
                    if self.shards.alive(h) {
                        acc = f(acc, &e.key, h);
                    }
                }
            }
        }
        acc
    }
}

// By hand: neither keys nor handles need be `Debug` (a handle may hold
// things not to print); the count says enough.
impl<K: Hash + Eq, H> fmt::Debug for Registry<K, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.len())
            .field("shards", &self.shards.shard_count())
            .finish_non_exhaustive()
    }
}
