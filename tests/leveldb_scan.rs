//! Queries and point reads over LevelDB (the memtables, then the tables of the current
//! version, newest first). These tests hold them to a model of what was written across
//! memtable flushes, background compactions, reopens and overwrites, and, at every reopen, the
//! files to an independent reader (rusty-leveldb, on a copy); they check that a damaged table
//! block fails the query and the read, naming the file.

use std::collections::BTreeMap;

use pstoreds::datastore::{
    Batch, Datastore, Entry, Error, Key, LevelDbDatastore, LevelDbOptions, Query, SyncPolicy,
};

/// xorshift64*: reproducible operations without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn options() -> LevelDbOptions {
    LevelDbOptions {
        sync: SyncPolicy::Never,
        // Small, so that the engine swaps its memtable and compacts often.
        write_buffer_size: 32 << 10,
        ..Default::default()
    }
}

/// The files of a database directory whose names `pick` accepts.
fn files(dir: &std::path::Path, pick: impl Fn(&str) -> bool) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| pick(&p.file_name().unwrap().to_string_lossy()))
        .collect()
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// A new database with the test options, an empty model of it, and a seeded generator.
fn fresh(seed: u64) -> (tempfile::TempDir, LevelDbDatastore, Model, Rng) {
    let dir = tempfile::tempdir().unwrap();
    let ds = LevelDbDatastore::open(dir.path(), options()).unwrap();
    (dir, ds, BTreeMap::new(), Rng(seed))
}

/// Writes `value` at `k` (deletes it when `None`), in the store and in the model.
fn set(ds: &LevelDbDatastore, model: &mut Model, k: &Key, value: Option<Vec<u8>>) {
    match value {
        Some(v) => {
            ds.put(k, &v).unwrap();
            model.insert(k.as_bytes().to_vec(), v);
        }
        None => {
            ds.delete(k).unwrap();
            model.remove(k.as_bytes());
        }
    }
}

const PREFIXES: [&str; 4] = ["/a", "/a/b", "/peers/addrs", "/z"];

fn random_key(rng: &mut Rng) -> Key {
    let prefix = PREFIXES[rng.below(PREFIXES.len() as u64) as usize];
    Key::new(&format!("{prefix}/{:04}", rng.below(300)))
}

fn expected(model: &Model, q: &Query) -> Vec<Entry> {
    let prefix = q.prefix.query_prefix().into_bytes();
    model
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, _)| q.after.as_ref().is_none_or(|a| k.as_slice() > a.as_slice()))
        .take(q.limit.unwrap_or(usize::MAX))
        .map(|(k, v)| Entry {
            key: k.clone(),
            value: if q.keys_only { Vec::new() } else { v.clone() },
        })
        .collect()
}

/// Every query shape: each prefix and the root, with and without values, whole and in pages
/// starting at a key that exists, one that does not, and one before the prefix.
fn queries(model: &Model, rng: &mut Rng) -> Vec<Query> {
    let mut out = Vec::new();
    for prefix in ["/"].into_iter().chain(PREFIXES) {
        for keys_only in [false, true] {
            let whole = Query {
                keys_only,
                ..Query::prefix(Key::new(prefix))
            };
            let existing = model
                .keys()
                .nth(rng.below(model.len().max(1) as u64) as usize)
                .cloned();
            let absent = format!("{prefix}/{:04}x", rng.below(300)).into_bytes();
            out.push(whole.clone());
            for after in [existing, Some(absent), Some(b"/".to_vec()), None] {
                out.push(whole.clone().page(after, 1 + rng.below(40) as usize));
            }
        }
    }
    out
}

fn check(ds: &LevelDbDatastore, model: &Model, rng: &mut Rng, when: &str) {
    // Every key written, and keys never written (in and between the written ones).
    let absent = (0..40).map(|_| {
        let prefix = PREFIXES[rng.below(PREFIXES.len() as u64) as usize];
        format!("{prefix}/{:04}~", rng.below(300)).into_bytes()
    });
    let keys: Vec<Vec<u8>> = model.keys().cloned().chain(absent).collect();
    check_reads(ds, model, keys.iter().map(|k| k.as_slice()), when);
    for q in queries(model, rng) {
        let want = expected(model, &q);
        let got = ds.query(&q).unwrap();
        assert_eq!(got, want, "{when}: {q:?}");
    }
}

