//! Options of a peerstore, and the constructors that open one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Clock, Error, Peerstore, Result, SystemClock};
use crate::datastore::{Datastore, LevelDbDatastore, LevelDbOptions, MemoryDatastore, SyncPolicy};

/// How a [`Peerstore`] behaves. Defaults are go-libp2p's `DefaultOpts()` plus master's per-peer
/// address cap.
#[derive(Clone, Debug)]
pub struct Options {
    /// Address records kept in the ARC cache; 0 disables it. Default 1024.
    pub cache_size: usize,
    /// Most protocols stored for one peer. Default 1024.
    pub max_protocols: usize,
    /// Most addresses kept for one peer, not counting connected and permanent ones; when over,
    /// the address that expires soonest is evicted. 0 disables the cap. Default 64.
    pub max_addrs_per_peer: usize,
    /// Most address records kept; when over, the records whose addresses all expire soonest
    /// are evicted. `None` (the default): no cap.
    pub max_peer_records: Option<usize>,
    /// How often the background GC purges expired addresses; zero disables the background GC
    /// (manual [`Peerstore::gc`] still works). Default 2 h.
    pub gc_purge_interval: Duration,
    /// The GC lookahead window; zero (the default) means every purge scans all records.
    /// Must be at least the purge interval when set.
    pub gc_lookahead_interval: Duration,
    /// Delay before the background GC first runs. Default 60 s.
    pub gc_initial_delay: Duration,
    /// Lookahead mode: most records the GC's in-memory expiry index holds (about 150 bytes
    /// each), so that renewing a window reads only the records expiring in it. Over it, the
    /// index keeps the records that expire soonest: a window that reaches past them is renewed
    /// by walking all records, as go-libp2p renews every window. 0: no index.
    /// Default 262,144 (at most about 40 MB).
    pub gc_index_max_records: usize,
    /// fsync every write (default, as go-ds-leveldb) or not.
    pub sync: SyncPolicy,
    /// The clock expiries are computed from.
    pub clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_size: 1024,
            max_protocols: 1024,
            max_addrs_per_peer: 64,
            max_peer_records: None,
            gc_purge_interval: Duration::from_secs(2 * 60 * 60),
            gc_lookahead_interval: Duration::ZERO,
            gc_initial_delay: Duration::from_secs(60),
            gc_index_max_records: 262_144,
            sync: SyncPolicy::Always,
            clock: Arc::new(SystemClock),
        }
    }
}

impl Options {
    /// go-libp2p v0.48.0's defaults, plus a 64-address cap per peer (go-libp2p master).
    pub fn new() -> Options {
        Options::default()
    }

    /// Address records held in the ARC cache (0: no cache). Default 1024.
    pub fn cache_size(mut self, n: usize) -> Self {
        self.cache_size = n;
        self
    }

    /// Protocols a peer may have. Default 1024.
    pub fn max_protocols(mut self, n: usize) -> Self {
        self.max_protocols = n;
        self
    }

    /// Unconnected addresses a peer may have (0: no cap). Default 64.
    pub fn max_addrs_per_peer(mut self, n: usize) -> Self {
        self.max_addrs_per_peer = n;
        self
    }

    /// Address records kept at most (`None`: no cap). Default `None`.
    pub fn max_peer_records(mut self, n: Option<usize>) -> Self {
        self.max_peer_records = n;
        self
    }

    /// How often the background GC purges expired addresses (0: never). Default 2 h.
    pub fn gc_purge_interval(mut self, d: Duration) -> Self {
        self.gc_purge_interval = d;
        self
    }

    /// The GC lookahead window (0: purge-store mode). Default 0.
    pub fn gc_lookahead_interval(mut self, d: Duration) -> Self {
        self.gc_lookahead_interval = d;
        self
    }

    /// How long after opening the background GC first runs. Default 60 s.
    pub fn gc_initial_delay(mut self, d: Duration) -> Self {
        self.gc_initial_delay = d;
        self
    }

    /// Records the lookahead GC's expiry index may hold (0: no index). Default 262,144.
    pub fn gc_index_max_records(mut self, n: usize) -> Self {
        self.gc_index_max_records = n;
        self
    }

    /// Whether every write is synced (see [`SyncPolicy`]). Default `Always`.
    pub fn sync(mut self, s: SyncPolicy) -> Self {
        self.sync = s;
        self
    }

    /// The clock every expiry is computed from. Default: the system clock.
    pub fn clock(mut self, c: impl Clock + 'static) -> Self {
        self.clock = Arc::new(c);
        self
    }

    /// Refuses what go-libp2p refuses: a lookahead window shorter than the purge interval.
    pub(crate) fn validate(&self) -> Result<()> {
        if !self.gc_lookahead_interval.is_zero()
            && self.gc_lookahead_interval < self.gc_purge_interval
        {
            return Err(Error::Options(format!(
                "lookahead interval must be larger than purge interval, respectively: {:?}, {:?}",
                self.gc_lookahead_interval, self.gc_purge_interval
            )));
        }
        Ok(())
    }

    /// Opens (or creates) a peerstore in a LevelDB directory, in go-libp2p's layout.
    pub fn open_leveldb(self, path: impl AsRef<Path>) -> Result<Peerstore> {
        let ds = LevelDbDatastore::open(
            path,
            LevelDbOptions {
                sync: self.sync,
                ..Default::default()
            },
        )?;
        Peerstore::from_parts(Arc::new(ds), self)
    }

    /// Opens (or creates) a peerstore in a SQLite file (go-ds-sql's layout, table `blocks`).
    #[cfg(feature = "sqlite")]
    pub fn open_sqlite(self, path: impl AsRef<Path>) -> Result<Peerstore> {
        let ds = crate::datastore::SqliteDatastore::open(
            path,
            crate::datastore::SqliteOptions {
                sync: self.sync,
                ..Default::default()
            },
        )?;
        Peerstore::from_parts(Arc::new(ds), self)
    }

    /// Opens a peerstore in a PostgreSQL table (go-ds-sql's layout, table `blocks`, created if
    /// missing), shared with other processes: see [`crate::datastore::PostgresDatastore`] for
    /// the URL and the other options (pool, timeouts, TLS, another table).
    #[cfg(feature = "postgres")]
    pub fn open_postgres(self, url: &str) -> Result<Peerstore> {
        let ds = crate::datastore::PostgresDatastore::open(
            url,
            crate::datastore::PostgresOptions {
                sync: self.sync,
                ..Default::default()
            },
        )?;
        Peerstore::from_parts(Arc::new(ds), self)
    }

    /// A peerstore in memory: the drop-in for an in-memory peerstore.
    pub fn open_memory(self) -> Result<Peerstore> {
        Peerstore::from_parts(Arc::new(MemoryDatastore::new()), self)
    }

    /// A peerstore over any datastore.
    pub fn open_datastore(self, ds: Arc<dyn Datastore>) -> Result<Peerstore> {
        Peerstore::from_parts(ds, self)
    }
}
