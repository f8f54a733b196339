//! What the task supervisor's spawn/shutdown protocol is built on, in one
//! place (tokio's `src/loom/` pattern): tokio's types in a normal build;
//! under `--cfg atlas_loom`, stand-ins on loom's primitives with the same
//! contracts, so that `tests/loom_task_supervisor.rs` explores every
//! interleaving of a spawn, its task and a shutdown. Only the task
//! supervisor uses this module; the engine stays on tokio.

#[cfg(not(atlas_loom))]
pub(crate) use tokio::spawn;
#[cfg(not(atlas_loom))]
pub(crate) use tokio::sync::watch;
#[cfg(not(atlas_loom))]
pub(crate) use tokio::time::timeout;
#[cfg(not(atlas_loom))]
pub(crate) use tokio_util::sync::CancellationToken;

#[cfg(atlas_loom)]
pub(crate) use self::model::{spawn, timeout, watch, CancellationToken};

#[cfg(atlas_loom)]
mod model {
    use std::fmt;
    use std::future::{poll_fn, Future};
    use std::pin::pin;
    use std::sync::{Arc, PoisonError};
    use std::task::{Poll, Waker};
    use std::time::Duration;

    use ::loom::future::AtomicWaker;
    use ::loom::sync::atomic::{AtomicBool, Ordering};
    use ::loom::sync::{Mutex, MutexGuard};

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `waker` to `wakers` unless it is there already.
    fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// `tokio::spawn`: the task runs on a loom thread of its own.
    pub(crate) fn spawn<F>(task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        ::loom::thread::spawn(move || ::loom::future::block_on(task));
    }

    /// `tokio::time::Elapsed`.
    #[derive(Debug)]
    pub(crate) struct Elapsed;

    /// `tokio::time::timeout` with the deadline at any point: a loom thread
    /// of its own fires it, so every place it can fall is explored. As
    /// tokio's, the future is polled before the deadline.
    pub(crate) async fn timeout<F: Future>(_: Duration, future: F) -> Result<F::Output, Elapsed> {
        let deadline = Arc::new((AtomicBool::new(false), AtomicWaker::new()));
        {
            let deadline = deadline.clone();
            ::loom::thread::spawn(move || {
                deadline.0.store(true, Ordering::Release);
                deadline.1.wake();
            });
        }
        let mut future = pin!(future);
        poll_fn(|cx| {
            deadline.1.register_by_ref(cx.waker());
            if let Poll::Ready(v) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            if deadline.0.load(Ordering::Acquire) {
                return Poll::Ready(Err(Elapsed));
            }
            Poll::Pending
        })
        .await
    }

    /// `tokio_util::sync::CancellationToken`, the part the task supervisor
    /// uses.
    #[derive(Clone, Default)]
    pub(crate) struct CancellationToken {
        /// Cancelled, and the wakers of the futures waiting for it.
        state: Arc<Mutex<(bool, Vec<Waker>)>>,
    }

    impl CancellationToken {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        pub(crate) fn cancel(&self) {
            let wakers = {
                let mut state = lock(&self.state);
                state.0 = true;
                std::mem::take(&mut state.1)
            };
            wakers.into_iter().for_each(Waker::wake);
        }

        /// As tokio-util's: `None` once cancelled, checked before each poll
        /// of `future` (which is dropped then, unpolled).
        pub(crate) async fn run_until_cancelled<F: Future>(&self, future: F) -> Option<F::Output> {
            let mut future = pin!(future);
            poll_fn(|cx| {
                {
                    let mut state = lock(&self.state);
                    if state.0 {
                        return Poll::Ready(None);
                    }
                    register(&mut state.1, cx.waker());
                }
                future.as_mut().poll(cx).map(Some)
            })
            .await
        }
    }

    impl fmt::Debug for CancellationToken {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("CancellationToken").finish_non_exhaustive()
        }
    }

    /// `tokio::sync::watch`, the part the task supervisor uses: one value
    /// under a lock; a modification wakes every receiver waiting for it.
    pub(crate) mod watch {
        use super::*;

        struct Shared<T> {
            value: T,
            wakers: Vec<Waker>,
        }

        /// `watch::Sender`.
        pub(crate) struct Sender<T> {
            shared: Arc<Mutex<Shared<T>>>,
        }

        /// `watch::Receiver`.
        pub(crate) struct Receiver<T> {
            shared: Arc<Mutex<Shared<T>>>,
        }

        /// `watch::Ref`: the value, borrowed under the lock.
        pub(crate) struct Ref<'a, T>(MutexGuard<'a, Shared<T>>);

        /// `watch::error::RecvError` (never returned: a sender lives as
        /// long as its receivers here).
        #[derive(Debug)]
        pub(crate) struct RecvError;

        impl<T> Sender<T> {
            pub(crate) fn new(value: T) -> Self {
                Self {
                    shared: Arc::new(Mutex::new(Shared {
                        value,
                        wakers: Vec::new(),
                    })),
                }
            }

            /// As tokio's: `modify` runs under the lock; receivers are woken
            /// only when it returns `true`.
            pub(crate) fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
                let wakers = {
                    let mut shared = lock(&self.shared);
                    if !modify(&mut shared.value) {
                        return false;
                    }
                    std::mem::take(&mut shared.wakers)
                };
                wakers.into_iter().for_each(Waker::wake);
                true
            }

            pub(crate) fn send_modify(&self, modify: impl FnOnce(&mut T)) {
                self.send_if_modified(|v| {
                    modify(v);
                    true
                });
            }

            pub(crate) fn borrow(&self) -> Ref<'_, T> {
                Ref(lock(&self.shared))
            }

            pub(crate) fn subscribe(&self) -> Receiver<T> {
                Receiver {
                    shared: self.shared.clone(),
                }
            }
        }

        impl<T> Receiver<T> {
            /// As tokio's: completes once `ready` holds for the current
            /// value (checked under the same lock a modification takes, so
            /// none is missed).
            pub(crate) async fn wait_for(&mut self, mut ready: impl FnMut(&T) -> bool) -> Result<(), RecvError> {
                poll_fn(|cx| {
                    let mut shared = lock(&self.shared);
                    if ready(&shared.value) {
                        return Poll::Ready(Ok(()));
                    }
                    register(&mut shared.wakers, cx.waker());
                    Poll::Pending
                })
                .await
            }
        }

        impl<T> std::ops::Deref for Ref<'_, T> {
            type Target = T;

            fn deref(&self) -> &T {
                &self.0.value
            }
        }

        impl<T> fmt::Debug for Sender<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Sender").finish_non_exhaustive()
            }
        }
    }
}
