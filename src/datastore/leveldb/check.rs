//! Checking a LevelDB directory with our own readers, never through the engine: before the
//! engine opens it ([`preflight`]), for `pstore verify` ([`check_files`]) and for
//! `pstore salvage` ([`salvage`]).
//!
//! **The sequence-number invariant.** goleveldb reads the MANIFEST's last sequence as
//! "everything up to here is in tables" and, when it replays a journal, refuses any batch whose
//! sequence is below what it expects (the MANIFEST's last sequence, then the end of the previous
//! batch): with `Strict: StrictAll` the open fails, with its default strictness (go-ds-leveldb)
//! the batch is skipped without a word. [`check_files`] reports every batch at risk.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::batch::{BatchOp, decode_batch};
use super::env::FileKind;
use super::logfile;
use super::manifest::Manifest;
use super::table;
use crate::datastore::{Batch, Datastore, Error, Key, Result};

/// What a path holds, before anything is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirState {
    /// Nothing at that path.
    Missing,
    /// A file, not a directory.
    NotADirectory,
    /// A directory without LevelDB files (a new database may be created here).
    Empty,
    /// A directory with LevelDB files: a database, or a damaged one.
    Database,
}

/// Whether a file name belongs to LevelDB's own files (not `LOCK` or the text `LOG`).
fn is_leveldb_name(kind: FileKind) -> bool {
    kind.is_database_file() || matches!(kind, FileKind::Current | FileKind::Temp)
}

/// What `path` holds, read without opening anything.
pub fn dir_state(path: &Path) -> DirState {
    let Ok(meta) = fs::metadata(path) else {
        return DirState::Missing;
    };
    if !meta.is_dir() {
        return DirState::NotADirectory;
    }
    let Ok(entries) = fs::read_dir(path) else {
        // Unreadable: let the open report why.
        return DirState::Database;
    };
    let mut leveldb_files = false;
    let mut data_or_current = false;
    for entry in entries.flatten() {
        let kind = FileKind::of(Path::new(&entry.file_name()));
        leveldb_files |= is_leveldb_name(kind);
        data_or_current |= matches!(
            kind,
            FileKind::Current | FileKind::Journal(_) | FileKind::Table(_)
        );
    }
    // A creation cut short (the first MANIFEST written, CURRENT not yet) holds no data: it is
    // as good as empty. Anything with a table or a journal but no CURRENT is damaged.
    if leveldb_files && data_or_current {
        DirState::Database
    } else {
        DirState::Empty
    }
}

/// The database files in a directory, by kind and number.
#[derive(Default, Debug)]
struct Files {
    journals: BTreeMap<u64, PathBuf>,
    tables: BTreeMap<u64, PathBuf>,
    manifests: BTreeMap<u64, PathBuf>,
}

fn list_files(path: &Path) -> std::io::Result<Files> {
    let mut files = Files::default();
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let p = entry.path();
        match FileKind::of(&p) {
            FileKind::Journal(n) => {
                files.journals.insert(n, p);
            }
            FileKind::Table(n) => {
                files.tables.insert(n, p);
            }
            FileKind::Manifest(n) => {
                files.manifests.insert(n, p);
            }
            _ => {}
        }
    }
    Ok(files)
}

/// What the preflight learnt.
#[derive(Clone, Debug, Default)]
pub struct Preflight {
    /// The highest-numbered journal the open will replay (0: none).
    pub newest_journal: u64,
}

fn damaged(path: &Path, problem: impl Into<String>) -> Error {
    Error::Damaged {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Reads `CURRENT` and returns the MANIFEST it names.
pub(super) fn current_manifest(path: &Path) -> std::result::Result<PathBuf, String> {
    let current = path.join("CURRENT");
    let text = match fs::read(&current) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("there is no CURRENT file, but the directory holds LevelDB files".into());
        }
        Err(e) => return Err(format!("reading CURRENT: {e}")),
    };
    let text = String::from_utf8_lossy(&text);
    let Some(name) = text.strip_suffix('\n') else {
        return Err(if text.is_empty() {
            "the CURRENT file is empty".to_owned()
        } else {
            format!("the CURRENT file is cut short ({text:?}, no newline)")
        });
    };
    if !matches!(FileKind::of(Path::new(name)), FileKind::Manifest(_)) {
        return Err(format!(
            "the CURRENT file does not name a MANIFEST ({name:?})"
        ));
    }
    let manifest = path.join(name);
    if !manifest.is_file() {
        return Err(format!("CURRENT names {name}, which is missing"));
    }
    Ok(manifest)
}

