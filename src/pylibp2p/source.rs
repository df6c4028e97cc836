//! py-libp2p's store files, read as raw key/value pairs, never written.
//!
//! - SQLite (twins: `datastore/sqlite_sync.py`, `datastore/sqlite.py`): one table,
//!   `CREATE TABLE datastore (key BLOB PRIMARY KEY, value BLOB NOT NULL)`, in WAL mode; keys
//!   and values are Python `bytes`, stored as BLOBs. The file is opened read-only: what is still
//!   in the write-ahead log of a node that did not close it is read too.
//! - LevelDB (twins: `datastore/leveldb.py` over plyvel, C++ LevelDB; `datastore/leveldb_sync.py`
//!   opens it the same way but calls py-leveldb's `Get`/`Put` on plyvel's object, so 0.8.1's
//!   synchronous store fails on its first write and leaves an empty database): each key its
//!   bytes, each value its bytes. Opened with this crate's engine, which reads C++ LevelDB's
//!   files, and listed with [`Db::raw_entries`](crate::datastore::leveldb::db::Db::raw_entries)
//!   since py-libp2p's keys do not start with `/`. Opening replays the journal into a table, as
//!   any LevelDB open does (plyvel opens the result as before); and the engine's lock (`flock`)
//!   does not see the one C++ LevelDB holds (`fcntl`), so a directory a running node has open
//!   must not be read in place: read a copy (`pstore migrate` always does).

use std::path::{Path, PathBuf};

use super::Error;
use super::convert::Finding;
use crate::datastore::{LevelDbDatastore, LevelDbOptions, SyncPolicy};

/// A py-libp2p store to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// py-libp2p's SQLite file (`backend="sqlite"`).
    #[cfg(feature = "sqlite")]
    Sqlite(PathBuf),
    /// py-libp2p's LevelDB directory (`backend="leveldb"`).
    LevelDb(PathBuf),
}

/// One record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// The key's bytes.
    pub key: Vec<u8>,
    /// The value's bytes.
    pub value: Vec<u8>,
}

/// What reading a source hands over: a record, or a row that is not one (with its key and
/// the reason).
pub type Read = Result<RawRecord, Finding>;

/// Records read from LevelDB at a time.
const PAGE: usize = 1024;

impl Source {
    /// The file or directory.
    pub fn path(&self) -> &Path {
        match self {
            #[cfg(feature = "sqlite")]
            Source::Sqlite(p) => p,
            Source::LevelDb(p) => p,
        }
    }

    /// Hands every record to `each`, in key order, and returns the notes of the open (a torn
    /// journal tail LevelDB dropped, say). Stops at the first error `each` returns.
    pub fn for_each(
        &self,
        each: &mut dyn FnMut(Read) -> Result<(), Error>,
    ) -> Result<Vec<String>, Error> {
        match self {
            #[cfg(feature = "sqlite")]
            Source::Sqlite(path) => sqlite::for_each(path, each).map(|()| Vec::new()),
            Source::LevelDb(path) => leveldb_for_each(path, each),
        }
    }
}

