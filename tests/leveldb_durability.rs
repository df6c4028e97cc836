//! Durability of the LevelDB backend, tested the way LevelDB and SQLite test theirs
//! (docs/durability.md):
//! - a counting hook: a synced write syncs the journal, an unsynced one does not;
//! - simulated power cuts (LevelDB's `fault_injection_test.cc`): a hook tracks how much of each
//!   file was synced and which names were made durable; at a cut everything unsynced is dropped,
//!   and every write acknowledged under `SyncPolicy::Always` must be there after reopening, over
//!   every cut point of a scenario with journal rotations, memtable flushes and compactions;
//! - injected errors (SQLite's `ioerr.test`): the N-th write-side operation fails, for every N;
//!   later writes are refused until reopen, and reopening loses nothing acknowledged;
//! - after each, the directory passes the goleveldb sequence-number check of `check_files`.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pstoreds::datastore::leveldb::check::{self, Severity};
use pstoreds::datastore::leveldb::env::{IoHook, IoOp};
use pstoreds::datastore::{Datastore, Key, LevelDbDatastore, LevelDbOptions, SyncPolicy};

#[path = "common/faults.rs"]
mod faults;
use faults::{FailOne, NoTables, PowerCut, scratch};

fn key(i: usize) -> Key {
    Key::new(&format!("/peers/addrs/K{i:06}"))
}

fn value(i: usize, version: usize) -> Vec<u8> {
    format!("value {i} version {version} {}", "x".repeat(150 + i % 50)).into_bytes()
}

fn small_options(hook: Option<Arc<dyn IoHook>>) -> LevelDbOptions {
    LevelDbOptions {
        // Small enough that a scenario rotates the journal and flushes the memtable often.
        write_buffer_size: 16 << 10,
        io_hook: hook,
        ..Default::default()
    }
}

/// Counts syncs of journal files.
#[derive(Default)]
struct CountSyncs {
    journal_syncs: AtomicU64,
}

