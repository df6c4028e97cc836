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

/// Opens an existing database (nothing is created), or a copy of it with `--snapshot`.
pub fn open(source: &Source) -> Result<Opened> {
    let mut path = source.db.clone();
    let mut copy = None;
    if source.snapshot {
        let dir = tempfile::tempdir()?;
        let to = dir.path().join("db");
        copy_database(&path, &to)?;
        path = to;
        copy = Some(dir);
    }
    let ds = open_path(&path, false)?;
    Ok(Opened {
        ds,
        path: source.db.clone(),
        _copy: copy,
    })
}

/// Opens `path`: a file is SQLite, anything else LevelDB.
pub fn open_path(path: &Path, create: bool) -> Result<Box<dyn Datastore>> {
    #[cfg(feature = "sqlite")]
    if path.is_file() {
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
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
