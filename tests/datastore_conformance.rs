//! One conformance suite, run over every datastore backend: go-datastore's semantics for get,
//! has, put, delete, prefix queries (strict children, key order), atomic batches and close.

use std::sync::Arc;

use pstoreds::datastore::{
    Batch, Datastore, Error, Key, LevelDbDatastore, LevelDbOptions, MemoryDatastore, Query,
};

fn k(s: &str) -> Key {
    Key::new(s)
}

fn keys_of(ds: &dyn Datastore, q: Query) -> Vec<String> {
    ds.query(&q)
        .unwrap()
        .into_iter()
        .map(|e| e.key_lossy())
        .collect()
}

fn get_put_delete(ds: &dyn Datastore) {
    assert_eq!(ds.get(&k("/a")).unwrap(), None);
    assert!(!ds.has(&k("/a")).unwrap());
    ds.put(&k("/a"), b"1").unwrap();
    assert_eq!(ds.get(&k("/a")).unwrap().as_deref(), Some(&b"1"[..]));
    assert!(ds.has(&k("/a")).unwrap());
    ds.put(&k("/a"), b"").unwrap();
    assert_eq!(
        ds.get(&k("/a")).unwrap().as_deref(),
        Some(&b""[..]),
        "empty values are kept"
    );
    ds.delete(&k("/a")).unwrap();
    assert_eq!(ds.get(&k("/a")).unwrap(), None);
    // Deleting what is not there is not an error, as in go-datastore.
    ds.delete(&k("/a")).unwrap();
}

/// A query read in pages (`Query::page`) returns what one query returns, in order, each page
/// at most its limit and starting after the previous page's last key; values come with the
/// keys unless keys only were asked for.
fn paged_queries_walk_the_prefix_in_order(ds: &dyn Datastore) {
    let mut want = Vec::new();
    for i in 0..23 {
        let key = format!("/peers/addrs/P{i:02}");
        ds.put(&k(&key), key.as_bytes()).unwrap();
        want.push(key);
    }
    ds.put(&k("/peers/addrsX"), b"outside").unwrap();
    ds.put(&k("/peers/a"), b"before").unwrap();
    for keys_only in [false, true] {
        let mut got = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let mut q = Query::prefix(k("/peers/addrs")).page(after.clone(), 5);
            q.keys_only = keys_only;
            let page = ds.query(&q).unwrap();
            assert!(page.len() <= 5);
            for e in &page {
                let key = String::from_utf8(e.key.clone()).unwrap();
                let value = if keys_only {
                    Vec::new()
                } else {
                    key.clone().into_bytes()
                };
                assert_eq!(e.value, value, "{key}");
                got.push(key);
            }
            match page.last() {
                Some(last) if page.len() == 5 => after = Some(last.key.clone()),
                _ => break,
            }
        }
        assert_eq!(got, want);
    }
    // A page may start after a key that is not stored, and before the prefix.
    let from_gap = ds
        .query(&Query::keys(k("/peers/addrs")).page(Some(b"/peers/addrs/P10x".to_vec()), 3))
        .unwrap();
    assert_eq!(
        from_gap.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
        [
            b"/peers/addrs/P11".to_vec(),
            b"/peers/addrs/P12".to_vec(),
            b"/peers/addrs/P13".to_vec()
        ]
    );
    let from_before = ds
        .query(&Query::keys(k("/peers/addrs")).page(Some(b"/a".to_vec()), 1))
        .unwrap();
    assert_eq!(from_before[0].key, b"/peers/addrs/P00");
}

