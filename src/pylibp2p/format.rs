//! py-libp2p 0.8.1's keys and values. Its twins: the key prefixes of `sync/peerstore.py` (and
//! `async_/peerstore.py`, the same layout), the encoders of `serialization.py`, and
//! `pb/persistent_peerstore.proto`, which the sdist ships only compiled
//! (`persistent_peerstore_pb2.py`); rebuilt from its serialized descriptor, it reads:
//!
//! ```proto
//! syntax = "proto3";
//! package libp2p.peer.persistent.pb;
//! import "libp2p/peer/pb/crypto.proto";
//! import "libp2p/peer/pb/envelope.proto";
//!
//! message PeerAddresses { repeated bytes addresses = 1; }   // each a binary multiaddr
//! message PeerProtocols { repeated string protocols = 1; }
//! message PeerMetadata { map<string, bytes> metadata = 1; }
//! message PeerKeys {                                         // defined, never written
//!   libp2p.peer.pb.crypto.PublicKey public_key = 1;
//!   libp2p.peer.pb.crypto.PrivateKey private_key = 2;
//! }
//! message PeerLatency { int64 latency_ns = 1; }
//! message PeerEnvelope { libp2p.peer.pb.record.Envelope envelope = 1; }
//! message PeerRecordState {
//!   enum State { UNKNOWN = 0; VALID = 1; INVALID = 2; EXPIRED = 3; }
//!   State state = 1;
//! }
//! ```
//!
//! Keys are a prefix then the peer ID's bytes (`ID.to_bytes()`: the multihash), or
//! `local_record`. The `key:` record is not a `PeerKeys` but a `PeerMetadata` whose entries
//! `pubkey` and `privkey` hold the keys' crypto protobufs (`PublicKey.serialize()`).
//!
//! The decoders accept exactly the fields py-libp2p writes, in the wire types it writes them:
//! anything else is an error, so that a damaged value never passes for an empty one.

use std::collections::BTreeMap;

use libp2p_identity::PeerId;

use crate::codec::crypto::{KeyType, StoredKey};
use crate::codec::hex;
use crate::codec::wire::{Field, LEN, Reader, VARINT};
use crate::peerstore::RawPeerId;

/// The peer-keyed records of py-libp2p's store, by key prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Book {
    /// `addr:`: `PeerAddresses`.
    Addrs,
    /// `key:`: `PeerMetadata` with `pubkey` and `privkey`.
    Keys,
    /// `metadata:`: `PeerMetadata`.
    Metadata,
    /// `protocol:`: `PeerProtocols`.
    Protocols,
    /// `latency:`: `PeerLatency`.
    Latency,
    /// `peer_record:`: `PeerRecordState`.
    PeerRecord,
    /// `additional:`: deleted by `clear_peerdata`, never written by 0.8.1.
    Additional,
}

impl Book {
    /// Every book, in the order of their prefixes' bytes.
    pub const ALL: [Book; 7] = [
        Book::Additional,
        Book::Addrs,
        Book::Keys,
        Book::Latency,
        Book::Metadata,
        Book::PeerRecord,
        Book::Protocols,
    ];

    /// The key prefix, as py-libp2p writes it.
    pub fn prefix(self) -> &'static str {
        match self {
            Book::Addrs => "addr:",
            Book::Keys => "key:",
            Book::Metadata => "metadata:",
            Book::Protocols => "protocol:",
            Book::Latency => "latency:",
            Book::PeerRecord => "peer_record:",
            Book::Additional => "additional:",
        }
    }
}

/// The key of the node's own signed peer record.
pub const LOCAL_RECORD_KEY: &[u8] = b"local_record";

/// A py-libp2p key, understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PyKey {
    /// A record about one peer.
    Peer {
        /// Which record.
        book: Book,
        /// The peer.
        peer: RawPeerId,
    },
    /// `local_record`: the node's own signed peer record.
    LocalRecord,
}

