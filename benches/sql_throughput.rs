//! The Rust half of `benches/compare_sql.sh`: our `Peerstore` with default options over a SQLite
//! file or a PostgreSQL table, on the workload of the Go half (`interop throughput`): for
//! SECONDS, THREADS threads add one new address each to peers of their own (1,000 peers, an
//! hour's TTL); then as many threads read `addrs` of those peers. Prints one JSON line:
//! `{"writes_per_s": ..., "stored_per_s": ..., "reads_per_s": ...}`.
//!
//! `cargo bench --bench sql_throughput -- STORE THREADS SECONDS [TABLE [READ_CACHE]]`, STORE
//! being `sqlite:FILE` or a `postgres://` URL; READ_CACHE (PostgreSQL only, default 0) is
//! `PostgresOptions::read_cache`, with the default age bound (1 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p_identity::{Keypair, PeerId};
use multiaddr::Multiaddr;
use pstoreds::datastore::{
    Datastore, PostgresDatastore, PostgresOptions, SqliteDatastore, SqliteOptions,
};
use pstoreds::peerstore::Options;

const PEERS: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [store, threads, seconds, rest @ ..] = args.as_slice() else {
        eprintln!("usage: sql_throughput STORE THREADS SECONDS [TABLE [READ_CACHE]]");
        std::process::exit(2);
    };
    let table = rest.first().cloned().unwrap_or_else(|| "blocks".to_owned());
    let read_cache: usize = rest.get(1).map_or(0, |n| n.parse().expect("READ_CACHE"));
    let threads: usize = threads.parse().expect("THREADS is a number");
    let window = Duration::from_secs_f64(seconds.parse().expect("SECONDS is a number"));
    let open = || -> Arc<dyn Datastore> {
        match store.strip_prefix("sqlite:") {
            Some(path) => Arc::new(
                SqliteDatastore::open(
                    path,
                    SqliteOptions {
                        table: table.clone(),
                        ..Default::default()
                    },
                )
                .unwrap(),
            ),
            None => Arc::new(
                PostgresDatastore::open(
                    store,
                    PostgresOptions {
                        table: table.clone(),
                        read_cache,
                        ..Default::default()
                    },
                )
                .unwrap(),
            ),
        }
    };
    let ps = Options::new()
        .gc_purge_interval(Duration::ZERO)
        .open_datastore(open())
        .unwrap();
    let peers: Arc<Vec<PeerId>> = Arc::new(
        (0..PEERS)
            .map(|_| Keypair::generate_ed25519().public().to_peer_id())
            .collect(),
    );
    let per = PEERS / threads;
    let writes = run(threads, window, {
        let (ps, peers) = (ps.clone(), peers.clone());
        move |w, i| {
            let addr: Multiaddr = format!("/ip4/10.{w}.{}.{}/tcp/4001", (i / 256) % 256, i % 256)
                .parse()
                .unwrap();
            ps.add_addr(
                peers[w + threads * (i % per)],
                &addr,
                Duration::from_secs(3600),
            )
            .is_ok()
        }
    });
    // What the store holds, through a second peerstore (and connection) of its own.
    let check = Options::new()
        .gc_purge_interval(Duration::ZERO)
        .cache_size(0)
        .open_datastore(open())
        .unwrap();
    let stored: usize = peers.iter().map(|p| check.addrs(*p).unwrap().len()).sum();
    let reads = run(threads, window, {
        let (ps, peers) = (ps.clone(), peers.clone());
        move |w, i| ps.addrs(peers[(w * 7919 + i * 104_729) % PEERS]).is_ok()
    });
    println!(
        "{}",
        serde_json::json!({"writes_per_s": writes, "reads_per_s": reads,
            "stored_per_s": stored as f64 / window.as_secs_f64()})
    );
    ps.close().unwrap();
    check.close().unwrap();
}

/// Runs `op(worker, i)` on `threads` threads for `window`; successful ops per second.
fn run(
    threads: usize,
    window: Duration,
    op: impl Fn(usize, usize) -> bool + Send + Sync + Clone + 'static,
) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|w| {
            let (op, count) = (op.clone(), count.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while start.elapsed() < window {
                    if op(w, i) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}
