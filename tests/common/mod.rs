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
    }
}

pub fn memory(cache: usize, tweak: impl FnOnce(Options) -> Options) -> Fixture {
    let clock = MockClock::at_unix(START);
    let ps = tweak(options(cache, &clock)).open_memory().unwrap();
    Fixture {
        ps,
        clock,
        _dir: None,
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
    };
}
