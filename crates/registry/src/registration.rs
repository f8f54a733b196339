//! [`Registration`]: the guard that ties an entry to its server's life.

use std::fmt;
use std::sync::Arc;

use crate::shard::Shard;

/// Proof that a key is bound to a server; dropping it removes the binding.
///
/// The server moves it into its task's future. A task's future is dropped
/// however the task ends (it returns, it panics and unwinds, it is aborted,
/// its supervisor stops it), so the entry goes with the server without any
/// monitor process. The guard removes only its own binding: once a newer
/// registration holds the key (a restarted server, after an explicit
/// [`unregister`](crate::Registry::unregister)), a late drop of this one
/// changes nothing.
#[must_use = "dropping the registration unregisters the key at once"]
pub struct Registration<K, H> {
    pub(crate) shard: Arc<Shard<K, H>>,
    pub(crate) hash: u64,
    pub(crate) id: u64,
}

impl<K, H> Registration<K, H> {
    /// This binding's id, unique among the bindings of its key's shard for
    /// the registry's life (a restarted server gets a new one).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the key is still bound by this registration (not unregistered
    /// by hand, not pruned as dead).
    pub fn is_registered(&self) -> bool {
        self.shard.holds_id(self.hash, self.id)
    }

    /// Removes the binding now (the same as dropping the guard).
    pub fn unregister(self) {}
}

impl<K, H> Drop for Registration<K, H> {
    fn drop(&mut self) {
        self.shard.remove_id(self.hash, self.id);
    }
}

impl<K, H> fmt::Debug for Registration<K, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("registered", &self.is_registered())
            .finish()
    }
}
