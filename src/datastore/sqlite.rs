//! The SQLite backend, in go-ds-sql's SQLite layout: one table
//! `<table> (key TEXT PRIMARY KEY, data BLOB) WITHOUT ROWID` (default table `blocks`; go-waku
//! names its table `peerstore`), so that a go-libp2p node on pstoreds over go-ds-sql and this
//! crate open the same file. Files written by earlier versions of this crate (table `kv` of
//! blobs) still open, in that layout; `pstore migrate` converts them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{
    Batch, DEFAULT_TABLE, Datastore, Entry, Error, Key, Op, Query, Result, SyncPolicy,
    check_table_name,
};

/// How to open a [`SqliteDatastore`].
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Create the file (owner-only, mode 0600) and the table if missing. Default: true.
    pub create_if_missing: bool,
    /// `synchronous = FULL` (every commit reaches the disk) or `NORMAL`. Default: Always.
    pub sync: SyncPolicy,
    /// The table (go-ds-sql's default `blocks`; go-waku uses `peerstore`).
    pub table: String,
    /// How long a write waits for another process's write to finish before failing.
    /// Default: 5 s.
    pub busy_timeout: std::time::Duration,
    /// Other processes write this file too (two nodes, or a node and a tool): the peerstore
    /// then keeps no cache and makes its read-modify-writes conditional, as over PostgreSQL
    /// ([`Datastore::is_shared`]). Default: false (one writer; the cache is used).
    pub shared: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            create_if_missing: true,
            sync: SyncPolicy::Always,
            table: DEFAULT_TABLE.to_owned(),
            busy_timeout: std::time::Duration::from_secs(5),
            shared: false,
        }
    }
}

/// The table layout a SQLite file was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteLayout {
    /// go-ds-sql's: `key TEXT PRIMARY KEY, data BLOB`, in the table the options name.
    GoDsSql,
    /// This crate's before it followed go-ds-sql: table `kv (key BLOB, value BLOB)`. Read and
    /// written as it is; `pstore migrate` copies it into go-ds-sql's layout.
    LegacyKv,
}

/// A [`Datastore`] in one SQLite file.
pub struct SqliteDatastore {
    path: PathBuf,
    shared: bool,
    layout: SqliteLayout,
    sql: Statements,
    conn: Mutex<Option<Connection>>,
}

/// The statements of one layout, with the table name filled in.
struct Statements {
    get: String,
    scan: String,
    scan_keys: String,
    put: String,
    delete: String,
}

impl Statements {
    fn new(table: &str, layout: SqliteLayout) -> Statements {
        let (t, value) = match layout {
            SqliteLayout::GoDsSql => (table, "data"),
            SqliteLayout::LegacyKv => ("kv", "value"),
        };
        Statements {
            get: format!("SELECT {value} FROM {t} WHERE key = ?1"),
            // A range scan from the prefix, stopped at the first key outside it (go-ds-sql
            // uses GLOB, which cannot use the primary key for a prefix that holds `*`, `?`
            // or `[`, and matches them as patterns).
            scan: format!("SELECT key, {value} FROM {t} WHERE key >= ?1 ORDER BY key"),
            scan_keys: format!("SELECT key, NULL FROM {t} WHERE key >= ?1 ORDER BY key"),
            put: format!("INSERT OR REPLACE INTO {t} (key, {value}) VALUES (?1, ?2)"),
            delete: format!("DELETE FROM {t} WHERE key = ?1"),
        }
    }
}

impl std::fmt::Debug for SqliteDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatastore")
            .field("path", &self.path)
            .field("layout", &self.layout)
            .finish()
    }
}

/// Creates an empty file readable and writable by its owner only.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The columns of `table` as (name, declared type), lower-cased; empty if there is no table.
fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
    let rows = stmt.query_map(params![table], |r| {
        Ok((
            r.get::<_, String>(0)?.to_ascii_lowercase(),
            r.get::<_, String>(1)?.to_ascii_lowercase(),
        ))
    })?;
    rows.collect()
}

/// Whether the columns are go-ds-sql's (`key` text, `data` blob; other columns are allowed).
fn go_ds_sql_columns(cols: &[(String, String)]) -> bool {
    let has = |name: &str, types: &[&str]| {
        cols.iter()
            .any(|(n, t)| n == name && types.contains(&t.as_str()))
    };
    has("key", &["text", "varchar", "string"]) && has("data", &["blob", "bytea", ""])
}

