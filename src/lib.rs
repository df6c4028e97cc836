#![warn(missing_docs)]
//! pstoreds: a libp2p peerstore that keeps its data on disk in exactly the layout of go-libp2p's
//! datastore-backed peerstore (`pstoreds` over `go-ds-leveldb`): a Rust node opens a database a
//! Go node wrote, and a Go node opens ours.
//!
//! ```
//! use pstoreds::peerstore::{Options, Ttl};
//! use pstoreds::{libp2p_identity::Keypair, multiaddr::Multiaddr};
//!
//! let dir = tempfile::tempdir()?;
//! let peer = Keypair::generate_ed25519().public().to_peer_id();
//! let addr: Multiaddr = "/ip4/192.0.2.7/tcp/4001".parse()?;
//! let ps = Options::new().open_leveldb(dir.path())?;
//! ps.add_addrs(peer, &[addr.clone()], Ttl::RECENTLY_CONNECTED)?;
//! ps.put(peer, "AgentVersion", &"my-node/1.0".into())?;
//! assert_eq!(ps.addrs(peer)?, vec![addr]);
//! let agent = ps.get(peer, "AgentVersion")?;
//! assert_eq!(agent.as_ref().and_then(|v| v.as_str()), Some("my-node/1.0"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules:
//! - [`peerstore`]: the peerstore (address book with signed records, key book, metadata,
//!   protocols, latency metrics, cache, GC, batches), over any [`datastore::Datastore`];
//! - [`datastore`]: the storage layer, with its LevelDB (Go-compatible, durable:
//!   `docs/durability.md`), memory and SQLite backends;
//! - [`codec`]: every stored value, byte for byte as go-libp2p writes it (`docs/format.md`);
//! - [`dump`] and [`ops`]: the canonical dump and op scripts shared with the Go harness;
//! - [`verify`]: go-libp2p's invariants, checked key by key;
//! - [`location`]: stores named as the CLI names them (`./dir`, `sqlite:PATH`, `postgres://...`);
//! - [`pylibp2p`]: py-libp2p 0.8.1's own persistent peerstore (SQLite, LevelDB) read into Go's
//!   layout (`pstore migrate --from py-libp2p-sqlite|py-libp2p-leveldb`);
//! - `libp2p_store` (feature `libp2p`): the store as a rust-libp2p `libp2p_peer_store::Store`.
//!
//! Features: `sqlite` (the SQLite backend) and `cli` (the `pstore` tool) are on by default;
//! `libp2p` adds the rust-libp2p store.

pub mod codec;
pub mod datastore;
pub mod dump;
#[cfg(feature = "libp2p")]
pub mod libp2p_store;
pub mod location;
pub mod ops;
pub mod peerstore;
pub mod pylibp2p;
pub mod verify;

/// The crates whose types this API takes and returns.
pub use libp2p_identity;
#[cfg(feature = "libp2p")]
pub use libp2p_peer_store;
pub use multiaddr;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
