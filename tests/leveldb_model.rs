//! The LevelDB engine held to an in-memory model (after LevelDB's `db_test.cc` `Randomized`):
//! seeded random puts, deletes, batches, snapshots, point reads, scans (whole, keys only,
//! paged), reopens, forced flushes and range compactions, each checked against a `BTreeMap`
//! after every step, with write buffers small enough that memtables flush and levels compact
//! all the time, on the background threads.
//!
//! The same workloads then run with a simulated power cut after every N-th file operation
//! (LevelDB's `fault_injection_test.cc`) and with an I/O error injected at the N-th
//! (SQLite's `ioerr.test`): after recovery the database must equal the model after some prefix
//! of the writes, never missing one that was acknowledged as durable, and its files must pass
//! the checks goleveldb's strict mode makes. A failing seed and cut point are printed.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pstoreds::datastore::leveldb::check;
use pstoreds::datastore::leveldb::db::{Db, DbOptions, Snapshot};
use pstoreds::datastore::leveldb::env::{IoHook, IoOp};
use pstoreds::datastore::{Batch, Key, Op, Query};

#[path = "common/faults.rs"]
mod faults;
#[path = "common/foreign.rs"]
mod foreign;
#[path = "common/rng.rs"]
mod rng;
use faults::{FailOne, PowerCut, scratch};
use rng::Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn options(hook: Option<Arc<dyn IoHook>>, sync: bool, write_buffer: usize) -> DbOptions {
    DbOptions {
        create_if_missing: true,
        sync,
        compress: true,
        write_buffer_size: write_buffer,
        group_gather: Duration::ZERO,
        io_hook: hook,
    }
}

fn key(rng: &mut Rng, space: u64) -> Key {
    let i = rng.below(space);
    // A few long keys, so that blocks hold few entries and separators get shortened.
    if i.is_multiple_of(17) {
        Key::new(&format!("/m/{i:05}/{}", "long".repeat(20)))
    } else {
        Key::new(&format!("/m/{i:05}"))
    }
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1..=5 => rng.below(120) as usize,
        6..=8 => rng.below(1500) as usize,
        _ => 4000 + rng.below(3000) as usize,
    };
    if rng.below(3) == 0 {
        // Incompressible.
        (0..len).map(|_| rng.next() as u8).collect()
    } else {
        let b = b'a' + rng.below(26) as u8;
        vec![b; len]
    }
}

fn apply(model: &mut Model, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(k, v) => {
                model.insert(k.as_bytes().to_vec(), v.clone());
            }
            Op::Delete(k) => {
                model.remove(k.as_bytes());
            }
        }
    }
}

fn random_batch(rng: &mut Rng, space: u64) -> Vec<Op> {
    let n = match rng.below(10) {
        0..=6 => 1,
        7 | 8 => 2 + rng.below(5),
        _ => 10 + rng.below(40),
    };
    (0..n)
        .map(|_| {
            if rng.below(4) == 0 {
                Op::Delete(key(rng, space))
            } else {
                Op::Put(key(rng, space), value(rng))
            }
        })
        .collect()
}

fn batch_of(ops: &[Op]) -> Batch {
    let mut b = Batch::new();
    for op in ops {
        b.push(op.clone());
    }
    b
}

fn dump(db: &Db, snapshot: Option<&Snapshot>) -> Model {
    db.query(&Query::prefix(Key::new("/m")), snapshot)
        .unwrap()
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect()
}

