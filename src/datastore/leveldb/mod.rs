//! The LevelDB backend (rusty-leveldb 4.0.2), writing databases that go-ds-leveldb opens as its
//! own, and keeping the durability and damage rules of `docs/durability.md`.
//!
//! The engine is used as it is, wrapped on every side it leaves open:
//! - its files go through [`env::DurableEnv`], which syncs where C++ LevelDB does, makes write
//!   errors sticky and checks what the engine reads;
//! - it never reuses a journal or a MANIFEST across opens, and it never compacts during a read
//!   (the env refuses writes while a `get` runs; the compaction runs at the next write): so the
//!   MANIFEST's last sequence is always below every batch in the journals it replays, the
//!   invariant goleveldb checks (see the module docs of [`check`]);
//! - the directory is checked before the engine opens it ([`check::preflight`]): a directory
//!   with LevelDB files but no usable `CURRENT`, a MANIFEST damaged in the middle, or a live
//!   table missing is refused, never "created" anew;
//! - engine panics are caught, kept off the terminal, and reported with the file involved.
//!
//! rusty-leveldb's `DB` takes `&mut self` for every call and is not `Sync`, so one `DB` lives
//! behind a mutex, and iterators are drained while the lock is held.

pub mod batch;
pub mod check;
pub mod coding;
pub mod compaction;
pub mod db;
pub mod dbformat;
pub mod env;
pub mod error;
pub mod filter;
pub mod iter;
pub mod logfile;
pub mod manifest;
pub mod memtable;
mod quiet;
mod scan;
pub mod table;
pub mod table_builder;
pub mod table_cache;
pub mod version;

use std::collections::VecDeque;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use rusty_leveldb::{
    CompressorId, DB, LdbIterator, Options, Status, StatusCode, WriteBatch, compressor,
};

use self::env::{DurableEnv, IoHook, IoState};
use super::{Batch, Datastore, Entry, Error, Key, Op, Query, Result, SyncPolicy};

/// How to open a [`LevelDbDatastore`].
#[derive(Clone)]
pub struct LevelDbOptions {
    /// Create the directory (owner-only permissions) and database if missing. Default: true.
    /// Only a missing or empty directory is ever initialised: a directory holding LevelDB files
    /// is opened as the database it is, or refused as damaged.
    pub create_if_missing: bool,
    /// [`SyncPolicy::Always`] (default, as go-ds-leveldb): every write is on disk (fdatasync)
    /// when it returns. [`SyncPolicy::Never`]: every write is handed to the OS when it returns
    /// (a killed process loses nothing), but a power cut may lose the most recent ones.
    pub sync: SyncPolicy,
    /// Compress table blocks with Snappy, as goleveldb does by default. Default: true.
    pub snappy: bool,
    /// Size of the in-memory write buffer before it is flushed to a table. Default: 4 MiB, as
    /// goleveldb.
    pub write_buffer_size: usize,
    /// A write compacts the whole database on the spot once this many puts and deletes were
    /// written since the last whole compaction. Default: 0, never: LevelDB's own compactions,
    /// which run a level at a time as tables fill, already drop overwritten versions (see
    /// [`LevelDbDatastore::compact`]), and a whole compaction holds every reader and writer up
    /// for as long as it takes to rewrite the database.
    pub compact_after_writes: u64,
    /// Under [`SyncPolicy::Always`], how long the first writer of a group waits for as many
    /// writers as the last group held to queue behind it, so that they share its sync. Writers
    /// of the last group come back after preparing their next write (microseconds) while a
    /// sync costs a hundred or more: without the wait, the first of them to return writes and
    /// syncs alone and the others wait a whole sync longer. A lone writer never waits (its
    /// last group held one). Default: 100 µs. Zero: never wait.
    pub group_gather: std::time::Duration,
    /// Sees every file operation before it happens, and may fail it: for fault injection in
    /// tests and for counting syncs. Default: none.
    pub io_hook: Option<Arc<dyn IoHook>>,
}

impl std::fmt::Debug for LevelDbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelDbOptions")
            .field("create_if_missing", &self.create_if_missing)
            .field("sync", &self.sync)
            .field("snappy", &self.snappy)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("compact_after_writes", &self.compact_after_writes)
            .field("group_gather", &self.group_gather)
            .field("io_hook", &self.io_hook.is_some())
            .finish()
    }
}