/// A key or value that is not what py-libp2p 0.8.1 writes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A key with none of py-libp2p's prefixes.
    #[error("not a key py-libp2p 0.8.1 writes")]
    UnknownKey,
    /// The bytes after the prefix are not a peer ID.
    #[error("the peer ID does not parse: {0}")]
    PeerId(String),
    /// A value that is not the protobuf message its key calls for.
    #[error("not a {message} protobuf: {reason}")]
    Protobuf {
        /// The message the key calls for.
        message: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A crypto key go-libp2p could not use.
    #[error("{0}")]
    Key(String),
}

/// Reads a py-libp2p key.
pub fn parse_key(key: &[u8]) -> Result<PyKey, FormatError> {
    if key == LOCAL_RECORD_KEY {
        return Ok(PyKey::LocalRecord);
    }
    for book in Book::ALL {
        if let Some(peer) = key.strip_prefix(book.prefix().as_bytes()) {
            PeerId::from_bytes(peer).map_err(|e| FormatError::PeerId(e.to_string()))?;
            return Ok(PyKey::Peer {
                book,
                peer: RawPeerId::from_bytes(peer),
            });
        }
    }
    Err(FormatError::UnknownKey)
}

/// A py-libp2p key as messages show it: the prefix, then the peer as Go prints it
/// (`addr:12D3KooW...`), or its bytes in hex (`0x...`) when they are not a peer ID; a key
/// without a known prefix as text if it is printable ASCII, else in hex.
pub fn key_text(key: &[u8]) -> String {
    for book in Book::ALL {
        if let Some(peer) = key.strip_prefix(book.prefix().as_bytes()) {
            return match PeerId::from_bytes(peer) {
                Ok(id) => format!("{}{id}", book.prefix()),
                Err(_) => format!("{}0x{}", book.prefix(), hex::encode(peer)),
            };
        }
    }
    match std::str::from_utf8(key) {
        Ok(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => s.to_owned(),
        _ => format!("0x{}", hex::encode(key)),
    }
}

fn fields<'a>(message: &'static str, value: &'a [u8]) -> Result<Vec<Field<'a>>, FormatError> {
    let mut r = Reader::new(value);
    let mut out = Vec::new();
    while let Some(f) = r.next_field().map_err(|e| FormatError::Protobuf {
        message,
        reason: e.to_string(),
    })? {
        out.push(f);
    }
    Ok(out)
}

fn unexpected(message: &'static str, f: &Field<'_>) -> FormatError {
    FormatError::Protobuf {
        message,
        reason: format!("unexpected field {} (wire type {})", f.number, f.wire_type),
    }
}

fn text(message: &'static str, what: &str, bytes: &[u8]) -> Result<String, FormatError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| FormatError::Protobuf {
        message,
        reason: format!("{what} is not UTF-8"),
    })
}

/// `PeerAddresses`: the binary multiaddrs, as stored (each is parsed by the caller, so that
/// one bad address does not take the others with it).
pub fn decode_addrs(value: &[u8]) -> Result<Vec<Vec<u8>>, FormatError> {
    const M: &str = "PeerAddresses";
    fields(M, value)?
        .into_iter()
        .map(|f| match (f.number, f.wire_type) {
            (1, LEN) => Ok(f.bytes.to_vec()),
            _ => Err(unexpected(M, &f)),
        })
        .collect()
}

/// `PeerProtocols`: the protocol IDs.
pub fn decode_protocols(value: &[u8]) -> Result<Vec<String>, FormatError> {
    const M: &str = "PeerProtocols";
    fields(M, value)?
        .into_iter()
        .enumerate()
        .map(|(i, f)| match (f.number, f.wire_type) {
            (1, LEN) => text(M, &format!("protocol #{}", i + 1), f.bytes),
            _ => Err(unexpected(M, &f)),
        })
        .collect()
}

