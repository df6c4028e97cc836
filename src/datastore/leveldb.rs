//! The LevelDB backend (rusty-leveldb), writing databases that go-ds-leveldb opens as its own.
//!
//! rusty-leveldb's `DB` takes `&mut self` for every call and is not `Sync`, so one `DB` lives
//! behind a mutex, and iterators are drained while the lock is held (none ever outlives it).
//! Its `get` turns read errors into "not found"; this backend reads through snapshots instead,
//! which report them. A panic inside the engine is caught and turned into an error, and the
//! database is closed rather than used in an unknown state.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusty_leveldb::{
    CompressorId, DB, LdbIterator, Options, Status, StatusCode, WriteBatch, compressor,
};

use super::{Batch, Datastore, Entry, Error, Key, Op, Query, Result, SyncPolicy};

/// How to open a [`LevelDbDatastore`].
#[derive(Clone, Debug)]
pub struct LevelDbOptions {
    /// Create the directory (owner-only permissions) and database if missing. Default: true.
    pub create_if_missing: bool,
    /// fsync every write (as go-ds-leveldb does) or not. Default: [`SyncPolicy::Always`].
    pub sync: SyncPolicy,
    /// Compress table blocks with Snappy, as goleveldb does by default. Default: true.
    pub snappy: bool,
    /// Size of the in-memory write buffer before it is flushed to a table. Default: 4 MiB, as
    /// goleveldb.
    pub write_buffer_size: usize,
    /// [`Datastore::maintain`] compacts once this many puts and deletes were written since the
    /// last compaction. Default: 10,000.
    pub maintain_after_writes: u64,
    /// A write compacts on the spot once this many were written since the last compaction
    /// (the safety net when nothing calls `maintain`). Default: 1,000,000; 0 disables it.
    pub compact_after_writes: u64,
}

impl Default for LevelDbOptions {
    fn default() -> Self {
        LevelDbOptions {
            create_if_missing: true,
            sync: SyncPolicy::Always,
            snappy: true,
            write_buffer_size: 4 << 20,
            maintain_after_writes: 10_000,
            compact_after_writes: 1_000_000,
        }
    }
}

/// A [`Datastore`] over a LevelDB directory, in go-ds-leveldb's layout: each key stored as its
/// exact bytes, values raw.
pub struct LevelDbDatastore {
    path: PathBuf,
    options: LevelDbOptions,
    db: Mutex<Option<DB>>,
    /// Puts and deletes since the last compaction.
    writes: AtomicU64,
}

impl std::fmt::Debug for LevelDbDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelDbDatastore")
            .field("path", &self.path)
            .finish()
    }
}

impl LevelDbDatastore {
    /// Opens (or creates) the database in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: LevelDbOptions) -> Result<LevelDbDatastore> {
        let path = path.as_ref().to_path_buf();
        if options.create_if_missing {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)
                .map_err(|e| Error::Open {
                    path: path.clone(),
                    reason: format!("creating the directory: {e}"),
                })?;
        } else if !path.join("CURRENT").is_file() {
            return Err(Error::NotFound {
                reason: if path.is_dir() {
                    "the directory holds no LevelDB database (no CURRENT file)".to_owned()
                } else {
                    "no such directory".to_owned()
                },
                path,
            });
        }
        let db = open_db(&path, &options)?;
        Ok(LevelDbDatastore {
            path,
            options,
            db: Mutex::new(Some(db)),
            writes: AtomicU64::new(0),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Compacts the whole key range, dropping overwritten versions and deletion markers.
    ///
    /// rusty-leveldb 4.0.2 keeps every overwritten version forever once any snapshot has
    /// existed (its `SnapshotList::empty()` never becomes true again and `oldest()` returns
    /// snapshot handles, not sequence numbers), and every read and scan takes one. So the
    /// database is closed and reopened first, which starts a fresh snapshot list, and compacted
    /// before anything takes a snapshot again.
    pub fn compact(&self) -> Result<()> {
        let mut guard = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let mut db = guard.take().ok_or(Error::Closed)?;
        let write_err = |reason: String| Error::Write {
            what: "a compaction".to_owned(),
            reason,
        };
        match catch_unwind(AssertUnwindSafe(|| db.close())) {
            Ok(Ok(())) => {}
            Ok(Err(status)) => return Err(write_err(status.to_string())),
            Err(_) => {
                return Err(write_err(
                    "the LevelDB engine panicked while closing".into(),
                ));
            }
        }
        drop(db);
        let mut db = open_db(&self.path, &self.options)?;
        let compacted = catch_unwind(AssertUnwindSafe(|| {
            db.flush()?;
            db.compact_range(b"\x00", b"\xff")
        }));
        *guard = Some(db);
        self.writes.store(0, Ordering::SeqCst);
        match compacted {
            Ok(Ok(())) => Ok(()),
            Ok(Err(status)) => Err(write_err(status.to_string())),
            Err(_) => {
                if let Some(db) = guard.take() {
                    std::mem::forget(db);
                }
                Err(write_err(
                    "the LevelDB engine panicked while compacting".into(),
                ))
            }
        }
    }

    /// Runs `f` on the open database. An engine error becomes `err(reason)`; an engine panic
    /// closes the database.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&mut DB) -> std::result::Result<T, Status>,
        err: impl FnOnce(String) -> Error,
    ) -> Result<T> {
        let mut guard = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let db = guard.as_mut().ok_or(Error::Closed)?;
        match catch_unwind(AssertUnwindSafe(|| f(db))) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(status)) => Err(err(status.to_string())),
            Err(_) => {
                // The engine's state is unknown: drop it without writing anything more.
                if let Some(db) = guard.take() {
                    std::mem::forget(db);
                }
                Err(err(
                    "the LevelDB engine panicked (damaged database?); it has been closed"
                        .to_owned(),
                ))
            }
        }
    }
}

