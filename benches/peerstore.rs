//! The benchmark shapes of go-libp2p's peerstore suite (docs/tests.md), on LevelDB (fsync off:
//! this measures the peerstore, not the
//! disk) and memory, with the ARC cache on and off, plus the raw datastore put/get underneath,
//! so the peerstore's overhead over its engine is visible. `cargo bench --bench peerstore`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use libp2p_identity::Keypair;
use multiaddr::Multiaddr;
use pstoreds::datastore::{Datastore, Key, LevelDbDatastore, LevelDbOptions, SyncPolicy};
use pstoreds::peerstore::{Options, Peerstore, Ttl};

struct Store {
    name: &'static str,
    ps: Peerstore,
    _dir: Option<tempfile::TempDir>,
}

fn stores() -> Vec<Store> {
    let mut out = Vec::new();
    for (name, cache) in [("leveldb/cached", 1024), ("leveldb/uncached", 0)] {
        let dir = tempfile::tempdir().unwrap();
        let ps = options(cache).open_leveldb(dir.path()).unwrap();
        out.push(Store {
            name,
            ps,
            _dir: Some(dir),
        });
    }
    for (name, cache) in [("memory/cached", 1024), ("memory/uncached", 0)] {
        out.push(Store {
            name,
            ps: options(cache).open_memory().unwrap(),
            _dir: None,
        });
    }
    out
}

fn options(cache: usize) -> Options {
    Options::new()
        .cache_size(cache)
        .sync(SyncPolicy::Never)
        .gc_purge_interval(Duration::ZERO)
}

fn addrs(n: usize) -> Vec<Multiaddr> {
    (0..n)
        .map(|i| format!("/ip4/127.0.0.1/tcp/{}", 1000 + i).parse().unwrap())
        .collect()
}

/// A pool of peers, so that cached runs see the cache and uncached runs the store.
fn peers(n: usize) -> Vec<libp2p_identity::PeerId> {
    (0..n)
        .map(|_| Keypair::generate_ed25519().public().to_peer_id())
        .collect()
}

fn peerstore_benches(c: &mut Criterion) {
    for store in stores() {
        let ps = &store.ps;
        for n in [1usize, 10, 100] {
            let a = addrs(n);
            let pool = peers(256);
            let mut i = 0usize;
            let mut next = || {
                i = (i + 1) % pool.len();
                pool[i]
            };
            c.bench_function(&format!("{}/AddAddrs/{n}", store.name), |b| {
                b.iter(|| ps.add_addrs(next(), &a, Ttl::PERMANENT).unwrap())
            });
            c.bench_function(&format!("{}/GetAddrs/{n}", store.name), |b| {
                b.iter(|| black_box(ps.addrs(next()).unwrap()))
            });
            c.bench_function(&format!("{}/SetAddrs/{n}", store.name), |b| {
                b.iter(|| ps.set_addrs(next(), &a, Ttl::PERMANENT).unwrap())
            });
            c.bench_function(&format!("{}/GetAndClearAddrs/{n}", store.name), |b| {
                b.iter_batched(
                    || {
                        let p = next();
                        ps.add_addrs(p, &a, Ttl::PERMANENT).unwrap();
                        p
                    },
                    |p| {
                        black_box(ps.addrs(p).unwrap());
                        ps.clear_addrs(p).unwrap();
                    },
                    BatchSize::SmallInput,
                )
            });
            for p in &pool {
                ps.add_addrs(*p, &a, Ttl::PERMANENT).unwrap();
            }
            c.bench_function(&format!("{}/PeersWithAddrs/{n}", store.name), |b| {
                b.iter(|| black_box(ps.peers_with_addrs().unwrap()))
            });
        }
    }
}