/// Every key and value of the database in `dir`, read by rusty-leveldb from a copy (it writes
/// to the directory it opens).
fn independent_dump(dir: &std::path::Path) -> Model {
    let copy = tempfile::tempdir().unwrap();
    for f in files(dir, |n| n != "LOCK") {
        std::fs::copy(&f, copy.path().join(f.file_name().unwrap())).unwrap();
    }
    let mut db = rusty_leveldb::DB::open(copy.path(), rusty_leveldb::Options::default()).unwrap();
    use rusty_leveldb::LdbIterator;
    let mut it = db.new_iter().unwrap();
    let mut out = Model::new();
    while it.advance() {
        let (k, v) = it.current().unwrap();
        out.insert(k.to_vec(), v.to_vec());
    }
    out
}

/// Point reads of `keys` against the model.
fn check_reads<'a>(
    ds: &LevelDbDatastore,
    model: &Model,
    keys: impl Iterator<Item = &'a [u8]>,
    when: &str,
) {
    for k in keys {
        let key = Key::new(std::str::from_utf8(k).unwrap());
        let want = model.get(k).cloned();
        assert_eq!(ds.get(&key).unwrap(), want, "{when}: get {key}");
    }
}

#[test]
fn queries_match_what_was_written_across_swaps_compactions_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut ds = LevelDbDatastore::open(dir.path(), options()).unwrap();
    let mut model = Model::new();
    let mut rng = Rng(0x5eed);
    for round in 0..12 {
        for i in 0..1500 {
            match rng.below(10) {
                0..=5 => {
                    let k = random_key(&mut rng);
                    let v = vec![(i % 251) as u8; rng.below(300) as usize];
                    ds.put(&k, &v).unwrap();
                    model.insert(k.as_bytes().to_vec(), v);
                }
                6 | 7 => {
                    let k = random_key(&mut rng);
                    ds.delete(&k).unwrap();
                    model.remove(k.as_bytes());
                }
                _ => {
                    let mut batch = Batch::new();
                    for _ in 0..1 + rng.below(5) {
                        let k = random_key(&mut rng);
                        if rng.below(3) == 0 {
                            batch = batch.delete(k.clone());
                            model.remove(k.as_bytes());
                        } else {
                            let v = vec![round as u8; rng.below(100) as usize];
                            batch = batch.put(k.clone(), v.clone());
                            model.insert(k.as_bytes().to_vec(), v);
                        }
                    }
                    ds.write(batch).unwrap();
                }
            }
            if i % 500 == 0 {
                check(&ds, &model, &mut rng, &format!("round {round}, op {i}"));
            }
        }
        check(&ds, &model, &mut rng, &format!("end of round {round}"));
        match round % 3 {
            0 => {
                ds.compact().unwrap();
                check(&ds, &model, &mut rng, &format!("round {round}, compacted"));
            }
            1 => {
                ds.close().unwrap();
                drop(ds);
                assert_eq!(
                    independent_dump(dir.path()),
                    model,
                    "round {round}: rusty-leveldb"
                );
                ds = LevelDbDatastore::open(dir.path(), options()).unwrap();
                check(&ds, &model, &mut rng, &format!("round {round}, reopened"));
            }
            _ => {}
        }
    }
}

/// A few keys rewritten many times (the engine's memtable and young tables then hold mostly
/// overwritten versions and deletion markers): each query still sees only the newest.
#[test]
fn queries_see_only_the_newest_of_many_versions() {
    let (_dir, ds, mut model, mut rng) = fresh(7);
    for i in 0..20_000u32 {
        let k = Key::new(&format!("/peers/addrs/{:02}", i % 40));
        set(
            &ds,
            &mut model,
            &k,
            (i % 7 != 0).then(|| i.to_le_bytes().to_vec()),
        );
        if i % 2500 == 0 {
            check(&ds, &model, &mut rng, &format!("write {i}"));
        }
    }
    check(&ds, &model, &mut rng, "the end");
}

/// Keys rewritten with values about a block long, beside small neighbours: a scan skips the
/// blocks that hold only older versions of the key it just returned (their index keys say so)
/// and must still return each neighbour, and the newest value of each key, from every table.
#[test]
fn blocks_of_older_versions_are_skipped_without_losing_a_neighbour() {
    let (_dir, ds, mut model, mut rng) = fresh(11);
    for round in 0..8u32 {
        for i in 0..90u32 {
            let k = Key::new(&format!("/peers/addrs/{:04}", 100 + i % 3));
            let len = 1000 + rng.below(5000) as usize;
            set(&ds, &mut model, &k, Some(vec![(round * 90 + i) as u8; len]));
            if i % 30 == 0 {
                for small in ["0099", "0100a", "0101a", "0103"] {
                    let small = Key::new(&format!("/peers/addrs/{small}"));
                    set(&ds, &mut model, &small, Some(vec![i as u8; 10]));
                }
            }
        }
        check(&ds, &model, &mut rng, &format!("round {round}"));
    }
}