impl Default for LevelDbOptions {
    fn default() -> Self {
        LevelDbOptions {
            create_if_missing: true,
            sync: SyncPolicy::Always,
            snappy: true,
            write_buffer_size: 4 << 20,
            compact_after_writes: 0,
            group_gather: std::time::Duration::from_micros(100),
            io_hook: None,
        }
    }
}

/// The engine and the env state of one open.
struct Engine {
    db: DB,
    io: Arc<IoState>,
    /// Snapshots taken since the open: the handle the next one gets, less one.
    snapshots: u64,
}

/// Handles [`Engine::collector`] may burn in one call: about 5 ms of work.
const BURN_PER_CALL: u64 = 1 << 16;

impl Engine {
    /// The engine, to take one snapshot (`get_snapshot`) of the current state: every snapshot
    /// is taken through here, so that `snapshots` counts them (rusty-leveldb does not export
    /// its snapshot type to hold one here by name).
    fn for_snapshot(&mut self) -> &mut DB {
        self.snapshots += 1;
        &mut self.db
    }

    /// The snapshot to hold while the engine may compact (a write or [`DB::compact_range`]),
    /// so that the compaction drops overwritten versions and deletion markers as LevelDB's
    /// does.
    ///
    /// rusty-leveldb 4.0.2 compacts as if the oldest snapshot were at the sequence number
    /// equal to the smallest *handle* of the live snapshots (`SnapshotList::oldest` folds over
    /// the map's keys, the handles, not its values), and at sequence 0, keeping every version,
    /// when none is live but any ever was (`empty()` never becomes true again). Handles count
    /// up from 1 with every snapshot taken. So the collector is a snapshot whose handle is at
    /// least the last sequence number: taken, handle by handle, after up to `budget` others
    /// taken and dropped at once (about 70 ns each). A database opened with a last sequence
    /// far ahead of the handles catches up over several calls; until then compactions drop
    /// what is older than the handle reached. Were the engine fixed to use the sequence
    /// numbers, the collector, taken last, is also the newest state: the same outcome.
    ///
    /// No other snapshot is live meanwhile: reads drop theirs before they release the lock.
    fn collector(&mut self, budget: u64) -> impl Sized + use<> {
        let mut burnt = 0;
        loop {
            let snapshot = self.for_snapshot().get_snapshot();
            if self.snapshots >= snapshot.sequence() || burnt >= budget {
                return snapshot;
            }
            burnt += 1;
        }
    }

    /// Whether the next collector has handles to burn first.
    fn collector_behind(&mut self) -> bool {
        let last = self.for_snapshot().get_snapshot().sequence();
        self.snapshots < last
    }
}

/// A [`Datastore`] over a LevelDB directory, in go-ds-leveldb's layout: each key stored as its
/// exact bytes, values raw.
pub struct LevelDbDatastore {
    path: PathBuf,
    options: LevelDbOptions,
    engine: Mutex<Option<Engine>>,
    /// Serves reads from the files, without the engine's lock (`scan`).
    files: scan::Scanner,
    /// The engine's I/O state, for reads that do not take its lock.
    io: Arc<IoState>,
    /// Set once the datastore is closed: reads then go to `engine`, which says so.
    closed: AtomicBool,
    /// Puts and deletes since the last compaction.
    writes: AtomicU64,
    /// What the last open had to say (torn journal tails dropped).
    warnings: Mutex<Vec<String>>,
    /// Set when a failure left no engine open (a compaction could not reopen it).
    lost_engine: Mutex<Option<String>>,
    /// Writes in arrival order (group commit, as LevelDB's and goleveldb's writers do): the
    /// first writes itself and those behind it as one journal record and one sync, while the
    /// others wait on `written` for their outcome.
    pending: Mutex<VecDeque<Arc<WriteSlot>>>,
    written: Condvar,
    /// How many writes the last synced group held: the next leader gathers as many.
    last_group: AtomicUsize,
    /// While a leader waits for writers to join its group ([`LevelDbOptions::group_gather`]):
    /// the queue length it waits for (0: none waits). Set and read under `pending`'s lock.
    gather_for: AtomicUsize,
    /// Signalled when a writer's arrival makes the queue that long: once per group, not once
    /// per writer (on this VM each wake-up is a context switch costing microseconds).
    arrived: Condvar,
}