fn key_book_benches(c: &mut Criterion) {
    for store in stores().into_iter().filter(|s| s.name.ends_with("/cached")) {
        let ps = &store.ps;
        let keys: Vec<Keypair> = (0..256).map(|_| Keypair::generate_secp256k1()).collect();
        let mut i = 0usize;
        let mut next = || {
            i = (i + 1) % keys.len();
            keys[i].clone()
        };
        c.bench_function(&format!("{}/AddPubKey", store.name), |b| {
            b.iter(|| {
                let k = next();
                ps.add_pub_key(k.public().to_peer_id(), &k.public())
                    .unwrap()
            })
        });
        c.bench_function(&format!("{}/PubKey", store.name), |b| {
            b.iter(|| black_box(ps.pub_key(next().public().to_peer_id()).unwrap()))
        });
        c.bench_function(&format!("{}/AddPrivKey", store.name), |b| {
            b.iter(|| {
                let k = next();
                ps.add_priv_key(k.public().to_peer_id(), &k).unwrap()
            })
        });
        c.bench_function(&format!("{}/PrivKey", store.name), |b| {
            b.iter(|| black_box(ps.priv_key(next().public().to_peer_id()).unwrap()))
        });
        c.bench_function(&format!("{}/PeersWithKeys", store.name), |b| {
            b.iter(|| black_box(ps.peers_with_keys().unwrap()))
        });
    }
}

/// The engine alone: what one record write and read cost without the peerstore.
fn datastore_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ds: Arc<dyn Datastore> = Arc::new(
        LevelDbDatastore::open(
            dir.path(),
            LevelDbOptions {
                sync: SyncPolicy::Never,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let keys: Vec<Key> = (0..256)
        .map(|i| Key::new(&format!("/peers/addrs/P{i:03}")))
        .collect();
    let value = vec![7u8; 120];
    let mut i = 0usize;
    c.bench_function("leveldb/raw/Put", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            ds.put(&keys[i], &value).unwrap()
        })
    });
    c.bench_function("leveldb/raw/Get", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(ds.get(&keys[i]).unwrap())
        })
    });
}

/// One writer, then eight, with the default options (every write synced, as go-ds-leveldb):
/// AddAddrs of one address to the next of 1,000 peers, on the local disk. Beside go-libp2p's
/// `BenchmarkSynced` (interop/bench).
fn synced_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ps = Options::new()
        .gc_purge_interval(Duration::ZERO)
        .open_leveldb(dir.path())
        .unwrap();
    let pool = peers(1000);
    let a = addrs(1);
    let mut i = 0usize;
    c.bench_function("leveldb/synced/AddAddrs/1", |b| {
        b.iter(|| {
            i = (i + 1) % pool.len();
            ps.add_addrs(pool[i], &a, Ttl::PERMANENT).unwrap()
        })
    });
    // One writer, its writes made durable 64 at a time by one sync (Peerstore::sync_once, the
    // rust-libp2p store's writer): the time per write, the sync included. go-libp2p has no
    // counterpart; compare with its synced/AddAddrs/1.
    c.bench_function("leveldb/synced-once-per-64/AddAddrs/1", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(64);
                ps.sync_once(|| {
                    for _ in 0..n {
                        i = (i + 1) % pool.len();
                        ps.add_addrs(pool[i], &a, Ttl::PERMANENT)?;
                    }
                    Ok(())
                })
                .unwrap();
                left -= n;
            }
            start.elapsed()
        })
    });
    // Eight writers at once, each write synced: the time per write over all of them (group
    // commit shares syncs; go-libp2p's goleveldb merges concurrent writes too).
    c.bench_function("leveldb/synced/AddAddrs/8", |b| {
        b.iter_custom(|iters| {
            let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for _ in 0..8 {
                    let (ps, pool, a, next) = (&ps, &pool, &a, next.clone());
                    s.spawn(move || {
                        loop {
                            let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if j >= iters {
                                break;
                            }
                            let peer = pool[j as usize % pool.len()];
                            ps.add_addrs(peer, a, Ttl::PERMANENT).unwrap();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = synced_benches, datastore_benches, peerstore_benches, key_book_benches
}
criterion_main!(benches);
