//! Opening databases for the CLI, named as docs/cli.md says: a LevelDB directory, a SQLite file
//! (`sqlite:PATH`), or a PostgreSQL table (`postgres://...`), optionally as a private copy.

use std::path::Path;

use pstoreds::datastore::{Datastore, Error as DsError, LevelDbDatastore, LevelDbOptions};

use crate::Result;

pub use pstoreds::location::Location;

#[derive(clap::Args)]
pub struct Source {
    /// The database: a LevelDB directory, a SQLite file (`sqlite:PATH`, or a path ending
    /// `.sqlite`/`.db`) or a PostgreSQL table (`postgres://USER[:PASS]@HOST[:PORT]/DB`).
    pub db: String,
    /// Read a private copy of the database, leaving the original untouched (works while a
    /// running node holds it).
    #[arg(long)]
    pub snapshot: bool,
}

/// The `--table` given on the command line, for every SQL store it names.
pub static TABLE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The store a command-line argument names, with the `--table` given.
pub fn location(name: &str) -> Location {
    Location::parse(name, TABLE.get().and_then(Option::as_deref))
}

impl Source {
    pub fn location(&self) -> Location {
        location(&self.db)
    }
}

/// An open database, and the temporary copy it may live in (removed when dropped).
pub struct Opened {
    pub ds: Box<dyn Datastore>,
    pub location: Location,
    _copy: Option<tempfile::TempDir>,
}

/// The database to read: the store itself, or with `--snapshot` a private copy of its files
/// (and the temporary directory holding it, removed when dropped).
pub fn readable_location(source: &Source) -> Result<(Location, Option<tempfile::TempDir>)> {
    let location = source.location();
    if !source.snapshot {
        return Ok((location, None));
    }
    let Some(from) = location.path() else {
        return Err(format!(
            "--snapshot copies a database's files; {location} is read in place (a query sees \
                one consistent state and does not block the nodes writing it)"
        )
        .into());
    };
    let dir = tempfile::tempdir()?;
    let to = dir.path().join("db");
    let copy = match location {
        Location::Sqlite(from, table) => {
            sqlite_snapshot(&from, &to)?;
            Location::Sqlite(to, table)
        }
        _ => {
            copy_database(from, &to)?;
            Location::LevelDb(to)
        }
    };
    Ok((copy, Some(dir)))
}

/// Opens an existing database (nothing is created), or a copy of it with `--snapshot`.
pub fn open(source: &Source) -> Result<Opened> {
    let (location, copy) = readable_location(source)?;
    open_readable(source, &location, copy)
}

/// Opens what [`readable_location`] returned.
pub fn open_readable(
    source: &Source,
    location: &Location,
    copy: Option<tempfile::TempDir>,
) -> Result<Opened> {
    let ds = open_location(location, false)?;
    Ok(Opened {
        ds,
        location: source.location(),
        _copy: copy,
    })
}

/// Opens a store; `create`: create it (file, directory or table) if missing.
pub fn open_location(location: &Location, create: bool) -> Result<Box<dyn Datastore>> {
    match location {
        Location::LevelDb(path) => open_leveldb(path, create),
        #[cfg(feature = "sqlite")]
        Location::Sqlite(path, table) => Ok(Box::new(pstoreds::datastore::SqliteDatastore::open(
            path,
            pstoreds::datastore::SqliteOptions {
                create_if_missing: create,
                table: table.clone(),
                ..Default::default()
            },
        )?)),
        #[cfg(feature = "postgres")]
        Location::Postgres(url, table) => {
            Ok(Box::new(pstoreds::datastore::PostgresDatastore::open(
                url,
                pstoreds::datastore::PostgresOptions {
                    table: table.clone(),
                    create_table: create,
                    ..Default::default()
                },
            )?))
        }
        #[allow(unreachable_patterns)]
        other => Err(format!(
            "{other} needs a backend this pstore was built without (features `sqlite`, \
                `postgres`)"
        )
        .into()),
    }
}

fn open_leveldb(path: &Path, create: bool) -> Result<Box<dyn Datastore>> {
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

/// A consistent copy of a SQLite file, including what is still in its write-ahead log
/// (copying the file alone would miss it), made by SQLite while other processes may write.
#[cfg(feature = "sqlite")]
pub fn sqlite_snapshot(from: &Path, to: &Path) -> Result<()> {
    if !from.is_file() {
        return Err(format!("no database at {}", from.display()).into());
    }
    let conn = rusqlite::Connection::open_with_flags(
        from,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("{}: {e}", from.display()))?;
    conn.execute("VACUUM INTO ?1", [to.to_string_lossy()])
        .map_err(|e| format!("copying {}: {e}", from.display()))?;
    Ok(())
}

#[cfg(not(feature = "sqlite"))]
pub fn sqlite_snapshot(from: &Path, _to: &Path) -> Result<()> {
    Err(format!(
        "{} is a SQLite database, and this pstore was built without the `sqlite` feature",
        from.display()
    )
    .into())
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

/// Bytes on disk: the directory's files, or the file (`None` for a server's table).
pub fn disk_size(location: &Location) -> Option<u64> {
    location.path().map(path_size)
}

/// Bytes on disk: the directory's files, or the file.
pub fn path_size(path: &Path) -> u64 {
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