fn describe_columns(cols: &[(String, String)]) -> String {
    cols.iter()
        .map(|(n, t)| format!("{n} {}", t.to_ascii_uppercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqliteDatastore {
    /// Opens (or creates) the database file at `path`, in the layout found there: go-ds-sql's
    /// table `options.table`, else this crate's old `kv` table, else (when creating) a new
    /// go-ds-sql table.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteDatastore> {
        let path = path.as_ref().to_path_buf();
        let open_err = |e: rusqlite::Error| Error::Open {
            path: path.clone(),
            source: e.into(),
        };
        let schema_err = |problem: String| Error::Schema {
            table: format!("table {} in {}", options.table, path.display()),
            problem,
        };
        check_table_name(&options.table).map_err(schema_err)?;
        if !path.is_file() {
            if !options.create_if_missing {
                return Err(Error::NotFound {
                    path,
                    reason: "no such file".to_owned(),
                });
            }
            create_private_file(&path).map_err(|e| Error::Open {
                path: path.clone(),
                source: e.into(),
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(open_err)?;
        let synchronous = match options.sync {
            SyncPolicy::Always => "FULL",
            SyncPolicy::Never => "NORMAL",
        };
        conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
        ))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Error::Locked { path: path.clone() }
            }
            _ => open_err(e),
        })?;
        let table = options.table.to_ascii_lowercase();
        let cols = columns(&conn, &table).map_err(open_err)?;
        let layout = if !cols.is_empty() {
            if !go_ds_sql_columns(&cols) {
                return Err(schema_err(format!(
                    "its columns are ({}), not go-ds-sql's (key TEXT, data BLOB)",
                    describe_columns(&cols)
                )));
            }
            SqliteLayout::GoDsSql
        } else if table == DEFAULT_TABLE && !columns(&conn, "kv").map_err(open_err)?.is_empty() {
            tracing::info!(path = %path.display(), "SQLite file in the old `kv` layout; `pstore \
                migrate` converts it to go-ds-sql's");
            SqliteLayout::LegacyKv
        } else if options.create_if_missing {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, data BLOB) \
                    WITHOUT ROWID;"
            ))
            .map_err(open_err)?;
            SqliteLayout::GoDsSql
        } else {
            let tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .map_err(open_err)?;
            return Err(schema_err(format!(
                "there is no such table (tables here: {}); name the table with --table, as \
                    go-ds-sql's NewQueries does",
                if tables.is_empty() {
                    "none".to_owned()
                } else {
                    tables.join(", ")
                }
            )));
        };
        Ok(SqliteDatastore {
            shared: options.shared,
            sql: Statements::new(&table, layout),
            path,
            layout,
            conn: Mutex::new(Some(conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The layout the file was found in (or created in).
    pub fn layout(&self) -> SqliteLayout {
        self.layout
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection, &Statements, KeyAs) -> rusqlite::Result<T>,
        err: impl FnOnce(super::Cause) -> Error,
    ) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.as_mut().ok_or(Error::Closed)?;
        let key_as = match self.layout {
            SqliteLayout::GoDsSql => KeyAs::Text,
            SqliteLayout::LegacyKv => KeyAs::Blob,
        };
        f(conn, &self.sql, key_as).map_err(|e| err(e.into()))
    }
}

/// How keys are bound: go-ds-sql stores them as TEXT, the old layout as BLOB (and SQLite
/// never finds a TEXT key by a BLOB parameter, or the reverse).
#[derive(Clone, Copy)]
enum KeyAs {
    Text,
    Blob,
}

impl KeyAs {
    fn bind<'a>(self, key: &'a str) -> ToSqlOutput<'a> {
        ToSqlOutput::Borrowed(match self {
            KeyAs::Text => ValueRef::Text(key.as_bytes()),
            KeyAs::Blob => ValueRef::Blob(key.as_bytes()),
        })
    }
}

/// A column's bytes whatever its storage class (go-ds-sql writes BLOBs; a NULL is empty).
fn bytes_of(v: ValueRef<'_>) -> Vec<u8> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => b.to_vec(),
        ValueRef::Null => Vec::new(),
        ValueRef::Integer(i) => i.to_string().into_bytes(),
        ValueRef::Real(f) => f.to_string().into_bytes(),
    }
}

fn get_in(
    conn: &Connection,
    sql: &Statements,
    key_as: KeyAs,
    key: &Key,
) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached(&sql.get)?
        .query_row(params![key_as.bind(key.as_str())], |r| {
            Ok(bytes_of(r.get_ref(0)?))
        })
        .optional()
}

impl Datastore for SqliteDatastore {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.with_conn(
            |c, sql, key_as| get_in(c, sql, key_as, key),
            |source| Error::Read {
                key: key.to_string(),
                source,
            },
        )
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>> {
        let prefix = query.prefix.query_prefix();
        // Keys are valid UTF-8 here (a `Key`, or a key read back from this table).
        let start = String::from_utf8_lossy(&query.seek_key()).into_owned();
        let limit = query.limit.unwrap_or(usize::MAX);
        self.with_conn(
            |c, sql, key_as| {
                let statement = if query.keys_only {
                    &sql.scan_keys
                } else {
                    &sql.scan
                };
                let mut stmt = c.prepare_cached(statement)?;
                let mut rows = stmt.query(params![key_as.bind(&start)])?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let key = bytes_of(row.get_ref(0)?);
                    if !key.starts_with(prefix.as_bytes()) || out.len() >= limit {
                        break;
                    }
                    if !query.past_start(&key) {
                        continue;
                    }
                    out.push(Entry {
                        key,
                        value: bytes_of(row.get_ref(1)?),
                    });
                }
                Ok(out)
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
        let mut conflict = None;
        let written = self.with_conn(
            |c, sql, key_as| {
                // IMMEDIATE: the write lock is taken before the conditions are read, so no
                // other process can change them before the commit.
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let checked = batch.check_expected(|k| {
                    get_in(&tx, sql, key_as, k).map_err(|e| Error::Read {
                        key: k.to_string(),
                        source: e.into(),
                    })
                });
                if let Err(e) = checked {
                    conflict = Some(e);
                    return Ok(());
                }
                {
                    let mut put = tx.prepare_cached(&sql.put)?;
                    let mut del = tx.prepare_cached(&sql.delete)?;
                    for op in batch.ops() {
                        match op {
                            Op::Put(k, v) => put.execute(params![key_as.bind(k.as_str()), v])?,
                            Op::Delete(k) => del.execute(params![key_as.bind(k.as_str())])?,
                        };
                    }
                }
                tx.commit()
            },
            |source| Error::Write {
                what: what.clone(),
                source,
            },
        );
        match conflict {
            Some(e) => Err(e),
            None => written,
        }
    }

    fn is_shared(&self) -> bool {
        self.shared
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