/// Opens the engine with goleveldb-compatible settings.
fn open_db(path: &Path, options: &LevelDbOptions) -> Result<DB> {
    let opts = Options {
        create_if_missing: options.create_if_missing,
        // Fail on a damaged log instead of silently skipping what it held.
        paranoid_checks: true,
        write_buffer_size: options.write_buffer_size,
        compressor: if options.snappy {
            compressor::SnappyCompressor::ID
        } else {
            compressor::NoneCompressor::ID
        },
        ..Options::default()
    };
    match catch_unwind(AssertUnwindSafe(|| DB::open(path, opts))) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(status)) => Err(open_error(path, status)),
        Err(_) => Err(Error::Open {
            path: path.to_path_buf(),
            reason: "the LevelDB engine panicked while opening; the database may be damaged"
                .to_owned(),
        }),
    }
}

fn open_error(path: &Path, status: Status) -> Error {
    match status.code {
        StatusCode::LockError => Error::Locked {
            path: path.to_path_buf(),
        },
        StatusCode::NotFound => Error::NotFound {
            path: path.to_path_buf(),
            reason: status.err,
        },
        _ => Error::Open {
            path: path.to_path_buf(),
            reason: status.err,
        },
    }
}

impl Datastore for LevelDbDatastore {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.with_db(
            |db| {
                let snapshot = db.get_snapshot();
                Ok(db.get_at(&snapshot, key.as_bytes())?.map(|b| b.to_vec()))
            },
            |reason| Error::Read {
                key: key.to_string(),
                reason,
            },
        )
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>> {
        let prefix = query.prefix.query_prefix().into_bytes();
        self.with_db(
            |db| {
                let mut iter = db.new_iter()?;
                iter.seek(&prefix);
                let mut out = Vec::new();
                while let Some((k, v)) = iter.current() {
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    out.push(Entry {
                        key: k.to_vec(),
                        value: if query.keys_only {
                            Vec::new()
                        } else {
                            v.to_vec()
                        },
                    });
                    if !iter.advance() {
                        break;
                    }
                }
                Ok(out)
            },
            |reason| Error::Query {
                prefix: query.prefix.to_string(),
                reason,
            },
        )
    }

    fn write(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let what = batch.describe();
        let mut wb = WriteBatch::default();
        for op in &batch.ops {
            match op {
                Op::Put(k, v) => wb.put(k.as_bytes(), v),
                Op::Delete(k) => wb.delete(k.as_bytes()),
            }
        }
        let sync = self.options.sync == SyncPolicy::Always;
        let n = batch.ops.len() as u64;
        self.with_db(
            |db| db.write(wb, sync),
            |reason| Error::Write { what, reason },
        )?;
        let written = self.writes.fetch_add(n, Ordering::SeqCst) + n;
        let limit = self.options.compact_after_writes;
        if limit > 0 && written >= limit {
            self.compact()?;
        }
        Ok(())
    }

    fn maintain(&self) -> Result<bool> {
        if self.writes.load(Ordering::SeqCst) < self.options.maintain_after_writes.max(1) {
            return Ok(false);
        }
        self.compact()?;
        Ok(true)
    }

    fn close(&self) -> Result<()> {
        let mut guard = self.db.lock().unwrap_or_else(|e| e.into_inner());
        match guard.take() {
            None => Ok(()),
            Some(mut db) => match catch_unwind(AssertUnwindSafe(|| db.close())) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(status)) => Err(Error::Write {
                    what: format!("closing {}", self.path.display()),
                    reason: status.to_string(),
                }),
                Err(_) => Err(Error::Write {
                    what: format!("closing {}", self.path.display()),
                    reason: "the LevelDB engine panicked".to_owned(),
                }),
            },
        }
    }
}

impl Drop for LevelDbDatastore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(path = %self.path.display(), error = %e, "closing the LevelDB datastore");
        }
    }
}
