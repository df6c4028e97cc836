//! The engine's errors. The datastore above turns each into the [`crate::datastore::Error`]
//! that names the key or batch involved; these name the file and the operation.

/// What went wrong inside the engine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// A file operation failed: the message names the operation, the file and the OS error.
    #[error("{0}")]
    Io(String),
    /// Damaged data: the message names the file, the offset and what is wrong.
    #[error("{0}")]
    Corrupt(String),
    /// An earlier write, sync or background failure: nothing more is written until the
    /// database is reopened.
    #[error("an earlier write failed ({0}); reopen the database")]
    Failed(String),
    /// The database was closed.
    #[error("the database is closed")]
    Closed,
    /// Another process (or another open in this one) holds the database's lock.
    #[error("the database is locked by another process")]
    Locked,
}

/// What the engine returns.
pub type DbResult<T> = std::result::Result<T, DbError>;