fn check_scans(db: &Db, model: &Model, snapshot: Option<&Snapshot>, rng: &mut Rng, ctx: &str) {
    assert_eq!(&dump(db, snapshot), model, "{ctx}: full scan");
    let keys: Vec<Vec<u8>> = db
        .query(&Query::keys(Key::new("/m")), snapshot)
        .unwrap()
        .into_iter()
        .map(|e| {
            assert!(e.value.is_empty());
            e.key
        })
        .collect();
    assert_eq!(
        keys,
        model.keys().cloned().collect::<Vec<_>>(),
        "{ctx}: keys"
    );
    // A paged walk sees the same.
    let page = 1 + rng.below(40) as usize;
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let got = db
            .query(
                &Query::prefix(Key::new("/m")).page(after.clone(), page),
                snapshot,
            )
            .unwrap();
        let n = got.len();
        after = got.last().map(|e| e.key.clone());
        seen.extend(got.into_iter().map(|e| (e.key, e.value)));
        if n < page {
            break;
        }
    }
    assert_eq!(seen.into_iter().collect::<Model>(), *model, "{ctx}: paged");
}

/// The random workload with every step checked against the model.
fn randomized(seed: u64, steps: usize) {
    let dir = scratch();
    let path = dir.path().join("db");
    let mut rng = Rng(seed);
    let write_buffer = 8 << 10 << rng.below(4);
    let space = 50 + rng.below(2000);
    let opts = options(None, rng.below(2) == 0, write_buffer);
    let mut db = Db::open(&path, opts.clone()).unwrap();
    let mut model = Model::new();
    let mut snapshots: Vec<(Snapshot, Model)> = Vec::new();
    let mut flushes = 0;
    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        match rng.below(100) {
            0..=69 => {
                let ops = random_batch(&mut rng, space);
                db.write(batch_of(&ops), opts.sync).unwrap();
                apply(&mut model, &ops);
                for op in &ops {
                    let (Op::Put(k, _) | Op::Delete(k)) = op;
                    let got = db.get(k.as_bytes(), None).unwrap();
                    assert_eq!(got.as_ref(), model.get(k.as_bytes()), "{ctx}: get {k}");
                }
            }
            70..=79 => {
                let k = key(&mut rng, space);
                let got = db.get(k.as_bytes(), None).unwrap();
                assert_eq!(got.as_ref(), model.get(k.as_bytes()), "{ctx}: get {k}");
            }
            80..=84 => check_scans(&db, &model, None, &mut rng, &ctx),
            85..=88 => {
                if snapshots.len() < 4 {
                    snapshots.push((db.snapshot(), model.clone()));
                } else {
                    snapshots.remove(rng.below(4) as usize);
                }
            }
            89..=91 if !snapshots.is_empty() => {
                let (snap, seen) = &snapshots[rng.below(snapshots.len() as u64) as usize];
                for _ in 0..20 {
                    let k = key(&mut rng, space);
                    let got = db.get(k.as_bytes(), Some(snap)).unwrap();
                    assert_eq!(got.as_ref(), seen.get(k.as_bytes()), "{ctx}: snapshot {k}");
                }
                check_scans(&db, seen, Some(snap), &mut rng, &format!("{ctx} snapshot"));
            }
            92..=93 => db.flush().unwrap(),
            94..=95 => {
                let (a, b) = (key(&mut rng, space), key(&mut rng, space));
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                if rng.below(3) == 0 {
                    db.compact_range(None, None).unwrap();
                } else {
                    db.compact_range(Some(a.as_bytes()), Some(b.as_bytes()))
                        .unwrap();
                }
                check_scans(&db, &model, None, &mut rng, &format!("{ctx} compacted"));
            }
            _ => {
                snapshots.clear();
                flushes += db.stats().flushes;
                db.close().unwrap();
                drop(db);
                db = Db::open(&path, opts.clone()).unwrap();
                check_scans(&db, &model, None, &mut rng, &format!("{ctx} reopened"));
            }
        }
    }
    check_scans(&db, &model, None, &mut rng, &format!("seed {seed} end"));
    flushes += db.stats().flushes;
    snapshots.clear();
    db.close().unwrap();
    let report = check::check_files(&path);
    assert_eq!(report.errors(), 0, "seed {seed}: {:?}", report.problems);
    assert!(flushes > 0, "seed {seed}: the workload should flush");
}

