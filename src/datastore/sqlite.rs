//! The SQLite backend: one table of key/value blobs in WAL mode.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{Batch, Datastore, Entry, Error, Key, Op, Query, Result, SyncPolicy};

/// How to open a [`SqliteDatastore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Create the file if missing. Default: true.
    pub create_if_missing: bool,
    /// `synchronous = FULL` (every commit reaches the disk) or `NORMAL`. Default: Always.
    pub sync: SyncPolicy,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            create_if_missing: true,
            sync: SyncPolicy::Always,
        }
    }
}

/// A [`Datastore`] in one SQLite file (table `kv`, keys and values as blobs).
pub struct SqliteDatastore {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for SqliteDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatastore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteDatastore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteDatastore> {
        let path = path.as_ref().to_path_buf();
        let open_err = |e: rusqlite::Error| Error::Open {
            path: path.clone(),
            source: e.into(),
        };
        if !options.create_if_missing && !path.is_file() {
            return Err(Error::NotFound {
                path,
                reason: "no such file".to_owned(),
            });
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if options.create_if_missing {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(&path, flags).map_err(open_err)?;
        let synchronous = match options.sync {
            SyncPolicy::Always => "FULL",
            SyncPolicy::Never => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA busy_timeout = 0;
             CREATE TABLE IF NOT EXISTS kv \
                 (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;"
        ))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Error::Locked { path: path.clone() }
            }
            _ => open_err(e),
        })?;
        Ok(SqliteDatastore {
            path,
            conn: Mutex::new(Some(conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
        err: impl FnOnce(super::Cause) -> Error,
    ) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.as_mut().ok_or(Error::Closed)?;
        f(conn).map_err(|e| err(e.into()))
    }
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Datastore for SqliteDatastore {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.with_conn(
            |c| {
                c.prepare_cached("SELECT value FROM kv WHERE key = ?1")?
                    .query_row(params![key.as_bytes()], |r| r.get(0))
                    .optional()
            },
            |source| Error::Read {
                key: key.to_string(),
                source,
            },
        )
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>> {
        let prefix = query.prefix.query_prefix().into_bytes();
        let end = prefix_end(&prefix);
        let columns = if query.keys_only {
            "key, x''"
        } else {
            "key, value"
        };
        self.with_conn(
            |c| {
                let row = |r: &rusqlite::Row<'_>| {
                    Ok(Entry {
                        key: r.get(0)?,
                        value: r.get(1)?,
                    })
                };
                match &end {
                    Some(end) => c
                        .prepare_cached(&format!(
                            "SELECT {columns} FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"
                        ))?
                        .query_map(params![prefix, end], row)?
                        .collect(),
                    None => c
                        .prepare_cached(&format!(
                            "SELECT {columns} FROM kv WHERE key >= ?1 ORDER BY key"
                        ))?
                        .query_map(params![prefix], row)?
                        .collect(),
                }
            },
            |source| Error::Query {
                prefix: query.prefix.to_string(),
                source,
            },
        )
    }

    fn write(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let what = batch.describe();
        self.with_conn(
            |c| {
                let tx = c.transaction()?;
                {
                    let mut put = tx
                        .prepare_cached("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")?;
                    let mut del = tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?;
                    for op in &batch.ops {
                        match op {
                            Op::Put(k, v) => put.execute(params![k.as_bytes(), v])?,
                            Op::Delete(k) => del.execute(params![k.as_bytes()])?,
                        };
                    }
                }
                tx.commit()
            },
            |source| Error::Write { what, source },
        )
    }

    fn close(&self) -> Result<()> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        match guard.take() {
            None => Ok(()),
            Some(conn) => conn.close().map_err(|(_, e)| Error::Write {
                what: format!("closing {}", self.path.display()),
                source: e.into(),
            }),
        }
    }
}