fn prefix_query_matches_strict_children_in_order(ds: &dyn Datastore) {
    for key in [
        "/peers/metadata/MZXW6YTBOI/x",
        "/peers/metadata/MZXW6/b",
        "/peers/metadata/MZXW6/a",
        "/peers/metadata/MZXW6",
        "/peers/metadataX/y",
        "/peers/addrs/Q",
    ] {
        ds.put(&k(key), key.as_bytes()).unwrap();
    }
    assert_eq!(
        keys_of(ds, Query::prefix(k("/peers/metadata/MZXW6"))),
        ["/peers/metadata/MZXW6/a", "/peers/metadata/MZXW6/b"]
    );
    assert_eq!(
        keys_of(ds, Query::keys(k("/peers/metadata"))),
        [
            "/peers/metadata/MZXW6",
            "/peers/metadata/MZXW6/a",
            "/peers/metadata/MZXW6/b",
            "/peers/metadata/MZXW6YTBOI/x"
        ]
    );
    // A prefix is cleaned like any key: a trailing slash changes nothing.
    assert_eq!(
        keys_of(ds, Query::keys(Key::new("/peers/addrs/"))),
        ["/peers/addrs/Q"]
    );
    assert_eq!(keys_of(ds, Query::keys(Key::root())).len(), 6);

    let with_values = ds.query(&Query::prefix(k("/peers/addrs"))).unwrap();
    assert_eq!(with_values[0].value, b"/peers/addrs/Q");
    assert_eq!(with_values[0].key().unwrap(), k("/peers/addrs/Q"));
    let keys_only = ds.query(&Query::keys(k("/peers/addrs"))).unwrap();
    assert!(keys_only[0].value.is_empty());
    assert!(ds.query(&Query::prefix(k("/nothing"))).unwrap().is_empty());
}

fn batches_apply_in_order(ds: &dyn Datastore) {
    ds.put(&k("/b/old"), b"x").unwrap();
    let batch = Batch::new()
        .put(k("/b/1"), b"one".to_vec())
        .put(k("/b/2"), b"two".to_vec())
        .delete(k("/b/2"))
        .delete(k("/b/old"))
        .put(k("/b/1"), b"uno".to_vec());
    assert_eq!(batch.len(), 5);
    ds.write(batch).unwrap();
    assert_eq!(keys_of(ds, Query::keys(k("/b"))), ["/b/1"]);
    assert_eq!(ds.get(&k("/b/1")).unwrap().as_deref(), Some(&b"uno"[..]));
    ds.write(Batch::new()).unwrap();
}

fn binary_values_round_trip(ds: &dyn Datastore) {
    let value: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    ds.put(&k("/big"), &value).unwrap();
    assert_eq!(ds.get(&k("/big")).unwrap().unwrap(), value);
}

fn concurrent_writers_are_all_seen(ds: Arc<dyn Datastore>) {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let ds = ds.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    ds.put(&k(&format!("/c/{t}/{i:03}")), format!("{t}-{i}").as_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ds.query(&Query::keys(k("/c"))).unwrap().len(), 400);
    assert_eq!(
        ds.get(&k("/c/3/099")).unwrap().as_deref(),
        Some(&b"3-99"[..])
    );
}

fn closed_store_refuses_everything(ds: &dyn Datastore) {
    ds.put(&k("/x"), b"1").unwrap();
    ds.close().unwrap();
    assert!(matches!(ds.get(&k("/x")), Err(Error::Closed)));
    assert!(matches!(ds.put(&k("/x"), b"2"), Err(Error::Closed)));
    assert!(matches!(
        ds.query(&Query::keys(Key::root())),
        Err(Error::Closed)
    ));
    ds.close().unwrap();
}

