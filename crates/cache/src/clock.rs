//! A unix-seconds clock cheap enough for the lookup hot path.
//!
//! The TTL lookups take `now` from the caller, so that tests can inject a
//! clock and so that the table never reads the time itself. A caller that
//! wants the real time on every lookup should not call `SystemTime::now()`
//! there: it costs about 35 ns, more than a whole warm lookup (~15 ns).
//! [`CoarseClock::now_unix`] is one relaxed atomic load (~1 ns), kept current
//! by a background thread.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A unix-seconds clock read with one atomic load, updated every `tick` by a
/// background thread.
///
/// It may lag the system clock by up to one tick (plus scheduling delay), so
/// an entry can be served for that long past its `expires_at`; with the
/// default 10 ms tick that is far below the one-second resolution of the
/// timestamps. Clones share one ticker; the thread ends within a tick after
/// the last clone is dropped.
#[derive(Clone, Debug)]
pub struct CoarseClock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    now: AtomicI64,
    /// False when the ticker thread could not be spawned: then every read
    /// asks the system clock (slow but right).
    ticking: bool,
}

impl CoarseClock {
    /// The tick of [`global`](CoarseClock::global).
    pub const DEFAULT_TICK: Duration = Duration::from_millis(10);

    /// A clock with its own ticker thread, updated every `tick` (at least
    /// 1 ms).
    pub fn start(tick: Duration) -> std::io::Result<Self> {
        let tick = tick.max(Duration::from_millis(1));
        let inner = Arc::new(Inner {
            now: AtomicI64::new(system_unix()),
            ticking: true,
        });
        let weak = Arc::downgrade(&inner);
        thread::Builder::new()
            .name("atlas-coarse-clock".into())
            .spawn(move || loop {
                thread::sleep(tick);
                match weak.upgrade() {
                    Some(inner) => inner.now.store(system_unix(), Ordering::Relaxed),
                    None => break,
                }
            })?;
        Ok(Self { inner })
    }

    /// The process-wide clock, started on first use with
    /// [`DEFAULT_TICK`](CoarseClock::DEFAULT_TICK). If its thread cannot be
    /// spawned it falls back to reading the system clock on every call.
    pub fn global() -> &'static CoarseClock {
        static GLOBAL: OnceLock<CoarseClock> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            Self::start(Self::DEFAULT_TICK).unwrap_or_else(|_| Self {
                inner: Arc::new(Inner {
                    now: AtomicI64::new(0),
                    ticking: false,
                }),
            })
        })
    }

    /// Unix seconds, as of the last tick.
    #[inline]
    pub fn now_unix(&self) -> i64 {
        if self.inner.ticking {
            self.inner.now.load(Ordering::Relaxed)
        } else {
            system_unix()
        }
    }
}

/// Unix seconds from the system clock (negative before 1970). Costs a
/// `SystemTime::now()`; see [`CoarseClock`] for the cheap reading.
pub fn system_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_system_time() {
        let clock = CoarseClock::start(Duration::from_millis(1)).expect("spawns");
        let (before, read, after) = (system_unix(), clock.now_unix(), system_unix());
        // One tick of lag at most; a second boundary may fall in between.
        assert!(before - 1 <= read && read <= after, "{before} {read} {after}");
    }

    #[test]
    fn global_is_one_clock() {
        let a = CoarseClock::global();
        let b = CoarseClock::global();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert!((a.now_unix() - system_unix()).abs() <= 1);
    }
}
