//! Shared fixtures for the suite tests: every case runs over LevelDB and memory, with the ARC
//! cache on (1024) and off (0), on a mock clock.

#![allow(dead_code)]

use std::time::Duration;

use libp2p_identity::{Keypair, PeerId};
use multiaddr::Multiaddr;
use pstoreds::peerstore::{MockClock, Options, Peerstore};

/// The clock starts on a whole second (expiries are whole seconds).
pub const START: i64 = 1_750_000_000;

pub struct Fixture {
    pub ps: Peerstore,
    pub clock: MockClock,
    _dir: Option<tempfile::TempDir>,
    #[cfg(feature = "postgres")]
    _table: Option<PgTable>,
}

impl Fixture {
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }
}

/// Options as go-libp2p v0.48.0 (no per-peer address cap), GC in the background off.
pub fn options(cache: usize, clock: &MockClock) -> Options {
    Options::new()
        .cache_size(cache)
        .max_addrs_per_peer(0)
        .gc_purge_interval(Duration::ZERO)
        .clock(clock.clone())
}

pub fn leveldb(cache: usize, tweak: impl FnOnce(Options) -> Options) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::at_unix(START);
    let ps = tweak(options(cache, &clock))
        .open_leveldb(dir.path().join("db"))
        .unwrap();
    Fixture {
        ps,
        clock,
        _dir: Some(dir),
        #[cfg(feature = "postgres")]
        _table: None,
    }
}

pub fn memory(cache: usize, tweak: impl FnOnce(Options) -> Options) -> Fixture {
    let clock = MockClock::at_unix(START);
    let ps = tweak(options(cache, &clock)).open_memory().unwrap();
    Fixture {
        ps,
        clock,
        _dir: None,
        #[cfg(feature = "postgres")]
        _table: None,
    }
}

/// `/ip4/1.1.1.<i>/tcp/1111`, as go-libp2p's `GenerateAddrs`; beyond 255 the third octet grows.
pub fn addrs(count: usize) -> Vec<Multiaddr> {
    addrs_from(0, count)
}

pub fn addrs_from(start: usize, count: usize) -> Vec<Multiaddr> {
    (start..start + count)
        .map(|i| {
            format!("/ip4/1.1.{}.{}/tcp/1111", i / 256, i % 256)
                .parse()
                .unwrap()
        })
        .collect()
}

pub fn peer() -> PeerId {
    Keypair::generate_ed25519().public().to_peer_id()
}

/// Order-insensitive address comparison, as go-libp2p's `AssertAddressesEqual`.
#[track_caller]
pub fn assert_addrs(want: &[Multiaddr], got: Vec<Multiaddr>) {
    let mut want: Vec<String> = want.iter().map(|a| a.to_string()).collect();
    let mut got: Vec<String> = got.iter().map(|a| a.to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(want, got);
}

/// Runs each listed case over the four configurations.
#[macro_export]
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        suite!(@with |o| o; $($case),*);
    };
    (@with $tweak:expr; $($case:ident),* $(,)?) => {
        mod leveldb_cached {
            use super::*;
            $( #[test] fn $case() { super::$case(&common::leveldb(1024, $tweak)); } )*
        }
        mod leveldb_uncached {
            use super::*;
            $( #[test] fn $case() { super::$case(&common::leveldb(0, $tweak)); } )*
        }
        mod memory_cached {
            use super::*;
            $( #[test] fn $case() { super::$case(&common::memory(1024, $tweak)); } )*
        }
        mod memory_uncached {
            use super::*;
            $( #[test] fn $case() { super::$case(&common::memory(0, $tweak)); } )*
        }
        // A shared store: no cache whatever the option says, every write conditional.
        #[cfg(feature = "postgres")]
        mod postgres {
            use super::*;
            $( #[test] fn $case() {
                if let Some(f) = common::postgres(1024, $tweak) { super::$case(&f); }
            } )*
        }
    };
}

#[cfg(feature = "postgres")]
/// The test PostgreSQL server: `PSTORE_TEST_POSTGRES` (a URL; `.ci/test` starts a throwaway
/// server and sets it). Without it a test fails, saying how to get one, unless
/// `PSTORE_SKIP_POSTGRES=1` says to skip (then `None`).
pub fn postgres_url() -> Option<String> {
    match std::env::var("PSTORE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("PSTORE_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("PSTORE_SKIP_POSTGRES=1: PostgreSQL test skipped");
            None
        }
        _ => panic!(
            "this test needs a PostgreSQL server: run the tests with `bash .ci/test` (it starts \
             a throwaway one), or set PSTORE_TEST_POSTGRES=postgres://USER:PASS@HOST:PORT/DB, \
             or PSTORE_SKIP_POSTGRES=1 to skip the PostgreSQL tests"
        ),
    }
}

#[cfg(feature = "postgres")]
/// A table name no other test (or test run) uses.
pub fn fresh_table() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

#[cfg(feature = "postgres")]
use pstoreds::datastore::PostgresOptions as PgOptions;

#[cfg(feature = "postgres")]
/// A test's PostgreSQL table, dropped when the test is done.
pub struct PgTable {
    pub url: String,
    pub name: String,
}

#[cfg(feature = "postgres")]
impl PgTable {
    pub fn new() -> Option<PgTable> {
        Some(PgTable {
            url: postgres_url()?,
            name: fresh_table(),
        })
    }

    pub fn open(&self) -> pstoreds::datastore::PostgresDatastore {
        self.open_with(|o| o)
    }

    /// Opens the table with options changed by `tweak`.
    pub fn open_with(
        &self,
        tweak: impl FnOnce(PgOptions) -> PgOptions,
    ) -> pstoreds::datastore::PostgresDatastore {
        pstoreds::datastore::PostgresDatastore::open(
            &self.url,
            tweak(PgOptions {
                table: self.name.clone(),
                ..Default::default()
            }),
        )
        .unwrap()
    }

    /// Runs SQL on the server directly (not through the datastore).
    pub fn sql(&self, sql: &str) {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        c.batch_execute(sql).unwrap();
    }
}

#[cfg(feature = "postgres")]
impl Drop for PgTable {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP TABLE IF EXISTS {}", self.name));
        }
    }
}

#[cfg(feature = "postgres")]
pub fn postgres(cache: usize, tweak: impl FnOnce(Options) -> Options) -> Option<Fixture> {
    let table = PgTable::new()?;
    let clock = MockClock::at_unix(START);
    let ps = tweak(options(cache, &clock))
        .open_datastore(std::sync::Arc::new(table.open()))
        .unwrap();
    Some(Fixture {
        ps,
        clock,
        _dir: None,
        _table: Some(table),
    })
}