fn conditions_guard_a_read_modify_write(ds: &dyn Datastore) {
    ds.put(&k("/r"), b"v1").unwrap();
    // Holds: applied.
    let mut b = Batch::new().put(k("/r"), b"v2".to_vec());
    b.expect(k("/r"), Some(b"v1".to_vec()));
    ds.write(b).unwrap();
    assert_eq!(ds.get(&k("/r")).unwrap().as_deref(), Some(&b"v2"[..]));
    // Stale: nothing of the batch applies, and the error names the key.
    let mut b = Batch::new()
        .put(k("/r"), b"v3".to_vec())
        .put(k("/other"), b"x".to_vec());
    b.expect(k("/r"), Some(b"v1".to_vec()));
    match ds.write(b) {
        Err(Error::Conflict { key }) => assert_eq!(key, "/r"),
        other => panic!("expected a conflict on /r, got {other:?}"),
    }
    assert_eq!(ds.get(&k("/r")).unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(ds.get(&k("/other")).unwrap(), None);
    // Absent expected: holds for a new key, not for an existing one.
    let mut b = Batch::new().put(k("/new"), b"n".to_vec());
    b.expect(k("/new"), None);
    ds.write(b).unwrap();
    let mut b = Batch::new().delete(k("/new"));
    b.expect(k("/new"), None);
    assert!(matches!(ds.write(b), Err(Error::Conflict { .. })));
    assert!(ds.has(&k("/new")).unwrap());
}

/// Many threads (over a shared store: as many connections) incrementing one counter with
/// conditional writes, half of them in batches of one op, half in batches of two (backends may
/// run the two differently): every increment lands exactly once.
fn conditional_increments_lose_nothing(ds: Arc<dyn Datastore>) {
    ds.put(&k("/counter"), b"0").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let ds = ds.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    loop {
                        let was = ds.get(&k("/counter")).unwrap();
                        let n: u64 = std::str::from_utf8(was.as_deref().unwrap())
                            .unwrap()
                            .parse()
                            .unwrap();
                        let mut b = Batch::new().put(k("/counter"), (n + 1).to_string().into());
                        if t % 2 == 1 {
                            b = b.put(k(&format!("/side/{t}")), n.to_string().into());
                        }
                        b.expect(k("/counter"), was);
                        match ds.write(b) {
                            Ok(()) => break,
                            Err(Error::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        ds.get(&k("/counter")).unwrap().as_deref(),
        Some(&b"200"[..])
    );
}

macro_rules! conformance {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn get_put_delete() {
                let (_dir, ds) = $make;
                super::get_put_delete(&ds);
            }

            #[test]
            fn prefix_query_matches_strict_children_in_order() {
                let (_dir, ds) = $make;
                super::prefix_query_matches_strict_children_in_order(&ds);
            }

            #[test]
            fn paged_queries_walk_the_prefix_in_order() {
                let (_dir, ds) = $make;
                super::paged_queries_walk_the_prefix_in_order(&ds);
            }

            #[test]
            fn batches_apply_in_order() {
                let (_dir, ds) = $make;
                super::batches_apply_in_order(&ds);
            }

            #[test]
            fn binary_values_round_trip() {
                let (_dir, ds) = $make;
                super::binary_values_round_trip(&ds);
            }

            #[test]
            fn concurrent_writers_are_all_seen() {
                let (_dir, ds) = $make;
                super::concurrent_writers_are_all_seen(Arc::new(ds));
            }

            #[test]
            fn conditions_guard_a_read_modify_write() {
                let (_dir, ds) = $make;
                super::conditions_guard_a_read_modify_write(&ds);
            }

            #[test]
            fn conditional_increments_lose_nothing() {
                let (_dir, ds) = $make;
                super::conditional_increments_lose_nothing(Arc::new(ds));
            }

            #[test]
            fn closed_store_refuses_everything() {
                let (_dir, ds) = $make;
                super::closed_store_refuses_everything(&ds);
            }
        }
    };
}

conformance!(memory, ((), MemoryDatastore::new()));

conformance!(leveldb, {
    let dir = tempfile::tempdir().unwrap();
    let ds = LevelDbDatastore::open(dir.path().join("db"), LevelDbOptions::default()).unwrap();
    (dir, ds)
});

#[cfg(feature = "sqlite")]
conformance!(sqlite, {
    let dir = tempfile::tempdir().unwrap();
    let ds = pstoreds::datastore::SqliteDatastore::open(
        dir.path().join("db.sqlite"),
        Default::default(),
    )
    .unwrap();
    (dir, ds)
});

// Files written by earlier versions of this crate: table `kv`, keys and values as blobs.
#[cfg(feature = "sqlite")]
conformance!(sqlite_old_kv_layout, {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID",
        )
        .unwrap();
    let ds = pstoreds::datastore::SqliteDatastore::open(&path, Default::default()).unwrap();
    assert_eq!(ds.layout(), pstoreds::datastore::SqliteLayout::LegacyKv);
    (dir, ds)
});