/// A table block whose bytes no longer match its CRC fails the query and a read of a key in
/// it, naming the file; neither is answered without the block's entries.
#[test]
fn a_damaged_table_block_fails_the_query_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ds = LevelDbDatastore::open(
        dir.path(),
        LevelDbOptions {
            snappy: false,
            ..options()
        },
    )
    .unwrap();
    for i in 0..2000u32 {
        ds.put(&Key::new(&format!("/a/{i:05}")), &[7u8; 64])
            .unwrap();
    }
    ds.compact().unwrap();
    ds.close().unwrap();
    drop(ds);
    // The table holding the first key (sequential keys leave several side by side).
    let table = files(dir.path(), |n| n.ends_with(".ldb"))
        .into_iter()
        .find(|t| {
            let bytes = std::fs::read(t).unwrap();
            bytes.windows(8).any(|w| w == b"/a/00000")
        })
        .expect("a table holding the first key");
    let mut bytes = std::fs::read(&table).unwrap();
    // A value byte in the first data block.
    let at = bytes.iter().position(|&b| b == 7).unwrap();
    bytes[at] = 8;
    std::fs::write(&table, &bytes).unwrap();
    let ds = LevelDbDatastore::open(dir.path(), options()).unwrap();
    let name = table.file_name().unwrap().to_string_lossy().into_owned();
    // The first key is in the first data block.
    let read = ds.get(&Key::new("/a/00000")).unwrap_err();
    let query = ds.query(&Query::prefix(Key::new("/a"))).unwrap_err();
    for err in [read, query] {
        assert!(
            matches!(err, Error::Corrupt { .. }) && err.to_string().contains(&name),
            "{err}"
        );
    }
}

/// A level of several tables (compactions cut tables at 2 MiB): pages that start in one
/// table and end in the next, and keys written after the compaction, over every table.
#[test]
fn pages_cross_the_tables_of_a_level() {
    let dir = tempfile::tempdir().unwrap();
    // Uncompressed, so that the tables reach the size at which they are cut.
    let options = LevelDbOptions {
        snappy: false,
        ..options()
    };
    let ds = LevelDbDatastore::open(dir.path(), options).unwrap();
    let mut model = Model::new();
    let mut rng = Rng(11);
    for i in 0..60_000u32 {
        let k = Key::new(&format!("/peers/addrs/{:06}", rng.below(1_000_000)));
        let v: Vec<u8> = (0..80 + i % 40).map(|_| rng.next() as u8).collect();
        ds.put(&k, &v).unwrap();
        model.insert(k.as_bytes().to_vec(), v);
    }
    ds.compact().unwrap();
    let tables = files(dir.path(), |n| n.ends_with(".ldb")).len();
    assert!(
        tables >= 2,
        "{tables} table(s): the test needs a level of several"
    );
    for i in 0..3000u32 {
        let k = Key::new(&format!("/peers/addrs/{:06}", rng.below(1_000_000)));
        set(
            &ds,
            &mut model,
            &k,
            (i % 4 != 0).then(|| i.to_le_bytes().to_vec()),
        );
    }
    // Walk every key a page at a time, as the listings do.
    for size in [1000, 4096] {
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let q = Query::keys(Key::new("/peers/addrs")).page(after.clone(), size);
            let page = ds.query(&q).unwrap();
            assert_eq!(page, expected(&model, &q), "page after {after:?}");
            seen.extend(page.iter().map(|e| e.key.clone()));
            match page.last() {
                Some(e) if page.len() == size => after = Some(e.key.clone()),
                _ => break,
            }
        }
        assert_eq!(seen.len(), model.len());
    }
    check(&ds, &model, &mut rng, "after the compaction");
}

/// One session long enough that the MANIFEST outgrows a 32 KiB log block: its edits cross block
/// boundaries, and a reopen reads them all back.
#[test]
fn a_manifest_longer_than_a_log_block_is_followed() {
    let (dir, ds, mut model, mut rng) = fresh(3);
    let manifest_len = || {
        files(dir.path(), |n| n.starts_with("MANIFEST"))
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .max()
            .unwrap_or(0)
    };
    let mut i = 0u32;
    while manifest_len() < 80 << 10 {
        for _ in 0..500 {
            let k = Key::new(&format!("/a/{:03}", rng.below(500)));
            let v: Vec<u8> = (0..1000).map(|_| rng.next() as u8).collect();
            ds.put(&k, &v).unwrap();
            model.insert(k.as_bytes().to_vec(), v);
            i += 1;
        }
        check(&ds, &model, &mut rng, &format!("write {i}"));
        assert!(i < 400_000, "the MANIFEST did not grow");
    }
    ds.close().unwrap();
    drop(ds);
    let ds = LevelDbDatastore::open(dir.path(), options()).unwrap();
    check(&ds, &model, &mut rng, "reopened");
}