fn leveldb_for_each(
    path: &Path,
    each: &mut dyn FnMut(Read) -> Result<(), Error>,
) -> Result<Vec<String>, Error> {
    let ds = LevelDbDatastore::open(
        path,
        LevelDbOptions {
            create_if_missing: false,
            sync: SyncPolicy::Never,
            ..Default::default()
        },
    )
    .map_err(|e| Error::unreadable(path, "cannot open the LevelDB database", Some(e.into())))?;
    let notes = ds.open_warnings();
    let db = ds.engine();
    let snapshot = db.snapshot();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = db
            .raw_entries(after.as_deref(), PAGE, Some(&snapshot))
            .map_err(|e| {
                let reason = match &after {
                    Some(k) => format!("reading past {}", super::format::key_text(k)),
                    None => "reading the first records".to_owned(),
                };
                Error::unreadable(path, reason, Some(Box::new(e)))
            })?;
        let full = page.len() == PAGE;
        after = page.last().map(|e| e.key.clone());
        for e in page {
            each(Ok(RawRecord {
                key: e.key,
                value: e.value,
            }))?;
        }
        if !full {
            break;
        }
    }
    drop(snapshot);
    crate::datastore::Datastore::close(&ds)
        .map_err(|e| Error::unreadable(path, "closing the LevelDB database", Some(e.into())))?;
    Ok(notes)
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::Path;

    use rusqlite::types::ValueRef;
    use rusqlite::{Connection, OpenFlags};

    use super::{Error, Finding, RawRecord, Read};

    /// py-libp2p's table.
    const TABLE: &str = "datastore";

    /// A BLOB's (or TEXT's) bytes, or what the value is instead.
    fn bytes(v: ValueRef<'_>) -> Result<Vec<u8>, String> {
        match v {
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
            ValueRef::Null => Err("NULL".into()),
            ValueRef::Integer(i) => Err(format!("INTEGER {i}")),
            ValueRef::Real(f) => Err(format!("REAL {f}")),
        }
    }

    pub(super) fn for_each(
        path: &Path,
        each: &mut dyn FnMut(Read) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if path.is_dir() {
            return Err(Error::unreadable(
                path,
                "a directory, not a SQLite file (py-libp2p's LevelDB store?)",
                None,
            ));
        }
        if !path.is_file() {
            return Err(Error::unreadable(path, "no such file", None));
        }
        let fail = |what: &str| {
            let what = what.to_owned();
            move |e: rusqlite::Error| Error::unreadable(path, what, Some(Box::new(e)))
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail("cannot open the SQLite file"))?;
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [TABLE],
                |r| r.get(0),
            )
            .map_err(fail("not a SQLite database"))?;
        if tables == 0 {
            return Err(Error::unreadable(
                path,
                format!("no table `{TABLE}`: not py-libp2p's persistent peerstore"),
                None,
            ));
        }
        let mut stmt = conn
            .prepare(&format!("SELECT key, value FROM {TABLE} ORDER BY key"))
            .map_err(fail("reading the table"))?;
        let mut rows = stmt.query([]).map_err(fail("reading the table"))?;
        while let Some(row) = rows.next().map_err(fail("reading the table"))? {
            let key = row.get_ref(0).map_err(fail("reading the table"))?;
            let value = row.get_ref(1).map_err(fail("reading the table"))?;
            let read = match (bytes(key), bytes(value)) {
                (Ok(key), Ok(value)) => Ok(RawRecord { key, value }),
                (Err(kind), _) => Err(Finding {
                    key: None,
                    key_text: format!("the row with key {kind}"),
                    reason: "a key must be a BLOB".into(),
                }),
                (Ok(key), Err(kind)) => Err(Finding::new(
                    &key,
                    format!("the value is {kind}, not a BLOB"),
                )),
            };
            each(read)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::{Batch, Datastore, Key, Op};

    /// Every key, once, in order, across pages (our engine writes only `/` keys; py-libp2p's
    /// own, written by plyvel, are read in python/tests/test_migrate_pylibp2p.py).
    #[test]
    fn a_leveldb_source_hands_over_every_record_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
        let n = 2 * PAGE + 7;
        let mut batch = Batch::new();
        for i in 0..n {
            batch.push(Op::Put(Key::new(&format!("/k/{i:05}")), vec![i as u8]));
        }
        ds.write(batch).unwrap();
        ds.close().unwrap();
        drop(ds);
        let mut seen = Vec::new();
        let notes = Source::LevelDb(dir.path().to_path_buf())
            .for_each(&mut |r| {
                seen.push(r.unwrap());
                Ok(())
            })
            .unwrap();
        assert!(notes.is_empty());
        assert_eq!(seen.len(), n);
        for (i, r) in seen.iter().enumerate() {
            assert_eq!(r.key, format!("/k/{i:05}").into_bytes());
            assert_eq!(r.value, vec![i as u8]);
        }
    }
}
