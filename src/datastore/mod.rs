//! The storage layer: a key-value [`Datastore`] with go-datastore's semantics, and its backends.
//!
//! Everything above this module (codecs aside) talks to storage only through [`Datastore`], so a
//! peerstore runs the same over LevelDB (the Go-compatible default), memory, SQLite or
//! PostgreSQL (both in go-ds-sql's layouts).
//!
//! ```
//! use pstoreds::datastore::{Batch, Datastore, Key, MemoryDatastore, Query};
//!
//! let ds = MemoryDatastore::new();
//! ds.put(&Key::new("/peers/addrs/A"), b"one")?;
//! ds.write(Batch::new().put(Key::new("/peers/addrs/B"), b"two".to_vec()))?;
//! let found = ds.query(&Query::prefix(Key::new("/peers/addrs")))?;
//! assert_eq!(found.len(), 2);
//! # Ok::<(), pstoreds::datastore::Error>(())
//! ```

mod key;
pub mod leveldb;
mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::path::PathBuf;

pub use key::Key;
pub use leveldb::{LevelDbDatastore, LevelDbOptions};
pub use memory::MemoryDatastore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresDatastore, PostgresOptions};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteDatastore, SqliteLayout, SqliteOptions};

/// What went wrong in the storage layer. Every variant names the key or the path involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process (or another open in this one) holds the database's lock.
    #[error(
        "the database at {path} is locked by another process (a running node?); stop it, or \
            work on a copy of the directory"
    )]
    Locked {
        /// The database.
        path: PathBuf,
    },
    /// Nothing to open, and nothing was to be created.
    #[error("no database at {path}: {reason}")]
    NotFound {
        /// Where a database was looked for.
        path: PathBuf,
        /// What is there instead.
        reason: String,
    },
    /// The database could not be opened; the cause is the engine's, SQLite's or the OS's error.
    #[error("cannot open the database at {path}: {source}")]
    Open {
        /// The database.
        path: PathBuf,
        /// Why.
        #[source]
        source: Cause,
    },
    /// Reading a key failed (not: the key is absent, which is `Ok(None)`).
    #[error("reading {key}: {source}")]
    Read {
        /// The key.
        key: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A put, delete, batch, compaction or close failed; `what` names the key or the batch.
    #[error("writing {what}: {source}")]
    Write {
        /// The key, batch or operation.
        what: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A prefix query failed.
    #[error("querying prefix {prefix}: {source}")]
    Query {
        /// The prefix.
        prefix: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A key go-datastore's rules reject (Go's `RawKey` would panic on it).
    #[error("invalid datastore key {key:?}: {reason}")]
    InvalidKey {
        /// The key, as given.
        key: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The datastore was closed.
    #[error("the datastore is closed")]
    Closed,
    /// A batch's condition ([`Batch::expect`]) did not hold: another writer changed the key
    /// since it was read. Nothing of the batch was applied; read again and retry.
    #[error("{key} was changed by another writer since it was read; nothing was written")]
    Conflict {
        /// The key whose value was not the expected one.
        key: String,
    },
    /// A SQL table does not have go-ds-sql's layout (or the one asked for): nothing was
    /// written.
    #[error("{table}: {problem}; nothing was written")]
    Schema {
        /// The table, with the database it is in.
        table: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A SQL server could not be reached, or refused us, or kept failing after the retries.
    #[error("{server}: {reason}")]
    Server {
        /// The server (its URL without the password).
        server: String,
        /// What happened, as the client library or the server said it.
        reason: String,
    },
    /// The database on disk is damaged in a way that opening it would make worse or hide:
    /// nothing was changed.
    #[error(
        "the LevelDB database at {path} is damaged: {problem}. Nothing was changed; `pstore \
            verify` lists what is readable and `pstore salvage` copies it into a new database"
    )]
    Damaged {
        /// The database.
        path: PathBuf,
        /// What is damaged, naming the file (and offset, where known).
        problem: String,
    },
    /// A read met damaged data (a table block failing its checksum, a table that cannot be
    /// read): the answer would be incomplete, so there is none.
    #[error("reading {what}: the database is damaged ({damage})")]
    Corrupt {
        /// The key or prefix being read.
        what: String,
        /// The damaged file, offset and problem.
        damage: String,
    },
    /// An earlier write or sync failed; no write is accepted until the database is reopened,
    /// which recovers everything acknowledged before the failure.
    #[error("the database at {path} refuses writes after an earlier failure ({reason}); reopen it")]
    Failed {
        /// The database.
        path: PathBuf,
        /// The earlier failure.
        reason: String,
    },
}

/// go-ds-sql's default table name, for SQLite and PostgreSQL.
pub const DEFAULT_TABLE: &str = "blocks";

/// Whether `name` can be used as a table name as go-ds-sql uses one (unquoted in its
/// statements): letters, digits and `_`, not starting with a digit, at most 63 bytes
/// (PostgreSQL's limit).
#[allow(dead_code)] // without the SQL features
pub(crate) fn check_table_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a usable table name (letters, digits and _, not starting with a \
                digit, at most 63 bytes)"
        ))
    }
}

