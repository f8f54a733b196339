//! The primitives the claim/gate protocol is built on, in one place (tokio's
//! `src/loom/` pattern): `parking_lot`, `std` and `tokio` in a normal build,
//! loom's under `--cfg atlas_loom`, so that the models in `tests/loom_*.rs`
//! explore every interleaving of a claim, a gate and a guard.
//!
//! Only what carries the protocol is swapped: the shard locks, the gate's
//! flag and its wake-up. `Arc` stays std's: its counts order nothing here.

#[cfg(not(atlas_loom))]
pub(crate) use parking_lot::RwLock;
#[cfg(not(atlas_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(atlas_loom))]
pub(crate) use tokio::sync::Notify;

#[cfg(atlas_loom)]
pub(crate) use self::model::{Notify, RwLock};
#[cfg(atlas_loom)]
pub(crate) use ::loom::sync::atomic::{AtomicBool, Ordering};

#[cfg(atlas_loom)]
mod model {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::PoisonError;
    use std::task::{Context, Poll, Waker};

    /// loom's lock with `parking_lot`'s signature (no poisoning: a model that
    /// panics has failed already).
    #[derive(Debug)]
    pub(crate) struct RwLock<T>(::loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(::loom::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> ::loom::sync::RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn write(&self) -> ::loom::sync::RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// The part of `tokio::sync::Notify` the gate uses, on loom's mutex, with
    /// tokio's documented contract: a `Notified` receives every
    /// `notify_waiters` made after it was *created*, polled or not (tokio
    /// counts those calls and each future remembers the count at its
    /// creation; so does this).
    #[derive(Debug, Default)]
    pub(crate) struct Notify {
        state: ::loom::sync::Mutex<Waiters>,
    }

    #[derive(Debug, Default)]
    struct Waiters {
        /// How many `notify_waiters` calls were made.
        calls: u64,
        /// The wakers of the futures polled since the last call.
        wakers: Vec<Waker>,
    }

    impl Notify {
        fn lock(&self) -> ::loom::sync::MutexGuard<'_, Waiters> {
            self.state.lock().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn notified(&self) -> Notified<'_> {
            Notified {
                notify: self,
                calls: self.lock().calls,
            }
        }

        pub(crate) fn notify_waiters(&self) {
            let wakers = {
                let mut state = self.lock();
                state.calls += 1;
                std::mem::take(&mut state.wakers)
            };
            // Outside the lock, as tokio does.
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// `tokio::sync::futures::Notified`, for the gate.
    #[derive(Debug)]
    pub(crate) struct Notified<'a> {
        notify: &'a Notify,
        /// `notify_waiters` calls seen at creation.
        calls: u64,
    }

    impl Notified<'_> {
        /// Registration for `notify_waiters` happens at creation; `enable`
        /// matters to tokio's `notify_one` only, which the gate does not use.
        pub(crate) fn enable(self: Pin<&mut Self>) {}
    }

    impl Future for Notified<'_> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut state = self.notify.lock();
            if state.calls != self.calls {
                return Poll::Ready(());
            }
            if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                state.wakers.push(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}
