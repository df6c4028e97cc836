//! The engine: one open LevelDB database. Opening recovers it (the MANIFEST's tables, then the
//! journals not yet in tables, replayed into level-0 tables) and starts a fresh journal and a
//! fresh MANIFEST; writes go through group commit into the journal and the memtable; a full
//! memtable is flushed to a level-0 table, and levels are compacted, on background threads of
//! their own, never inside a caller's write. Twin of C++ LevelDB's `db/db_impl.cc` and
//! goleveldb's `leveldb/db.go`, `db_write.go`, `db_compaction.go`.
//!
//! Locks, always taken in this order: `journal` (the write path: one group at a time) before
//! `sync` and `state`; `manifest` (one version edit at a time) before `state`. Readers take
//! only `state`, for as long as it takes to clone three `Arc`s.
//!
//! The MANIFEST's last sequence is only ever the last sequence of a flushed memtable, never
//! one of a write still only in the journal: goleveldb reads it as "everything up to here is in
//! tables" and refuses (or, at its default strictness, silently skips) any journal batch below
//! it. C++ LevelDB writes the current sequence into every edit, which can leave that shape.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::batch;
use super::check::{self, DirState};
use super::compaction::{self, Compaction, Context};
use super::dbformat::{self, KIND_VALUE, MAX_SEQUENCE, user_key};
use super::env::{DirLock, Env, FileKind, IoHook, SyncHandle, WritableFile};
use super::error::{DbError, DbResult};
use super::iter::{InternalIter, MergingIter};
use super::logfile::{self, LogWriter};
use super::manifest::{Manifest, VersionEdit};
use super::memtable::{Lookup, Memtable};
use super::table_cache::{LevelIter, TableCache, table_path};
use super::version::{NUM_LEVELS, Version};
use crate::datastore::{Batch, Entry, Error, Op, Query, Result};

/// Level-0 tables at which each write is delayed by 1 ms, once (LevelDB's
/// `kL0_SlowdownWritesTrigger`).
pub const L0_SLOWDOWN_TRIGGER: usize = 8;
/// Level-0 tables at which writes wait for a compaction (LevelDB's `kL0_StopWritesTrigger`).
pub const L0_STOP_TRIGGER: usize = 12;
/// A write group's journal record stays near LevelDB's 1 MiB limit for a merged write.
const GROUP_BYTES: usize = 1 << 20;
/// Tables kept open (each holds a file descriptor, its index and filter).
const MAX_OPEN_TABLES: usize = 500;
/// Data blocks in the block cache: about 8 MiB of 4 KiB blocks, goleveldb's default.
const CACHED_BLOCKS: usize = 2048;

/// How the engine is opened.
#[derive(Clone)]
pub struct DbOptions {
    /// Create the directory (owner-only) and the database if missing.
    pub create_if_missing: bool,
    /// Sync the journal before a write is acknowledged (else: hand it to the OS).
    pub sync: bool,
    /// Snappy-compress table blocks.
    pub compress: bool,
    /// Memtable size at which it is flushed to a table.
    pub write_buffer_size: usize,
    /// How long the first synced writer of a group waits for others to join it.
    pub group_gather: Duration,
    /// Sees (and may fail) every write-side file operation.
    pub io_hook: Option<Arc<dyn IoHook>>,
}

/// Counters of the background work, for tests and `pstore stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Memtables flushed to level-0 tables.
    pub flushes: u64,
    /// Compactions run (trivial moves included).
    pub compactions: u64,
    /// Writes delayed because level 0 held too many tables.
    pub slowdowns: u64,
    /// Writes that waited for a flush or a compaction, and for how long in all.
    pub stalls: u64,
    /// Microseconds writes waited in all.
    pub stall_micros: u64,
    /// Tables and bytes on each level.
    pub levels: Vec<(usize, u64)>,
}

/// What a scan reads: from `start`, the keys beginning with `prefix` that sort after `after`,
/// at most `limit` of them.
struct Scan<'a> {
    start: Vec<u8>,
    prefix: Vec<u8>,
    after: Option<&'a [u8]>,
    limit: usize,
    keys_only: bool,
}

/// A consistent view: the memtables and the version a read uses, at a sequence number.
struct View {
    mem: Arc<Memtable>,
    imm: Option<Arc<Memtable>>,
    version: Arc<Version>,
    seq: u64,
}

/// A manual compaction being worked through, level by level, step by step.
struct Manual {
    level: usize,
    begin: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
    done: bool,
    error: Option<DbError>,
}

/// What the `state` lock guards.
struct State {
    mem: Arc<Memtable>,
    /// The memtable being flushed, and the journal that started when it stopped taking
    /// writes (the MANIFEST's log number once it is in a table).
    imm: Option<(Arc<Memtable>, u64)>,
    current: Arc<Version>,
    /// Every version handed out that may still be pinned: a table is deleted only when none
    /// of them names it.
    live: Vec<Weak<Version>>,
    /// Tables no longer in the current version, not yet deleted.
    obsolete: Vec<u64>,
    /// Journals whose writes are in tables once the MANIFEST's log number passes them.
    old_journals: Vec<u64>,
    next_file: u64,
    compact_pointers: Vec<Option<Vec<u8>>>,
    /// Live snapshots: sequence number and how many hold it.
    snapshots: BTreeMap<u64, usize>,
    manual: Option<Manual>,
    stats: DbStats,
}

impl State {
    fn new_file_number(&mut self) -> u64 {
        let n = self.next_file;
        self.next_file += 1;
        n
    }

    /// The obsolete tables that no live version names any more (taken out of the list).
    fn deletable(&mut self) -> Vec<u64> {
        self.live.retain(|w| w.strong_count() > 0);
        let pinned: Vec<Arc<Version>> = self.live.iter().filter_map(Weak::upgrade).collect();
        let (gone, kept): (Vec<u64>, Vec<u64>) = self
            .obsolete
            .drain(..)
            .partition(|n| !pinned.iter().any(|v| v.contains(*n)));
        self.obsolete = kept;
        gone
    }
}