thread_local! {
    /// This thread's deferred-sync scopes ([`Datastore::begin_deferred_sync`]): how deep, and
    /// the writes made in them that still need their sync.
    static DEFERRED: std::cell::RefCell<(usize, Vec<Written>)> =
        const { std::cell::RefCell::new((0, Vec::new())) };
}

/// A group in the journal, not yet synced: the sync to wait for.
struct Written {
    io: Arc<IoState>,
    ticket: u64,
}

/// One write waiting in [`LevelDbDatastore::pending`]: its batch, then its outcome.
struct WriteSlot {
    batch: Batch,
    outcome: Mutex<Option<Result<()>>>,
}

/// A group's journal record is kept near LevelDB's 1 MiB limit for a merged write.
const GROUP_BYTES: usize = 1 << 20;

impl std::fmt::Debug for LevelDbDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelDbDatastore")
            .field("path", &self.path)
            .finish()
    }
}

impl LevelDbDatastore {
    /// Opens (or, in a missing or empty directory, creates) the database in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: LevelDbOptions) -> Result<LevelDbDatastore> {
        let path = path.as_ref().to_path_buf();
        match check::dir_state(&path) {
            check::DirState::Missing | check::DirState::Empty if options.create_if_missing => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&path)
                    .map_err(|e| Error::Open {
                        path: path.clone(),
                        source: e.into(),
                    })?;
            }
            check::DirState::Missing => {
                return Err(Error::NotFound {
                    path,
                    reason: "no such directory".to_owned(),
                });
            }
            check::DirState::Empty => {
                return Err(Error::NotFound {
                    path,
                    reason: "the directory holds no LevelDB database".to_owned(),
                });
            }
            check::DirState::NotADirectory => {
                return Err(Error::NotFound {
                    path,
                    reason: "not a directory".to_owned(),
                });
            }
            check::DirState::Database => {}
        }
        let engine = open_engine(&path, &options)?;
        let warnings = engine.io.warnings();
        Ok(LevelDbDatastore {
            files: scan::Scanner::new(&path, &engine.io),
            io: engine.io.clone(),
            closed: AtomicBool::new(false),
            path,
            options,
            engine: Mutex::new(Some(engine)),
            writes: AtomicU64::new(0),
            warnings: Mutex::new(warnings),
            lost_engine: Mutex::new(None),
            pending: Mutex::new(VecDeque::new()),
            written: Condvar::new(),
            last_group: AtomicUsize::new(1),
            gather_for: AtomicUsize::new(0),
            arrived: Condvar::new(),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The query answered through rusty-leveldb's iterator instead of the file scanner that
    /// answers [`Datastore::query`]: after a failed write, and the reference the scanner is
    /// tested against.
    #[doc(hidden)]
    pub fn query_through_engine(&self, query: &Query) -> Result<Vec<Entry>> {
        self.read(
            || format!("the keys below {}", query.prefix),
            |engine| engine_query(engine, query),
        )
    }

    /// The value of `key` read through rusty-leveldb's iterator instead of the file scanner
    /// that answers [`Datastore::get`]: after a failed write, and the reference the scanner is
    /// tested against.
    #[doc(hidden)]
    pub fn get_through_engine(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.read(
            || format!("key {key}"),
            |engine| engine_get(engine, key.as_bytes()),
        )
    }

    /// What opening the database had to drop or repair, one message each: a torn tail of the
    /// newest journal (the last write before a crash, never acknowledged under
    /// [`SyncPolicy::Always`]). Empty after a clean shutdown.
    pub fn open_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Compacts the whole key range, dropping overwritten versions and deletion markers, while
    /// every other call waits. Never needed for that: LevelDB's own compactions drop them a
    /// level at a time as the database grows (what that takes with rusty-leveldb 4.0.2: the
    /// README, "Dependencies and deviations"). What it gives is the smallest database and the
    /// fastest scans at once, for `pstore compact` and before a copy.
    pub fn compact(&self) -> Result<()> {
        let mut guard = self.engine.lock().unwrap_or_else(|e| e.into_inner());
        let engine = self.engine_in(&mut guard)?;
        if let Some(failed) = engine.io.failure() {
            return Err(self.failed(failed));
        }
        let collector = engine.collector(u64::MAX);
        let compacted = run_engine(&engine.io, || {
            engine.db.flush()?;
            engine.db.compact_range(b"\x00", b"\xff")
        });
        drop(collector);
        // The flush opened a journal and wrote the memtable to a table.
        self.files.follow(&engine.io);
        self.writes.store(0, Ordering::SeqCst);
        compacted.map_err(|status| Error::Write {
            what: "a compaction".to_owned(),
            source: status.into(),
        })
    }

    /// The open engine, or why there is none.
    fn engine_in<'a>(&self, guard: &'a mut Option<Engine>) -> Result<&'a mut Engine> {
        match guard.as_mut() {
            Some(engine) => Ok(engine),
            None => match self
                .lost_engine
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
            {
                Some(reason) => Err(self.failed(reason)),
                None => Err(Error::Closed),
            },
        }
    }

    /// Writes batches as one journal record: all of them or, on failure, none; after a failure
    /// nothing more is written until reopen. Returns the engine's I/O state, for the sync
    /// that makes the record durable ([`LevelDbDatastore::sync_journal`]).
    fn write_group(&self, engine: &mut Engine, batches: &[&Batch]) -> Result<Written> {
        if let Some(failed) = engine.io.failure() {
            return Err(self.failed(failed));
        }
        let mut wb = WriteBatch::default();
        for batch in batches {
            for op in batch.ops() {
                match op {
                    Op::Put(k, v) => wb.put(k.as_bytes(), v),
                    Op::Delete(k) => wb.delete(k.as_bytes()),
                }
            }
        }
        // Always flushed to the OS (a killed process loses nothing); the env syncs the
        // journal on that flush when the policy is Always.
        let collector = engine.collector(BURN_PER_CALL);
        let written = run_engine(&engine.io, || engine.db.write(wb, true));
        drop(collector);
        if let Err(status) = written {
            // Whatever failed, nothing more is acknowledged until the database is reopened.
            engine.io.fail(status.err.clone());
            return Err(Error::Write {
                what: match batches {
                    [one] => one.describe(),
                    _ => format!(
                        "{} written together, the first {}",
                        batches.len(),
                        batches[0].describe()
                    ),
                },
                source: status.into(),
            });
        }
        let io = engine.io.clone();
        self.files
            .written(&io, batches.iter().flat_map(|b| b.ops().iter()));
        Ok(Written {
            ticket: io.note_written(),
            io,
        })
    }

    /// The sync that makes a written group durable (under `SyncPolicy::Always`), run after
    /// the engine is released.
    fn sync_journal(&self, written: &Written, first: &Batch) -> Result<()> {
        written
            .io
            .sync_journal_now(written.ticket)
            .map_err(|status| Error::Write {
                what: first.describe(),
                source: status.into(),
            })
    }

    /// The error a write of a group gets when the group failed (errors are not `Clone`).
    fn group_error(&self, e: &Error, batch: &Batch) -> Error {
        match e {
            Error::Failed { path, reason } => Error::Failed {
                path: path.clone(),
                reason: reason.clone(),
            },
            Error::Closed => Error::Closed,
            other => Error::Write {
                what: batch.describe(),
                source: format!("written in a group that failed: {other}").into(),
            },
        }
    }

    /// Counts written ops, compacting when `compact_after_writes` is reached.
    fn count_writes(&self, n: u64) -> Result<()> {
        let written = self.writes.fetch_add(n, Ordering::SeqCst) + n;
        let limit = self.options.compact_after_writes;
        if limit > 0 && written >= limit {
            self.compact()?;
        }
        Ok(())
    }

    fn failed(&self, reason: String) -> Error {
        Error::Failed {
            path: self.path.clone(),
            reason,
        }
    }

    /// Runs a read on the files, without the engine's lock; `None` when it must go through
    /// the engine instead: the datastore is closed (the engine path says so), or a write
    /// failed, which may have left the engine's memory ahead of its files. A block that fails
    /// its checks becomes `Corrupt`.
    fn read_files<T>(
        &self,
        what: impl Fn() -> String,
        f: impl FnOnce(&scan::Scanner, &IoState) -> std::result::Result<T, Status>,
    ) -> Option<Result<T>> {
        if self.closed.load(Ordering::SeqCst) || self.io.failure().is_some() {
            return None;
        }
        let result = match quiet::catch(|| f(&self.files, &self.io)) {
            Ok(result) => result,
            Err(panic) => Err(Status::new(
                StatusCode::Corruption,
                &format!("reading the files failed ({panic})"),
            )),
        };
        Some(result.map_err(|status| match status.code {
            StatusCode::Corruption => Error::Corrupt {
                what: what(),
                damage: status.err,
            },
            _ => Error::Read {
                key: what(),
                source: status.into(),
            },
        }))
    }

    /// Runs a read on the open engine. Damage the env saw during the read becomes `Corrupt`,
    /// as does an engine error or panic.
    fn read<T>(
        &self,
        what: impl Fn() -> String,
        f: impl FnOnce(&mut Engine) -> std::result::Result<T, Status>,
    ) -> Result<T> {
        let mut guard = self.engine.lock().unwrap_or_else(|e| e.into_inner());
        let engine = self.engine_in(&mut guard)?;
        let seen = engine.io.damage_count();
        let io = engine.io.clone();
        let result = run_engine(&io, || f(engine));
        // Whatever happened inside, the next write may write again.
        engine.io.set_in_read(false);
        if engine.io.damage_count() != seen {
            let damage = engine
                .io
                .last_damage()
                .map_or_else(String::new, |d| d.to_string());
            return Err(Error::Corrupt {
                what: what(),
                damage,
            });
        }
        result.map_err(|status| Error::Read {
            key: what(),
            source: status.into(),
        })
    }
}