#[cfg(feature = "postgres")]
mod common;

// The PostgreSQL table goes when the test is done (the guard is the "dir" of the macro).
#[cfg(feature = "postgres")]
conformance!(postgres, {
    let Some(table) = common::PgTable::new() else {
        return;
    };
    let ds = table.open();
    (table, ds)
});

#[test]
fn leveldb_keeps_data_across_reopen_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let ds = LevelDbDatastore::open(&path, LevelDbOptions::default()).unwrap();
        for i in 0..2000 {
            ds.put(&k(&format!("/peers/addrs/P{i:05}")), &[7u8; 64])
                .unwrap();
        }
        ds.delete(&k("/peers/addrs/P00007")).unwrap();
        ds.compact().unwrap();
        ds.put(&k("/after/compaction"), b"in the log").unwrap();
    }
    let ds = LevelDbDatastore::open(&path, LevelDbOptions::default()).unwrap();
    assert_eq!(
        ds.query(&Query::keys(k("/peers/addrs"))).unwrap().len(),
        1999
    );
    assert_eq!(ds.get(&k("/peers/addrs/P00007")).unwrap(), None);
    assert_eq!(
        ds.get(&k("/after/compaction")).unwrap().as_deref(),
        Some(&b"in the log"[..])
    );
}

#[test]
fn leveldb_directory_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/db");
    let _ds = LevelDbDatastore::open(&path, LevelDbOptions::default()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn leveldb_held_by_another_opener_is_locked_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let _first = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
    let second = LevelDbDatastore::open(dir.path(), LevelDbOptions::default());
    let err = second.unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked by another process"));
}

/// A `LOCK` held by another process only for a moment — a child started by any thread of
/// ours holds a copy of our descriptors between its fork and its exec — is waited out; one
/// held for longer still fails the open as locked.
#[test]
fn leveldb_lock_held_for_a_moment_is_waited_out_and_a_held_one_is_locked() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    LevelDbDatastore::open(dir.path(), LevelDbOptions::default())
        .unwrap()
        .close()
        .unwrap();
    let hold = |seconds: &str| {
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("LOCK"))
            .unwrap();
        lock.try_lock().unwrap();
        // The child's stdin is the same open file, so it holds the lock until it exits.
        Command::new("sleep")
            .arg(seconds)
            .stdin(Stdio::from(lock))
            .spawn()
            .unwrap()
    };
    let mut brief = hold("0.2");
    let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default());
    brief.wait().unwrap();
    ds.expect("a lock released within the open's patience")
        .close()
        .unwrap();
    let mut long = hold("30");
    let err = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap_err();
    long.kill().unwrap();
    long.wait().unwrap();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
}

#[test]
fn leveldb_refuses_a_directory_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LevelDbOptions {
        create_if_missing: false,
        ..Default::default()
    };
    let err = LevelDbDatastore::open(dir.path(), opts.clone()).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = LevelDbDatastore::open(dir.path().join("missing"), opts).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

