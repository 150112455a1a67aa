//! Exponential backoff with "equal jitter": after `n` failures wait a random
//! point in the upper half of `base * 2^n` (capped). The random half keeps a
//! fleet of nodes that lost the hub at the same moment from coming back at
//! the same moment; the fixed half keeps each node from retrying too soon.

use std::time::Duration;

/// Backoff state for one retried operation.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// Starts at `base`, never waits longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap, failures: 0 }
    }

    /// After a success: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The wait after one more failure.
    pub fn next_wait(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.failures.min(16)).min(self.cap);
        self.failures = self.failures.saturating_add(1);
        let half = exp / 2;
        half + jitter(Duration::ZERO, half)
    }
}

/// A uniformly random duration in `[min, max]` (millisecond resolution).
pub fn jitter(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let span = (max - min).as_millis() as u64;
    let r = u64::from_le_bytes(crate::random_bytes::<8>());
    min + Duration::from_millis(r % (span + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        for n in 0..12u32 {
            let full = Duration::from_secs(1).saturating_mul(1 << n).min(Duration::from_secs(300));
            let w = b.next_wait();
            assert!(w >= full / 2 && w <= full, "failure {n}: {w:?} outside [{:?}, {full:?}]", full / 2);
        }
        assert_eq!(b.failures(), 12);
        b.reset();
        assert!(b.next_wait() <= Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_range() {
        let (lo, hi) = (Duration::from_millis(60), Duration::from_millis(120));
        for _ in 0..200 {
            let j = jitter(lo, hi);
            assert!(j >= lo && j <= hi);
        }
        assert_eq!(jitter(hi, lo), hi);
    }
}