/// `PeerMetadata` (the `metadata:` and `key:` records): name to bytes; a name given twice
/// keeps its last value, as a protobuf map does.
pub fn decode_map(value: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, FormatError> {
    const M: &str = "PeerMetadata";
    let mut out = BTreeMap::new();
    for f in fields(M, value)? {
        if (f.number, f.wire_type) != (1, LEN) {
            return Err(unexpected(M, &f));
        }
        let (mut name, mut bytes) = (String::new(), Vec::new());
        for e in fields(M, f.bytes)? {
            match (e.number, e.wire_type) {
                (1, LEN) => name = text(M, "an entry's name", e.bytes)?,
                (2, LEN) => bytes = e.bytes.to_vec(),
                _ => return Err(unexpected(M, &e)),
            }
        }
        out.insert(name, bytes);
    }
    Ok(out)
}

/// A message of one varint field, number 1 (0 when absent, as proto3 leaves it out).
fn single_varint(m: &'static str, value: &[u8]) -> Result<u64, FormatError> {
    let mut v = 0;
    for f in fields(m, value)? {
        match (f.number, f.wire_type) {
            (1, VARINT) => v = f.varint,
            _ => return Err(unexpected(m, &f)),
        }
    }
    Ok(v)
}

/// `PeerLatency`: the latency EWMA in nanoseconds.
pub fn decode_latency(value: &[u8]) -> Result<i64, FormatError> {
    // int64: two's complement in the varint.
    Ok(single_varint("PeerLatency", value)? as i64)
}

/// `PeerRecordState`: the state's number (0 `UNKNOWN`, 1 `VALID`, 2 `INVALID`, 3 `EXPIRED`).
pub fn decode_record_state(value: &[u8]) -> Result<u64, FormatError> {
    single_varint("PeerRecordState", value)
}

/// The name of a `PeerRecordState` state.
pub fn record_state_name(state: u64) -> String {
    match state {
        0 => "UNKNOWN".into(),
        1 => "VALID".into(),
        2 => "INVALID".into(),
        3 => "EXPIRED".into(),
        n => format!("state {n}"),
    }
}

/// `PeerEnvelope`: the marshalled signed envelope it wraps.
pub fn decode_local_record(value: &[u8]) -> Result<Vec<u8>, FormatError> {
    const M: &str = "PeerEnvelope";
    let mut envelope = None;
    for f in fields(M, value)? {
        match (f.number, f.wire_type) {
            (1, LEN) => envelope = Some(f.bytes.to_vec()),
            _ => return Err(unexpected(M, &f)),
        }
    }
    envelope.ok_or_else(|| FormatError::Protobuf {
        message: M,
        reason: "no envelope".into(),
    })
}

fn crypto_key(raw: &[u8], which: &str) -> Result<StoredKey, FormatError> {
    let key = StoredKey::decode_proto3(raw)
        .map_err(|e| FormatError::Key(format!("the {which} key does not parse: {e}")))?;
    match key.key_type {
        KeyType::Other(4) => Err(FormatError::Key(format!(
            "the {which} key is of py-libp2p's type ECC_P256 (4), which go-libp2p does not know"
        ))),
        KeyType::Other(n) => Err(FormatError::Key(format!(
            "the {which} key is of type {n}, which go-libp2p does not know"
        ))),
        t => Ok(StoredKey::new(t, key.data)),
    }
}

/// The public key py-libp2p stored (`PublicKey.serialize()`), in Go's canonical encoding;
/// refused if it does not parse as a key go-libp2p reads.
pub fn go_public_key(raw: &[u8]) -> Result<StoredKey, FormatError> {
    let key = crypto_key(raw, "public")?;
    key.public_key()
        .map_err(|e| FormatError::Key(format!("the public key: {e}")))?;
    Ok(key)
}

/// The private key py-libp2p stored, as go-libp2p stores it: an Ed25519 key given as its
/// 32-byte seed becomes Go's 64 bytes (seed, then public key); refused if it does not parse.
pub fn go_private_key(raw: &[u8]) -> Result<StoredKey, FormatError> {
    let key = crypto_key(raw, "private")?;
    let key = if key.key_type == KeyType::Ed25519 && key.data.len() == 32 {
        let secret = libp2p_identity::ed25519::SecretKey::try_from_bytes(key.data.clone())
            .map_err(|e| FormatError::Key(format!("the Ed25519 private key: {e}")))?;
        let pair = libp2p_identity::ed25519::Keypair::from(secret);
        StoredKey::new(KeyType::Ed25519, pair.to_bytes().to_vec())
    } else {
        key
    };
    key.keypair()
        .map_err(|e| FormatError::Key(format!("the private key: {e}")))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s, "test").unwrap()
    }

    // Values copied from a store py-libp2p 0.8.1 wrote (SQLite backend).
    const ADDRS: &str = "0a080401020304060fa1";
    const PROTOCOLS: &str = "0a0e2f697066732f69642f312e302e300a042f782f31";
    const METADATA: &str = "0a080a01661203312e350a060a016e1201350a140a0c4167656e7456657273696f6e\
        120470792f310a090a017a12044e6f6e650a090a0162120454727565";
    const LATENCY: &str = "0880e59a77";

    #[test]
    fn values_py_libp2p_wrote_decode() {
        let addrs = decode_addrs(&unhex(ADDRS)).unwrap();
        let addr = multiaddr::Multiaddr::try_from(addrs[0].clone()).unwrap();
        assert_eq!(addr.to_string(), "/ip4/1.2.3.4/tcp/4001");
        assert_eq!(
            decode_protocols(&unhex(PROTOCOLS)).unwrap(),
            ["/ipfs/id/1.0.0", "/x/1"]
        );
        let m = decode_map(&unhex(METADATA)).unwrap();
        let shown: Vec<(&str, &[u8])> = m.iter().map(|(k, v)| (k.as_str(), &v[..])).collect();
        assert_eq!(
            shown,
            [
                ("AgentVersion", &b"py/1"[..]),
                ("b", b"True"),
                ("f", b"1.5"),
                ("n", b"5"),
                ("z", b"None")
            ]
        );
        assert_eq!(decode_latency(&unhex(LATENCY)).unwrap(), 250_000_000);
        assert_eq!(decode_record_state(&[0x08, 0x01]).unwrap(), 1);
    }

    #[test]
    fn damaged_values_are_errors_not_empty_records() {
        for bad in [
            &[0xff, 0xff][..],
            &[0x0a, 0x09, 0x01],
            &[0x08, 0x01],
            &[0x12, 0x00],
        ] {
            assert!(decode_addrs(bad).is_err(), "{bad:?}");
            assert!(decode_protocols(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            decode_map(&[0x0a, 0x02, 0x18, 0x01]),
            Err(FormatError::Protobuf { .. })
        ));
        assert!(decode_protocols(&[0x0a, 0x01, 0xff]).is_err());
        assert!(decode_local_record(&[]).is_err());
    }

    #[test]
    fn keys_name_their_book_and_peer() {
        let peer = libp2p_identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        let key = [b"protocol:".as_slice(), &peer.to_bytes()].concat();
        assert_eq!(
            parse_key(&key).unwrap(),
            PyKey::Peer {
                book: Book::Protocols,
                peer: peer.into()
            }
        );
        assert_eq!(key_text(&key), format!("protocol:{peer}"));
        assert_eq!(parse_key(b"local_record").unwrap(), PyKey::LocalRecord);
        assert_eq!(parse_key(b"bogus"), Err(FormatError::UnknownKey));
        assert_eq!(key_text(b"bogus"), "bogus");
        assert!(matches!(
            parse_key(b"addr:\x01\x02"),
            Err(FormatError::PeerId(_))
        ));
        assert_eq!(key_text(b"addr:\x01\x02"), "addr:0x0102");
        assert_eq!(key_text(b"\x00a"), "0x0061");
    }

    #[test]
    fn an_ed25519_seed_becomes_go_s_64_bytes() {
        let pair = libp2p_identity::ed25519::Keypair::generate();
        let seed = pair.secret().as_ref().to_vec();
        let py = StoredKey::new(KeyType::Ed25519, seed.clone());
        let go = go_private_key(py.raw()).unwrap();
        assert_eq!(go.data, pair.to_bytes().to_vec());
        assert_eq!(&go.data[..32], &seed[..]);
        // A 64-byte key is kept as it is.
        assert_eq!(go_private_key(go.raw()).unwrap(), go);
        let ecc = StoredKey::new(KeyType::Other(4), vec![1; 65]);
        assert!(
            go_public_key(ecc.raw())
                .unwrap_err()
                .to_string()
                .contains("ECC_P256")
        );
    }
}