/// The MANIFEST, read with the rules the env applies: a tail cut short by a crash is dropped,
/// anything else that does not check out is damage.
pub(super) fn read_manifest(
    file: &Path,
) -> std::result::Result<(Manifest, Option<String>), String> {
    let bytes = fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let scan = logfile::scan(&bytes);
    let mut note = None;
    if !scan.is_clean() {
        let bad = scan.first_damage_in_middle().unwrap_or(&scan.bad[0]);
        if !scan.is_cut_short_tail() {
            return Err(format!(
                "{} is damaged at offset {} ({}, {} bytes)",
                file.display(),
                bad.offset,
                bad.reason,
                bad.len
            ));
        }
        note = Some(format!(
            "{}: a version edit cut short at offset {} ({} bytes) is ignored",
            file.display(),
            scan.good_len,
            scan.file_len - scan.good_len
        ));
    }
    let manifest = Manifest::from_edits(scan.records.iter().map(|r| r.data.as_slice()))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if manifest.log_number.is_none()
        || manifest.last_sequence.is_none()
        || manifest.next_file_number.is_none()
    {
        return Err(format!(
            "{} lacks the journal number, next file number or last sequence",
            file.display()
        ));
    }
    if let Some(cmp) = manifest.foreign_comparator() {
        return Err(format!("{} uses the comparator {cmp:?}", file.display()));
    }
    Ok((manifest, note))
}

/// Files the MANIFEST needs that are missing: live tables (or shorter than it says), and the
/// current journal (every open and every journal switch creates it before the MANIFEST names
/// it, and it is deleted only after a later edit names a newer one).
fn missing_files(manifest: &Manifest, files: &Files) -> Vec<String> {
    let journal = manifest.log_number.unwrap_or(0);
    let journal_missing = (journal > 0 && !files.journals.contains_key(&journal)).then(|| {
        format!("journal {journal:06}.log, the current journal named by the MANIFEST, is missing")
    });
    journal_missing
        .into_iter()
        .chain(
            manifest
                .tables
                .values()
                .filter_map(|t| match files.tables.get(&t.number) {
                    None => Some(format!(
                        "table {:06}.ldb, named by the MANIFEST, is missing",
                        t.number
                    )),
                    Some(p) => {
                        let len = fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                        (len < t.size).then(|| {
                            format!(
                                "table {} is {len} bytes, the MANIFEST says {}: cut short",
                                p.display(),
                                t.size
                            )
                        })
                    }
                }),
        )
        .collect()
}

/// Checks a directory that holds a database before the engine opens it. Refuses (with
/// [`Error::Damaged`]) what the engine would misread: no usable `CURRENT`, a MANIFEST damaged
/// before its end, a live table missing.
pub fn preflight(path: &Path) -> Result<Preflight> {
    if dir_state(path) != DirState::Database {
        return Ok(Preflight::default());
    }
    let manifest_file = current_manifest(path).map_err(|p| damaged(path, p))?;
    let (manifest, _) = read_manifest(&manifest_file).map_err(|p| damaged(path, p))?;
    let files = list_files(path).map_err(|e| Error::Open {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    if let Some(problem) = missing_files(&manifest, &files).into_iter().next() {
        return Err(damaged(path, problem));
    }
    let newest_journal = files
        .journals
        .keys()
        .copied()
        .filter(|&n| manifest.replays_journal(n))
        .max()
        .unwrap_or(0);
    Ok(Preflight { newest_journal })
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Data is unreadable, or another implementation would lose or refuse it.
    Error,
    /// Normal after a crash, or harmless, but worth knowing.
    Warning,
}

/// One finding of [`check_files`]: the file, where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProblem {
    /// Whether the finding is an error or a warning.
    pub severity: Severity,
    /// The file's name inside the directory (empty for the directory as a whole).
    pub file: String,
    /// Where in the file, when known.
    pub offset: Option<u64>,
    /// How many bytes are affected, when known.
    pub len: Option<u64>,
    /// What is wrong, in words.
    pub message: String,
    /// The user keys a damaged table block covered (after, up to), as text.
    pub key_range: Option<(String, String)>,
}

impl FileProblem {
    fn new(
        severity: Severity,
        file: &Path,
        offset: Option<u64>,
        len: Option<u64>,
        message: String,
    ) -> FileProblem {
        FileProblem {
            severity,
            file: file_name(file),
            offset,
            len,
            message,
            key_range: None,
        }
    }

    /// A damaged part of a table, with the keys it covered.
    fn table(file: &Path, p: table::TableProblem) -> FileProblem {
        FileProblem {
            key_range: p.key_range.map(|(a, b)| (lossy(&a), lossy(&b))),
            ..FileProblem::new(Severity::Error, file, Some(p.offset), Some(p.len), p.reason)
        }
    }
}

/// Everything [`check_files`] looked at and found.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    /// Every finding, errors and warnings, in the order found.
    pub problems: Vec<FileProblem>,
    /// Tables read.
    pub tables: usize,
    /// Table data blocks read.
    pub blocks: usize,
    /// Journals read (those an open would replay).
    pub journals: usize,
    /// Journal batches decoded.
    pub batches: usize,
}

