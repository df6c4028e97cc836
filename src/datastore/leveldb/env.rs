//! The engine's I/O seam: every file it creates, appends to, syncs, renames, deletes or
//! locks goes through [`Env`], which shows each write-side operation to an [`IoHook`] (fault
//! and error injection in tests, sync counting) and makes the first failure sticky. Where the
//! engine syncs is where C++ LevelDB does (docs/durability.md): the journal before a synced
//! write is acknowledged, a table before the MANIFEST names it, the MANIFEST after each edit,
//! the temporary `CURRENT` before it is renamed, and the directory after new names.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::error::{DbError, DbResult};

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

/// The directories whose `LOCK` this process holds.
fn held_dirs() -> &'static Mutex<std::collections::HashSet<PathBuf>> {
    static HELD: std::sync::OnceLock<Mutex<std::collections::HashSet<PathBuf>>> =
        std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// A database directory's `LOCK`, held (`flock` and `fcntl`) until dropped.
pub struct DirLock {
    _file: File,
    held: PathBuf,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        lock(held_dirs()).remove(&self.held);
    }
}

/// How long opening waits for a busy `LOCK` before it reports the database locked.
pub const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Makes an existing file's contents durable (fdatasync), such as a journal an earlier
    /// process wrote and may have left unsynced.
    pub fn sync_existing(&self, path: &Path) -> DbResult<()> {
        self.guarded(IoOp::Sync(path), || File::open(path)?.sync_data())
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

    /// Takes the database's `LOCK` (an exclusive `flock`, as goleveldb takes it, and an
    /// exclusive `fcntl` lock, as C++ LevelDB takes it), held until the returned file is
    /// dropped.
    ///
    /// A lock that is busy is retried for up to [`LOCK_PATIENCE`] before the open fails with
    /// [`DbError::Locked`]: a `flock` belongs to the open file, and a child process that any
    /// thread of ours starts holds a copy of every descriptor from its fork until its exec
    /// (where close-on-exec drops them), so a database closed and reopened in a process that
    /// also starts programs may find its own released lock still held for that instant.
    pub fn lock_dir(&self) -> DbResult<DirLock> {
        let held = fs::canonicalize(&self.dir)
            .map_err(|e| DbError::Io(format!("resolving {}: {e}", self.dir.display())))?;
        let start = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            match self.try_lock_dir(&held) {
                Err(DbError::Locked) if start.elapsed() < LOCK_PATIENCE => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// One attempt at [`Env::lock_dir`]; `held` is the directory's canonical path.
    fn try_lock_dir(&self, held: &Path) -> DbResult<DirLock> {
        let path = self.dir.join("LOCK");
        // A directory this process holds is refused before LOCK is opened again: closing that
        // second descriptor would drop the process's fcntl lock (C++ LevelDB keeps the same
        // table of the files it has locked).
        let mut locked = lock(held_dirs());
        if locked.contains(held) {
            return Err(DbError::Locked);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DbError::Io(format!("opening {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(DbError::Locked),
            Err(fs::TryLockError::Error(e)) => {
                return Err(DbError::Io(format!("locking {}: {e}", path.display())));
            }
        }
        // The POSIX record lock C++ LevelDB takes (and checks) as well: a C++ LevelDB process
        // (plyvel, leveldb's own tools) does not see a flock, nor we its fcntl lock. It is
        // the process's, dropped when any descriptor of ours on LOCK closes: nothing else
        // here opens LOCK.
        use rustix::fs::{FlockOperation, fcntl_lock};
        match fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                locked.insert(held.to_path_buf());
                Ok(DirLock {
                    _file: file,
                    held: held.to_path_buf(),
                })
            }
            Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::ACCESS => {
                Err(DbError::Locked)
            }
            Err(e) => {
                let e = std::io::Error::from(e);
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
