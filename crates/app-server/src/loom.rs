//! What the persist lane is built on, in one place (tokio's `src/loom/`
//! pattern): tokio's and `std`'s types in a normal build; under
//! `--cfg atlas_loom`, stand-ins on loom's primitives with the same
//! contracts, so that the model in `persist.rs` explores every interleaving
//! of a persist's write with an invalidation. Only the lane uses this module.

#[cfg(not(atlas_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(atlas_loom))]
pub(crate) use tokio::spawn;
#[cfg(not(atlas_loom))]
pub(crate) use tokio::sync::Mutex;

#[cfg(atlas_loom)]
pub(crate) use self::model::{spawn, Mutex};
#[cfg(atlas_loom)]
pub(crate) use ::loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(atlas_loom)]
mod model {
    use std::convert::Infallible;
    use std::future::{poll_fn, Future};
    use std::ops::{Deref, DerefMut};
    use std::sync::{Arc, PoisonError};
    use std::task::{Poll, Waker};

    type Slot<T> = ::loom::sync::Mutex<(Option<T>, Vec<Waker>)>;

    fn lock<T>(m: &Slot<T>) -> ::loom::sync::MutexGuard<'_, (Option<T>, Vec<Waker>)> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `waker` to `wakers` unless it is there already.
    fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// Waits until `slot` holds a value and takes it.
    async fn take<T>(slot: &Slot<T>) -> T {
        poll_fn(|cx| {
            let mut s = lock(slot);
            match s.0.take() {
                Some(v) => Poll::Ready(v),
                None => {
                    register(&mut s.1, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Puts `value` back in `slot` and wakes its waiters.
    fn put_back<T>(slot: &Slot<T>, value: T) {
        let wakers = {
            let mut s = lock(slot);
            s.0 = Some(value);
            std::mem::take(&mut s.1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// `tokio::sync::Mutex`: the value is out of the slot while a guard
    /// holds it, and a locker waits (not spinning) until it is back.
    pub(crate) struct Mutex<T> {
        slot: Slot<T>,
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Self {
                slot: ::loom::sync::Mutex::new((Some(T::default()), Vec::new())),
            }
        }
    }

    impl<T> Mutex<T> {
        /// `tokio::sync::Mutex::lock`.
        pub(crate) async fn lock(&self) -> MutexGuard<'_, T> {
            let value = Some(take(&self.slot).await);
            MutexGuard { mutex: self, value }
        }

        /// `tokio::sync::Mutex::lock_owned`.
        pub(crate) async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
            let value = Some(take(&self.slot).await);
            OwnedMutexGuard { mutex: self, value }
        }
    }

    /// `tokio::sync::MutexGuard`.
    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a Mutex<T>,
        value: Option<T>,
    }

    /// `tokio::sync::OwnedMutexGuard`.
    pub(crate) struct OwnedMutexGuard<T> {
        mutex: Arc<Mutex<T>>,
        value: Option<T>,
    }

    macro_rules! guard {
        ($guard:ty, $($lt:lifetime)?) => {
            impl<$($lt,)? T> Deref for $guard {
                type Target = T;
                fn deref(&self) -> &T {
                    self.value.as_ref().expect("held until drop")
                }
            }
            impl<$($lt,)? T> DerefMut for $guard {
                fn deref_mut(&mut self) -> &mut T {
                    self.value.as_mut().expect("held until drop")
                }
            }
            impl<$($lt,)? T> Drop for $guard {
                fn drop(&mut self) {
                    if let Some(v) = self.value.take() {
                        put_back(&self.mutex.slot, v);
                    }
                }
            }
        };
    }
    guard!(MutexGuard<'a, T>, 'a);
    guard!(OwnedMutexGuard<T>,);

    /// `tokio::task::JoinHandle`: the task's output, once it is done. The
    /// model never aborts a task, so joining never fails.
    pub(crate) struct JoinHandle<T> {
        output: Arc<Slot<T>>,
    }

    impl<T> Future for JoinHandle<T> {
        type Output = Result<T, Infallible>;

        fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
            let mut s = lock(&self.output);
            match s.0.take() {
                Some(v) => Poll::Ready(Ok(v)),
                None => {
                    register(&mut s.1, cx.waker());
                    Poll::Pending
                }
            }
        }
    }

    /// `tokio::spawn`: the task runs on a loom thread of its own.
    pub(crate) fn spawn<F>(task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let output: Arc<Slot<F::Output>> = Arc::new(::loom::sync::Mutex::new((None, Vec::new())));
        let done = output.clone();
        ::loom::thread::spawn(move || put_back(&done, ::loom::future::block_on(task)));
        JoinHandle { output }
    }
}