/// The journal being written: its number, the file, and where its block layout stands.
struct Journal {
    number: u64,
    file: WritableFile,
    log: LogWriter,
    /// Reused buffers: the batch being encoded, and its physical records.
    record: Vec<u8>,
    out: Vec<u8>,
}

/// What the journal syncs have covered.
struct SyncState {
    /// The current journal, for syncing outside the `journal` lock.
    handle: Option<SyncHandle>,
    name_synced: bool,
    /// Every write with a ticket up to this one is durable.
    synced: u64,
}

/// The MANIFEST being appended to.
struct ManifestLog {
    file: WritableFile,
    log: LogWriter,
}

impl ManifestLog {
    fn append(&mut self, edit: &[u8]) -> DbResult<()> {
        let mut out = Vec::with_capacity(edit.len() + 64);
        self.log.append(edit, &mut out);
        self.file.append(&out)?;
        self.file.sync()
    }
}

/// One write waiting in the group-commit queue: its batch, then its outcome.
struct Slot {
    batch: Batch,
    /// This writer asked for a sync: the group that carries it syncs, whoever leads it.
    sync: bool,
    outcome: Mutex<Option<DbResult<u64>>>,
}

/// Everything the threads of one open database share.
struct Shared {
    env: Arc<Env>,
    options: DbOptions,
    tables: Arc<TableCache>,
    state: Mutex<State>,
    /// Wakes the background threads.
    work: Condvar,
    /// Signalled when background work finishes (or fails): stalled writers, manual
    /// compactions and flush waits wait on it.
    progress: Condvar,
    /// The last sequence number readers may see.
    visible: AtomicU64,
    /// The last sequence number handed out (changed only under `journal`).
    last_seq: AtomicU64,
    closing: AtomicBool,
    journal: Mutex<Option<Journal>>,
    sync: Mutex<SyncState>,
    /// Writes appended to a journal so far: each a ticket for [`Shared::sync_upto`].
    tickets: AtomicU64,
    manifest: Mutex<Option<ManifestLog>>,
    /// The group-commit queue (see [`Db::write`]).
    queue: Mutex<VecDeque<Arc<Slot>>>,
    written: Condvar,
    /// Writers waiting on `written`, counted under the queue's lock: a group with none behind
    /// it skips the wake-up (a futex call each write otherwise).
    waiting_written: AtomicUsize,
    arrived: Condvar,
    last_group: AtomicUsize,
    gather_for: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One open database.
pub struct Db {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The `LOCK` file, held (flock and fcntl) while open.
    dir_lock: Mutex<Option<DirLock>>,
    path: PathBuf,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

/// A snapshot: reads through it see the database as it was when it was taken, and
/// compactions keep every version it sees until it is dropped.
pub struct Snapshot {
    seq: u64,
    shared: Weak<Shared>,
}

impl Snapshot {
    /// The sequence number it sees up to.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let mut st = lock(&shared.state);
            if let Some(n) = st.snapshots.get_mut(&self.seq) {
                *n -= 1;
                if *n == 0 {
                    st.snapshots.remove(&self.seq);
                }
            }
        }
    }
}

