//! Address TTLs as go-libp2p defines them: a Go `time.Duration` (signed nanoseconds).

use std::time::Duration;

/// A time-to-live in nanoseconds, signed as in Go: zero or negative means "remove" to
/// `set_addrs` and "ignore" to `add_addrs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(pub i64);

impl Ttl {
    /// `peerstore.TempAddrTTL`: 2 minutes.
    pub const TEMP: Ttl = Ttl(2 * 60 * 1_000_000_000);
    /// `peerstore.AddressTTL`: 1 hour.
    pub const ADDRESS: Ttl = Ttl(60 * 60 * 1_000_000_000);
    /// `peerstore.ProviderAddrTTL`: 10 minutes (no longer in go-libp2p v0.48.0's core, but what
    /// older nodes and the DHT wrote for provider addresses).
    pub const PROVIDER: Ttl = Ttl(10 * 60 * 1_000_000_000);
    /// `peerstore.RecentlyConnectedAddrTTL`: 15 minutes.
    pub const RECENTLY_CONNECTED: Ttl = Ttl(15 * 60 * 1_000_000_000);
    /// `peerstore.OwnObservedAddrTTL`: 30 minutes.
    pub const OWN_OBSERVED: Ttl = Ttl(30 * 60 * 1_000_000_000);
    /// `peerstore.PermanentAddrTTL`: `math.MaxInt64`.
    pub const PERMANENT: Ttl = Ttl(i64::MAX);
    /// `peerstore.ConnectedAddrTTL`: `math.MaxInt64 - 1`.
    pub const CONNECTED: Ttl = Ttl(i64::MAX - 1);
    /// A TTL that removes.
    pub const REMOVE: Ttl = Ttl(-1);

    /// The TTL in nanoseconds.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Connected and permanent addresses are never evicted by the per-peer cap.
    pub fn is_connected_or_permanent(self) -> bool {
        self >= Ttl::CONNECTED
    }
}

impl From<Duration> for Ttl {
    fn from(d: Duration) -> Ttl {
        Ttl(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}
