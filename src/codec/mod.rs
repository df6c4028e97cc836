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
pub(crate) mod wire;

/// A value or key that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A protobuf message (record, key, envelope) that does not parse.
    #[error("malformed protobuf: {0}")]
    Protobuf(String),
    /// A gob stream that does not parse.
    #[error("malformed gob value: {0}")]
    Gob(String),
    /// A well-formed gob value of a shape this crate does not handle.
    #[error("unsupported gob value: {0}")]
    GobUnsupported(String),
    /// A datastore key segment that is not base32 (upper or lower case, no padding).
    #[error("{segment:?} is not a base32 peer ID key segment")]
    Base32 {
        /// The segment, as found.
        segment: String,
    },
    /// Multiaddr bytes that do not parse.
    #[error("invalid multiaddr bytes: {0}")]
    Multiaddr(String),
    /// A crypto key that does not parse, or cannot be used for what was asked.
    #[error("invalid key: {0}")]
    Key(String),
    /// A signed envelope that is malformed or holds no peer record.
    #[error("invalid signed envelope: {0}")]
    Envelope(String),
    /// A signed envelope whose signature does not verify.
    #[error("the envelope's signature does not verify")]
    BadSignature,
}

/// What the codecs return.
pub type Result<T, E = Error> = std::result::Result<T, E>;