fn damaged(path: &Path, problem: impl Into<String>) -> Error {
    Error::Damaged {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn open_error(path: &Path, e: DbError) -> Error {
    match e {
        DbError::Locked => Error::Locked {
            path: path.to_path_buf(),
        },
        DbError::Corrupt(problem) => damaged(path, problem),
        other => Error::Open {
            path: path.to_path_buf(),
            source: other.into(),
        },
    }
}

impl Db {
    /// Opens (or, in a missing or empty directory, creates) the database in `path`.
    pub fn open(path: &Path, options: DbOptions) -> Result<Db> {
        match check::dir_state(path) {
            DirState::Missing | DirState::Empty if options.create_if_missing => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(path)
                    .map_err(|e| Error::Open {
                        path: path.to_path_buf(),
                        source: e.into(),
                    })?;
            }
            DirState::Missing => {
                return Err(Error::NotFound {
                    path: path.to_path_buf(),
                    reason: "no such directory".to_owned(),
                });
            }
            DirState::Empty => {
                return Err(Error::NotFound {
                    path: path.to_path_buf(),
                    reason: "the directory holds no LevelDB database".to_owned(),
                });
            }
            DirState::NotADirectory => {
                return Err(Error::NotFound {
                    path: path.to_path_buf(),
                    reason: "not a directory".to_owned(),
                });
            }
            DirState::Database => {}
        }
        let env = Env::new(path, options.io_hook.clone());
        let dir_lock = env.lock_dir().map_err(|e| open_error(path, e))?;
        if check::dir_state(path) == DirState::Empty {
            new_db(&env).map_err(|e| open_error(path, e))?;
        }
        let shared = recover(env, options)?;
        let shared = Arc::new(shared);
        let db = Db {
            threads: Mutex::new(Vec::new()),
            dir_lock: Mutex::new(Some(dir_lock)),
            path: path.to_path_buf(),
            shared,
        };
        db.start_threads()?;
        Ok(db)
    }

    fn start_threads(&self) -> Result<()> {
        let mut threads = lock(&self.threads);
        for (name, job) in [
            ("pstoreds-flush", Shared::flush_loop as fn(&Shared)),
            ("pstoreds-compact", Shared::compaction_loop as fn(&Shared)),
        ] {
            let shared = self.shared.clone();
            let handle = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || job(&shared))
                .map_err(|e| Error::Open {
                    path: self.path.clone(),
                    source: e.into(),
                })?;
            threads.push(handle);
        }
        // A recovered database may need a compaction at once.
        self.shared.work.notify_all();
        Ok(())
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The env every file operation goes through.
    pub fn env(&self) -> &Arc<Env> {
        &self.shared.env
    }

    /// The value of `key` now (or as `snapshot` sees it).
    pub fn get(&self, key: &[u8], snapshot: Option<&Snapshot>) -> DbResult<Option<Vec<u8>>> {
        let view = self.shared.view(snapshot);
        for mem in std::iter::once(&view.mem).chain(view.imm.as_ref()) {
            match mem.get(key, view.seq) {
                Some(Lookup::Value(v)) => return Ok(Some(v)),
                Some(Lookup::Deleted) => return Ok(None),
                None => {}
            }
        }
        match view.version.get(&self.shared.tables, key, view.seq)? {
            Some(Lookup::Value(v)) => Ok(Some(v)),
            _ => Ok(None),
        }
    }

    /// The entries a query selects, now (or as `snapshot` sees them), in key order.
    pub fn query(&self, query: &Query, snapshot: Option<&Snapshot>) -> DbResult<Vec<Entry>> {
        let scan = Scan {
            start: query.seek_key(),
            prefix: query.prefix.query_prefix().into_bytes(),
            after: query.after.as_deref(),
            limit: query.limit.unwrap_or(usize::MAX),
            keys_only: query.keys_only,
        };
        self.scan(&scan, snapshot)
    }

    /// Entries whatever their key bytes, not only go-datastore's `/` keys (a database another
    /// program wrote: py-libp2p's keys are `addr:<peer>`, ...): at most `limit` of those whose
    /// key sorts after `after` (from the first when `None`), in key order, with values.
    pub fn raw_entries(
        &self,
        after: Option<&[u8]>,
        limit: usize,
        snapshot: Option<&Snapshot>,
    ) -> DbResult<Vec<Entry>> {
        let scan = Scan {
            start: after.map(<[u8]>::to_vec).unwrap_or_default(),
            prefix: Vec::new(),
            after,
            limit,
            keys_only: false,
        };
        self.scan(&scan, snapshot)
    }

    fn scan(&self, scan: &Scan<'_>, snapshot: Option<&Snapshot>) -> DbResult<Vec<Entry>> {
        let view = self.shared.view(snapshot);
        let (start, prefix) = (&scan.start, &scan.prefix);
        let mut children: Vec<Box<dyn InternalIter + '_>> = vec![Box::new(view.mem.iter())];
        if let Some(imm) = &view.imm {
            children.push(Box::new(imm.iter()));
        }
        let in_range = |smallest: &[u8], largest: &[u8]| {
            let (small, large) = (user_key(smallest), user_key(largest));
            large >= start.as_slice() && (small <= prefix.as_slice() || small.starts_with(prefix))
        };
        for f in &view.version.levels[0] {
            if in_range(&f.smallest, &f.largest) {
                children.push(Box::new(self.shared.tables.iter(f.number, true)?));
            }
        }
        for files in &view.version.levels[1..] {
            let files: Vec<(u64, Vec<u8>)> = files
                .iter()
                .filter(|f| in_range(&f.smallest, &f.largest))
                .map(|f| (f.number, f.largest.clone()))
                .collect();
            if !files.is_empty() {
                children.push(Box::new(LevelIter::new(
                    self.shared.tables.clone(),
                    files,
                    true,
                )));
            }
        }
        let mut it = MergingIter::new(children);
        it.seek(&dbformat::seek_key(start, MAX_SEQUENCE))?;
        let mut out = Vec::new();
        let mut user = Vec::new();
        while it.valid() && out.len() < scan.limit {
            let key = it.key();
            if !user_key(key).starts_with(prefix) {
                break;
            }
            let Some((seq, is_value)) = dbformat::key_tag(key) else {
                it.next()?;
                continue;
            };
            if seq > view.seq {
                // Newer than the view: the next entry may be an older version of the key.
                it.next()?;
                continue;
            }
            user.clear();
            user.extend_from_slice(user_key(key));
            if is_value && scan.after.is_none_or(|a| user.as_slice() > a) {
                out.push(Entry {
                    key: user.clone(),
                    value: if scan.keys_only {
                        Vec::new()
                    } else {
                        it.value().to_vec()
                    },
                });
            }
            it.skip_user_key(&user)?;
        }
        Ok(out)
    }

    /// A snapshot of the database as it is now.
    pub fn snapshot(&self) -> Snapshot {
        let mut st = lock(&self.shared.state);
        let seq = self.shared.visible.load(Ordering::Acquire);
        *st.snapshots.entry(seq).or_default() += 1;
        Snapshot {
            seq,
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Writes a batch: atomically, in order, as one journal record shared with the writes
    /// queued at the same time (group commit). With `sync` the write returns only after a
    /// journal sync that covers it. Returns the write's ticket for [`Db::sync_upto`].
    pub fn write(&self, batch: Batch, sync: bool) -> DbResult<u64> {
        self.shared.write(batch, sync)
    }

    /// Writes a batch alone, under the write lock, after `check` passed (its reads see every
    /// write before this one, and no write comes between): a conditional write. Not synced:
    /// the inner result is the ticket to sync, or why the write failed; the outer one is
    /// `check`'s.
    pub fn write_if<E>(
        &self,
        batch: &Batch,
        check: impl FnOnce() -> std::result::Result<(), E>,
    ) -> std::result::Result<DbResult<u64>, E> {
        let mut journal = lock(&self.shared.journal);
        check()?;
        Ok(self.shared.write_locked(&mut journal, &[batch]))
    }

    /// Makes every write up to `ticket` durable (one journal sync, unless a sync already
    /// covered it).
    pub fn sync_upto(&self, ticket: u64) -> DbResult<()> {
        self.shared.sync_upto(ticket)
    }

    /// Flushes the memtable to a level-0 table and waits until it is there.
    pub fn flush(&self) -> DbResult<()> {
        let shared = &self.shared;
        {
            let mut journal = lock(&shared.journal);
            let j = journal.as_mut().ok_or(DbError::Closed)?;
            shared.make_room(j, true)?;
        }
        let mut st = lock(&shared.state);
        while st.imm.is_some() {
            shared.env.check()?;
            st = shared.progress.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        shared.env.check()
    }

    /// Compacts the user keys `[begin, end]` (`None`: unbounded) down to the deepest level
    /// that holds any of them, dropping overwritten versions and deletions no snapshot needs.
    /// It runs as a series of bounded compactions on the background thread, beside readers
    /// and writers; this call waits for the last.
    pub fn compact_range(&self, begin: Option<&[u8]>, end: Option<&[u8]>) -> DbResult<()> {
        self.flush()?;
        let shared = &self.shared;
        let deepest = {
            let st = lock(&shared.state);
            (1..NUM_LEVELS)
                .filter(|&l| !st.current.overlapping(l, begin, end).is_empty())
                .max()
                .unwrap_or(1)
        };
        for level in 0..deepest {
            let mut st = lock(&shared.state);
            while st.manual.is_some() {
                st = shared.progress.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.manual = Some(Manual {
                level,
                begin: begin.map(<[u8]>::to_vec),
                end: end.map(<[u8]>::to_vec),
                done: false,
                error: None,
            });
            shared.work.notify_all();
            while !st.manual.as_ref().is_some_and(|m| m.done) {
                if shared.closing.load(Ordering::SeqCst) {
                    st.manual = None;
                    return Err(DbError::Closed);
                }
                st = shared.progress.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if let Some(e) = st.manual.take().and_then(|m| m.error) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Counters of the background work, and the tables on each level.
    pub fn stats(&self) -> DbStats {
        let st = lock(&self.shared.state);
        let mut stats = st.stats.clone();
        stats.levels = (0..NUM_LEVELS)
            .map(|l| (st.current.levels[l].len(), st.current.level_bytes(l)))
            .collect();
        stats
    }

    /// What opening had to drop (a torn journal tail), one message each.
    pub fn warnings(&self) -> Vec<String> {
        self.shared.env.warnings()
    }

    /// Stops the background threads (a compaction running stops where it is and leaves
    /// nothing behind), syncs the journal and releases the lock. Later calls fail with
    /// [`DbError::Closed`]; closing twice is fine.
    pub fn close(&self) -> DbResult<()> {
        let shared = &self.shared;
        {
            let _st = lock(&shared.state);
            shared.closing.store(true, Ordering::SeqCst);
            shared.work.notify_all();
            shared.progress.notify_all();
        }
        for t in lock(&self.threads).drain(..) {
            if t.join().is_err() {
                shared.env.fail("a background thread failed".to_owned());
            }
        }
        let journal = lock(&shared.journal).take();
        let mut result = Ok(());
        if let Some(j) = journal
            && shared.env.failure().is_none()
        {
            // Under SyncPolicy::Never too: a clean close leaves nothing unsynced.
            result = j.file.sync();
        }
        shared.delete_obsolete_tables();
        lock(&self.dir_lock).take();
        result?;
        match shared.env.failure() {
            Some(f) => Err(DbError::Failed(f)),
            None => Ok(()),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(path = %self.path.display(), error = %e, "closing the LevelDB database");
        }
    }
}

/// Writes the files of an empty database, as C++ LevelDB's `NewDB`: a first MANIFEST (no
/// tables, journal 0) and `CURRENT` naming it. The open that follows starts the first
/// journal and a fresh MANIFEST. A crash before `CURRENT` leaves a directory that is still
/// taken for empty.
fn new_db(env: &Arc<Env>) -> DbResult<()> {
    let edit = VersionEdit {
        comparator: Some("leveldb.BytewiseComparator".to_owned()),
        log_number: Some(0),
        next_file_number: Some(2),
        last_sequence: Some(0),
        ..VersionEdit::default()
    };
    let mut log = ManifestLog {
        file: env.create(&env.file("MANIFEST-000001"))?,
        log: LogWriter::new(0),
    };
    log.append(&edit.encode())?;
    set_current(env, 1)
}

/// Points `CURRENT` at MANIFEST `number`: a temporary file, synced, renamed over `CURRENT`,
/// and the directory synced so that the new name is what a power cut leaves.
fn set_current(env: &Arc<Env>, number: u64) -> DbResult<()> {
    let temp = env.file(&format!("{number:06}.dbtmp"));
    let mut file = env.create(&temp)?;
    file.append(format!("MANIFEST-{number:06}\n").as_bytes())?;
    file.sync()?;
    drop(file);
    env.rename(&temp, &env.file("CURRENT"))?;
    env.sync_dir()
}

/// The journals of a directory, by number.
fn journals(dir: &Path) -> DbResult<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|e| DbError::Io(format!("listing {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if let FileKind::Journal(n) = FileKind::of(&p) {
            out.push((n, p));
        }
    }
    out.sort();
    Ok(out)
}

/// Recovers the database: the MANIFEST's state, then the journals it says hold writes not yet
/// in tables, replayed into level-0 tables; then a fresh journal and a fresh MANIFEST (never
/// appended to across opens, so nothing new lands behind a torn record), and the files no
/// longer needed deleted. The common case, one whole journal whose writes fit in one
/// memtable, writes no table here: the replayed memtable becomes the one waiting for the
/// flush thread, and its journal stays live until its table is recorded (see [`Deferred`]).
fn recover(env: Arc<Env>, options: DbOptions) -> Result<Shared> {
    let dir = env.dir().to_path_buf();
    let preflight = check::preflight(&dir)?;
    let manifest_path = check::current_manifest(&dir).map_err(|p| damaged(&dir, p))?;
    let (manifest, _) = check::read_manifest(&manifest_path).map_err(|p| damaged(&dir, p))?;
    let tables = Arc::new(TableCache::new(env.clone(), MAX_OPEN_TABLES, CACHED_BLOCKS));
    let version = Version::from_manifest(&manifest);
    let mut next_file = manifest.next_file_number.unwrap_or(2);
    let mut last_seq = manifest.last_sequence.unwrap_or(0);
    let replayed: Vec<(u64, PathBuf)> = journals(&dir)
        .map_err(|e| open_error(&dir, e))?
        .into_iter()
        .filter(|(n, _)| manifest.replays_journal(*n))
        .collect();
    for (n, _) in &replayed {
        next_file = next_file.max(n + 1);
    }
    for t in manifest.tables.keys() {
        next_file = next_file.max(t + 1);
    }
    let next = AtomicU64::new(next_file);
    let new_file_number = || next.fetch_add(1, Ordering::SeqCst);
    let mut edit = VersionEdit::default();
    let mut mem = Memtable::new();
    let flush = |mem: &Memtable, edit: &mut VersionEdit| -> Result<()> {
        if !mem.is_empty() {
            let number = new_file_number();
            let f = compaction::write_level0(&env, options.compress, number, &mut mem.iter())
                .map_err(|e| open_error(&dir, e))?;
            f.add_to(edit, 0);
        }
        Ok(())
    };
    let mut torn = false;
    let mut first_seq = None;
    for (number, path) in &replayed {
        let bytes = env.read(path).map_err(|e| open_error(&dir, e))?;
        let scan = logfile::scan(&bytes);
        let mut good = bytes.len() as u64;
        if !scan.is_clean() {
            torn = true;
            let first = &scan.bad[0];
            if scan.is_torn_tail() && *number >= preflight.newest_journal {
                env.warn(format!(
                    "{}: dropped a torn tail of {} bytes at offset {} ({}); the last write \
                        before a crash",
                    path.display(),
                    scan.file_len - scan.good_len,
                    scan.good_len,
                    first.reason
                ));
                good = scan.good_len;
            } else {
                let (damage, where_) = match scan.first_damage_in_middle() {
                    Some(d) => (d, "with readable records after it"),
                    None => (first, "at the end of a journal that must be whole"),
                };
                env.damage(path, damage.offset, damage.reason);
                return Err(damaged(
                    &dir,
                    format!(
                        "{} is damaged at offset {} ({}, {} bytes), {where_}",
                        path.display(),
                        damage.offset,
                        damage.reason,
                        damage.len
                    ),
                ));
            }
        }
        for record in scan.records.iter().filter(|r| r.offset < good) {
            let (seq, ops) = batch::decode_raw(&record.data).map_err(|reason| {
                damaged(
                    &dir,
                    format!(
                        "{}: the batch at offset {} cannot be read ({reason})",
                        path.display(),
                        record.offset
                    ),
                )
            })?;
            for (i, (kind, key, value)) in ops.iter().enumerate() {
                mem.insert(key, seq + i as u64, *kind, value);
            }
            if !ops.is_empty() {
                last_seq = last_seq.max(seq + ops.len() as u64 - 1);
                first_seq.get_or_insert(seq);
            }
            if mem.approximate_size() >= options.write_buffer_size {
                flush(&mem, &mut edit)?;
                mem = Memtable::new();
            }
        }
    }
    // A replayed batch (`first_seq`) with no table written since means a memtable holding it.
    let deferred = Deferred::applies(&manifest, &replayed, torn, edit.added.is_empty(), first_seq);
    match deferred {
        // The kept journal is the only copy of its writes until the flush: durable first.
        Some(_) => env
            .sync_existing(&replayed[0].1)
            .map_err(|e| open_error(&dir, e))?,
        None => flush(&mem, &mut edit)?,
    }
    let version = version.apply(&edit);
    // A fresh journal, then a fresh MANIFEST naming it (a MANIFEST never names a journal
    // that does not exist yet).
    let journal_number = new_file_number();
    let manifest_number = new_file_number();
    let journal_file = env
        .create(&env.file(&format!("{journal_number:06}.log")))
        .map_err(|e| open_error(&dir, e))?;
    let next_file = next.load(Ordering::SeqCst);
    // Deferred, the MANIFEST still says what its tables hold: the kept journal replays first,
    // and its sequence stays below the MANIFEST's (the invariant goleveldb checks).
    let mut snapshot = Manifest {
        comparator: Some("leveldb.BytewiseComparator".to_owned()),
        log_number: Some(deferred.map_or(journal_number, |d| d.journal)),
        prev_log_number: None,
        next_file_number: Some(next_file),
        last_sequence: Some(deferred.map_or(last_seq, |d| d.tables_seq)),
        tables: BTreeMap::new(),
        compact_pointers: manifest.compact_pointers.clone(),
    };
    for (level, f) in version.tables() {
        snapshot.tables.insert(f.number, f.to_table_file(level));
    }
    let manifest_log = (|| {
        let mut log = ManifestLog {
            file: env.create(&env.file(&format!("MANIFEST-{manifest_number:06}")))?,
            log: LogWriter::new(0),
        };
        log.append(&snapshot.encode_snapshot())?;
        set_current(&env, manifest_number)?;
        Ok(log)
    })()
    .map_err(|e| open_error(&dir, e))?;
    let first_live_journal = deferred.map_or(journal_number, |d| d.journal);
    delete_obsolete(&env, &version, first_live_journal, manifest_number);
    let mut compact_pointers = vec![None; NUM_LEVELS];
    for (level, key) in &manifest.compact_pointers {
        if let Some(p) = compact_pointers.get_mut(*level as usize) {
            *p = Some(key.clone());
        }
    }
    let sync_handle = journal_file
        .sync_handle()
        .map_err(|e| open_error(&dir, e))?;
    let current = Arc::new(version);
    Ok(Shared {
        tables,
        options,
        state: Mutex::new(State {
            mem: Arc::new(Memtable::new()),
            imm: deferred.map(|_| (Arc::new(mem), journal_number)),
            live: vec![Arc::downgrade(&current)],
            current,
            obsolete: Vec::new(),
            old_journals: deferred.map(|d| d.journal).into_iter().collect(),
            next_file,
            compact_pointers,
            snapshots: BTreeMap::new(),
            manual: None,
            stats: DbStats::default(),
        }),
        work: Condvar::new(),
        progress: Condvar::new(),
        visible: AtomicU64::new(last_seq),
        last_seq: AtomicU64::new(last_seq),
        closing: AtomicBool::new(false),
        journal: Mutex::new(Some(Journal {
            number: journal_number,
            file: journal_file,
            log: LogWriter::new(0),
            record: Vec::new(),
            out: Vec::new(),
        })),
        sync: Mutex::new(SyncState {
            handle: Some(sync_handle),
            name_synced: false,
            synced: 0,
        }),
        tickets: AtomicU64::new(0),
        manifest: Mutex::new(Some(manifest_log)),
        queue: Mutex::new(VecDeque::new()),
        written: Condvar::new(),
        waiting_written: AtomicUsize::new(0),
        arrived: Condvar::new(),
        last_group: AtomicUsize::new(1),
        gather_for: AtomicUsize::new(0),
        env,
    })
}

/// An open that leaves the replayed journal's table to the flush thread. It applies when one
/// journal was replayed, whole, at or after the MANIFEST's log number, into one memtable, and
/// the MANIFEST's last sequence is below the journal's first (so the MANIFEST can keep saying
/// what only its tables hold). Until the flush records the table, a reopen by anyone
/// (goleveldb, C++ LevelDB, us) replays that journal and then the new one.
#[derive(Clone, Copy, Debug)]
struct Deferred {
    /// The replayed journal, kept live.
    journal: u64,
    /// The MANIFEST's last sequence, kept.
    tables_seq: u64,
}

impl Deferred {
    fn applies(
        manifest: &Manifest,
        replayed: &[(u64, PathBuf)],
        torn: bool,
        no_tables_written: bool,
        first_seq: Option<u64>,
    ) -> Option<Deferred> {
        let [(journal, _)] = replayed else {
            return None;
        };
        let tables_seq = manifest.last_sequence.unwrap_or(0);
        let in_order = *journal >= manifest.log_number.unwrap_or(0);
        (!torn && no_tables_written && in_order && first_seq? > tables_seq).then_some(Deferred {
            journal: *journal,
            tables_seq,
        })
    }
}

/// Deletes what an open leaves behind: journals before the first live one (`journal`),
/// MANIFESTs but the current one, tables the version does not name (left by an interrupted
/// compaction or flush), temporary files.
fn delete_obsolete(env: &Env, version: &Version, journal: u64, manifest: u64) {
    let Ok(entries) = fs::read_dir(env.dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let obsolete = match FileKind::of(&p) {
            FileKind::Journal(n) => n < journal,
            FileKind::Manifest(n) => n != manifest,
            FileKind::Table(n) => !version.contains(n),
            FileKind::Temp => true,
            _ => false,
        };
        if obsolete {
            env.delete(&p);
        }
    }
}

impl Shared {
    /// The memtables and version reads use now, and the sequence number they see up to, taken
    /// together (a compaction installs its version under the same lock, after dropping only
    /// versions older than what readers could see then).
    fn view(&self, snapshot: Option<&Snapshot>) -> View {
        let st = lock(&self.state);
        View {
            mem: st.mem.clone(),
            imm: st.imm.as_ref().map(|(m, _)| m.clone()),
            version: st.current.clone(),
            seq: snapshot.map_or_else(|| self.visible.load(Ordering::Acquire), |s| s.seq),
        }
    }

    /// Group commit, as LevelDB's and goleveldb's writers do: writers queue; the first writes
    /// itself and those behind it (up to 1 MiB) as one journal record and, when synced, one
    /// sync; the others wait for their outcome. A synced group's first writer waits up to
    /// `group_gather` for as many writers as the last group held.
    fn write(&self, batch: Batch, sync: bool) -> DbResult<u64> {
        let slot = Arc::new(Slot {
            batch,
            sync,
            outcome: Mutex::new(None),
        });
        let mut queue = lock(&self.queue);
        queue.push_back(slot.clone());
        let want = self.gather_for.load(Ordering::SeqCst);
        if want > 0 && queue.len() >= want {
            self.arrived.notify_one();
        }
        loop {
            if let Some(done) = lock(&slot.outcome).take() {
                // A writer ahead of us wrote ours with its own.
                return done;
            }
            if queue.front().is_some_and(|w| Arc::ptr_eq(w, &slot)) {
                break;
            }
            self.waiting_written.fetch_add(1, Ordering::Relaxed);
            queue = self.written.wait(queue).unwrap_or_else(|e| e.into_inner());
            self.waiting_written.fetch_sub(1, Ordering::Relaxed);
        }
        let want = self.last_group.load(Ordering::SeqCst);
        if sync && queue.len() < want && !self.options.group_gather.is_zero() {
            let deadline = Instant::now() + self.options.group_gather;
            self.gather_for.store(want, Ordering::SeqCst);
            while queue.len() < want {
                let left = deadline.saturating_duration_since(Instant::now());
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
        let group: Vec<Arc<Slot>> = queue
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
        // One synced writer in the group makes the group's write synced.
        let sync = group.iter().any(|w| w.sync);
        let batches: Vec<&Batch> = group.iter().map(|w| &w.batch).collect();
        let written = {
            let mut journal = lock(&self.journal);
            self.write_locked(&mut journal, &batches)
        };
        // The group is in the journal and visible; its sync runs outside the journal's lock
        // (writes that do not queue, such as a flush's rotation, may go on meanwhile). The
        // next group starts once this one is acknowledged.
        let written = match (written, sync) {
            (Ok(ticket), true) => self.sync_upto(ticket).map(|()| ticket),
            (other, _) => other,
        };
        let mut queue = lock(&self.queue);
        queue.drain(..group.len());
        for w in &group {
            if !Arc::ptr_eq(w, &slot) {
                *lock(&w.outcome) = Some(written.clone());
            }
        }
        // Under the queue's lock: a writer counted here is waiting or about to wait.
        if self.waiting_written.load(Ordering::Relaxed) > 0 {
            self.written.notify_all();
        }
        drop(queue);
        written
    }

    /// Appends batches to the journal as one record and inserts them into the memtable; call
    /// with the journal lock held. Returns the ticket of the write.
    fn write_locked(&self, journal: &mut Option<Journal>, batches: &[&Batch]) -> DbResult<u64> {
        let j = journal.as_mut().ok_or(DbError::Closed)?;
        let mem = self.make_room(j, false)?;
        let first = self.last_seq.load(Ordering::SeqCst) + 1;
        let count = batch::encode(
            &mut j.record,
            first,
            batches.iter().flat_map(|b| b.ops().iter()),
        ) as u64;
        j.out.clear();
        j.log.append(&j.record, &mut j.out);
        j.file.append(&j.out)?;
        let mut seq = first;
        for b in batches {
            for op in b.ops() {
                match op {
                    Op::Put(k, v) => mem.insert(k.as_bytes(), seq, KIND_VALUE, v),
                    Op::Delete(k) => mem.insert(k.as_bytes(), seq, dbformat::KIND_DELETION, &[]),
                }
                seq += 1;
            }
        }
        let last = first + count - 1;
        if count > 0 {
            self.last_seq.store(last, Ordering::SeqCst);
            self.visible.store(last, Ordering::Release);
        }
        Ok(self.tickets.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Makes sure the memtable has room (LevelDB's `MakeRoomForWrite`): with too many
    /// level-0 tables the write is delayed 1 ms once, or waits for a compaction; a full
    /// memtable (or `force`) becomes the one being flushed, once the last flush is done, and a
    /// new journal starts. Returns the memtable to insert into.
    fn make_room(&self, journal: &mut Journal, mut force: bool) -> DbResult<Arc<Memtable>> {
        let mut delayed = false;
        let mut st = lock(&self.state);
        loop {
            self.env.check()?;
            if self.closing.load(Ordering::SeqCst) {
                return Err(DbError::Closed);
            }
            let level0 = st.current.levels[0].len();
            if !delayed && level0 >= L0_SLOWDOWN_TRIGGER {
                st.stats.slowdowns += 1;
                drop(st);
                std::thread::sleep(Duration::from_millis(1));
                delayed = true;
                st = lock(&self.state);
                continue;
            }
            let full = st.mem.approximate_size() >= self.options.write_buffer_size;
            if !full && !force {
                return Ok(st.mem.clone());
            }
            if force && st.mem.is_empty() {
                return Ok(st.mem.clone());
            }
            if st.imm.is_some() || level0 >= L0_STOP_TRIGGER {
                let waited = Instant::now();
                st = self
                    .progress
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                st.stats.stalls += 1;
                st.stats.stall_micros += waited.elapsed().as_micros() as u64;
                continue;
            }
            let number = st.new_file_number();
            drop(st);
            self.switch_journal(journal, number)?;
            st = lock(&self.state);
            let full_mem = std::mem::replace(&mut st.mem, Arc::new(Memtable::new()));
            st.imm = Some((full_mem, number));
            self.work.notify_all();
            force = false;
        }
    }

    /// Starts journal `number`: the finished one is synced (under either policy, so that a
    /// power cut never keeps newer writes and loses older ones) and its name made durable.
    fn switch_journal(&self, journal: &mut Journal, number: u64) -> DbResult<()> {
        let file = self
            .env
            .create(&self.env.file(&format!("{number:06}.log")))?;
        let handle = file.sync_handle()?;
        let mut sync = lock(&self.sync);
        if let Some(old) = &sync.handle {
            old.sync()?;
            if !sync.name_synced {
                self.env.sync_dir()?;
            }
        }
        sync.synced = self.tickets.load(Ordering::SeqCst);
        sync.handle = Some(handle);
        sync.name_synced = false;
        drop(sync);
        lock(&self.state).old_journals.push(journal.number);
        *journal = Journal {
            number,
            file,
            log: LogWriter::new(0),
            record: std::mem::take(&mut journal.record),
            out: std::mem::take(&mut journal.out),
        };
        Ok(())
    }

    /// Makes every write up to `ticket` durable. A sync covers every write appended before
    /// it started, so writers whose ticket an earlier sync covered return at once, and those
    /// that wrote during a sync share the next one.
    fn sync_upto(&self, ticket: u64) -> DbResult<()> {
        let mut sync = lock(&self.sync);
        if sync.synced >= ticket {
            return Ok(());
        }
        self.env.check()?;
        // Every ticket handed out so far belongs to the journal `handle` syncs, or to an
        // earlier one, synced when this one started.
        let upto = self.tickets.load(Ordering::SeqCst);
        if let Some(h) = &sync.handle {
            h.sync()?;
            if !sync.name_synced {
                self.env.sync_dir()?;
                sync.name_synced = true;
            }
        }
        sync.synced = sync.synced.max(upto);
        Ok(())
    }

    /// Writes a version edit to the MANIFEST (synced) and installs the version it makes;
    /// `install` updates the rest of the state in the same step. Tables the new version no
    /// longer names are deleted once no pinned version names them.
    fn log_and_apply(
        &self,
        mut edit: VersionEdit,
        install: impl FnOnce(&mut State),
    ) -> DbResult<()> {
        let mut manifest = lock(&self.manifest);
        let log = manifest.as_mut().ok_or(DbError::Closed)?;
        let base = {
            let st = lock(&self.state);
            edit.next_file_number = Some(st.next_file);
            st.current.clone()
        };
        let version = Arc::new(base.apply(&edit));
        log.append(&edit.encode())?;
        {
            let mut st = lock(&self.state);
            st.live.push(Arc::downgrade(&version));
            st.current = version;
            for (level, key) in &edit.compact_pointers {
                if let Some(p) = st.compact_pointers.get_mut(*level as usize) {
                    *p = Some(key.clone());
                }
            }
            // A table moved down a level (deleted and added again) stays.
            let moved = |n: u64| edit.added.iter().any(|t| t.number == n);
            st.obsolete
                .extend(edit.deleted.iter().map(|(_, n)| *n).filter(|&n| !moved(n)));
            install(&mut st);
        }
        drop(manifest);
        self.delete_obsolete_tables();
        Ok(())
    }

    /// Deletes the tables no version names any more, once no reader (and no compaction)
    /// pins a version that does.
    fn delete_obsolete_tables(&self) {
        let deletable = lock(&self.state).deletable();
        for n in deletable {
            self.tables.evict(n);
            self.env.delete(&table_path(self.env.dir(), n));
        }
    }

    /// The flush thread: writes each memtable that filled up to a level-0 table.
    fn flush_loop(&self) {
        loop {
            let (imm, journal, number) = {
                let mut st = lock(&self.state);
                loop {
                    if self.closing.load(Ordering::SeqCst) {
                        return;
                    }
                    if self.env.failure().is_none()
                        && let Some((imm, journal)) = st.imm.clone()
                    {
                        break (imm, journal, st.new_file_number());
                    }
                    st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            let result = super::quiet::catch(|| self.flush(&imm, journal, number))
                .unwrap_or_else(|panic| Err(self.env.fail(format!("flushing failed: {panic}"))));
            if let Err(e) = result {
                self.env.fail(format!("flushing the memtable: {e}"));
            }
            let _st = lock(&self.state);
            self.progress.notify_all();
            self.work.notify_all();
        }
    }

    /// Writes `imm` to table `number` and records it, with the journal that followed it as
    /// the MANIFEST's log number and its last sequence as the MANIFEST's: everything up to
    /// there is in tables now. Then the journals before are deleted.
    fn flush(&self, imm: &Memtable, journal: u64, number: u64) -> DbResult<()> {
        let table =
            compaction::write_level0(&self.env, self.options.compress, number, &mut imm.iter())?;
        let last = imm.last_seq();
        let mut edit = VersionEdit {
            log_number: Some(journal),
            last_sequence: Some(last),
            ..VersionEdit::default()
        };
        table.add_to(&mut edit, 0);
        let mut old = Vec::new();
        self.log_and_apply(edit, |st| {
            st.imm = None;
            st.stats.flushes += 1;
            let (gone, kept) = st.old_journals.drain(..).partition(|&n| n < journal);
            st.old_journals = kept;
            old = gone;
        })?;
        for n in old {
            self.env.delete(&self.env.file(&format!("{n:06}.log")));
        }
        Ok(())
    }

    /// The compaction thread: runs the compaction the current version most needs, or the
    /// next step of a manual one, one at a time.
    fn compaction_loop(&self) {
        loop {
            let (job, smallest_snapshot) = {
                let mut st = lock(&self.state);
                let job = loop {
                    if self.closing.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Some(failed) = self.env.failure() {
                        if let Some(m) = st.manual.as_mut().filter(|m| !m.done) {
                            m.done = true;
                            m.error = Some(DbError::Failed(failed));
                            self.progress.notify_all();
                        }
                    } else if let Some(m) = st.manual.as_ref().filter(|m| !m.done) {
                        let step = compaction::pick_range(
                            &st.current,
                            m.level,
                            m.begin.as_deref(),
                            m.end.as_deref(),
                        );
                        match step {
                            Some(c) => break c,
                            None => {
                                if let Some(m) = st.manual.as_mut() {
                                    m.done = true;
                                }
                                self.progress.notify_all();
                                continue;
                            }
                        }
                    } else if let Some(c) = compaction::pick(&st.current, &st.compact_pointers) {
                        break c;
                    }
                    st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                };
                let smallest = st
                    .snapshots
                    .keys()
                    .next()
                    .copied()
                    .unwrap_or_else(|| self.visible.load(Ordering::Acquire));
                (job, smallest)
            };
            let result = super::quiet::catch(|| self.compact(&job, smallest_snapshot))
                .unwrap_or_else(|panic| Err(self.env.fail(format!("compaction failed: {panic}"))));
            let (level, manual, pointer) = (job.level, job.is_manual(), job.pointer());
            // The compaction pinned the version its inputs came from.
            drop(job);
            self.delete_obsolete_tables();
            let mut st = lock(&self.state);
            match result {
                Ok(()) => {
                    if let Some(m) = st.manual.as_mut().filter(|_| manual) {
                        // The next step starts after the largest key this one took.
                        m.begin = Some(user_key(&pointer).to_vec());
                    }
                }
                Err(DbError::Closed) => return,
                Err(e) => {
                    self.env.fail(format!("compacting level {level}: {e}"));
                }
            }
            self.progress.notify_all();
        }
    }

    /// Runs one compaction and installs its outcome.
    fn compact(&self, c: &Compaction, smallest_snapshot: u64) -> DbResult<()> {
        let outputs = if c.is_trivial_move() {
            vec![(*c.inputs[0][0]).clone()]
        } else {
            let new_file_number = || lock(&self.state).new_file_number();
            let ctx = Context {
                env: &self.env,
                tables: &self.tables,
                smallest_snapshot,
                compress: self.options.compress,
                new_file_number: &new_file_number,
                abort: &self.closing,
            };
            c.run(&ctx)?
        };
        self.log_and_apply(c.edit(&outputs), |st| st.stats.compactions += 1)
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