/// Runs engine code: a panic is caught (and kept off the terminal) and becomes an error naming
/// the damage the env saw, if any; an engine error comes back as the engine's status.
fn run_engine<T>(
    io: &IoState,
    f: impl FnOnce() -> std::result::Result<T, Status>,
) -> std::result::Result<T, Status> {
    match quiet::catch(f) {
        Ok(result) => result,
        Err(panic) => {
            // The engine's state is unknown: nothing more may be written through it.
            let reason = format!(
                "the LevelDB engine failed ({panic}){}",
                io.last_damage()
                    .map_or_else(String::new, |d| format!("; damage seen: {d}"))
            );
            Err(io.fail(reason))
        }
    }
}

/// The bytes a batch adds to a journal record, roughly.
fn batch_bytes(batch: &Batch) -> usize {
    batch
        .ops()
        .iter()
        .map(|op| match op {
            Op::Put(k, v) => k.as_bytes().len() + v.len() + 8,
            Op::Delete(k) => k.as_bytes().len() + 8,
        })
        .sum()
}

/// Checks the directory, then opens the engine with goleveldb-compatible settings and our env.
fn open_engine(path: &Path, options: &LevelDbOptions) -> Result<Engine> {
    let preflight = check::preflight(path)?;
    let io = IoState::new(
        path,
        options.sync == SyncPolicy::Always,
        options.io_hook.clone(),
    );
    io.set_newest_journal(preflight.newest_journal);
    let opts = Options {
        env: Rc::new(Box::new(DurableEnv::new(io.clone()))),
        create_if_missing: options.create_if_missing,
        // Never append to a journal or MANIFEST from an earlier open: a journal is turned into
        // a table on open, so nothing new lands behind a torn record, and the MANIFEST's last
        // sequence stays below the journal goleveldb replays.
        reuse_logs: false,
        reuse_manifest: false,
        write_buffer_size: options.write_buffer_size,
        // Point reads and queries read the files through the scanner (`scan`), which keeps its
        // own block cache; the engine's serves only its compactions and the reads after a
        // failed write.
        block_cache_capacity_bytes: 1 << 20,
        compressor: if options.snappy {
            compressor::SnappyCompressor::ID
        } else {
            compressor::NoneCompressor::ID
        },
        ..Options::default()
    };
    let opened = quiet::catch(|| DB::open(path, opts));
    if let Some(damage) = io.last_damage() {
        return Err(Error::Damaged {
            path: path.to_path_buf(),
            problem: damage.to_string(),
        });
    }
    match opened {
        Ok(Ok(db)) => Ok(Engine {
            db,
            io,
            snapshots: 0,
        }),
        Ok(Err(status)) if status.code == StatusCode::LockError => Err(Error::Locked {
            path: path.to_path_buf(),
        }),
        Ok(Err(status)) => Err(Error::Open {
            path: path.to_path_buf(),
            source: status.into(),
        }),
        Err(panic) => Err(Error::Damaged {
            path: path.to_path_buf(),
            problem: format!("the LevelDB engine failed while opening it ({panic})"),
        }),
    }
}

