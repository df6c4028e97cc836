//! The `Env` we hand rusty-leveldb: every file the engine creates, writes, reads, renames or
//! deletes goes through it. It restores what rusty-leveldb 4.0.2 leaves out, at the points
//! where C++ LevelDB does them:
//!
//! - **Syncs.** Under [`SyncPolicy::Always`](crate::datastore::SyncPolicy::Always) the journal
//!   is fdatasync'ed after every write ([`IoState::sync_journal_now`], called by the datastore
//!   once it has released the engine, before the write is acknowledged); table files and the
//!   MANIFEST on every flush (a finished table, an appended version edit); the temporary
//!   `CURRENT` before it is renamed; the directory after that rename and after the first sync
//!   of every new file, so new names survive a power cut. A finished journal (and its name) is
//!   synced when the next one is created, under either policy.
//! - **Whole writes.** A file's writes are held until its next flush and then handed to the OS
//!   in one call, so a killed process leaves whole records behind, not halves.
//! - **Sticky errors.** After any failed write, sync, rename or delete, every later one fails
//!   too (C++ LevelDB's `bg_error_`), so nothing is acknowledged on top of a state that may not
//!   be on disk. Reopening the database clears it.
//! - **Checked reads.** Journals and the MANIFEST are checked record by record before the
//!   engine replays them (its reader stops at a bad record without a word); a torn tail of the
//!   newest journal is cut off with a warning, anything else fails the open naming file and
//!   offset. Table footers are checked before the engine parses them (it panics on a bad one),
//!   and every block read is checked against its CRC: a failure is recorded, so the datastore
//!   can turn what the engine reports as "not found" into an error naming the key.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusty_leveldb::env::{Env as EngineEnv, FileLock, Logger, RandomAccess};
use rusty_leveldb::{PosixDiskEnv, Result as LdbResult, Status, StatusCode};

use super::error::{DbError, DbResult};
use super::manifest::Manifest;
use super::{logfile, table};

