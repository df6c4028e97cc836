//! py-libp2p 0.8.1's own persistent peerstore (`libp2p.peer.persistent`), read and converted
//! into go-libp2p's layout, so that a py-libp2p node keeps its state when it moves to this
//! store.
//!
//! This module owns reading py-libp2p's files and deciding what each of its records becomes in
//! Go's layout; it writes nothing by hand: every converted record goes through the
//! [`Peerstore`](crate::peerstore::Peerstore) API. Its pieces, each with py-libp2p's twin
//! files (under `libp2p/peer/persistent/` in its sdist):
//!
//! - [`source`]: the stores' files, a SQLite table or a LevelDB directory, as raw key/value
//!   pairs (`datastore/sqlite_sync.py` and `sqlite.py`; `datastore/leveldb.py` and
//!   `leveldb_sync.py`, over plyvel, C++ LevelDB);
//! - [`format`](mod@format): its keys (`<prefix><peer ID bytes>`) and values (the protobufs of
//!   `pb/persistent_peerstore.proto`) (`sync/peerstore.py` and `async_/peerstore.py`, which
//!   share one layout; `serialization.py`);
//! - [`convert`]: each record into the Go books, and the [`Report`] of what was converted,
//!   skipped and unreadable (`_load_peer_data` and `_load_local_record` of `sync/peerstore.py`:
//!   what py-libp2p itself reads back when it restarts).
//!
//! What py-libp2p 0.8.1 keeps, and what it becomes:
//!
//! | py-libp2p key | value | Go |
//! |---|---|---|
//! | `addr:<peer>` | `PeerAddresses` | the addresses, with [`MigrateOptions::addr_ttl`] |
//! | `key:<peer>` | `PeerMetadata` `{pubkey, privkey}`: crypto protobufs | the key book |
//! | `metadata:<peer>` | `PeerMetadata`: text | metadata, Go `string` values |
//! | `protocol:<peer>` | `PeerProtocols` | the protocol set |
//! | `latency:<peer>` | `PeerLatency` (ns) | skipped: Go keeps latencies in memory |
//! | `peer_record:<peer>` | `PeerRecordState`: a state only | skipped: no envelope is kept |
//! | `local_record` | `PeerEnvelope`: the node's signed record | a signed peer record |
//!
//! **TTLs.** py-libp2p keeps one TTL per peer, in memory only: none is on disk, and a restarted
//! py-libp2p node holds every stored address with TTL 0, which it never expires (its permanent
//! TTL). Converted addresses are therefore permanent in Go
//! ([`Ttl::PERMANENT`](crate::peerstore::Ttl::PERMANENT)) unless
//! [`MigrateOptions::addr_ttl`] says otherwise.
//!
//! **Metadata.** py-libp2p writes every value as text: `str` as is, `int`, `float`, `bool` and
//! `None` as Python's `str()` of them (`5`, `1.5`, `True`, `None`), and reads every one back as
//! a `str`. The type is not on disk, so each value becomes a Go `string` of that text, what
//! py-libp2p itself returns after a restart (a value that is not UTF-8, which py-libp2p cannot
//! read back, becomes a Go `[]byte`). The name `protocols` is refused: Go keeps the protocol set
//! there.
//!
//! **Keys.** py-libp2p writes an Ed25519 private key as its 32-byte seed, which go-libp2p
//! refuses: it is stored as Go's 64 bytes, seed then public key (as `python/pstoreds` does).
//! Public keys are stored in Go's canonical encoding. py-libp2p's `ECC_P256` type (4) is not a
//! type go-libp2p knows: such keys are reported, not converted.
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! use pstoreds::peerstore::Options;
//! use pstoreds::pylibp2p::{MigrateOptions, Source, migrate};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("peerstore.db");
//! // py-libp2p's table, with one record: the protocols of a peer.
//! let db = rusqlite::Connection::open(&path)?;
//! db.execute("CREATE TABLE datastore (key BLOB PRIMARY KEY, value BLOB NOT NULL)", [])?;
//! let peer = pstoreds::libp2p_identity::Keypair::generate_ed25519().public().to_peer_id();
//! let key = [b"protocol:".as_slice(), &peer.to_bytes()].concat();
//! let value = [&[0x0a, 0x04][..], b"/x/1"].concat();
//! db.execute("INSERT INTO datastore VALUES (?1, ?2)", (key, value))?;
//! drop(db);
//!
//! let ps = Options::new().open_memory()?;
//! let report = migrate(&Source::Sqlite(path), &ps, &MigrateOptions::default())?;
//! assert_eq!((report.records, report.converted), (1, 1));
//! assert!(report.problems.is_empty());
//! assert_eq!(ps.get_protocols(peer)?, vec!["/x/1".to_owned()]);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod convert;
pub mod format;
pub mod source;

use std::path::PathBuf;

pub use convert::{Counts, Finding, MigrateOptions, Report, migrate};
pub use source::Source;

/// Why a migration stopped. A record that cannot be read or converted never stops it: it is
/// listed in the [`Report`], with its key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source could not be opened or read: missing, locked, damaged, or not a store of
    /// py-libp2p's.
    #[error(
        "py-libp2p store at {}: {reason}{}",
        path.display(),
        source.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
    )]
    Source {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
        /// The error underneath, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The destination failed while a record was written into it (its storage, not the
    /// record: a record it refuses is listed in the [`Report`]).
    #[error("writing py-libp2p's {key} into the new store: {source}")]
    Destination {
        /// The py-libp2p key being converted, as [`format::key_text`] shows it.
        key: String,
        /// The destination's error.
        #[source]
        source: crate::peerstore::Error,
    },
}

impl Error {
    pub(crate) fn unreadable(
        path: &std::path::Path,
        reason: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Source {
            path: path.to_path_buf(),
            reason: reason.into(),
            source,
        }
    }
}
