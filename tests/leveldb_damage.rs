//! The corruption matrix: real database files (several tables on several levels, a MANIFEST,
//! journals) flipped, cut or deleted at several places. For each case the outcome must be one
//! of: opens with nothing lost; a torn journal tail dropped with a warning (what a crash leaves);
//! refused, naming the damaged file, with nothing on disk changed; or opens and the reads that
//! meet the damage fail naming it. Never: opens with data missing and no error. Each case is
//! also salvaged, and the salvage must report what it could not read. The matrix is printed
//! (`cargo test --test leveldb_damage -- --nocapture`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pstoreds::datastore::leveldb::check;
use pstoreds::datastore::{
    Datastore, Error, Key, LevelDbDatastore, LevelDbOptions, MemoryDatastore, Query,
};

fn key(i: usize) -> Key {
    Key::new(&format!("/peers/addrs/P{i:05}"))
}

fn value(i: usize, v: usize) -> Vec<u8> {
    format!("{i}:{v}:{}", "abcdefgh".repeat(20 + i % 17)).into_bytes()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// The final value of every key.
    expected: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Keys whose last write is in the current journal (a torn tail may take them).
    in_journal: Vec<Vec<u8>>,
}

/// A database with tables on more than one level, and writes left in the journal.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let opts = LevelDbOptions {
        write_buffer_size: 64 << 10,
        ..Default::default()
    };
    let mut expected = BTreeMap::new();
    let ds = LevelDbDatastore::open(&path, opts.clone()).unwrap();
    let mut put = |ds: &LevelDbDatastore, i: usize, v: usize| {
        ds.put(&key(i), &value(i, v)).unwrap();
        expected.insert(key(i).as_bytes().to_vec(), value(i, v));
    };
    for i in 0..3000 {
        put(&ds, i, 0);
    }
    ds.compact().unwrap();
    for i in (0..3000).step_by(3) {
        put(&ds, i, 1);
    }
    drop(ds);
    // A fresh open: what is written now stays in the journal.
    let ds = LevelDbDatastore::open(&path, opts).unwrap();
    let mut in_journal = Vec::new();
    for i in 3000..3150 {
        put(&ds, i, 2);
        in_journal.push(key(i).as_bytes().to_vec());
    }
    ds.close().unwrap();
    Fixture {
        _dir: dir,
        path,
        expected,
        in_journal,
    }
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.ends_with(ext) || (ext == "MANIFEST" && n.starts_with("MANIFEST-"))
        })
        .collect();
    v.sort();
    v
}

