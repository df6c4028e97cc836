//! pstoreds: a libp2p peerstore that keeps its data on disk in exactly the layout of go-libp2p's
//! datastore-backed peerstore (`pstoreds` over `go-ds-leveldb`).

pub mod codec;
pub mod datastore;
pub mod dump;
#[cfg(feature = "libp2p")]
pub mod libp2p_store;
pub mod ops;
pub mod peerstore;
pub mod verify;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
