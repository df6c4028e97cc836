//! Where a store is, named as the `pstore` CLI and the Python package name it: a LevelDB
//! directory, a SQLite file (`sqlite:PATH`) or a PostgreSQL table (`postgres://...`).
//!
//! ```
//! use pstoreds::location::Location;
//! assert!(matches!(Location::parse("sqlite:peers.db", None), Location::Sqlite(..)));
//! assert!(matches!(Location::parse("./peers", None), Location::LevelDb(_)));
//! ```

use std::path::{Path, PathBuf};

/// A store's location: what the user typed, sorted out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A LevelDB directory (go-ds-leveldb's layout).
    LevelDb(PathBuf),
    /// A SQLite file (go-ds-sql's layout), with its table.
    Sqlite(PathBuf, String),
    /// A PostgreSQL server's URL (go-ds-sql's layout), with the table.
    Postgres(String, String),
}

impl Location {
    /// `postgres://...` or `postgresql://...`: PostgreSQL; `sqlite:PATH`: SQLite; `leveldb:PATH`:
    /// LevelDB; any other path: SQLite if it is a file or a new name ending in `.sqlite`,
    /// `.sqlite3` or `.db`, else LevelDB. `table` (default `blocks`) is for the SQL ones.
    pub fn parse(name: &str, table: Option<&str>) -> Location {
        let table = table.unwrap_or(crate::datastore::DEFAULT_TABLE).to_owned();
        if name.starts_with("postgres://") || name.starts_with("postgresql://") {
            return Location::Postgres(name.to_owned(), table);
        }
        if let Some(path) = name.strip_prefix("sqlite:") {
            return Location::Sqlite(PathBuf::from(path), table);
        }
        if let Some(path) = name.strip_prefix("leveldb:") {
            return Location::LevelDb(PathBuf::from(path));
        }
        let path = PathBuf::from(name);
        if is_sqlite_path(&path) {
            Location::Sqlite(path, table)
        } else {
            Location::LevelDb(path)
        }
    }

    /// The file or directory, for the file-based stores.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Location::LevelDb(p) | Location::Sqlite(p, _) => Some(p),
            Location::Postgres(..) => None,
        }
    }
}

impl std::fmt::Display for Location {
    /// The location as a message shows it: never with a PostgreSQL password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::LevelDb(p) => write!(f, "{}", p.display()),
            Location::Sqlite(p, t) if t == crate::datastore::DEFAULT_TABLE => {
                write!(f, "{}", p.display())
            }
            Location::Sqlite(p, t) => write!(f, "{} (table {t})", p.display()),
            #[cfg(feature = "postgres")]
            Location::Postgres(url, t) => write!(
                f,
                "{} (table {t})",
                crate::datastore::postgres::redact_url(url)
            ),
            #[cfg(not(feature = "postgres"))]
            Location::Postgres(_, t) => write!(f, "a PostgreSQL server (table {t})"),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_as_the_cli_documents() {
        let t = crate::datastore::DEFAULT_TABLE.to_owned();
        assert_eq!(
            Location::parse("postgresql://u@h/db", Some("peerstore")),
            Location::Postgres("postgresql://u@h/db".into(), "peerstore".into())
        );
        assert_eq!(
            Location::parse("sqlite:a/b", None),
            Location::Sqlite("a/b".into(), t.clone())
        );
        assert_eq!(
            Location::parse("no-such-dir/new.db", None),
            Location::Sqlite("no-such-dir/new.db".into(), t)
        );
        assert_eq!(
            Location::parse("leveldb:x.db", None),
            Location::LevelDb("x.db".into())
        );
        assert_eq!(
            Location::parse("no-such-dir/peers", None),
            Location::LevelDb("no-such-dir/peers".into())
        );
    }
}