#[test]
fn random_workloads_match_the_model_at_every_step() {
    for seed in 1..=6u64 {
        randomized(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, 1500);
    }
}

/// Many writers and readers at once: each writer owns its keys and checks its own writes
/// back; readers check that every scan is sorted and consistent with what was acknowledged
/// before it started; at the end, everything matches.
#[test]
fn concurrent_writers_and_readers_see_every_acknowledged_write() {
    let dir = scratch();
    let path = dir.path().join("db");
    let db = Arc::new(Db::open(&path, options(None, false, 16 << 10)).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(t * 7919 + 1);
                let mut mine = Model::new();
                for i in 0..1500u64 {
                    let k = Key::new(&format!("/m/{t}/{:04}", rng.below(300)));
                    let ops = if i % 5 == 4 {
                        vec![Op::Delete(k)]
                    } else {
                        vec![Op::Put(k, value(&mut rng))]
                    };
                    db.write(batch_of(&ops), false).unwrap();
                    apply(&mut mine, &ops);
                    let (Op::Put(k, _) | Op::Delete(k)) = &ops[0];
                    assert_eq!(
                        db.get(k.as_bytes(), None).unwrap().as_ref(),
                        mine.get(k.as_bytes())
                    );
                }
                mine
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, done) = (db.clone(), done.clone());
            std::thread::spawn(move || {
                let mut scans = 0;
                while !done.load(Ordering::SeqCst) {
                    let got = db.query(&Query::keys(Key::new("/m")), None).unwrap();
                    assert!(
                        got.windows(2).all(|w| w[0].key < w[1].key),
                        "scan out of order"
                    );
                    scans += 1;
                }
                scans
            })
        })
        .collect();
    let mut model = Model::new();
    for w in writers {
        model.extend(w.join().unwrap());
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(dump(&db, None), model);
    let stats = db.stats();
    assert!(stats.compactions > 0, "{stats:?}");
    db.close().unwrap();
    let db = Db::open(&path, options(None, false, 16 << 10)).unwrap();
    assert_eq!(dump(&db, None), model);
}

/// What a faulty run acknowledged.
#[derive(Default)]
struct Outcome {
    /// The batches acknowledged, in order.
    acked: Vec<Vec<Op>>,
    /// The batch whose write failed (it may or may not have made it).
    in_flight: Option<Vec<Op>>,
    /// How many of the acknowledged batches were durable for sure (synced by a flush).
    durable: usize,
}

/// Writes, flushes, compactions and reopens through `hook` until something fails.
fn faulty_workload(path: &Path, seed: u64, hook: Arc<dyn IoHook>, sync: bool) -> Outcome {
    let mut rng = Rng(seed);
    let opts = options(Some(hook), sync, 8 << 10);
    let mut out = Outcome::default();
    let Ok(mut db) = Db::open(path, opts.clone()) else {
        return out;
    };
    for step in 0..160 {
        match rng.below(20) {
            0 => {
                if db.flush().is_err() {
                    return out;
                }
                out.durable = out.acked.len();
            }
            1 => {
                if db.compact_range(None, None).is_err() {
                    return out;
                }
                out.durable = out.acked.len();
            }
            2 if step % 3 == 0 => {
                let closed = db.close();
                drop(db);
                if closed.is_err() {
                    return out;
                }
                out.durable = out.acked.len();
                match Db::open(path, opts.clone()) {
                    Ok(d) => db = d,
                    Err(_) => return out,
                }
            }
            _ => {
                let ops = random_batch(&mut rng, 300);
                out.in_flight = Some(ops.clone());
                if db.write(batch_of(&ops), sync).is_err() {
                    return out;
                }
                out.in_flight = None;
                out.acked.push(ops);
                if sync {
                    out.durable = out.acked.len();
                }
            }
        }
    }
    out
}