/// A file operation, as shown to an [`IoHook`] before it happens.
#[derive(Clone, Copy, Debug)]
pub enum IoOp<'a> {
    /// A file is created (or truncated) for writing.
    Create(&'a Path),
    /// `len` bytes are appended to a file (one call to the OS).
    Write(&'a Path, usize),
    /// A file's data is made durable (fdatasync).
    Sync(&'a Path),
    /// A directory is made durable (fsync), so the names in it survive a power cut.
    SyncDir(&'a Path),
    /// A file is renamed over another.
    Rename(&'a Path, &'a Path),
    /// A file is deleted.
    Delete(&'a Path),
}

/// Sees every write-side file operation of a LevelDB datastore before it runs, and may fail it.
/// For fault and error injection in tests, and for counting syncs.
pub trait IoHook: Send + Sync {
    /// Called before `op`; an error is returned to the engine instead of doing `op`.
    fn before(&self, op: &IoOp<'_>) -> io::Result<()>;
}

/// What kind of file a path is, by its LevelDB name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A journal, `NNNNNN.log`.
    Journal(u64),
    /// A table, `NNNNNN.ldb` or `.sst`.
    Table(u64),
    /// `MANIFEST-NNNNNN`.
    Manifest(u64),
    /// `CURRENT`, naming the MANIFEST.
    Current,
    /// A temporary file (`NNNNNN.dbtmp`, the next `CURRENT`).
    Temp,
    /// The engine's text log (`LOG`, `LOG.old`).
    InfoLog,
    /// `LOCK`.
    Lock,
    /// Anything else.
    Other,
}

impl FileKind {
    /// The kind of file a path names, by its file name.
    pub fn of(path: &Path) -> FileKind {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let number = |s: &str| s.parse::<u64>().ok();
        if name == "CURRENT" {
            return FileKind::Current;
        }
        if name == "LOCK" {
            return FileKind::Lock;
        }
        if name == "LOG" || name == "LOG.old" {
            return FileKind::InfoLog;
        }
        if let Some(n) = name.strip_prefix("MANIFEST-").and_then(number) {
            return FileKind::Manifest(n);
        }
        match name.split_once('.') {
            Some((n, "log")) => number(n).map_or(FileKind::Other, FileKind::Journal),
            Some((n, "ldb" | "sst")) => number(n).map_or(FileKind::Other, FileKind::Table),
            Some((_, "dbtmp")) => FileKind::Temp,
            _ => FileKind::Other,
        }
    }

    /// Whether this is a file of the database proper (not the lock or the engine's text log).
    pub fn is_database_file(self) -> bool {
        matches!(
            self,
            FileKind::Journal(_) | FileKind::Table(_) | FileKind::Manifest(_)
        )
    }
}

/// Damage found while the database was in use: a file, where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The damaged file.
    pub file: PathBuf,
    /// Where in it.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at offset {}: {}",
            self.file.display(),
            self.offset,
            self.reason
        )
    }
}

/// State shared by the env (inside the engine) and the datastore around it.
pub struct IoState {
    dir: PathBuf,
    sync_journal: bool,
    hook: Option<Arc<dyn IoHook>>,
    /// The first write-side failure; once set, every write-side operation fails.
    failed: Mutex<Option<String>>,
    has_failed: AtomicBool,
    /// Damage seen by reads, and how many times any was seen.
    damage: Mutex<Vec<Damage>>,
    damage_seen: AtomicU64,
    /// Torn tails cut off while opening, and other things worth telling.
    warnings: Mutex<Vec<String>>,
    /// The newest journal the engine will replay: only its tail may be torn.
    newest_journal: AtomicU64,
    /// The journal being written, kept so that it can be synced after a write (outside the
    /// engine's lock) and when the next one starts; and how far syncs have got.
    journal: Mutex<JournalState>,
    /// Writes handed to the journal so far (each a ticket for [`IoState::sync_journal_now`]).
    written: AtomicU64,
    /// Journals the engine opened, and writes it made to a MANIFEST: when they change, the
    /// engine swapped its memtable, or its set of tables changed (the file scanner's cues).
    journal_opens: AtomicU64,
    manifest_writes: AtomicU64,
    /// Set while the engine serves a read: any write it tries then (a compaction that a read
    /// started) is refused without making the failure sticky, and runs at a later write.
    in_read: AtomicBool,
}

#[derive(Default)]
struct JournalState {
    current: Option<Journal>,
    /// Every write with a ticket up to this one is durable.
    synced: u64,
}

/// The journal being written: its path, a handle of our own, and whether its directory entry
/// was made durable.
struct Journal {
    path: PathBuf,
    file: File,
    name_synced: bool,
}

impl IoState {
    /// Under `SyncPolicy::Always`, makes everything written to the current journal durable (and
    /// its name, the first time): the sync of a synced write, run by the datastore after it
    /// released the engine, so that reads and the next writers do not wait for the disk.
    /// Concurrent calls take turns. Does nothing under `Never`.
    /// Unlike the engine's own writes it ignores `in_read`: a read may be running meanwhile.
    ///
    /// `ticket` is what [`IoState::note_written`] gave the write. A sync covers every write
    /// handed to the journal before it started, so a writer whose ticket an earlier sync
    /// covered returns at once: writers that finish during a sync share the next one.
    pub fn sync_journal_now(&self, ticket: u64) -> LdbResult<()> {
        if !self.sync_journal {
            return Ok(());
        }
        let mut journal = lock(&self.journal);
        if journal.synced >= ticket {
            return Ok(());
        }
        // Everything written so far is in this journal, or in an earlier one, synced when this
        // one started (under this lock).
        let upto = self.written.load(Ordering::SeqCst);
        if let Some(j) = journal.current.as_mut() {
            self.guarded_op(IoOp::Sync(&j.path), || j.file.sync_data())?;
            if !j.name_synced {
                self.guarded_op(IoOp::SyncDir(&self.dir), || {
                    File::open(&self.dir)?.sync_all()
                })?;
                j.name_synced = true;
            }
        }
        journal.synced = journal.synced.max(upto);
        Ok(())
    }

    /// Records that a write was handed to the journal (call right after the engine's write
    /// returns, under its lock); returns the write's ticket for [`IoState::sync_journal_now`].
    pub fn note_written(&self) -> u64 {
        self.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// How many journals the engine has opened (it swaps its memtable with each).
    pub(super) fn journal_opens(&self) -> u64 {
        self.journal_opens.load(Ordering::SeqCst)
    }

    /// How many times the engine created or wrote to a MANIFEST.
    pub(super) fn manifest_writes(&self) -> u64 {
        self.manifest_writes.load(Ordering::SeqCst)
    }

    /// An operation guarded by the sticky failure: refused after a failure, shown to the hook;
    /// an error is sticky. The journal sync after a write calls it directly (outside the
    /// engine, while reads may run).
    fn guarded_op<T>(&self, op: IoOp<'_>, f: impl FnOnce() -> io::Result<T>) -> LdbResult<T> {
        if let Some(failed) = self.failure() {
            return Err(Status::new(
                StatusCode::IOError,
                &format!("an earlier write failed ({failed}); reopen the database"),
            ));
        }
        let result = match &self.hook {
            Some(hook) => hook.before(&op).and_then(|()| f()),
            None => f(),
        };
        result.map_err(|e| self.fail(format!("{}: {e}", describe(&op))))
    }

    /// State for one open of the database in `dir`; `sync_journal` is the sync policy.
    pub fn new(dir: &Path, sync_journal: bool, hook: Option<Arc<dyn IoHook>>) -> Arc<IoState> {
        Arc::new(IoState {
            dir: dir.to_path_buf(),
            sync_journal,
            hook,
            failed: Mutex::new(None),
            has_failed: AtomicBool::new(false),
            damage: Mutex::new(Vec::new()),
            damage_seen: AtomicU64::new(0),
            warnings: Mutex::new(Vec::new()),
            newest_journal: AtomicU64::new(0),
            journal: Mutex::new(JournalState::default()),
            written: AtomicU64::new(0),
            journal_opens: AtomicU64::new(0),
            manifest_writes: AtomicU64::new(0),
            in_read: AtomicBool::new(false),
        })
    }

    /// Marks the start and end of a read (see `in_read`).
    pub fn set_in_read(&self, reading: bool) {
        self.in_read.store(reading, Ordering::SeqCst);
    }

    fn deferred() -> Status {
        Status::new(
            StatusCode::IOError,
            "a compaction asked for during a read is deferred to the next write",
        )
    }

    /// The newest journal the open will replay: only its tail may be torn.
    pub fn set_newest_journal(&self, number: u64) {
        self.newest_journal.store(number, Ordering::SeqCst);
    }

    /// The first write-side failure, if any.
    pub fn failure(&self) -> Option<String> {
        if !self.has_failed.load(Ordering::SeqCst) {
            return None;
        }
        lock(&self.failed).clone()
    }

    /// Records a write-side failure (the first one wins) and returns it as an engine error.
    pub fn fail(&self, what: String) -> Status {
        let mut failed = lock(&self.failed);
        if failed.is_none() {
            *failed = Some(what.clone());
            self.has_failed.store(true, Ordering::SeqCst);
        }
        Status::new(StatusCode::IOError, &what)
    }

    /// How many times damage was seen so far.
    pub fn damage_count(&self) -> u64 {
        self.damage_seen.load(Ordering::SeqCst)
    }

    /// The most recent damage seen.
    pub fn last_damage(&self) -> Option<Damage> {
        lock(&self.damage).last().cloned()
    }

    pub(super) fn record_damage(&self, file: &Path, offset: u64, reason: impl Into<String>) {
        let d = Damage {
            file: file.to_path_buf(),
            offset,
            reason: reason.into(),
        };
        tracing::error!(damage = %d, "LevelDB damage");
        let mut all = lock(&self.damage);
        if all.len() < 1000 && !all.contains(&d) {
            all.push(d);
        }
        self.damage_seen.fetch_add(1, Ordering::SeqCst);
    }

    /// What opening had to drop (torn journal tails), one message each.
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }

    fn warn(&self, message: String) {
        tracing::warn!("{message}");
        lock(&self.warnings).push(message);
    }

    /// Runs a write-side operation of the engine: refused during a read (deferred, not
    /// sticky), then as [`IoState::guarded_op`].
    fn write_op<T>(&self, op: IoOp<'_>, f: impl FnOnce() -> io::Result<T>) -> LdbResult<T> {
        if self.in_read.load(Ordering::SeqCst) {
            return Err(IoState::deferred());
        }
        self.guarded_op(op, f)
    }

    fn sync_file(&self, path: &Path, file: &File) -> LdbResult<()> {
        self.write_op(IoOp::Sync(path), || file.sync_data())?;
        Ok(())
    }

    fn sync_dir(&self) -> LdbResult<()> {
        self.write_op(IoOp::SyncDir(&self.dir), || {
            File::open(&self.dir)?.sync_all()
        })?;
        Ok(())
    }
}

fn describe(op: &IoOp<'_>) -> String {
    match op {
        IoOp::Create(p) => format!("creating {}", p.display()),
        IoOp::Write(p, n) => format!("writing {n} bytes to {}", p.display()),
        IoOp::Sync(p) => format!("syncing {}", p.display()),
        IoOp::SyncDir(p) => format!("syncing directory {}", p.display()),
        IoOp::Rename(a, b) => format!("renaming {} to {}", a.display(), b.display()),
        IoOp::Delete(p) => format!("deleting {}", p.display()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The env: real files, synced and checked as the module documentation says.
pub struct DurableEnv {
    state: Arc<IoState>,
    disk: PosixDiskEnv,
}

impl DurableEnv {
    /// The env for one open, sharing `state` with the datastore.
    pub fn new(state: Arc<IoState>) -> DurableEnv {
        DurableEnv {
            state,
            disk: PosixDiskEnv::new(),
        }
    }

    fn open_for_write(&self, path: &Path, append: bool) -> LdbResult<Box<dyn Write>> {
        let kind = FileKind::of(path);
        if kind == FileKind::InfoLog || kind == FileKind::Other {
            // The engine's text log: not part of the database, never synced or checked.
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Status::from(e).annotate(path.display().to_string()))?;
            return Ok(Box::new(file));
        }
        // Held while the journal changes, so that a sync after a write (sync_journal_now) finds
        // either the old journal or the new one in place, never neither.
        let mut journal = match kind {
            FileKind::Journal(_) => Some(lock(&self.state.journal)),
            _ => None,
        };
        if let Some(state) = journal.as_mut() {
            // The journal before this one is complete: make it (and its name) durable before
            // starting anew.
            if let Some(old) = state.current.take() {
                self.state.sync_file(&old.path, &old.file)?;
                if !old.name_synced {
                    self.state.sync_dir()?;
                }
            }
        }
        let file = self.state.write_op(IoOp::Create(path), || {
            OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(path)
        })?;
        if let Some(state) = journal.as_mut() {
            let copy = file
                .try_clone()
                .map_err(|e| self.state.fail(format!("{}: {e}", path.display())))?;
            state.current = Some(Journal {
                path: path.to_path_buf(),
                file: copy,
                name_synced: false,
            });
            self.state.journal_opens.fetch_add(1, Ordering::SeqCst);
        }
        drop(journal);
        if let FileKind::Manifest(_) = kind {
            self.state.manifest_writes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Box::new(DurableFile {
            path: path.to_path_buf(),
            kind,
            file,
            state: self.state.clone(),
            pending: Vec::new(),
            name_synced: false,
        }))
    }

    /// Reads a journal or MANIFEST and hands the engine only what checks out.
    fn checked_log(&self, path: &Path, kind: FileKind) -> LdbResult<Box<dyn Read>> {
        let bytes = fs::read(path).map_err(|e| map_io("reading", path, e))?;
        let scan = logfile::scan(&bytes);
        if scan.is_clean() {
            return self.hand_over(path, kind, bytes, &scan);
        }
        let first = &scan.bad[0];
        let tail_ok = scan.is_torn_tail()
            && match kind {
                // The newest journal: a crash during an append leaves anything at its end.
                FileKind::Journal(n) => n >= self.state.newest_journal.load(Ordering::SeqCst),
                // The MANIFEST is synced after every edit: only an append cut short by a crash
                // is normal; a checksum failure is damage.
                FileKind::Manifest(_) => scan.is_cut_short_tail(),
                _ => false,
            };
        if tail_ok {
            self.state.warn(format!(
                "{}: dropped a torn tail of {} bytes at offset {} ({}); the last write before a \
                    crash",
                path.display(),
                scan.file_len - scan.good_len,
                scan.good_len,
                first.reason
            ));
            let mut bytes = bytes;
            bytes.truncate(scan.good_len as usize);
            return self.hand_over(path, kind, bytes, &scan);
        }
        let (damage, where_) = match scan.first_damage_in_middle() {
            Some(d) => (d, "with readable records after it"),
            None => (first, "at the end of a file that must be whole"),
        };
        self.state
            .record_damage(path, damage.offset, damage.reason.to_owned());
        Err(Status::new(
            StatusCode::Corruption,
            &format!(
                "{} is damaged at offset {} ({}, {} bytes), {where_}",
                path.display(),
                damage.offset,
                damage.reason,
                damage.len
            ),
        ))
    }

    /// What the engine gets of a checked log file. A journal as it is; a MANIFEST as one
    /// equivalent edit, because rusty-leveldb's version builder keeps a table that two edits
    /// add twice (goleveldb's MANIFESTs do that: the table that replayed a journal is in its
    /// snapshot and in the edit) and a compaction then merges that table with itself.
    fn hand_over(
        &self,
        path: &Path,
        kind: FileKind,
        bytes: Vec<u8>,
        scan: &logfile::LogScan,
    ) -> LdbResult<Box<dyn Read>> {
        if !matches!(kind, FileKind::Manifest(_)) {
            return Ok(Box::new(Cursor::new(bytes)));
        }
        let manifest = Manifest::from_edits(scan.records.iter().map(|r| r.data.as_slice()))
            .map_err(|e| {
                self.state.record_damage(path, 0, e.clone());
                Status::new(StatusCode::Corruption, &format!("{}: {e}", path.display()))
            })?;
        Ok(Box::new(Cursor::new(logfile::encode(&[
            &manifest.encode_snapshot()
        ]))))
    }

    fn checked_table(&self, path: &Path) -> LdbResult<Box<dyn RandomAccess>> {
        let file = File::open(path).map_err(|e| map_io("opening", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| map_io("reading", path, e))?
            .len();
        let fail = |offset: u64, reason: String| {
            self.state.record_damage(path, offset, reason.clone());
            Status::new(
                StatusCode::Corruption,
                &format!("{} at offset {offset}: {reason}", path.display()),
            )
        };
        let mut footer = [0u8; table::FOOTER_SIZE];
        if len < footer.len() as u64 {
            return Err(fail(0, format!("file too short for a table ({len} bytes)")));
        }
        read_exact_at(&file, &mut footer, len - table::FOOTER_SIZE as u64)
            .map_err(|e| map_io("reading", path, e))?;
        let (meta, _) = table::decode_footer(&footer, len).map_err(|e| fail(len - 48, e))?;
        // The engine reads filter blocks without their trailer: learn where they are, so that
        // those reads are not taken for damaged blocks.
        let mut raw = vec![0u8; meta.size as usize + 5];
        read_exact_at(&file, &mut raw, meta.offset).map_err(|e| map_io("reading", path, e))?;
        let meta_entries = table::decode_block(&raw)
            .and_then(|b| table::block_entries(&b))
            .map_err(|e| fail(meta.offset, format!("metaindex block: {e}")))?;
        let unchecked = meta_entries
            .iter()
            .filter(|(k, _)| k.starts_with(b"filter."))
            .filter_map(|(_, v)| {
                let mut v = &v[..];
                Some((
                    super::coding::take_varint(&mut v)?,
                    super::coding::take_varint(&mut v)?,
                ))
            })
            .collect();
        Ok(Box::new(CheckedTable {
            path: path.to_path_buf(),
            file,
            len,
            unchecked,
            state: self.state.clone(),
        }))
    }
}

fn map_io(what: &str, path: &Path, e: io::Error) -> Status {
    Status::from(e).annotate(format!("{what} {}", path.display()))
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

impl EngineEnv for DurableEnv {
    fn open_sequential_file(&self, path: &Path) -> LdbResult<Box<dyn Read>> {
        match FileKind::of(path) {
            kind @ (FileKind::Journal(_) | FileKind::Manifest(_)) => self.checked_log(path, kind),
            _ => self.disk.open_sequential_file(path),
        }
    }

    fn open_random_access_file(&self, path: &Path) -> LdbResult<Box<dyn RandomAccess>> {
        match FileKind::of(path) {
            FileKind::Table(_) => self.checked_table(path),
            _ => self.disk.open_random_access_file(path),
        }
    }

    fn open_writable_file(&self, path: &Path) -> LdbResult<Box<dyn Write>> {
        self.open_for_write(path, false)
    }

    fn open_appendable_file(&self, path: &Path) -> LdbResult<Box<dyn Write>> {
        self.open_for_write(path, true)
    }

    fn exists(&self, path: &Path) -> LdbResult<bool> {
        self.disk.exists(path)
    }

    fn children(&self, path: &Path) -> LdbResult<Vec<PathBuf>> {
        self.disk.children(path)
    }

    fn size_of(&self, path: &Path) -> LdbResult<usize> {
        self.disk.size_of(path)
    }

    fn delete(&self, path: &Path) -> LdbResult<()> {
        self.state
            .write_op(IoOp::Delete(path), || fs::remove_file(path))
    }

    fn mkdir(&self, path: &Path) -> LdbResult<()> {
        self.disk.mkdir(path)
    }

    fn rmdir(&self, path: &Path) -> LdbResult<()> {
        self.disk.rmdir(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> LdbResult<()> {
        // The engine wrote the new CURRENT to a temporary file without syncing it: sync it,
        // rename it, then sync the directory so the new name is what a power cut leaves.
        let source = File::open(from).map_err(|e| map_io("opening", from, e))?;
        self.state.sync_file(from, &source)?;
        self.state
            .write_op(IoOp::Rename(from, to), || fs::rename(from, to))?;
        self.state.sync_dir()
    }

    fn lock(&self, path: &Path) -> LdbResult<FileLock> {
        self.disk.lock(path)
    }

    fn unlock(&self, l: FileLock) -> LdbResult<()> {
        self.disk.unlock(l)
    }

    fn new_logger(&self, path: &Path) -> LdbResult<Logger> {
        self.open_appendable_file(path).map(Logger::new)
    }

    fn micros(&self) -> u64 {
        self.disk.micros()
    }

    fn sleep_for(&self, micros: u32) {
        self.disk.sleep_for(micros)
    }
}

/// A file the engine writes: its writes wait for the next flush and then go to the OS in one
/// call; the flush syncs as the file's kind requires.
struct DurableFile {
    path: PathBuf,
    kind: FileKind,
    file: File,
    state: Arc<IoState>,
    pending: Vec<u8>,
    /// The directory entry of this new file was synced.
    name_synced: bool,
}

impl DurableFile {
    fn write_pending(&mut self) -> LdbResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let file = &mut self.file;
        let written = self
            .state
            .write_op(IoOp::Write(&self.path, pending.len()), || {
                file.write_all(&pending)
            });
        if let FileKind::Manifest(_) = self.kind {
            self.state.manifest_writes.fetch_add(1, Ordering::SeqCst);
        }
        written
    }

    fn flush_and_sync(&mut self) -> LdbResult<()> {
        self.write_pending()?;
        let sync = match self.kind {
            // The datastore syncs the journal itself after each synced write, outside the
            // engine's lock (IoState::sync_journal_now).
            FileKind::Journal(_) => false,
            FileKind::Table(_) | FileKind::Manifest(_) => true,
            _ => false,
        };
        if sync {
            self.state.sync_file(&self.path, &self.file)?;
            if !self.name_synced {
                self.state.sync_dir()?;
                self.name_synced = true;
            }
        }
        Ok(())
    }
}

fn to_io(status: Status) -> io::Error {
    io::Error::other(status.err)
}

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Refused before anything is buffered, so the engine's log writer is left as it was.
        if self.state.in_read.load(Ordering::SeqCst) {
            return Err(to_io(IoState::deferred()));
        }
        if let Some(failed) = self.state.failure() {
            return Err(io::Error::other(format!(
                "an earlier write failed ({failed}); reopen the database"
            )));
        }
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= 1 << 20 {
            self.write_pending().map_err(to_io)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.state.in_read.load(Ordering::SeqCst) {
            return Err(to_io(IoState::deferred()));
        }
        self.flush_and_sync().map_err(to_io)
    }
}

impl Drop for DurableFile {
    fn drop(&mut self) {
        // The engine drops the temporary CURRENT without flushing it; rename syncs it next.
        if let Err(e) = self.write_pending() {
            tracing::warn!(file = %self.path.display(), error = %e.err, "writing on close");
        }
    }
}

/// A table file the engine reads; every block read is checked against its CRC.
struct CheckedTable {
    path: PathBuf,
    file: File,
    len: u64,
    /// Filter blocks (offset, size): the engine reads them without their trailer.
    unchecked: Vec<(u64, u64)>,
    state: Arc<IoState>,
}

impl RandomAccess for CheckedTable {
    fn read_at(&self, off: usize, dst: &mut [u8]) -> LdbResult<usize> {
        use std::os::unix::fs::FileExt;
        let offset = off as u64;
        let mut done = 0;
        while done < dst.len() {
            match FileExt::read_at(&self.file, &mut dst[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.state
                        .record_damage(&self.path, offset, format!("read error: {e}"));
                    return Err(map_io("reading", &self.path, e));
                }
            }
        }
        if done < dst.len() {
            self.state.record_damage(
                &self.path,
                offset,
                format!(
                    "block of {} bytes runs past the end of the file ({} bytes)",
                    dst.len(),
                    self.len
                ),
            );
            return Ok(done);
        }
        let footer = offset + dst.len() as u64 == self.len && dst.len() == table::FOOTER_SIZE;
        let filter = self
            .unchecked
            .iter()
            .any(|&(o, s)| o == offset && s == dst.len() as u64);
        if !footer
            && !filter
            && let Err(reason) = table::check_trailer(dst)
        {
            self.state.record_damage(&self.path, offset, reason);
        }
        Ok(done)
    }
}

/// The I/O seam of the engine (`db`): every file it creates, appends to, syncs, renames,
/// deletes, reads or locks goes through here, so that tests see (and may fail) each write-side
/// operation through an [`IoHook`], and so that the first failure is sticky, as C++ LevelDB's
/// `bg_error_`: from then on every write-side operation fails and nothing is acknowledged on
/// top of a state that may not be on disk. Reopening the database clears it. Twin of C++
/// LevelDB's `util/env_posix.cc` and goleveldb's `storage/file_storage.go`.
pub struct Env {
    dir: PathBuf,
    hook: Option<Arc<dyn IoHook>>,
    /// The first write-side failure; once set, every write-side operation fails.
    failed: Mutex<Option<String>>,
    has_failed: AtomicBool,
    /// Damage seen by reads, and how many times any was seen.
    damage: Mutex<Vec<Damage>>,
    damage_seen: AtomicU64,
    /// Torn tails cut off while opening, and other things worth telling.
    warnings: Mutex<Vec<String>>,
}

impl Env {
    /// The env of one open of the database in `dir`.
    pub fn new(dir: &Path, hook: Option<Arc<dyn IoHook>>) -> Arc<Env> {
        Arc::new(Env {
            dir: dir.to_path_buf(),
            hook,
            failed: Mutex::new(None),
            has_failed: AtomicBool::new(false),
            damage: Mutex::new(Vec::new()),
            damage_seen: AtomicU64::new(0),
            warnings: Mutex::new(Vec::new()),
        })
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a file of the database.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The first write-side failure, if any.
    pub fn failure(&self) -> Option<String> {
        if !self.has_failed.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.failed).clone()
    }

    /// Records a write-side failure (the first one wins) and returns it as an error.
    pub fn fail(&self, what: String) -> DbError {
        let mut failed = lock(&self.failed);
        if failed.is_none() {
            tracing::error!(failure = %what, "LevelDB write failed; writes refused until reopen");
            *failed = Some(what.clone());
            self.has_failed.store(true, Ordering::Release);
        }
        DbError::Io(what)
    }

    /// The error a write gets after an earlier failure, if there was one.
    pub fn check(&self) -> DbResult<()> {
        match self.failure() {
            Some(f) => Err(DbError::Failed(f)),
            None => Ok(()),
        }
    }

    /// Records damage met by a read, and returns it as an error.
    pub fn damage(&self, file: &Path, offset: u64, reason: impl Into<String>) -> DbError {
        let d = Damage {
            file: file.to_path_buf(),
            offset,
            reason: reason.into(),
        };
        tracing::error!(damage = %d, "LevelDB damage");
        let message = d.to_string();
        let mut all = lock(&self.damage);
        if all.len() < 1000 && !all.contains(&d) {
            all.push(d);
        }
        self.damage_seen.fetch_add(1, Ordering::SeqCst);
        DbError::Corrupt(message)
    }

    /// How many times damage was seen so far.
    pub fn damage_count(&self) -> u64 {
        self.damage_seen.load(Ordering::SeqCst)
    }

    /// The most recent damage seen.
    pub fn last_damage(&self) -> Option<Damage> {
        lock(&self.damage).last().cloned()
    }

    /// Notes something opening had to drop (a torn journal tail).
    pub fn warn(&self, message: String) {
        tracing::warn!("{message}");
        lock(&self.warnings).push(message);
    }

    /// What opening had to drop, one message each.
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }

    /// A write-side operation: refused after a failure, shown to the hook, and its error
    /// made sticky.
    fn guarded<T>(&self, op: IoOp<'_>, f: impl FnOnce() -> io::Result<T>) -> DbResult<T> {
        self.check()?;
        let result = match &self.hook {
            Some(hook) => hook.before(&op).and_then(|()| f()),
            None => f(),
        };
        result.map_err(|e| self.fail(format!("{}: {e}", describe(&op))))
    }

    /// Creates (or truncates) a file for writing.
    pub fn create(self: &Arc<Self>, path: &Path) -> DbResult<WritableFile> {
        let file = self.guarded(IoOp::Create(path), || {
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(path)
        })?;
        Ok(WritableFile {
            path: path.to_path_buf(),
            file,
            env: self.clone(),
        })
    }

    /// Renames `from` over `to`.
    pub fn rename(&self, from: &Path, to: &Path) -> DbResult<()> {
        self.guarded(IoOp::Rename(from, to), || fs::rename(from, to))
    }

    /// Makes the directory's entries durable (fsync of the directory).
    pub fn sync_dir(&self) -> DbResult<()> {
        self.guarded(IoOp::SyncDir(&self.dir), || {
            File::open(&self.dir)?.sync_all()
        })
    }

    /// Deletes an obsolete file. A failure is logged, not sticky: the file is left over, and
    /// the next open deletes it (as C++ LevelDB does). Nothing is deleted after a failure.
    pub fn delete(&self, path: &Path) {
        if self.failure().is_some() {
            return;
        }
        let result = match &self.hook {
            Some(hook) => hook.before(&IoOp::Delete(path)),
            None => Ok(()),
        }
        .and_then(|()| fs::remove_file(path));
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "deleting"),
        }
    }

    /// Reads a whole file.
    pub fn read(&self, path: &Path) -> DbResult<Vec<u8>> {
        fs::read(path).map_err(|e| DbError::Io(format!("reading {}: {e}", path.display())))
    }

    /// Opens a file for reading at offsets.
    pub fn open_read(&self, path: &Path) -> io::Result<File> {
        File::open(path)
    }

    /// Takes the database's `LOCK` (an exclusive `flock`, as goleveldb takes it), held until
    /// the returned file is dropped.
    pub fn lock_dir(&self) -> DbResult<File> {
        let path = self.dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DbError::Io(format!("opening {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(DbError::Locked),
            Err(fs::TryLockError::Error(e)) => {
                Err(DbError::Io(format!("locking {}: {e}", path.display())))
            }
        }
    }
}

/// A file the engine writes: every append is one call to the OS, so a killed process leaves
/// whole records behind, never half of one.
pub struct WritableFile {
    path: PathBuf,
    file: File,
    env: Arc<Env>,
}

impl WritableFile {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `data` (one write).
    pub fn append(&mut self, data: &[u8]) -> DbResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        let file = &mut self.file;
        self.env
            .guarded(IoOp::Write(&self.path, data.len()), || file.write_all(data))
    }

    /// Makes what was appended durable (fdatasync).
    pub fn sync(&self) -> DbResult<()> {
        self.env
            .guarded(IoOp::Sync(&self.path), || self.file.sync_data())
    }

    /// A handle that syncs this file from elsewhere (the journal's, synced outside the lock
    /// its writers take).
    pub fn sync_handle(&self) -> DbResult<SyncHandle> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| self.env.fail(format!("{}: {e}", self.path.display())))?;
        Ok(SyncHandle {
            path: self.path.clone(),
            file,
            env: self.env.clone(),
        })
    }
}

/// Syncs a file that another owner appends to.
pub struct SyncHandle {
    path: PathBuf,
    file: File,
    env: Arc<Env>,
}

impl SyncHandle {
    /// Makes everything appended so far durable (fdatasync).
    pub fn sync(&self) -> DbResult<()> {
        self.env
            .guarded(IoOp::Sync(&self.path), || self.file.sync_data())
    }
}