/// goleveldb compresses every table block with Snappy; so must we. Each block ends in a trailer
/// `type (1 byte) | crc32 (4 bytes)`; the footer locates the index block, whose type byte tells
/// the compression the table was written with.
#[test]
fn leveldb_tables_are_snappy_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let ds = LevelDbDatastore::open(dir.path(), LevelDbOptions::default()).unwrap();
    for i in 0..500 {
        ds.put(&k(&format!("/peers/addrs/P{i:05}")), &[b'a'; 100])
            .unwrap();
    }
    ds.compact().unwrap();
    let tables: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("ldb" | "sst")))
        .collect();
    assert!(!tables.is_empty(), "compaction wrote no table");
    for table in tables {
        let bytes = std::fs::read(&table).unwrap();
        assert_eq!(
            &bytes[bytes.len() - 8..],
            &0xdb4775248b80fb57u64.to_le_bytes()
        );
        // Footer: metaindex handle, index handle (varints), padding, magic.
        let footer = &bytes[bytes.len() - 48..];
        let (_, n1) = varint(footer);
        let (_, n2) = varint(&footer[n1..]);
        let (index_off, n3) = varint(&footer[n1 + n2..]);
        let (index_size, _) = varint(&footer[n1 + n2 + n3..]);
        let block_type = bytes[(index_off + index_size) as usize];
        assert_eq!(
            block_type,
            1,
            "{} is not Snappy-compressed",
            table.display()
        );
        // 500 values of 100 identical bytes compress far below their raw size.
        assert!(
            bytes.len() < 500 * 100 / 2,
            "table of {} bytes",
            bytes.len()
        );
    }
}

fn varint(b: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate() {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("truncated varint")
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Reads between writes do not keep overwritten versions alive: an explicit compaction leaves
/// one version of a rewritten key (rusty-leveldb 4.0.2, the engine before ours, kept every
/// version once any read had taken a snapshot).
#[test]
fn leveldb_compaction_drops_overwritten_versions_after_reads() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LevelDbOptions {
        sync: pstoreds::datastore::SyncPolicy::Never,
        ..Default::default()
    };
    let ds = LevelDbDatastore::open(dir.path(), opts).unwrap();
    let value = vec![0x5a_u8; 200];
    for i in 0..60_000 {
        ds.put(&k(&format!("/peers/addrs/P{:03}", i % 100)), &value)
            .unwrap();
        if i % 1000 == 0 {
            ds.get(&k("/peers/addrs/P001")).unwrap(); // takes a snapshot
        }
    }
    ds.compact().unwrap();
    let after = dir_size(dir.path());
    // 100 live keys of 200 bytes; without the workaround 60,000 versions stay (megabytes).
    assert!(after < 200_000, "{after} bytes after compaction");
    assert_eq!(
        ds.query(&Query::keys(k("/peers/addrs"))).unwrap().len(),
        100
    );
}

/// The engine's own compactions, a level at a time as tables fill, drop overwritten versions
/// too, with reads between the writes: the database stays near its live size with no call to
/// `compact` (no whole-database compaction ever holds the store up).
#[test]
fn leveldb_own_compactions_drop_overwritten_versions() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LevelDbOptions {
        sync: pstoreds::datastore::SyncPolicy::Never,
        write_buffer_size: 64 << 10,
        ..Default::default()
    };
    let ds = LevelDbDatastore::open(dir.path(), opts).unwrap();
    // Values that do not compress (Snappy would shrink a repeated byte to nothing).
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut value = move || -> Vec<u8> {
        (0..200)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    for i in 0..50_000 {
        ds.put(&k(&format!("/peers/addrs/P{:03}", i % 100)), &value())
            .unwrap();
        if i % 10 == 0 {
            ds.get(&k(&format!("/peers/addrs/P{:03}", i % 97))).unwrap();
        }
        if i % 1000 == 0 {
            ds.query(&Query::keys(k("/peers/addrs"))).unwrap();
        }
    }
    // 10 MB written over 100 keys of 200 bytes: the journal, a few level-0 tables of at most
    // 64 KiB and the compacted levels.
    let size = dir_size(dir.path());
    assert!(size < 1_000_000, "{size} bytes after 10 MB of rewrites");
    assert_eq!(
        ds.query(&Query::keys(k("/peers/addrs"))).unwrap().len(),
        100
    );
}

/// Errors keep their cause: an open that the OS refuses carries the `io::Error` as its source.
#[test]
fn leveldb_errors_carry_their_cause() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = LevelDbDatastore::open(file.join("db"), LevelDbOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
    let source = std::error::Error::source(&err).expect("a cause");
    assert!(
        source.downcast_ref::<std::io::Error>().is_some(),
        "{source:?}"
    );
}
