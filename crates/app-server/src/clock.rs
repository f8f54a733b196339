//! `Clock`: where the stack reads "now" (unix seconds) for token expiry.
//!
//! Expiry is wall-clock time (a token minted by Fly expires at a unix
//! second), while timers (CLI timeout, soft-expiry) are tokio time. Tests
//! move both by hand: a [`ManualClock`] for the first, `tokio::time::pause`
//! and `advance` for the second.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A source of the current time in unix seconds.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the unix epoch.
    fn now(&self) -> i64;
}

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now(&self) -> i64 {
        (**self).now()
    }
}

/// The system's wall clock, read coarsely: `atlas-cache`'s process-wide
/// [`CoarseClock`](atlas_cache::CoarseClock), one atomic load kept current by
/// a background thread (every 10 ms), instead of a `SystemTime::now()` on
/// every `get`. The lag is far below the one-second resolution of token
/// expiry.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> i64 {
        atlas_cache::CoarseClock::global().now_unix()
    }
}

/// How a stack holds its clock: the system clock is called directly (the
/// fast path reads it on every `get`), any other through a trait object.
#[derive(Clone)]
pub(crate) enum ClockRef {
    System,
    Custom(Arc<dyn Clock>),
}

impl ClockRef {
    pub(crate) fn new<C: Clock>(clock: C) -> Self {
        if std::any::TypeId::of::<C>() == std::any::TypeId::of::<SystemClock>() {
            ClockRef::System
        } else {
            ClockRef::Custom(Arc::new(clock))
        }
    }

    #[inline]
    pub(crate) fn now(&self) -> i64 {
        match self {
            ClockRef::System => SystemClock.now(),
            ClockRef::Custom(clock) => clock.now(),
        }
    }
}

/// A clock that moves only when told to; clones share the time.
///
/// ```
/// use std::time::Duration;
/// use atlas_app_server::{Clock, ManualClock};
/// let clock = ManualClock::new(1_700_000_000);
/// let same = clock.clone();
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(same.now(), 1_700_000_060);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `now` (unix seconds).
    pub fn new(now: i64) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(now)),
        }
    }

    /// Moves it to `now`.
    pub fn set(&self, now: i64) {
        self.now.store(now, Ordering::SeqCst);
    }

    /// Moves it forward by `by` (whole seconds; the rest is dropped).
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.now.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    /// A clock standing at 2023-11-14T22:13:20Z (1,700,000,000).
    fn default() -> Self {
        Self::new(1_700_000_000)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_close_to_the_precise_one() {
        let coarse = SystemClock.now();
        let precise = atlas_cache::system_unix();
        assert!((precise - coarse).abs() <= 2, "coarse {coarse} vs precise {precise}");
    }

    #[test]
    fn manual_clock_moves_by_hand() {
        let c = ManualClock::new(10);
        assert_eq!(c.now(), 10);
        c.advance(Duration::from_millis(2_500));
        assert_eq!(c.now(), 12);
        c.set(5);
        assert_eq!(c.now(), 5);
    }
}
