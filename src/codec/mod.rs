//! Codecs for every value go-libp2p's pstoreds stores, byte for byte (see docs/format.md).
//!
//! - [`peer_key`]: peer IDs in datastore keys (base32) and the key layout under `/peers`;
//! - [`record`]: the `AddrBookRecord` protobuf, unknown fields kept;
//! - [`crypto`]: libp2p crypto key protobufs, kept as raw bytes and parsed lazily;
//! - [`envelope`]: signed envelopes and peer records;
//! - [`gob`]: Go gob interface values (metadata and protocols);
//! - [`hex`]: bytes as text in dumps, scripts and messages.
//!
//! Decoders never panic; they return [`Error`]. The layer that knows which datastore key a value
//! came from names it (the peerstore's `Error::Corrupt`, `pstore verify`).

pub mod crypto;
pub mod envelope;
pub mod gob;
pub mod hex;
pub mod peer_key;
pub mod record;
mod wire;

/// A value or key that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("malformed protobuf: {0}")]
    Protobuf(String),
    #[error("malformed gob value: {0}")]
    Gob(String),
    #[error("unsupported gob value: {0}")]
    GobUnsupported(String),
    #[error("{segment:?} is not a base32 peer ID key segment")]
    Base32 { segment: String },
    #[error("invalid multiaddr bytes: {0}")]
    Multiaddr(String),
    #[error("invalid key: {0}")]
    Key(String),
    #[error("invalid signed envelope: {0}")]
    Envelope(String),
    #[error("the envelope's signature does not verify")]
    BadSignature,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
