//! The Rust half of `benches/compare_engine.sh`: our LevelDB engine on its own, in db_bench's
//! shapes, with the keys, values and options of its C++ LevelDB (`interop/cxx/leveldb_tool.cc
//! bench`) and goleveldb (`interop leveldb-bench`) halves: 19-byte keys `/k/%016d` over a key
//! space of N, 100-byte values half compressible, Bloom filters of 10 bits a key (ours always
//! writes them), Snappy, a 4 MiB write buffer. Prints `ROW MICROS_PER_OP` lines.
//!
//! `cargo bench --bench engine -- DIR N` (DIR must not exist).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pstoreds::datastore::leveldb::db::{Db, DbOptions};
use pstoreds::datastore::{Batch, Key, Query};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn key(i: u64) -> Key {
    Key::new(&format!("/k/{i:016}"))
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let half: Vec<u8> = (0..50).map(|_| b'a' + rng.below(26) as u8).collect();
    [half.as_slice(), half.as_slice()].concat()
}

fn report(row: &str, took: Duration, ops: u64) {
    println!("{row} {:.3}", took.as_secs_f64() * 1e6 / ops as f64);
}

fn fill(db: &Arc<Db>, row: &str, threads: u64, per_thread: u64, sync: bool, seed: u64, n: u64) {
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(seed + w * 7919 + 1);
                for _ in 0..per_thread {
                    let k = key(rng.below(n));
                    db.write(Batch::new().put(k, value(&mut rng)), sync)
                        .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    report(row, start.elapsed(), per_thread * threads);
}

fn main() {
    // cargo bench passes --bench; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [dir, n] = args.as_slice() else {
        eprintln!("usage: cargo bench --bench engine -- DIR N (benches/compare_engine.sh)");
        return;
    };
    let n: u64 = n.parse().expect("N");
    let db = Arc::new(
        Db::open(
            std::path::Path::new(dir),
            DbOptions {
                create_if_missing: true,
                sync: false,
                compress: true,
                write_buffer_size: 4 << 20,
                group_gather: Duration::ZERO,
                io_hook: None,
            },
        )
        .expect("open"),
    );
    fill(&db, "fillrandom", 1, n, false, 1, n);
    fill(&db, "overwrite", 1, n, false, 2, n);
    let mut rng = Rng(3);
    let start = Instant::now();
    let mut found = 0u64;
    for _ in 0..n {
        if db
            .get(key(rng.below(n)).as_bytes(), None)
            .unwrap()
            .is_some()
        {
            found += 1;
        }
    }
    report("readrandom", start.elapsed(), n);
    assert!(found > 0);
    let start = Instant::now();
    let entries = db
        .query(&Query::prefix(Key::new("/k")), None)
        .unwrap()
        .len() as u64;
    report("readseq", start.elapsed(), entries);
    fill(&db, "fillrandom-8-threads", 8, n / 8, false, 4, n);
    fill(&db, "fillsync", 1, 2000, true, 5, n);
    fill(&db, "fillsync-8-threads", 8, 1000, true, 6, n);
    db.close().unwrap();
}