/// The newest journal, the largest table, the MANIFEST, CURRENT.
fn target(dir: &Path, what: &str) -> PathBuf {
    match what {
        "journal" => files(dir, ".log").pop().unwrap(),
        "table" => files(dir, ".ldb")
            .into_iter()
            .max_by_key(|p| std::fs::metadata(p).unwrap().len())
            .unwrap(),
        "MANIFEST" => files(dir, "MANIFEST").pop().unwrap(),
        _ => dir.join("CURRENT"),
    }
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Flip one byte at this fraction of the file.
    Flip(f64),
    /// Flip 64 bytes from this fraction on.
    Flip64(f64),
    /// Flip the byte this far from the end.
    FlipFromEnd(u64),
    /// Cut the file at this fraction.
    Cut(f64),
    Delete,
    Write(&'static str),
}

fn apply(file: &Path, d: Damage) {
    let mut bytes = std::fs::read(file).unwrap_or_default();
    let at = |f: f64| ((bytes.len() as f64 * f) as usize).min(bytes.len().saturating_sub(1));
    match d {
        Damage::Flip(f) => {
            let i = at(f);
            bytes[i] ^= 0x5a;
        }
        Damage::Flip64(f) => {
            let i = at(f);
            for b in bytes.iter_mut().skip(i).take(64) {
                *b ^= 0xa5;
            }
        }
        Damage::FlipFromEnd(n) => {
            let i = bytes.len() - n as usize;
            bytes[i] ^= 0x01;
        }
        Damage::Cut(f) => bytes.truncate(at(f)),
        Damage::Delete => {
            std::fs::remove_file(file).unwrap();
            return;
        }
        Damage::Write(text) => bytes = text.as_bytes().to_vec(),
    }
    std::fs::write(file, bytes).unwrap();
}

/// Names and sizes of the database files (not LOCK or LOG).
fn listing(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .filter(|(n, _)| n != "LOCK" && !n.starts_with("LOG"))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Intact,
    TornTailDropped { lost: usize },
    Refused,
    ReadsFail { failed: usize },
}

fn run_case(fx: &Fixture, what: &str, damage: Damage) -> (Outcome, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    copy_dir(&fx.path, &db);
    let file = target(&db, what);
    let file_name = file.file_name().unwrap().to_str().unwrap().to_owned();
    apply(&file, damage);
    let before = listing(&db);
    let case = format!("{what} {file_name} {damage:?}");

    // Default options: create_if_missing is on, and must not turn damage into a new database.
    let outcome = match LevelDbDatastore::open(&db, LevelDbOptions::default()) {
        Err(e) => {
            assert_eq!(listing(&db), before, "{case}: a refused open changed files");
            assert!(matches!(e, Error::Damaged { .. }), "{case}: {e}");
            let text = e.to_string();
            let named = text.contains(&file_name)
                || (what == "MANIFEST" && text.contains("MANIFEST"))
                || (what == "CURRENT" && text.contains("CURRENT"));
            assert!(named, "{case}: the error does not name the file: {text}");
            (Outcome::Refused, text)
        }
        Ok(ds) => {
            let mut failed = 0;
            let mut lost = Vec::new();
            for (k, v) in &fx.expected {
                match ds.get(&Key::from_raw_bytes(k).unwrap()) {
                    Ok(Some(got)) => assert_eq!(&got, v, "{case}: a wrong value"),
                    Ok(None) => lost.push(k.clone()),
                    Err(e) => {
                        assert!(matches!(e, Error::Corrupt { .. }), "{case}: {e}");
                        assert!(e.to_string().contains(&file_name), "{case}: {e}");
                        failed += 1;
                    }
                }
            }
            let scan = ds.query(&Query::prefix(Key::new("/peers")));
            let warnings = ds.open_warnings();
            if failed > 0 {
                assert!(scan.is_err(), "{case}: a scan over damage succeeded");
                (Outcome::ReadsFail { failed }, scan.unwrap_err().to_string())
            } else if !lost.is_empty() {
                // Only a torn journal tail may lose anything, and only what was in it, warned.
                assert!(
                    !warnings.is_empty(),
                    "{case}: SILENT LOSS of {} keys",
                    lost.len()
                );
                assert!(
                    lost.iter().all(|k| fx.in_journal.contains(k)),
                    "{case}: lost keys that were not in the journal"
                );
                (
                    Outcome::TornTailDropped { lost: lost.len() },
                    warnings.join("; "),
                )
            } else {
                assert_eq!(scan.unwrap().len(), fx.expected.len(), "{case}");
                (Outcome::Intact, warnings.join("; "))
            }
        }
    };

    // Salvage reads the damaged files directly; whatever it cannot copy, it reports.
    let fresh = tempfile::tempdir().unwrap();
    let damaged = fresh.path().join("damaged");
    copy_dir(&fx.path, &damaged);
    apply(&target(&damaged, what), damage);
    let out = MemoryDatastore::new();
    let report = check::salvage(&damaged, &out).unwrap();
    let copied = out.query(&Query::prefix(Key::new("/peers"))).unwrap();
    let complete = copied.len() == fx.expected.len()
        && copied
            .iter()
            .all(|e| fx.expected.get(&e.key) == Some(&e.value));
    assert!(
        complete || !report.lost.is_empty() || !report.notes.is_empty(),
        "{case}: salvage copied {} of {} keys and reported nothing",
        copied.len(),
        fx.expected.len()
    );
    let salvage = format!(
        "salvage: {}/{} keys, {} damaged ranges reported",
        copied.len(),
        fx.expected.len(),
        report.lost.len()
    );
    let (outcome, text) = outcome;
    (
        outcome,
        format!("{salvage}; {}", text.lines().next().unwrap_or("")),
    )
}

#[test]
fn corruption_matrix_never_ends_in_silent_loss_or_deletion() {
    let fx = fixture();
    let report = check::check_files(&fx.path);
    assert_eq!(report.errors(), 0, "{:?}", report.problems);
    assert!(report.tables >= 3, "{} tables", report.tables);
    use Damage::*;
    let cases: Vec<(&str, Damage)> = vec![
        ("journal", Flip(0.10)),
        ("journal", Flip(0.50)),
        ("journal", Flip(0.90)),
        ("journal", FlipFromEnd(3)),
        ("journal", Cut(0.33)),
        ("journal", Cut(0.50)),
        ("journal", Cut(0.71)),
        ("journal", Delete),
        ("table", Flip(0.10)),
        ("table", Flip(0.50)),
        ("table", Flip64(0.30)),
        ("table", FlipFromEnd(10)),
        ("table", FlipFromEnd(3)),
        ("table", Cut(0.50)),
        ("table", Delete),
        ("MANIFEST", Flip(0.20)),
        ("MANIFEST", Flip(0.80)),
        ("MANIFEST", Flip(0.95)),
        ("MANIFEST", Flip(0.99)),
        ("MANIFEST", Cut(0.50)),
        ("MANIFEST", Delete),
        ("CURRENT", Delete),
        ("CURRENT", Write("")),
        ("CURRENT", Write("MANIFEST-999999\n")),
        ("CURRENT", Write("MANIFEST-0000")),
    ];
    println!("| file | damage | outcome | detail |");
    println!("|---|---|---|---|");
    let mut rows = Vec::new();
    for (what, damage) in cases {
        let (outcome, detail) = run_case(&fx, what, damage);
        println!("| {what} | {damage:?} | {outcome:?} | {detail} |");
        rows.push((what, damage, outcome));
    }
    // The damage that cannot be a crash is never tolerated silently.
    for (what, damage, outcome) in &rows {
        let mid_journal = *what == "journal" && matches!(damage, Flip(_));
        if mid_journal || *what == "CURRENT" || matches!(damage, Delete) {
            assert_eq!(outcome, &Outcome::Refused, "{what} {damage:?}");
        }
        if *what == "table" && matches!(damage, Flip(_) | Flip64(_) | FlipFromEnd(3)) {
            assert!(
                matches!(outcome, Outcome::ReadsFail { .. } | Outcome::Refused),
                "{what} {damage:?}: {outcome:?}"
            );
        }
    }
}
