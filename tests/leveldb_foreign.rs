//! Our LevelDB files judged by the other two implementations, and theirs read by us:
//!
//! - seeded random workloads on our engine (batches, deletes, snapshots held across
//!   compactions, forced flushes, range compactions, reopens, some runs compressed and some
//!   not, some closed and some just dropped) are read, mid-way and at the end, by C++ LevelDB
//!   1.23 with `paranoid_checks` and verified checksums and by goleveldb with `StrictAll`,
//!   point reads through the filters included: both must read exactly our model;
//! - databases C++ LevelDB and goleveldb write (their own random workloads with reopens and
//!   range compactions, with and without Bloom filters and compression) open in ours equal to
//!   what they say they wrote; we then write on top, compact, and both read the result back.
//!
//! `PSTORE_FOREIGN_SEEDS` (default 6) sets how many seeds each direction runs.

use std::path::Path;
use std::time::Duration;

use pstoreds::datastore::leveldb::db::{Db, DbOptions, Snapshot};
use pstoreds::datastore::{Batch, Key, Query};

#[path = "common/foreign.rs"]
mod foreign;
use foreign::{Entries, GoStrictness, Judges, judges};
#[path = "common/faults.rs"]
mod faults;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

fn seeds() -> u64 {
    std::env::var("PSTORE_FOREIGN_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

fn options(seed: u64) -> DbOptions {
    DbOptions {
        create_if_missing: true,
        sync: seed.is_multiple_of(4),
        compress: !seed.is_multiple_of(3),
        write_buffer_size: 16 << 10,
        group_gather: Duration::ZERO,
        io_hook: None,
    }
}

fn key(rng: &mut Rng) -> Key {
    let i = rng.below(1500);
    if i.is_multiple_of(11) {
        Key::new(&format!("/k/{i:05}/{}", "long".repeat(15)))
    } else {
        Key::new(&format!("/k/{i:05}"))
    }
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1..=6 => rng.below(200) as usize,
        7 | 8 => rng.below(2000) as usize,
        _ => 4000 + rng.below(5000) as usize,
    };
    if rng.below(3) == 0 {
        (0..len).map(|_| rng.next() as u8).collect()
    } else {
        vec![b'a' + rng.below(26) as u8; len]
    }
}

/// A random batch, applied to the model as it is written.
fn write_batch(db: &Db, rng: &mut Rng, model: &mut Entries, sync: bool) {
    let mut batch = Batch::new();
    let most = if rng.below(4) == 0 { 30 } else { 3 };
    for _ in 0..1 + rng.below(most) {
        let k = key(rng);
        if rng.below(4) == 0 {
            model.remove(k.as_bytes());
            batch = batch.delete(k);
        } else {
            let v = value(rng);
            model.insert(k.as_bytes().to_vec(), v.clone());
            batch = batch.put(k, v);
        }
    }
    db.write(batch, sync).unwrap();
}

fn read_ours(db: &Db) -> Entries {
    let got: Entries = db
        .query(&Query::prefix(Key::new("/k")), None)
        .unwrap()
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect();
    for (k, v) in &got {
        assert_eq!(db.get(k, None).unwrap().as_ref(), Some(v), "get after scan");
    }
    got
}

fn random_range(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let (a, b) = (key(rng), key(rng));
    let (a, b) = (a.as_bytes().to_vec(), b.as_bytes().to_vec());
    if a <= b { (a, b) } else { (b, a) }
}

/// Our random workload in `path`, judged mid-way at every reopen; returns the model.
fn our_workload(path: &Path, seed: u64, steps: usize, judges: &Judges) -> Entries {
    let mut rng = Rng(seed);
    let opts = options(seed);
    let mut db = Db::open(path, opts.clone()).unwrap();
    let mut model = Entries::new();
    let mut snapshots: Vec<Snapshot> = Vec::new();
    for step in 0..steps {
        match rng.below(100) {
            0 | 1 => db.flush().unwrap(),
            2 => {
                let (a, b) = random_range(&mut rng);
                db.compact_range(Some(&a), Some(&b)).unwrap();
            }
            3 => db.compact_range(None, None).unwrap(),
            4 if step % 4 == 0 => {
                snapshots.clear();
                db.close().unwrap();
                drop(db);
                let ctx = format!("seed {seed}, reopen at step {step}");
                judges.assert_reads(path, GoStrictness::All, &model, &ctx);
                db = Db::open(path, opts.clone()).unwrap();
            }
            5..=7 if snapshots.len() < 3 => snapshots.push(db.snapshot()),
            8 => {
                snapshots.pop();
            }
            _ => write_batch(&db, &mut rng, &mut model, opts.sync),
        }
    }
    assert_eq!(read_ours(&db), model, "seed {seed}: ours before closing");
    drop(snapshots);
    if seed.is_multiple_of(2) {
        db.close().unwrap();
    }
    // An odd seed just drops the database, as a process that exits without closing: the
    // journal holds what the last memtable had.
    drop(db);
    model
}

/// How many files in `dir` end in `.ext`.
fn files_named(dir: &Path, ext: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == ext)
        })
        .count()
}