impl IoHook for CountSyncs {
    fn before(&self, op: &IoOp<'_>) -> io::Result<()> {
        if let IoOp::Sync(p) = op
            && p.extension().is_some_and(|e| e == "log")
        {
            self.journal_syncs.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[test]
fn a_synced_write_syncs_the_journal_and_an_unsynced_one_does_not() {
    for (policy, expect_per_write) in [(SyncPolicy::Always, 1), (SyncPolicy::Never, 0)] {
        let dir = scratch();
        let hook = Arc::new(CountSyncs::default());
        let ds = LevelDbDatastore::open(
            dir.path(),
            LevelDbOptions {
                sync: policy,
                io_hook: Some(hook.clone()),
                ..Default::default()
            },
        )
        .unwrap();
        let before = hook.journal_syncs.load(Ordering::SeqCst);
        for i in 0..100 {
            ds.put(&key(i), &value(i, 0)).unwrap();
        }
        let syncs = hook.journal_syncs.load(Ordering::SeqCst) - before;
        assert_eq!(syncs, 100 * expect_per_write, "{policy:?}");
    }
}

/// Counts journal syncs; while `slow` is set each takes `delay` (a slow disk).
struct SlowSyncs {
    delay: std::time::Duration,
    slow: AtomicBool,
    journal_syncs: AtomicU64,
}

impl SlowSyncs {
    fn new(delay: std::time::Duration, slow: bool) -> Arc<SlowSyncs> {
        Arc::new(SlowSyncs {
            delay,
            slow: AtomicBool::new(slow),
            journal_syncs: AtomicU64::new(0),
        })
    }
}

impl IoHook for SlowSyncs {
    fn before(&self, op: &IoOp<'_>) -> io::Result<()> {
        if let IoOp::Sync(p) = op
            && p.extension().is_some_and(|e| e == "log")
        {
            self.journal_syncs.fetch_add(1, Ordering::SeqCst);
            if self.slow.load(Ordering::SeqCst) {
                std::thread::sleep(self.delay);
            }
        }
        Ok(())
    }
}

/// A store whose journal syncs take 2 ms, counted by its hook.
fn slow_sync_store(
    options: LevelDbOptions,
) -> (tempfile::TempDir, Arc<SlowSyncs>, Arc<LevelDbDatastore>) {
    let dir = scratch();
    let hook = SlowSyncs::new(std::time::Duration::from_millis(2), true);
    let options = LevelDbOptions {
        io_hook: Some(hook.clone()),
        ..options
    };
    let ds = Arc::new(LevelDbDatastore::open(dir.path(), options).unwrap());
    (dir, hook, ds)
}

/// Group commit: synced writes made at the same time share a journal record and one sync, and
/// each returns only after the sync that covers it; nothing is lost.
#[test]
fn concurrent_synced_writes_share_journal_syncs_and_all_are_kept() {
    let (dir, hook, ds) = slow_sync_store(LevelDbOptions::default());
    let before = hook.journal_syncs.load(Ordering::SeqCst);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (ds, hook) = (ds.clone(), hook.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let syncs = hook.journal_syncs.load(Ordering::SeqCst);
                    ds.put(&key(t * 100 + i), &value(t * 100 + i, 0)).unwrap();
                    assert!(
                        hook.journal_syncs.load(Ordering::SeqCst) > syncs,
                        "a synced write returned before any journal sync covering it"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let syncs = hook.journal_syncs.load(Ordering::SeqCst) - before;
    assert!(
        syncs < 100,
        "200 synced writes from 8 threads took {syncs} syncs"
    );
    ds.close().unwrap();
    let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
    for t in 0..8 {
        for i in 0..25 {
            assert_eq!(
                ds.get(&key(t * 100 + i)).unwrap(),
                Some(value(t * 100 + i, 0))
            );
        }
    }
}

/// Writers that were in one synced group and come back at once are gathered into the next
/// group, instead of the first of them writing and syncing alone while the others queue for
/// the sync after: 8 writers that each write again as soon as their write returns need about
/// one sync per round of 8 writes, not two.
#[test]
fn synced_writers_that_return_together_share_the_next_sync() {
    let (_dir, hook, ds) = slow_sync_store(LevelDbOptions {
        // Long enough that a loaded machine still gathers the writers; the default is 100 µs.
        group_gather: std::time::Duration::from_millis(1),
        ..Default::default()
    });
    let before = hook.journal_syncs.load(Ordering::SeqCst);
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (ds, barrier) = (ds.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..40 {
                    ds.put(&key(t * 100 + i), &value(t * 100 + i, 0)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let syncs = hook.journal_syncs.load(Ordering::SeqCst) - before;
    // Two syncs per round (the first writer back alone, then the other seven) would be 80.
    assert!(
        syncs <= 60,
        "320 synced writes from 8 threads took {syncs} syncs"
    );
}

/// A read does not wait for the sync of a synced write (it runs outside the engine's lock),
/// and the write still returns only after its sync.
#[test]
fn reads_do_not_wait_for_a_synced_writes_sync() {
    let dir = scratch();
    let hook = SlowSyncs::new(std::time::Duration::from_secs(1), false);
    let options = LevelDbOptions {
        io_hook: Some(hook.clone()),
        ..Default::default()
    };
    let ds = Arc::new(LevelDbDatastore::open(dir.path(), options).unwrap());
    ds.put(&key(1), &value(1, 0)).unwrap();
    hook.slow.store(true, Ordering::SeqCst);
    let writer = {
        let ds = ds.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            ds.put(&key(2), &value(2, 0)).unwrap();
            started.elapsed()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let started = std::time::Instant::now();
    assert_eq!(ds.get(&key(1)).unwrap(), Some(value(1, 0)));
    let read = started.elapsed();
    let write = writer.join().unwrap();
    assert!(
        write >= std::time::Duration::from_secs(1),
        "the write waited for its sync"
    );
    assert!(
        read < std::time::Duration::from_millis(500),
        "a read waited {read:?} behind a sync"
    );
}

/// The expected contents: for each key, the last acknowledged value, and the value of a write
/// that was in flight when the disk went away (it may or may not have made it).
#[derive(Default)]
struct Model {
    acked: BTreeMap<usize, Vec<u8>>,
    in_flight: Option<(usize, Vec<u8>)>,
    acks: usize,
}

/// Writes, overwrites and compactions through `ds` until something fails; returns the model.
fn scenario(ds: &LevelDbDatastore, steps: usize) -> Model {
    let mut m = Model::default();
    for step in 0..steps {
        let i = if step % 5 == 4 { step / 3 } else { step };
        let v = value(i, step);
        m.in_flight = Some((i, v.clone()));
        if ds.put(&key(i), &v).is_err() {
            return m;
        }
        m.acked.insert(i, v);
        m.acks += 1;
        m.in_flight = None;
        if step % 150 == 149 && ds.compact().is_err() {
            return m;
        }
    }
    m
}

/// Opens `dir` (no hooks) and checks that every acknowledged write is there, and that the
/// directory passes the goleveldb checks.
fn check_recovered(dir: &Path, m: &Model, context: &str) {
    let report = check::check_files(dir);
    let errors: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{context}: files: {errors:?}");
    let ds = LevelDbDatastore::open(dir, LevelDbOptions::default())
        .unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
    for (i, v) in &m.acked {
        let got = ds.get(&key(*i)).unwrap();
        let ok = got.as_ref() == Some(v)
            || m.in_flight
                .as_ref()
                .is_some_and(|(j, w)| j == i && got.as_ref() == Some(w));
        assert!(ok, "{context}: acknowledged key {i} lost or stale");
    }
    ds.close().unwrap();
    // After our open and close the directory still passes.
    let report = check::check_files(dir);
    assert_eq!(
        report.errors(),
        0,
        "{context}: after reopen: {:?}",
        report.problems
    );
}

const STEPS: usize = 420;

/// Runs the whole scenario once without faults and counts its file operations (asserting that
/// every write was acknowledged).
fn scenario_ops() -> u64 {
    let dir = scratch();
    let hook = Arc::new(PowerCut::new(u64::MAX));
    let ds = LevelDbDatastore::open(dir.path(), small_options(Some(hook.clone()))).unwrap();
    let m = scenario(&ds, STEPS);
    assert_eq!(m.acks, STEPS);
    drop(ds);
    hook.ops.load(Ordering::SeqCst)
}

#[test]
fn power_cut_at_every_point_loses_no_synced_write() {
    // One run without a cut counts the operations.
    let total = scenario_ops();
    assert!(
        total > 500,
        "the scenario should do real work ({total} ops)"
    );
    let mut cuts: Vec<u64> = (0..40).collect();
    cuts.extend((40..total).step_by(7));
    let mut rounds = 0;
    for cut in cuts {
        let dir = scratch();
        let db = dir.path().join("db");
        let hook = Arc::new(PowerCut::new(cut));
        let m = match LevelDbDatastore::open(&db, small_options(Some(hook.clone()))) {
            Ok(ds) => {
                let m = scenario(&ds, STEPS);
                drop(ds);
                m
            }
            Err(_) => Model::default(),
        };
        let image = dir.path().join("after-power-cut");
        hook.image(&db, &image);
        if m.acks == 0 && !image.join("CURRENT").exists() {
            // The cut came before the database existed.
            continue;
        }
        check_recovered(&image, &m, &format!("cut at op {cut} of {total}"));
        rounds += 1;
    }
    assert!(rounds > 100, "{rounds} rounds");
}

/// A deferred-sync scope: its writes are visible at once, synced together once at its end
/// (one journal sync for 50 writes), and durable then: a power cut right after the scope keeps
/// them all. Another thread's writes meanwhile are synced as usual.
#[test]
fn a_deferred_sync_scope_syncs_once_and_is_durable_when_it_ends() {
    let dir = scratch();
    let db = dir.path().join("db");
    let counter = Arc::new(CountSyncs::default());
    let cut = Arc::new(PowerCut::new(u64::MAX));
    struct Both(Arc<CountSyncs>, Arc<PowerCut>);
    impl IoHook for Both {
        fn before(&self, op: &IoOp<'_>) -> io::Result<()> {
            self.0.before(op)?;
            self.1.before(op)
        }
    }
    let options = LevelDbOptions {
        io_hook: Some(Arc::new(Both(counter.clone(), cut.clone()))),
        ..Default::default()
    };
    let ds = Arc::new(LevelDbDatastore::open(&db, options).unwrap());
    let before = counter.journal_syncs.load(Ordering::SeqCst);
    ds.begin_deferred_sync();
    ds.begin_deferred_sync(); // scopes nest
    for i in 0..25 {
        ds.put(&key(i), &value(i, 0)).unwrap();
    }
    ds.end_deferred_sync().unwrap();
    for i in 25..50 {
        ds.put(&key(i), &value(i, 0)).unwrap();
        assert_eq!(
            ds.get(&key(i)).unwrap(),
            Some(value(i, 0)),
            "visible at once"
        );
    }
    assert_eq!(
        counter.journal_syncs.load(Ordering::SeqCst),
        before,
        "nothing synced yet"
    );
    let other = {
        let ds = ds.clone();
        std::thread::spawn(move || ds.put(&key(99), &value(99, 0)).unwrap())
    };
    other.join().unwrap();
    let after_other = counter.journal_syncs.load(Ordering::SeqCst);
    assert_eq!(
        after_other,
        before + 1,
        "another thread's write is synced as usual"
    );
    ds.end_deferred_sync().unwrap();
    assert_eq!(
        counter.journal_syncs.load(Ordering::SeqCst),
        after_other,
        "the other thread's sync already covered the scope's writes"
    );
    let image = dir.path().join("after-power-cut");
    cut.image(&db, &image);
    let recovered = LevelDbDatastore::open(&image, LevelDbOptions::default()).unwrap();
    for i in (0..50).chain([99]) {
        assert_eq!(
            recovered.get(&key(i)).unwrap(),
            Some(value(i, 0)),
            "key {i}"
        );
    }
    // A scope whose writes no other sync covered makes exactly one.
    let before = counter.journal_syncs.load(Ordering::SeqCst);
    ds.begin_deferred_sync();
    for i in 100..150 {
        ds.put(&key(i), &value(i, 0)).unwrap();
    }
    ds.end_deferred_sync().unwrap();
    assert_eq!(counter.journal_syncs.load(Ordering::SeqCst), before + 1);
    let image = dir.path().join("after-second-power-cut");
    cut.image(&db, &image);
    let recovered = LevelDbDatastore::open(&image, LevelDbOptions::default()).unwrap();
    for i in 100..150 {
        assert_eq!(
            recovered.get(&key(i)).unwrap(),
            Some(value(i, 0)),
            "key {i}"
        );
    }
}

#[test]
fn after_an_injected_error_writes_are_refused_and_reopening_loses_nothing() {
    let total = scenario_ops();
    let mut rounds = 0;
    for (i, nth) in (0..total).step_by(5).enumerate() {
        let kind = if i % 2 == 0 {
            io::ErrorKind::StorageFull
        } else {
            io::ErrorKind::Other
        };
        let dir = scratch();
        let hook = Arc::new(FailOne {
            nth,
            ops: AtomicU64::new(0),
            kind,
            fired: AtomicBool::new(false),
        });
        let Ok(ds) = LevelDbDatastore::open(dir.path(), small_options(Some(hook.clone()))) else {
            continue;
        };
        let m = scenario(&ds, STEPS);
        if hook.fired.load(Ordering::SeqCst) && m.acks < STEPS {
            // The failure is sticky: the disk works again, but nothing more is acknowledged.
            let err = ds.put(&key(999_999), b"after").unwrap_err();
            assert!(err.to_string().contains("reopen"), "{err}");
        }
        drop(ds);
        check_recovered(dir.path(), &m, &format!("error at op {nth} ({kind:?})"));
        rounds += 1;
    }
    assert!(rounds > 100, "{rounds} rounds");
}

/// Reproduction of the lost-to-Go writes: many writes and reads (reads that miss make the
/// engine want a compaction), clean closes and reopens. Every directory left behind must keep
/// the MANIFEST's last sequence below every batch in the journals goleveldb replays.
#[test]
fn reopened_databases_keep_the_sequence_invariant_goleveldb_checks() {
    let dir = scratch();
    let opts = LevelDbOptions {
        write_buffer_size: 64 << 10,
        ..Default::default()
    };
    let mut next = 0;
    for round in 0..6 {
        let ds = LevelDbDatastore::open(dir.path(), opts.clone()).unwrap();
        // Long rounds rotate the journal many times; short ones leave it as it was opened.
        let writes = if round % 2 == 0 { 2500 } else { 50 };
        for _ in 0..writes {
            ds.put(&key(next), &value(next, round)).unwrap();
            // Reads of keys that are not there go through every level.
            assert!(ds.get(&key(next + 1_000_000)).unwrap().is_none());
            next += 1;
        }
        if round == 4 {
            ds.compact().unwrap();
            ds.put(&key(next), &value(next, round)).unwrap();
            next += 1;
        }
        ds.close().unwrap();
        let report = check::check_files(dir.path());
        assert!(report.journals > 0);
        assert_eq!(report.errors(), 0, "round {round}: {:?}", report.problems);
    }
    let ds = LevelDbDatastore::open(dir.path(), opts).unwrap();
    for i in 0..next {
        assert!(ds.get(&key(i)).unwrap().is_some(), "key {i}");
    }
}

/// A store of `n` keys (version 0), closed; and its newest journal, which holds them.
fn closed_store(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = scratch();
    let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
    for i in 0..n {
        ds.put(&key(i), &value(i, 0)).unwrap();
    }
    ds.close().unwrap();
    drop(ds);
    let journal = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap();
    (dir, journal)
}

/// Reproduction: after a torn tail in the newest journal, the next session's writes used to
/// land behind the torn record, and the following open stopped at the tear and lost them.
#[test]
fn writes_after_a_torn_journal_tail_survive_the_next_reopen() {
    for cut in [0.33, 0.5, 0.71] {
        let (dir, journal) = closed_store(1000);
        let bytes = std::fs::read(&journal).unwrap();
        std::fs::write(&journal, &bytes[..(bytes.len() as f64 * cut) as usize]).unwrap();

        let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
        let warnings = ds.open_warnings();
        assert!(
            warnings.iter().any(|w| w.contains("torn tail")),
            "cut {cut}: {warnings:?}"
        );
        for i in 1000..2000 {
            ds.put(&key(i), &value(i, 1)).unwrap();
        }
        ds.close().unwrap();
        drop(ds);
        let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
        assert!(ds.open_warnings().is_empty());
        for i in 1000..2000 {
            assert_eq!(
                ds.get(&key(i)).unwrap(),
                Some(value(i, 1)),
                "cut {cut}: key {i}"
            );
        }
    }
}

/// goleveldb names the table it made from a journal twice in a new MANIFEST (in the snapshot
/// and in the edit). A version must hold it once: rusty-leveldb, the engine before ours, kept
/// both, and its next compaction merged the table with itself and failed ("keys out of
/// order"), refusing every write (found by the kill -9 loop with a Go dump between rounds).
#[test]
fn a_manifest_naming_a_table_twice_does_not_break_compactions() {
    use pstoreds::datastore::leveldb::{logfile, manifest::Manifest};
    let dir = scratch();
    let opts = LevelDbOptions {
        write_buffer_size: 32 << 10,
        ..Default::default()
    };
    let ds = LevelDbDatastore::open(dir.path(), opts.clone()).unwrap();
    for i in 0..600 {
        ds.put(&key(i), &value(i, 0)).unwrap();
    }
    ds.close().unwrap();
    drop(ds);
    let current = std::fs::read_to_string(dir.path().join("CURRENT")).unwrap();
    let file = dir.path().join(current.trim());
    let scan = logfile::scan(&std::fs::read(&file).unwrap());
    let m = Manifest::from_edits(scan.records.iter().map(|r| r.data.as_slice())).unwrap();
    assert!(m.tables.len() >= 2, "{} tables", m.tables.len());
    let snapshot = m.encode_snapshot();
    std::fs::write(&file, logfile::encode(&[&snapshot, &snapshot])).unwrap();

    let ds = LevelDbDatastore::open(dir.path(), opts).unwrap();
    for i in 600..3000 {
        ds.put(&key(i), &value(i, 1)).unwrap();
    }
    ds.compact().unwrap();
    for i in 0..3000 {
        assert!(ds.get(&key(i)).unwrap().is_some(), "key {i}");
    }
}

/// A process killed while creating a database leaves the first MANIFEST without `CURRENT`:
/// no data, so the next open creates the database instead of refusing it as damaged.
#[test]
fn a_creation_cut_short_is_created_again() {
    let dir = scratch();
    let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
    ds.close().unwrap();
    drop(ds);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.starts_with("MANIFEST-") && name != "LOCK" && name != "LOG" {
            std::fs::remove_file(p).unwrap();
        }
    }
    let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
    ds.put(&key(1), b"v").unwrap();
    assert_eq!(ds.get(&key(1)).unwrap(), Some(b"v".to_vec()));
}

/// Compactions run beside reads of overlapping tables while the journal holds writes; no
/// edit may record a sequence the journal still holds (goleveldb would refuse or skip those
/// batches), so the files pass goleveldb's check after every round.
#[test]
fn compactions_beside_reads_keep_the_sequence_invariant() {
    // Values Snappy cannot shrink, so that each round of writes fills about one table.
    let noisy = |k: usize, round: usize| -> Vec<u8> {
        (0..200)
            .map(|j| ((k * 31 + j * 17 + round * 7) % 251) as u8)
            .collect()
    };
    let dir = scratch();
    let ds = LevelDbDatastore::open(
        dir.path(),
        LevelDbOptions {
            write_buffer_size: 16 << 10,
            ..Default::default()
        },
    )
    .unwrap();
    for round in 0..12 {
        // Each round spans the whole key range, so the tables on level 0 overlap.
        for i in 0..100 {
            let k = i * 12 + round;
            ds.put(&key(k), &noisy(k, round)).unwrap();
        }
        // Lookups through the overlapping tables, while the journal holds writes.
        for _ in 0..3 {
            for k in 0..(round + 1) * 100 {
                let k = (k % 100) * 12 + k / 100;
                assert_eq!(ds.get(&key(k)).unwrap(), Some(noisy(k, k % 12)));
            }
        }
        let report = check::check_files(dir.path());
        assert_eq!(report.errors(), 0, "round {round}: {:?}", report.problems);
    }
    ds.close().unwrap();
    let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
    for k in 0..1200 {
        assert_eq!(ds.get(&key(k)).unwrap(), Some(noisy(k, k % 12)), "key {k}");
    }
}

/// A reopen leaves the journal it replayed to the flush thread: the open writes no table (it
/// succeeds where no table can be written), syncs that journal (an earlier process may have
/// left it unsynced), and keeps it until the table is recorded. A process that stops before
/// then leaves a directory whose MANIFEST's last sequence is below the kept journal's, as
/// goleveldb requires, and the next open loses nothing.
#[test]
fn a_reopen_keeps_the_journal_it_replayed_until_its_table_is_written() {
    let (dir, journal) = closed_store(500);

    let hook = Arc::new(NoTables::default());
    let opts = LevelDbOptions {
        io_hook: Some(hook.clone()),
        ..Default::default()
    };
    let ds = LevelDbDatastore::open(dir.path(), opts).unwrap();
    assert!(
        hook.synced_journals.lock().unwrap().contains(&journal),
        "{} was not synced by the open",
        journal.display()
    );
    // The flush thread fails to write the table; the engine stops there.
    let _ = ds.close();
    drop(ds);
    assert!(
        journal.exists(),
        "the replayed journal was deleted before its table existed"
    );
    let report = check::check_files(dir.path());
    assert_eq!(report.errors(), 0, "{:?}", report.problems);

    let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
    for i in 0..500 {
        assert_eq!(ds.get(&key(i)).unwrap(), Some(value(i, 0)), "key {i}");
    }
}