impl FileReport {
    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    fn push(&mut self, severity: Severity, file: &Path, offset: Option<u64>, message: String) {
        self.problems
            .push(FileProblem::new(severity, file, offset, None, message));
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Reads every file of the database at `path` with our own readers, without opening it:
/// `CURRENT`, the MANIFEST, every block of every table (CRC, decompression, entries), every
/// journal record and batch, and the sequence-number invariant goleveldb relies on.
pub fn check_files(path: &Path) -> FileReport {
    let mut report = FileReport::default();
    let dir = Path::new("");
    let files = match list_files(path) {
        Ok(f) => f,
        Err(e) => {
            report.push(
                Severity::Error,
                dir,
                None,
                format!("listing the directory: {e}"),
            );
            return report;
        }
    };
    let manifest = match current_manifest(path).and_then(|m| read_manifest(&m)) {
        Ok((m, note)) => {
            if let Some(note) = note {
                report.push(Severity::Warning, dir, None, note);
            }
            Some(m)
        }
        Err(problem) => {
            report.push(Severity::Error, dir, None, problem);
            None
        }
    };
    if let Some(m) = &manifest {
        for problem in missing_files(m, &files) {
            report.push(Severity::Error, dir, None, problem);
        }
    }
    for (&number, file) in &files.tables {
        if let Some(m) = &manifest
            && !m.tables.contains_key(&number)
        {
            report.push(
                Severity::Warning,
                file,
                None,
                "not named by the MANIFEST: left over from an interrupted compaction".to_owned(),
            );
            continue;
        }
        check_table(file, &mut report);
    }
    check_journals(&files, manifest.as_ref(), &mut report);
    report
}

/// A file's bytes, or `None` with the read error reported.
fn read_or_report(file: &Path, report: &mut FileReport) -> Option<Vec<u8>> {
    fs::read(file)
        .map_err(|e| report.push(Severity::Error, file, None, format!("reading: {e}")))
        .ok()
}

fn check_table(file: &Path, report: &mut FileReport) {
    report.tables += 1;
    let Some(bytes) = read_or_report(file, report) else {
        return;
    };
    let scan = table::scan(&bytes);
    report.blocks += scan.blocks;
    report.problems.extend(
        scan.problems
            .into_iter()
            .map(|p| FileProblem::table(file, p)),
    );
}

fn check_journals(files: &Files, manifest: Option<&Manifest>, report: &mut FileReport) {
    let replayed: Vec<(u64, &PathBuf)> = files
        .journals
        .iter()
        .filter(|(n, _)| manifest.is_none_or(|m| m.replays_journal(**n)))
        .map(|(n, p)| (*n, p))
        .collect();
    let newest = replayed.last().map(|(n, _)| *n);
    let mut expect = manifest.and_then(|m| m.last_sequence).unwrap_or(0);
    for (number, file) in replayed {
        report.journals += 1;
        let Some(bytes) = read_or_report(file, report) else {
            continue;
        };
        let scan = logfile::scan(&bytes);
        let tail = scan.is_torn_tail() && Some(number) == newest;
        for bad in &scan.bad {
            let (severity, what) = if tail {
                (
                    Severity::Warning,
                    "torn tail (a crash during the last append), dropped on open",
                )
            } else {
                (Severity::Error, "damaged journal records")
            };
            report.problems.push(FileProblem::new(
                severity,
                file,
                Some(bad.offset),
                Some(bad.len),
                format!("{what}: {}", bad.reason),
            ));
        }
        let mut at_risk: Option<(u64, u64, u64)> = None; // first seq, last seq, count
        for record in &scan.records {
            let batch = match decode_batch(&record.data) {
                Ok(b) => b,
                Err(e) => {
                    report.push(
                        Severity::Error,
                        file,
                        Some(record.offset),
                        format!("batch: {e}"),
                    );
                    continue;
                }
            };
            report.batches += 1;
            if batch.seq < expect {
                let r = at_risk.get_or_insert((batch.seq, batch.last_seq(), 0));
                r.1 = batch.last_seq();
                r.2 += 1;
            } else {
                expect = batch.seq + batch.ops.len() as u64;
            }
        }
        if let Some((first, last, count)) = at_risk {
            report.push(
                Severity::Error,
                file,
                None,
                format!(
                    "{count} batches (sequences {first}..={last}) are below the sequence goleveldb \
                     expects: goleveldb with StrictAll refuses this directory, and go-ds-leveldb \
                     (default strictness) skips those batches without a word"
                ),
            );
        }
    }
}

/// What [`salvage`] copied and what it could not read.
#[derive(Clone, Debug, Default)]
pub struct SalvageReport {
    /// Keys written to the new database.
    pub keys: usize,
    /// Tables and journals read.
    pub tables: usize,
    /// Journals read.
    pub journals: usize,
    /// What could not be read: file, byte range, reason, and the keys it covered if known.
    pub lost: Vec<FileProblem>,
    /// Notes on how the copy was made.
    pub notes: Vec<String>,
}

/// Copies every readable record of the LevelDB database at `src` (damaged or not, without
/// opening it with the engine) into `dst`, and reports exactly what could not be read.
///
/// Every table and journal is read with our own readers; for each key the newest version wins
/// (deletions included), as the engine would decide. With a readable MANIFEST only its live
/// tables and the journals it replays are used; without one, every table and journal in the
/// directory is (a deleted key may then come back from a table a compaction had replaced).
pub fn salvage(src: &Path, dst: &dyn Datastore) -> Result<SalvageReport> {
    let mut report = SalvageReport::default();
    let files = list_files(src).map_err(|e| Error::Open {
        path: src.to_path_buf(),
        source: e.into(),
    })?;
    let manifest = match current_manifest(src).and_then(|m| read_manifest(&m)) {
        Ok((m, _)) => Some(m),
        Err(problem) => {
            report.notes.push(format!(
                "{problem}: every table and journal in the directory was read instead"
            ));
            None
        }
    };
    if let Some(m) = &manifest {
        for problem in missing_files(m, &files) {
            report.lost.push(FileProblem::new(
                Severity::Error,
                Path::new(""),
                None,
                None,
                problem,
            ));
        }
    }
    // user key -> (sequence, value or deletion)
    let mut newest: BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)> = BTreeMap::new();
    let mut keep = |key: &[u8], seq: u64, value: Option<Vec<u8>>| match newest.get(key) {
        Some((s, _)) if *s >= seq => {}
        _ => {
            newest.insert(key.to_vec(), (seq, value));
        }
    };
    for (number, file) in &files.tables {
        if let Some(m) = &manifest
            && !m.tables.contains_key(number)
        {
            report.notes.push(format!(
                "{}: not named by the MANIFEST, not used",
                file_name(file)
            ));
            continue;
        }
        report.tables += 1;
        let bytes = fs::read(file).map_err(|e| Error::Open {
            path: file.clone(),
            source: e.into(),
        })?;
        let scan = table::scan(&bytes);
        let mut malformed = 0;
        for (ikey, value) in scan.entries {
            match super::dbformat::key_tag(&ikey) {
                Some((seq, is_value)) => keep(
                    super::dbformat::user_key(&ikey),
                    seq,
                    is_value.then_some(value),
                ),
                None => malformed += 1,
            }
        }
        if malformed > 0 {
            report.lost.push(FileProblem::new(
                Severity::Error,
                file,
                None,
                None,
                format!("{malformed} entries with keys too short to be LevelDB keys"),
            ));
        }
        report.lost.extend(
            scan.problems
                .into_iter()
                .map(|p| FileProblem::table(file, p)),
        );
    }
    for (number, file) in &files.journals {
        if manifest
            .as_ref()
            .is_some_and(|m| !m.replays_journal(*number))
        {
            continue;
        }
        report.journals += 1;
        let bytes = fs::read(file).map_err(|e| Error::Open {
            path: file.clone(),
            source: e.into(),
        })?;
        let scan = logfile::scan(&bytes);
        for bad in &scan.bad {
            report.lost.push(FileProblem::new(
                Severity::Error,
                file,
                Some(bad.offset),
                Some(bad.len),
                format!("journal records: {}", bad.reason),
            ));
        }
        for record in scan.records {
            match decode_batch(&record.data) {
                Ok(batch) => {
                    for (i, op) in batch.ops.into_iter().enumerate() {
                        let seq = batch.seq + i as u64;
                        match op {
                            BatchOp::Put(k, v) => keep(&k, seq, Some(v)),
                            BatchOp::Delete(k) => keep(&k, seq, None),
                        }
                    }
                }
                Err(e) => report.lost.push(FileProblem::new(
                    Severity::Error,
                    file,
                    Some(record.offset),
                    Some(record.data.len() as u64),
                    format!("batch: {e}"),
                )),
            }
        }
    }
    let mut batch = Batch::new();
    for (key, (_, value)) in newest {
        let Some(value) = value else { continue };
        let key = match Key::from_raw_bytes(&key) {
            Ok(k) => k,
            Err(e) => {
                report
                    .notes
                    .push(format!("key {:?} not copied: {e}", lossy(&key)));
                continue;
            }
        };
        batch.push(crate::datastore::Op::Put(key, value));
        report.keys += 1;
        if batch.len() >= 1024 {
            dst.write(std::mem::take(&mut batch))?;
        }
    }
    dst.write(batch)?;
    Ok(report)
}
