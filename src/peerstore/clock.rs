//! The one clock every expiry is computed from; injectable for tests and replays.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of "now" in unix nanoseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in unix nanoseconds.
    fn now_nanos(&self) -> i64;

    /// Unix seconds, rounded down (Go's `time.Unix()`).
    fn now_unix(&self) -> i64 {
        unix_seconds(self.now_nanos())
    }
}

/// Unix nanoseconds to unix seconds, rounded down (Go's `time.Unix()`).
pub fn unix_seconds(nanos: i64) -> i64 {
    nanos.div_euclid(1_000_000_000)
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_nanos(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

/// A clock that moves only when told to.
///
/// ```
/// use pstoreds::peerstore::{Clock, MockClock};
/// use std::time::Duration;
/// let clock = MockClock::at_unix(1_750_000_000);
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now_unix(), 1_750_000_001);
/// ```
#[derive(Debug, Default, Clone)]
pub struct MockClock {
    nanos: Arc<AtomicI64>,
}

impl MockClock {
    /// A clock stopped at `secs` unix seconds.
    pub fn at_unix(secs: i64) -> MockClock {
        MockClock::at_nanos(secs.saturating_mul(1_000_000_000))
    }

    /// A clock stopped at `nanos` unix nanoseconds.
    pub fn at_nanos(nanos: i64) -> MockClock {
        MockClock {
            nanos: Arc::new(AtomicI64::new(nanos)),
        }
    }

    /// Moves the clock to `nanos` unix nanoseconds.
    pub fn set_nanos(&self, nanos: i64) {
        self.nanos.store(nanos, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }
}

impl Clock for MockClock {
    fn now_nanos(&self) -> i64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

/// Go's `now.Add(ttl).Unix()`: floor((now + ttl) / 1 s), computed without overflow.
pub fn expiry(now_nanos: i64, ttl_nanos: i64) -> i64 {
    let sum = i128::from(now_nanos) + i128::from(ttl_nanos);
    sum.div_euclid(1_000_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_matches_go_for_huge_ttls() {
        // docs/format.md: PermanentAddrTTL from 1750000000 s gives 10973372036.
        assert_eq!(expiry(1_750_000_000_000_000_000, i64::MAX), 10_973_372_036);
        assert_eq!(
            expiry(1_750_000_000_000_000_000, i64::MAX - 1),
            10_973_372_036
        );
        assert_eq!(
            expiry(1_700_000_000_500_000_000, 3_600_000_000_000),
            1_700_003_600
        );
        assert_eq!(expiry(0, -1), -1);
    }
}
