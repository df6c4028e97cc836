//! The LevelDB backend: a [`Datastore`] over our own LevelDB engine ([`db`]), writing the
//! files goleveldb and C++ LevelDB write, so that go-ds-leveldb opens the directory as its own
//! (and we open theirs), and keeping the durability and damage rules of `docs/durability.md`.
//!
//! The engine's pieces, one file each, each with its C++ LevelDB and goleveldb twin named in
//! its docs: [`env`](mod@env) (every file operation, fault injection, sticky errors),
//! [`logfile`] and [`batch`] (journal and MANIFEST records), [`memtable`], [`table_builder`],
//! [`table`] and
//! [`table_cache`] (table files), [`filter`] (Bloom filters), [`iter`] (merging), [`version`]
//! and [`manifest`] (the live tables), [`compaction`], and [`db`] (open, recovery, the write
//! path, background threads). [`check`] reads a directory without opening it (`pstore verify`,
//! `pstore salvage`, and the checks before an open).

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
pub mod table;
pub mod table_builder;
pub mod table_cache;
pub mod version;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use self::db::{Db, DbOptions, DbStats};
use self::env::IoHook;
use self::error::DbError;
use super::{Batch, Datastore, Entry, Error, Key, Query, Result, SyncPolicy};

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
    /// Size of the memtable before it is flushed to a level-0 table (on the flush thread, never
    /// inside a write). Default: 4 MiB, as goleveldb and C++ LevelDB.
    pub write_buffer_size: usize,
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
            group_gather: std::time::Duration::from_micros(100),
            io_hook: None,
        }
    }
}

/// A [`Datastore`] over a LevelDB directory, in go-ds-leveldb's layout: each key stored as its
/// exact bytes, values raw.
pub struct LevelDbDatastore {
    path: PathBuf,
    options: LevelDbOptions,
    db: Db,
    /// Set once the datastore is closed.
    closed: AtomicBool,
}

thread_local! {
    /// This thread's deferred-sync scopes ([`Datastore::begin_deferred_sync`]): how deep, and
    /// the journal ticket of the last write made in them per datastore (by address).
    static DEFERRED: std::cell::RefCell<(usize, Vec<(usize, u64)>)> =
        const { std::cell::RefCell::new((0, Vec::new())) };
}

impl std::fmt::Debug for LevelDbDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelDbDatastore")
            .field("path", &self.path)
            .finish()
    }
}