/// Reads `key` through the engine's iterator (after a failed write, and as a reference in
/// tests). Never through `DB::get`: rusty-leveldb 4.0.2's `Version::get` stops at the first
/// entry at or after the key in each table, and when that entry is a deletion it answers "not
/// found" without checking that the deletion is of the same key, so a newer table holding a
/// deletion of a neighbouring key hides a key stored in an older one. The env refuses writes
/// during the read (without counting it as a failure), so that no compaction the read may start
/// records the sequence in the MANIFEST while the journal still holds those batches.
fn engine_get(engine: &mut Engine, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, Status> {
    let snapshot = engine.for_snapshot().get_snapshot();
    engine.io.set_in_read(true);
    let found = engine.db.new_iter_at(snapshot).map(|mut iter| {
        iter.seek(key);
        iter.current()
            .filter(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.to_vec())
    });
    engine.io.set_in_read(false);
    found
}

/// Reads `key` under the engine's lock: from the files, or through the engine after a failed
/// write, which may have left the engine's memory ahead of its files.
fn point_read(
    files: &scan::Scanner,
    engine: &mut Engine,
    key: &Key,
) -> std::result::Result<Option<Vec<u8>>, Status> {
    if engine.io.failure().is_some() {
        return engine_get(engine, key.as_bytes());
    }
    let io = engine.io.clone();
    files.get(&io, key.as_bytes())
}

/// A query through rusty-leveldb's own iterator: after a failed write, and as the reference
/// the file scanner is tested against ([`LevelDbDatastore::query_through_engine`]).
fn engine_query(engine: &mut Engine, query: &Query) -> std::result::Result<Vec<Entry>, Status> {
    let prefix = query.prefix.query_prefix().into_bytes();
    let snapshot = engine.for_snapshot().get_snapshot();
    let mut iter = engine.db.new_iter_at(snapshot)?;
    iter.seek(&query.seek_key());
    let mut out = Vec::new();
    let limit = query.limit.unwrap_or(usize::MAX);
    while let Some((k, v)) = iter.current() {
        if !k.starts_with(&prefix) || out.len() >= limit {
            break;
        }
        if query.past_start(&k) {
            out.push(Entry {
                key: k.to_vec(),
                value: if query.keys_only {
                    Vec::new()
                } else {
                    v.to_vec()
                },
            });
        }
        if !iter.advance() {
            break;
        }
    }
    Ok(out)
}

impl Datastore for LevelDbDatastore {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.read_files(
            || format!("key {key}"),
            |files, io| files.get(io, key.as_bytes()),
        )
        .unwrap_or_else(|| self.get_through_engine(key))
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>> {
        self.read_files(
            || format!("the keys below {}", query.prefix),
            |files, io| files.query(io, query),
        )
        .unwrap_or_else(|| self.query_through_engine(query))
    }

    fn write(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let deferred = DEFERRED.with(|d| d.borrow().0 > 0);
        if deferred || !batch.expected().is_empty() {
            // Conditions are read under the engine lock, then the batch is written alone (a
            // deferred-sync write too: it must not lead a group whose others need a sync).
            let n = batch.len() as u64;
            let io = {
                let mut guard = self.engine.lock().unwrap_or_else(|e| e.into_inner());
                let engine = self.engine_in(&mut guard)?;
                batch.check_expected(|k| {
                    let io = engine.io.clone();
                    run_engine(&io, || point_read(&self.files, engine, k)).map_err(|status| {
                        Error::Read {
                            key: k.to_string(),
                            source: status.into(),
                        }
                    })
                })?;
                self.write_group(engine, &[&batch])?
            };
            if deferred {
                DEFERRED.with(|d| d.borrow_mut().1.push(io));
            } else {
                self.sync_journal(&io, &batch)?;
            }
            return self.count_writes(n);
        }
        let slot = Arc::new(WriteSlot {
            batch,
            outcome: Mutex::new(None),
        });
        let mut queue = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        queue.push_back(slot.clone());
        let want = self.gather_for.load(Ordering::SeqCst);
        if want > 0 && queue.len() >= want {
            self.arrived.notify_one();
        }
        loop {
            if let Some(done) = slot
                .outcome
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                // The writer ahead of us wrote ours with its own.
                return done;
            }
            if queue.front().is_some_and(|w| Arc::ptr_eq(w, &slot)) {
                break;
            }
            queue = self.written.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        // First in line: write ours and those queued behind it, up to the group limit, while
        // later arrivals queue up for the next group. A synced group first gathers as many
        // writers as the last one held, for a bounded time.
        let want = self.last_group.load(Ordering::SeqCst);
        if self.options.sync == SyncPolicy::Always && queue.len() < want {
            let deadline = std::time::Instant::now() + self.options.group_gather;
            self.gather_for.store(want, Ordering::SeqCst);
            while queue.len() < want {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                queue = self
                    .arrived
                    .wait_timeout(queue, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            self.gather_for.store(0, Ordering::SeqCst);
        }
        let mut bytes = 0;
        let group: Vec<Arc<WriteSlot>> = queue
            .iter()
            .take_while(|w| {
                let first = bytes == 0;
                bytes += batch_bytes(&w.batch);
                first || bytes <= GROUP_BYTES
            })
            .cloned()
            .collect();
        drop(queue);
        self.last_group.store(group.len(), Ordering::SeqCst);
        let batches: Vec<&Batch> = group.iter().map(|w| &w.batch).collect();
        let n: u64 = batches.iter().map(|b| b.len() as u64).sum();
        let written = {
            let mut guard = self.engine.lock().unwrap_or_else(|e| e.into_inner());
            match self.engine_in(&mut guard) {
                Ok(engine) => self.write_group(engine, &batches),
                Err(e) => Err(e),
            }
        };
        // The group is in the journal; its sync runs outside the engine's lock (readers do not
        // wait for it), while the writers that arrive meanwhile queue up for the next group.
        let written = written.and_then(|w| self.sync_journal(&w, batches[0]));
        let mut queue = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        queue.drain(..group.len());
        for w in &group {
            if !Arc::ptr_eq(w, &slot) {
                let outcome = match &written {
                    Ok(()) => Ok(()),
                    Err(e) => Err(self.group_error(e, &w.batch)),
                };
                *w.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            }
        }
        self.written.notify_all();
        drop(queue);
        written?;
        self.count_writes(n)
    }

    fn begin_deferred_sync(&self) {
        DEFERRED.with(|d| d.borrow_mut().0 += 1);
    }

    fn end_deferred_sync(&self) -> Result<()> {
        let pending = DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            d.0 = d.0.saturating_sub(1);
            if d.0 == 0 {
                std::mem::take(&mut d.1)
            } else {
                Vec::new()
            }
        });
        // The last write's ticket covers every earlier one of the same open; a scope that saw
        // a reopen (a compaction) syncs each open's journal.
        let mut last: Vec<&Written> = Vec::new();
        for w in &pending {
            match last.iter_mut().find(|l| Arc::ptr_eq(&l.io, &w.io)) {
                Some(l) if l.ticket < w.ticket => *l = w,
                Some(_) => {}
                None => last.push(w),
            }
        }
        for w in last {
            w.io.sync_journal_now(w.ticket)
                .map_err(|status| Error::Write {
                    what: "the writes of a deferred-sync scope".to_owned(),
                    source: status.into(),
                })?;
        }
        Ok(())
    }

    /// Catches the compaction collector up (`Engine::collector`) in slices that each hold
    /// the engine for a few milliseconds; true when there was something to catch up.
    fn maintain(&self) -> Result<bool> {
        let mut behind = false;
        loop {
            let mut guard = self.engine.lock().unwrap_or_else(|e| e.into_inner());
            let engine = self.engine_in(&mut guard)?;
            if !engine.collector_behind() {
                return Ok(behind);
            }
            behind = true;
            drop(engine.collector(BURN_PER_CALL));
        }
    }

    fn close(&self) -> Result<()> {
        let mut guard = self.engine.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::SeqCst);
        let Some(mut engine) = guard.take() else {
            // A lost engine is reported once, by the call that lost it.
            self.lost_engine
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            return Ok(());
        };
        let failure = engine.io.failure();
        let closed = run_engine(&engine.io, || engine.db.close());
        match (failure, closed) {
            (Some(failed), _) => Err(self.failed(failed)),
            (None, Ok(())) => Ok(()),
            (None, Err(status)) => Err(Error::Write {
                what: format!("closing {}", self.path.display()),
                source: status.into(),
            }),
        }
    }
}

impl Drop for LevelDbDatastore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            let path = self.path.display();
            tracing::warn!(%path, error = %e, "closing the LevelDB datastore");
        }
    }
}