/// What the storage layer returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The underlying error an [`Error`] carries as its source: the LevelDB engine's status,
/// SQLite's error, or the operating system's.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Whether each write reaches the disk (fsync) before it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync every put, delete and batch, as go-ds-leveldb does. The default.
    #[default]
    Always,
    /// Leave flushing to the engine and the OS: faster, but a crash can lose recent writes.
    Never,
}

/// A prefix query: every key strictly below `prefix`, in key (byte) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Every key strictly below this one matches.
    pub prefix: Key,
    /// Return keys without values (values come back empty).
    pub keys_only: bool,
    /// Only keys (as bytes) greater than this one: where the previous page ended.
    pub after: Option<Vec<u8>>,
    /// At most this many entries (the first ones in key order).
    pub limit: Option<usize>,
}

impl Query {
    /// All entries strictly below `prefix`, with values.
    pub fn prefix(prefix: Key) -> Query {
        Query {
            prefix,
            keys_only: false,
            after: None,
            limit: None,
        }
    }

    /// All keys strictly below `prefix`, without values.
    pub fn keys(prefix: Key) -> Query {
        Query {
            keys_only: true,
            ..Query::prefix(prefix)
        }
    }

    /// One page of the query: at most `limit` entries with keys after `after` (from the first
    /// when `None`), so that a walk over many keys holds one page in memory at a time.
    pub fn page(self, after: Option<Vec<u8>>, limit: usize) -> Query {
        Query {
            after,
            limit: Some(limit),
            ..self
        }
    }

    /// Whether an entry with this key, met in key order, starts after `after` (those at or
    /// before it are skipped).
    pub(crate) fn past_start(&self, key: &[u8]) -> bool {
        self.after.as_deref().is_none_or(|a| key > a)
    }

    /// The key to seek to: the prefix, or `after` when it sorts later.
    pub(crate) fn seek_key(&self) -> Vec<u8> {
        let prefix = self.prefix.query_prefix().into_bytes();
        match &self.after {
            Some(a) if a.as_slice() > prefix.as_slice() => a.clone(),
            _ => prefix,
        }
    }
}

/// One query result. The key is kept as the bytes found in the store, so that a key written by
/// some other program that breaks go-datastore's rules is still seen (and can be reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key's bytes, as stored.
    pub key: Vec<u8>,
    /// The value (empty for keys-only queries).
    pub value: Vec<u8>,
}

impl Entry {
    /// The entry's key, if it is a valid datastore key.
    pub fn key(&self) -> Result<Key> {
        Key::from_raw_bytes(&self.key)
    }

    /// The key as text, for messages.
    pub fn key_lossy(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }
}

/// One operation of a [`Batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store the value under the key.
    Put(Key, Vec<u8>),
    /// Remove the key.
    Delete(Key),
}