/// A key stored in an older table stays readable when a newer table holds a deletion of the
/// next key (rusty-leveldb 4.0.2's `get`, which pstoreds used before its own engine, answered
/// "not found" there: in each table it stopped at the first entry at or after the key, and a
/// deletion ended the search whatever its key).
#[test]
fn a_deleted_neighbour_in_a_newer_table_does_not_hide_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let ds = LevelDbDatastore::open(dir.path(), options()).unwrap();
    ds.put(&Key::new("/a/2"), b"stored first").unwrap();
    ds.compact().unwrap();
    // A newer table whose range holds /a/2: /a/1, and /a/3 written then deleted.
    ds.put(&Key::new("/a/1"), b"one").unwrap();
    ds.put(&Key::new("/a/3"), b"three").unwrap();
    ds.delete(&Key::new("/a/3")).unwrap();
    ds.close().unwrap();
    drop(ds);
    // Opening turns the journal into that table.
    let ds = LevelDbDatastore::open(dir.path(), options()).unwrap();
    let key = Key::new("/a/2");
    assert_eq!(ds.get(&key).unwrap().as_deref(), Some(&b"stored first"[..]));
    let all = ds.query(&Query::prefix(Key::new("/a"))).unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
}

/// Reads run beside writes without the engine's lock: while two writers keep raising
/// counters (a 32 KiB write buffer, so memtables are swapped and tables compacted and deleted
/// all along), readers never see a counter go back or vanish, whether by point read or by
/// query, and each writer reads its own last write back at once.
#[test]
fn reads_beside_writes_see_every_acknowledged_write() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (_dir, ds, _, _) = fresh(1);
    const KEYS: u64 = 64;
    let key = |w: u64, i: u64| Key::new(&format!("/c/{w}/{i:03}"));
    let counter = |v: &[u8]| u64::from_le_bytes(v[..8].try_into().unwrap());
    // The last counter each writer had acknowledged for each of its keys.
    let acked: Vec<Vec<AtomicU64>> = (0..2)
        .map(|_| (0..KEYS).map(|_| AtomicU64::new(0)).collect())
        .collect();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        for w in 0..2u64 {
            let (ds, acked, done) = (&ds, &acked, &done);
            s.spawn(move || {
                let mut rng = Rng(w + 10);
                for n in 1..=6000u64 {
                    let i = rng.below(KEYS);
                    let mut value = n.to_le_bytes().to_vec();
                    value.resize(8 + rng.below(400) as usize, w as u8);
                    ds.put(&key(w, i), &value).unwrap();
                    acked[w as usize][i as usize].store(n, Ordering::SeqCst);
                    let back = ds.get(&key(w, i)).unwrap().expect("own write");
                    assert_eq!(
                        counter(&back),
                        n,
                        "writer {w} reads its write of {}",
                        key(w, i)
                    );
                }
                done.store(true, Ordering::SeqCst);
            });
        }
        for r in 0..2u64 {
            let (ds, acked, done) = (&ds, &acked, &done);
            s.spawn(move || {
                let mut rng = Rng(r + 20);
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) || reads < 100 {
                    let (w, i) = (rng.below(2), rng.below(KEYS));
                    // Acknowledged before the read started: the read must see it or newer.
                    let floor = acked[w as usize][i as usize].load(Ordering::SeqCst);
                    let got = ds.get(&key(w, i)).unwrap().map_or(0, |v| counter(&v));
                    assert!(
                        got >= floor,
                        "{}: read {got}, {floor} acknowledged",
                        key(w, i)
                    );
                    if reads % 50 == 0 {
                        let floors: Vec<u64> = (0..KEYS)
                            .map(|i| acked[w as usize][i as usize].load(Ordering::SeqCst))
                            .collect();
                        let page = ds
                            .query(&Query::prefix(Key::new(&format!("/c/{w}"))))
                            .unwrap();
                        for (i, floor) in floors.iter().enumerate() {
                            let k = key(w, i as u64);
                            let got = page
                                .iter()
                                .find(|e| e.key == k.as_bytes())
                                .map_or(0, |e| counter(&e.value));
                            assert!(got >= *floor, "query {k}: {got}, {floor} acknowledged");
                        }
                    }
                    reads += 1;
                }
            });
        }
    });
}