#[test]
fn what_we_write_opens_in_cxx_leveldb_and_goleveldb_equal_to_what_we_wrote() {
    let judges = judges();
    for s in 1..=seeds() {
        let seed = s.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let seed = seed + s; // both parities, so both closing and dropping run
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let model = our_workload(&path, seed, 1500, judges);
        assert!(
            model.len() > 100,
            "seed {seed}: the workload should leave data"
        );
        let tables = files_named(&path, "ldb");
        assert!(tables > 0, "seed {seed}: no tables were written");
        judges.assert_reads(
            &path,
            GoStrictness::All,
            &model,
            &format!("seed {seed}, at the end"),
        );
        // Ours agrees after the judges (who read copies).
        let db = Db::open(&path, options(seed)).unwrap();
        assert_eq!(read_ours(&db), model, "seed {seed}: ours after reopen");
        db.close().unwrap();
    }
}

/// Theirs into ours: open equal to what they wrote, then ours writes and compacts on top of
/// their files, and they read the result.
fn theirs_then_ours(write: fn(&Judges, &Path, u64, u64) -> Option<Entries>, who: &str) {
    let judges = judges();
    for s in 1..=seeds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let seed = 1000 + s;
        let Some(mut model) = write(judges, &path, seed, 8000) else {
            println!("{who} is skipped on this machine");
            return;
        };
        assert!(model.len() > 100, "{who} seed {seed}: too little data");
        let opts = options(seed);
        let db = Db::open(&path, opts.clone())
            .unwrap_or_else(|e| panic!("{who} seed {seed}: we refuse its database: {e}"));
        assert_eq!(read_ours(&db), model, "{who} seed {seed}: what we read");
        let mut rng = Rng(seed);
        for step in 0..600 {
            match rng.below(60) {
                0 => db.compact_range(None, None).unwrap(),
                1 => db.flush().unwrap(),
                _ => {
                    // Their key space is /k/NNNNN too: overwrite and delete their keys.
                    write_batch(&db, &mut rng, &mut model, opts.sync);
                }
            }
            if step == 300 {
                assert_eq!(read_ours(&db), model, "{who} seed {seed}: mid-way");
            }
        }
        db.close().unwrap();
        drop(db);
        let ctx = format!("{who} seed {seed}, after our writes on its files");
        judges.assert_reads(&path, GoStrictness::All, &model, &ctx);
    }
}

#[test]
fn what_cxx_leveldb_writes_opens_in_ours_and_back() {
    theirs_then_ours(Judges::cxx_write, "C++ LevelDB");
}

#[test]
fn what_goleveldb_writes_opens_in_ours_and_back() {
    theirs_then_ours(Judges::go_write, "goleveldb");
}

/// The directory lock holds against C++ LevelDB both ways (it locks with `fcntl`, goleveldb
/// and we with `flock`, and neither kind sees the other): a database we hold is refused by
/// C++ LevelDB, and one a C++ LevelDB process holds is refused by us, as locked.
#[test]
fn cxx_leveldb_and_we_never_hold_one_directory_at_once() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let Some(cxx) = judges().cxx.clone() else {
        println!("C++ LevelDB is skipped on this machine");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::open(&path, options(1)).unwrap();
    // A second open in this process is refused, and refusing it does not drop the process's
    // fcntl lock (closing any descriptor on LOCK would).
    let again = Db::open(&path, options(1));
    assert!(matches!(
        again,
        Err(pstoreds::datastore::Error::Locked { .. })
    ));
    let theirs = Command::new(&cxx).arg("list").arg(&path).output().unwrap();
    assert!(
        !theirs.status.success(),
        "C++ LevelDB opened a database we hold"
    );
    let said = String::from_utf8_lossy(&theirs.stderr);
    assert!(said.contains("lock"), "{said}");
    db.close().unwrap();
    drop(db);

    let mut held = Command::new(&cxx)
        .arg("hold")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(held.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let ours = Db::open(&path, options(1));
    drop(held.stdin.take());
    held.wait().unwrap();
    assert!(
        matches!(ours, Err(pstoreds::datastore::Error::Locked { .. })),
        "we opened a database C++ LevelDB holds: {:?}",
        ours.as_ref().err()
    );
    // Released, it opens.
    Db::open(&path, options(1)).unwrap().close().unwrap();
}

/// Our open keeps the journal it replayed until the flush thread has written its table. A
/// process that stops before that leaves two journals and a MANIFEST naming the older; C++
/// LevelDB and goleveldb (`StrictAll`, which refuses a batch below the MANIFEST's sequence)
/// must read it equal to what we wrote, and so must we.
#[test]
fn a_journal_our_open_kept_for_the_flush_thread_reads_whole_in_cxx_leveldb_and_goleveldb() {
    let judges = judges();
    for seed in [3, 8] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let opts = DbOptions {
            write_buffer_size: 4 << 20,
            ..options(seed)
        };
        let mut rng = Rng(seed);
        let mut model = Entries::new();
        let db = Db::open(&path, opts.clone()).unwrap();
        for i in 0..200 {
            if i == 100 {
                db.flush().unwrap();
            }
            write_batch(&db, &mut rng, &mut model, opts.sync);
        }
        db.close().unwrap();
        drop(db);

        let hooked = DbOptions {
            io_hook: Some(std::sync::Arc::new(faults::NoTables::default())),
            ..opts.clone()
        };
        let db = Db::open(&path, hooked).unwrap();
        let _ = db.close();
        drop(db);
        let journals = files_named(&path, "log");
        assert_eq!(
            journals, 2,
            "seed {seed}: the replayed journal and the new one"
        );
        let ctx = format!("seed {seed}, closed before the flush of the replayed journal");
        judges.assert_reads(&path, GoStrictness::All, &model, &ctx);
        let db = Db::open(&path, opts).unwrap();
        assert_eq!(read_ours(&db), model, "seed {seed}: ours after reopen");
        db.close().unwrap();
    }
}