/// Opens what is left and checks that it equals the model after some prefix of the writes,
/// no shorter than what was durable, that the files pass the strict checks before and after
/// the open, and that C++ LevelDB (`paranoid_checks`) and goleveldb (`StrictAll`; its default
/// strictness where unsynced writes may have left a torn journal tail) read what we read.
fn check_prefix(dir: &Path, out: &Outcome, sync: bool, ctx: &str) {
    let report = check::check_files(dir);
    assert_eq!(report.errors(), 0, "{ctx}: files: {:?}", report.problems);
    let strictness = if sync {
        foreign::GoStrictness::All
    } else {
        foreign::GoStrictness::Default
    };
    let judged = foreign::judges().read(dir, strictness);
    let db = Db::open(dir, options(None, true, 8 << 10))
        .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    let got = dump(&db, None);
    let mut model = Model::new();
    let mut candidates = Vec::new();
    let all: Vec<&Vec<Op>> = out.acked.iter().chain(out.in_flight.as_ref()).collect();
    for (i, ops) in std::iter::once(None)
        .chain(all.iter().map(Some))
        .enumerate()
    {
        if let Some(ops) = ops {
            apply(&mut model, ops);
        }
        if i >= out.durable && model == got {
            candidates.push(i);
        }
    }
    assert!(
        !candidates.is_empty(),
        "{ctx}: the database is not the model after any prefix of {} writes at or past the {} \
         durable ones ({} keys)",
        all.len(),
        out.durable,
        got.len()
    );
    for (who, theirs) in judged {
        let theirs = theirs.unwrap_or_else(|e| panic!("{ctx}: {who} refuses the files: {e}"));
        assert!(
            theirs == got,
            "{ctx}: {who} reads {} keys, we read {}",
            theirs.len(),
            got.len()
        );
    }
    db.close().unwrap();
    let report = check::check_files(dir);
    assert_eq!(
        report.errors(),
        0,
        "{ctx}: after reopen: {:?}",
        report.problems
    );
}

/// How many file operations the fault-free run of a workload makes.
fn count_ops(seed: u64, sync: bool) -> u64 {
    let dir = scratch();
    let hook = Arc::new(PowerCut::new(u64::MAX));
    let out = faulty_workload(&dir.path().join("db"), seed, hook.clone(), sync);
    assert!(out.in_flight.is_none(), "the fault-free run failed");
    hook.ops.load(Ordering::SeqCst)
}

fn power_cuts(sync: bool, seeds: u64, per_seed: u64) -> usize {
    let mut rounds = 0;
    for s in 1..=seeds {
        let seed = s.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
        let total = count_ops(seed, sync);
        assert!(
            total > 200,
            "seed {seed}: the workload should do real work ({total} ops)"
        );
        for i in 0..per_seed {
            let cut = i * total / per_seed + s % 7;
            let dir = scratch();
            let db = dir.path().join("db");
            let hook = Arc::new(PowerCut::new(cut));
            let out = faulty_workload(&db, seed, hook.clone(), sync);
            if !db.join("CURRENT").exists() {
                continue;
            }
            let image = dir.path().join("after-power-cut");
            hook.image(&db, &image);
            if !image.join("CURRENT").exists() {
                // The cut came before the database existed.
                continue;
            }
            let ctx = format!("seed {seed} sync {sync} power cut at op {cut} of {total}");
            check_prefix(&image, &out, sync, &ctx);
            rounds += 1;
        }
    }
    rounds
}

#[test]
fn after_a_power_cut_the_database_is_a_prefix_with_every_synced_write() {
    let rounds = power_cuts(true, 4, 150);
    assert!(rounds >= 500, "{rounds} power cuts checked");
}

#[test]
fn after_a_power_cut_an_unsynced_database_is_a_prefix_of_its_writes() {
    let rounds = power_cuts(false, 4, 130);
    assert!(rounds >= 450, "{rounds} power cuts checked");
}

