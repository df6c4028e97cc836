//! Every error of the crate as an exception of `pstoreds.errors` (one class per error kind),
//! carrying the crate's message, which names the peer, key or database involved.

use pyo3::prelude::*;
use pyo3::types::PyType;

use pstoreds::datastore::Error as DsError;
use pstoreds::peerstore::Error;

/// The class in `pstoreds.errors` for each kind of error.
fn class_of(e: &Error) -> &'static str {
    match e {
        Error::Datastore(ds) => datastore_class(ds),
        Error::Corrupt { .. } => "CorruptValueError",
        Error::BadKey { .. } => "BadKeyError",
        Error::KeyMismatch { .. } => "KeyMismatchError",
        Error::BadMetadata { .. } => "BadMetadataError",
        Error::PeerRecord { .. } => "PeerRecordError",
        Error::TooManyProtocols { .. } => "TooManyProtocolsError",
        Error::Options(_) => "OptionsError",
        Error::WriterThread(_) => "WriterThreadError",
        Error::Closed => "ClosedError",
    }
}

fn datastore_class(e: &DsError) -> &'static str {
    match e {
        DsError::Locked { .. } => "LockedError",
        DsError::NotFound { .. } => "DatabaseNotFoundError",
        DsError::Open { .. } => "OpenError",
        DsError::Read { .. } => "ReadError",
        DsError::Write { .. } => "WriteError",
        DsError::Query { .. } => "QueryError",
        DsError::InvalidKey { .. } => "InvalidKeyError",
        DsError::Closed => "ClosedError",
        DsError::Conflict { .. } => "ConflictError",
        DsError::Schema { .. } => "SchemaError",
        DsError::Server { .. } => "ServerError",
        DsError::Damaged { .. } => "DamagedError",
        DsError::Corrupt { .. } => "CorruptError",
        DsError::Failed { .. } => "FailedError",
    }
}

/// The message: the error and its causes, as one line.
fn message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        next = cause.source();
    }
    msg
}

/// An exception of class `name` (in `pstoreds.errors`) with `msg`.
pub fn raise(py: Python<'_>, name: &str, msg: String) -> PyErr {
    let class = py
        .import("pstoreds.errors")
        .and_then(|m| m.getattr(name))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, msg),
        Err(e) => e,
    }
}

/// The crate's error as its Python exception.
pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    raise(py, class_of(&e), message(&e))
}

/// An argument of the wrong type or value (`InvalidArgumentError`, a `TypeError` and
/// `ValueError`).
pub fn invalid(py: Python<'_>, msg: String) -> PyErr {
    raise(py, "InvalidArgumentError", msg)
}

/// What a call can fail with before it reaches Python: the crate's error, or a bad argument
/// found while the GIL was released.
pub enum Failure {
    /// The crate refused or failed.
    Store(Error),
    /// An argument that cannot be used (the message says why).
    Invalid(String),
    /// Python code called back into (with the GIL taken again) raised.
    Python(PyErr),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Store(e)
    }
}

impl From<DsError> for Failure {
    fn from(e: DsError) -> Failure {
        Failure::Store(Error::Datastore(e))
    }
}

impl Failure {
    /// As the Python exception.
    pub fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Store(e) => to_py(py, e),
            Failure::Invalid(msg) => invalid(py, msg),
            Failure::Python(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_keeps_the_causes() {
        let e = Error::Datastore(DsError::Write {
            what: "/peers/addrs/X".into(),
            source: "disk full".into(),
        });
        assert_eq!(message(&e), "writing /peers/addrs/X: disk full");
        assert_eq!(class_of(&e), "WriteError");
    }
}
