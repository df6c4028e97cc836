//! Opening databases for the CLI: by path, LevelDB or SQLite, optionally as a private copy.

use std::path::{Path, PathBuf};

use pstoreds::datastore::{Datastore, Error as DsError, LevelDbDatastore, LevelDbOptions};

use crate::Result;

#[derive(clap::Args)]
pub struct Source {
    /// The database: a LevelDB directory (go-ds-leveldb layout) or a SQLite file.
    pub db: PathBuf,
    /// Read a private copy of the database, leaving the original untouched (works while a
    /// running node holds it).
    #[arg(long)]
    pub snapshot: bool,
}

/// An open database, and the temporary copy it may live in (removed when dropped).
pub struct Opened {
    pub ds: Box<dyn Datastore>,
    pub path: PathBuf,
    _copy: Option<tempfile::TempDir>,
}

/// The database to read: the path itself, or with `--snapshot` a private copy (and the
/// temporary directory holding it, removed when dropped).
pub fn readable_path(source: &Source) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    if !source.snapshot {
        return Ok((source.db.clone(), None));
    }
    let dir = tempfile::tempdir()?;
    let to = dir.path().join("db");
    copy_database(&source.db, &to)?;
    Ok((to, Some(dir)))
}

/// Opens an existing database (nothing is created), or a copy of it with `--snapshot`.
pub fn open(source: &Source) -> Result<Opened> {
    let (path, copy) = readable_path(source)?;
    open_readable(source, path, copy)
}

/// Opens what [`readable_path`] returned.
pub fn open_readable(
    source: &Source,
    path: PathBuf,
    copy: Option<tempfile::TempDir>,
) -> Result<Opened> {
    let ds = open_path(&path, false)?;
    Ok(Opened {
        ds,
        path: source.db.clone(),
        _copy: copy,
    })
}

/// Whether a path names a SQLite file: an existing file, or a new one ending in `.sqlite`,
/// `.sqlite3` or `.db`.
pub fn is_sqlite_path(path: &Path) -> bool {
    path.is_file()
        || (!path.exists()
            && path
                .extension()
                .is_some_and(|e| e == "sqlite" || e == "sqlite3" || e == "db"))
}

/// Opens `path`: a SQLite file (see [`is_sqlite_path`]), anything else LevelDB.
pub fn open_path(path: &Path, create: bool) -> Result<Box<dyn Datastore>> {
    #[cfg(not(feature = "sqlite"))]
    if is_sqlite_path(path) {
        return Err(format!(
            "{} is a SQLite database, and this pstore was built without the `sqlite` feature",
            path.display()
        )
        .into());
    }
    #[cfg(feature = "sqlite")]
    if is_sqlite_path(path) {
        let ds = pstoreds::datastore::SqliteDatastore::open(
            path,
            pstoreds::datastore::SqliteOptions {
                create_if_missing: create,
                ..Default::default()
            },
        )?;
        return Ok(Box::new(ds));
    }
    let opts = LevelDbOptions {
        create_if_missing: create,
        ..Default::default()
    };
    match LevelDbDatastore::open(path, opts) {
        Ok(ds) => {
            for warning in ds.open_warnings() {
                eprintln!("warning: {warning}");
            }
            Ok(Box::new(ds))
        }
        Err(e @ DsError::Locked { .. }) => {
            Err(format!("{e} (read-only commands: add --snapshot to read a copy)").into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Copies a database (a directory of LevelDB files, or one SQLite file), without its LOCK.
pub fn copy_database(from: &Path, to: &Path) -> Result<()> {
    if from.is_file() {
        std::fs::copy(from, to)?;
        return Ok(());
    }
    if !from.is_dir() {
        return Err(format!("no database at {}", from.display()).into());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() != "LOCK" && entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Bytes on disk: the directory's files, or the file.
pub fn disk_size(path: &Path) -> u64 {
    if path.is_file() {
        return std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    }
    std::fs::read_dir(path)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
/// Elapsed time rather than an estimate: early estimates of a short job are wild ("6m" for a
/// job of four seconds). Nothing is drawn for nothing to do (no "0/0" bar).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if len == 0 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// A spinner with the elapsed time, on stderr when it is a terminal, for a job that cannot say
/// how far along it is (a compaction, a GC pass, writing a dump). Cleared when dropped.
pub struct Spinner(indicatif::ProgressBar);

impl Spinner {
    pub fn start(what: &str) -> Spinner {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return Spinner(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner(bar)
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