#[test]
fn after_an_injected_io_error_reopening_keeps_every_acknowledged_write() {
    let mut rounds = 0;
    for s in 1..=3u64 {
        let seed = s.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for sync in [true, false] {
            let total = count_ops(seed, sync);
            for i in 0..60 {
                let nth = i * total / 60 + s;
                let kind = if i % 2 == 0 {
                    io::ErrorKind::StorageFull
                } else {
                    io::ErrorKind::Other
                };
                let dir = scratch();
                let db = dir.path().join("db");
                let hook = Arc::new(FailOne {
                    nth,
                    ops: AtomicU64::new(0),
                    kind,
                    fired: AtomicBool::new(false),
                });
                let mut out = faulty_workload(&db, seed, hook.clone(), sync);
                if !db.join("CURRENT").exists() {
                    continue;
                }
                // No power was lost: everything acknowledged reached the OS.
                out.durable = out.acked.len();
                let ctx = format!("seed {seed} sync {sync} error at op {nth} ({kind:?})");
                check_prefix(&db, &out, sync, &ctx);
                rounds += 1;
            }
        }
    }
    assert!(rounds >= 300, "{rounds} injected errors checked");
}

/// Holds the first journal append until released, and records the file operations after it.
struct HoldFirstAppend {
    held: Mutex<bool>,
    release: std::sync::Condvar,
    released: AtomicBool,
    holding: AtomicBool,
    log: Mutex<Vec<String>>,
}

impl IoHook for HoldFirstAppend {
    fn before(&self, op: &IoOp<'_>) -> io::Result<()> {
        let journal = |p: &Path| p.extension().is_some_and(|e| e == "log");
        match *op {
            IoOp::Write(p, _) if journal(p) => {
                let mut held = self.held.lock().unwrap();
                if !*held {
                    *held = true;
                    self.holding.store(true, Ordering::SeqCst);
                    while !self.released.load(Ordering::SeqCst) {
                        held = self.release.wait(held).unwrap();
                    }
                }
                self.log.lock().unwrap().push("append".into());
            }
            IoOp::Sync(p) if journal(p) => self.log.lock().unwrap().push("sync".into()),
            _ => {}
        }
        Ok(())
    }
}

/// A synced write that queues behind an unsynced one is carried by the unsynced writer's
/// group, and the group syncs for it: it is acknowledged only after a journal sync.
#[test]
fn a_synced_write_in_a_group_led_by_an_unsynced_one_is_synced() {
    let dir = scratch();
    let hook = Arc::new(HoldFirstAppend {
        held: Mutex::new(false),
        release: std::sync::Condvar::new(),
        released: AtomicBool::new(false),
        holding: AtomicBool::new(false),
        log: Mutex::new(Vec::new()),
    });
    let db = Arc::new(
        Db::open(
            &dir.path().join("db"),
            options(Some(hook.clone()), false, 1 << 20),
        )
        .unwrap(),
    );
    let put = |db: &Arc<Db>, k: &str, sync: bool| {
        let db = db.clone();
        let k = k.to_owned();
        std::thread::spawn(move || {
            db.write(Batch::new().put(Key::new(&k), vec![1]), sync)
                .unwrap()
        })
    };
    // A's append is held; C (unsynced) then B (synced) queue behind it, so C leads the next
    // group and carries B.
    let a = put(&db, "/m/a", false);
    while !hook.holding.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let c = put(&db, "/m/c", false);
    std::thread::sleep(Duration::from_millis(100));
    let b = put(&db, "/m/b", true);
    std::thread::sleep(Duration::from_millis(100));
    hook.log.lock().unwrap().clear();
    {
        let _held = hook.held.lock().unwrap();
        hook.released.store(true, Ordering::SeqCst);
        hook.release.notify_all();
    }
    a.join().unwrap();
    c.join().unwrap();
    b.join().unwrap();
    let log = hook.log.lock().unwrap().clone();
    // A's append, then the group of C and B: one append and its sync.
    assert_eq!(log, ["append", "append", "sync"], "{log:?}");
}