/// Puts and deletes applied atomically, in order, by [`Datastore::write`]; optionally only if
/// some keys still hold the values they were read with ([`Batch::expect`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
    expected: Vec<(Key, Option<Vec<u8>>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a put.
    pub fn put(mut self, key: Key, value: Vec<u8>) -> Batch {
        self.ops.push(Op::Put(key, value));
        self
    }

    /// Adds a delete.
    pub fn delete(mut self, key: Key) -> Batch {
        self.ops.push(Op::Delete(key));
        self
    }

    /// Adds an op.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Adds every op (and condition) of `other`, after this batch's.
    pub fn extend(&mut self, other: Batch) {
        self.ops.extend(other.ops);
        self.expected.extend(other.expected);
    }

    /// A condition: the batch applies only if `key` holds `value` (`None`: is absent) when it
    /// is written, else the write fails with [`Error::Conflict`] and changes nothing. This is
    /// how a read-modify-write stays safe when other processes write the same store.
    pub fn expect(&mut self, key: Key, value: Option<Vec<u8>>) {
        self.expected.push((key, value));
    }

    /// The conditions, in the order they were added.
    pub fn expected(&self) -> &[(Key, Option<Vec<u8>>)] {
        &self.expected
    }

    /// The first condition that `current` (the key's value now) breaks, if any. Backends call
    /// it with each key's value read inside their write transaction or lock.
    pub fn check_expected(
        &self,
        mut current: impl FnMut(&Key) -> Result<Option<Vec<u8>>>,
    ) -> Result<()> {
        for (key, want) in &self.expected {
            if current(key)? != *want {
                return Err(Error::Conflict {
                    key: key.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The ops, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// How many ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there is no op and no condition.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.expected.is_empty()
    }

    /// A short description for error messages: the first key and the count.
    fn describe(&self) -> String {
        self.summary().to_string()
    }

    /// What [`Batch::describe`] says, kept cheaply (the first key and the count) for a batch
    /// about to be moved into a write; formatted only if the write fails.
    fn summary(&self) -> BatchSummary {
        BatchSummary {
            first: self.ops.first().map(|op| match op {
                Op::Put(k, _) | Op::Delete(k) => k.clone(),
            }),
            len: self.ops.len(),
        }
    }
}

/// See [`Batch::summary`].
struct BatchSummary {
    first: Option<Key>,
    len: usize,
}

impl std::fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.first {
            None => write!(f, "an empty batch"),
            Some(k) if self.len == 1 => write!(f, "key {k}"),
            Some(k) => write!(f, "a batch of {} ops starting at key {k}", self.len),
        }
    }
}

/// A key-value store with go-datastore's semantics. Implementations are shared between threads;
/// every method is atomic on its own.
pub trait Datastore: Send + Sync {
    /// The value at `key`, or `None`. A read error is an error, never `None`.
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>>;

    /// Whether `key` is stored.
    fn has(&self, key: &Key) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Stores `value` under `key` (one write).
    fn put(&self, key: &Key, value: &[u8]) -> Result<()> {
        self.write(Batch::new().put(key.clone(), value.to_vec()))
    }

    /// Removes `key` (absent is fine).
    fn delete(&self, key: &Key) -> Result<()> {
        self.write(Batch::new().delete(key.clone()))
    }

    /// Entries strictly below `query.prefix`, in key order, from one consistent view.
    fn query(&self, query: &Query) -> Result<Vec<Entry>>;

    /// Applies all of `batch` or none of it. If one of the batch's conditions
    /// ([`Batch::expect`]) does not hold, nothing is applied and the error is
    /// [`Error::Conflict`].
    fn write(&self, batch: Batch) -> Result<()>;

    /// Whether other processes may write this store while we have it open (a shared SQL
    /// server). The peerstore then reads address records from the store, not its cache, and
    /// writes them only if unchanged since read ([`Batch::expect`]), retrying on a conflict.
    fn is_shared(&self) -> bool {
        false
    }

    /// Flushes and releases the store; later calls fail with [`Error::Closed`].
    fn close(&self) -> Result<()>;

    /// Starts a deferred-sync scope on this thread: until the matching
    /// [`Datastore::end_deferred_sync`], this thread's writes are applied (and visible) but not
    /// synced one by one. Scopes nest. Backends without a per-write sync to save do nothing.
    fn begin_deferred_sync(&self) {}

    /// Ends the scope [`Datastore::begin_deferred_sync`] began; the outermost end makes every
    /// write of the scope durable with one sync, and returns only then (or with the error
    /// that sync met).
    fn end_deferred_sync(&self) -> Result<()> {
        Ok(())
    }
}

impl<D: Datastore + ?Sized> Datastore for std::sync::Arc<D> {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn has(&self, key: &Key) -> Result<bool> {
        (**self).has(key)
    }
    fn put(&self, key: &Key, value: &[u8]) -> Result<()> {
        (**self).put(key, value)
    }
    fn delete(&self, key: &Key) -> Result<()> {
        (**self).delete(key)
    }
    fn query(&self, query: &Query) -> Result<Vec<Entry>> {
        (**self).query(query)
    }
    fn write(&self, batch: Batch) -> Result<()> {
        (**self).write(batch)
    }
    fn close(&self) -> Result<()> {
        (**self).close()
    }
    fn begin_deferred_sync(&self) {
        (**self).begin_deferred_sync()
    }
    fn end_deferred_sync(&self) -> Result<()> {
        (**self).end_deferred_sync()
    }
    fn is_shared(&self) -> bool {
        (**self).is_shared()
    }
}
