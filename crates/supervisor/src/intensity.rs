//! Restart intensity: a true sliding window over the supervisor's restarts.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Counts restarts inside a sliding window of `period`.
///
/// OTP keeps every restart time of the window in a list and walks it on each
/// restart (O(n), and rounded to whole seconds). Here the deque never holds
/// more than `max_restarts + 1` times, and old ones leave from the front, so
/// each restart costs O(1) amortised however many the window holds.
#[derive(Debug)]
pub(crate) struct Intensity {
    max_restarts: u32,
    period: Duration,
    times: VecDeque<Instant>,
}

impl Intensity {
    pub(crate) fn new(max_restarts: u32, period: Duration) -> Self {
        Self {
            max_restarts,
            period,
            times: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; `false` means the limit is exceeded and
    /// the supervisor must give up.
    pub(crate) fn add(&mut self, now: Instant) -> bool {
        // A restart stays in the window while less than `period` has passed.
        while let Some(&t) = self.times.front() {
            if now.saturating_duration_since(t) >= self.period {
                self.times.pop_front();
            } else {
                break;
            }
        }
        self.times.push_back(now);
        let within = self.times.len() as u64 <= u64::from(self.max_restarts);
        if self.times.len() as u64 > u64::from(self.max_restarts) + 1 {
            self.times.pop_front();
        }
        within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_max_restarts_gives_up_on_first() {
        let mut i = Intensity::new(0, Duration::from_secs(5));
        assert!(!i.add(Instant::now()));
    }

    #[test]
    fn n_plus_first_restart_in_window_gives_up() {
        let t0 = Instant::now();
        let mut i = Intensity::new(2, Duration::from_secs(5));
        assert!(i.add(t0));
        assert!(i.add(t0 + Duration::from_secs(1)));
        assert!(!i.add(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn window_slides() {
        let t0 = Instant::now();
        let mut i = Intensity::new(2, Duration::from_secs(5));
        assert!(i.add(t0));
        assert!(i.add(t0 + Duration::from_secs(3)));
        // t0 has left the window exactly at t0 + 5 s.
        assert!(i.add(t0 + Duration::from_secs(5)));
        assert!(!i.add(t0 + Duration::from_secs(6)));
    }

    #[test]
    fn bounded_memory_with_huge_limit() {
        let t0 = Instant::now();
        let mut i = Intensity::new(3, Duration::from_secs(3600));
        for k in 0..10 {
            i.add(t0 + Duration::from_millis(k));
        }
        assert!(i.times.len() <= 4);
    }
}