impl LevelDbDatastore {
    /// Opens (or, in a missing or empty directory, creates) the database in directory `path`.
    /// A directory holding LevelDB files is opened as the database it is, or refused as
    /// damaged ([`Error::Damaged`]), never created anew.
    pub fn open(path: impl AsRef<Path>, options: LevelDbOptions) -> Result<LevelDbDatastore> {
        let path = path.as_ref().to_path_buf();
        let db = Db::open(
            &path,
            DbOptions {
                create_if_missing: options.create_if_missing,
                sync: options.sync == SyncPolicy::Always,
                compress: options.snappy,
                write_buffer_size: options.write_buffer_size,
                group_gather: options.group_gather,
                io_hook: options.io_hook.clone(),
            },
        )?;
        Ok(LevelDbDatastore {
            path,
            options,
            db,
            closed: AtomicBool::new(false),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening the database had to drop, one message each: a torn tail of the newest
    /// journal (the last write before a crash, never acknowledged under
    /// [`SyncPolicy::Always`]). Empty after a clean shutdown.
    pub fn open_warnings(&self) -> Vec<String> {
        self.db.warnings()
    }

    /// Compacts the whole key range down to the deepest level that holds data, dropping
    /// overwritten versions and deletion markers. Never needed for that (the background
    /// compactions drop them a level at a time as the database grows); what it gives is the
    /// smallest database and the fastest scans at once, for `pstore compact` and before a
    /// copy. It runs in bounded steps on the compaction thread, while readers and writers go
    /// on.
    pub fn compact(&self) -> Result<()> {
        self.live()?;
        self.db
            .compact_range(None, None)
            .map_err(|e| self.error(e, || "a compaction".to_owned()))
    }

    /// Counters of the engine's background work and the tables on each level.
    pub fn stats(&self) -> DbStats {
        self.db.stats()
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Db {
        &self.db
    }

    fn live(&self) -> Result<()> {
        match self.closed.load(Ordering::SeqCst) {
            true => Err(Error::Closed),
            false => Ok(()),
        }
    }

    /// The datastore error for an engine error; `what` names the key, prefix or batch.
    fn error(&self, e: DbError, what: impl FnOnce() -> String) -> Error {
        match e {
            DbError::Failed(reason) => Error::Failed {
                path: self.path.clone(),
                reason,
            },
            DbError::Closed => Error::Closed,
            DbError::Corrupt(damage) => Error::Corrupt {
                what: what(),
                damage,
            },
            DbError::Locked => Error::Locked {
                path: self.path.clone(),
            },
            DbError::Io(message) => Error::Write {
                what: what(),
                source: message.into(),
            },
        }
    }

    /// The error of a read: an I/O failure is a read error, the rest as [`Self::error`].
    fn read_error(&self, e: DbError, what: impl FnOnce() -> String) -> Error {
        match e {
            DbError::Io(message) => Error::Read {
                key: what(),
                source: message.into(),
            },
            other => self.error(other, what),
        }
    }

    /// The ticket of a write made in a deferred-sync scope, kept for the scope's end.
    fn defer(&self, ticket: u64) {
        let me = self as *const LevelDbDatastore as usize;
        DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            match d.1.iter_mut().find(|(ds, _)| *ds == me) {
                Some((_, t)) => *t = (*t).max(ticket),
                None => d.1.push((me, ticket)),
            }
        });
    }
}

impl Datastore for LevelDbDatastore {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.live()?;
        self.db
            .get(key.as_bytes(), None)
            .map_err(|e| self.read_error(e, || format!("key {key}")))
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>> {
        self.live()?;
        self.db
            .query(query, None)
            .map_err(|e| self.read_error(e, || format!("the keys below {}", query.prefix)))
    }

    fn write(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.live()?;
        let sync = self.options.sync == SyncPolicy::Always;
        let deferred = DEFERRED.with(|d| d.borrow().0 > 0);
        if deferred || !batch.expected().is_empty() {
            // Conditions are read under the write lock, then the batch is written alone (a
            // deferred-sync write too: it must not lead a group whose others need a sync).
            let ticket = self.db.write_if(&batch, || {
                batch.check_expected(|k| {
                    self.db
                        .get(k.as_bytes(), None)
                        .map_err(|e| self.read_error(e, || format!("key {k}")))
                })
            });
            let ticket = ticket?.map_err(|e| self.error(e, || batch.describe()))?;
            if deferred {
                self.defer(ticket);
                return Ok(());
            }
            if sync {
                self.db
                    .sync_upto(ticket)
                    .map_err(|e| self.error(e, || batch.describe()))?;
            }
            return Ok(());
        }
        let what = batch.summary();
        self.db
            .write(batch, sync)
            .map(|_| ())
            .map_err(|e| self.error(e, || what.to_string()))
    }

    fn begin_deferred_sync(&self) {
        DEFERRED.with(|d| d.borrow_mut().0 += 1);
    }

    fn end_deferred_sync(&self) -> Result<()> {
        let me = self as *const LevelDbDatastore as usize;
        let ticket = DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            d.0 = d.0.saturating_sub(1);
            if d.0 > 0 {
                return None;
            }
            let at = d.1.iter().position(|(ds, _)| *ds == me)?;
            Some(d.1.swap_remove(at).1)
        });
        match ticket {
            // The last write's ticket covers every earlier one.
            Some(t) => self
                .db
                .sync_upto(t)
                .map_err(|e| self.error(e, || "the writes of a deferred-sync scope".to_owned())),
            None => Ok(()),
        }
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.db.close().map_err(|e| match e {
            DbError::Failed(reason) => Error::Failed {
                path: self.path.clone(),
                reason,
            },
            other => Error::Write {
                what: format!("closing {}", self.path.display()),
                source: other.into(),
            },
        })
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
