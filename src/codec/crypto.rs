//! libp2p crypto keys as go-libp2p stores them: the proto2 `PublicKey` / `PrivateKey` messages
//! `{1: KeyType, 2: bytes Data}`.
//!
//! Keys are kept as the bytes that were stored and parsed only on demand: libp2p-identity cannot
//! parse every form Go writes (ECDSA on P-384/P-521, say), and cannot re-encode RSA private
//! keys, so a round trip through its types would lose data.

use libp2p_identity::{Keypair, PublicKey};
use sha2::{Digest, Sha256};

use super::wire::{LEN, Reader, VARINT, put_bytes_field, put_varint_field};
use super::{Error, Result};

/// The `KeyType` enum of libp2p's crypto protobuf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA (type 0).
    Rsa,
    /// Ed25519 (type 1).
    Ed25519,
    /// Secp256k1 (type 2).
    Secp256k1,
    /// ECDSA (type 3).
    Ecdsa,
    /// A type number this version does not know.
    Other(u64),
}

impl KeyType {
    /// The key type of a protobuf type number.
    pub fn from_number(n: u64) -> KeyType {
        match n {
            0 => KeyType::Rsa,
            1 => KeyType::Ed25519,
            2 => KeyType::Secp256k1,
            3 => KeyType::Ecdsa,
            n => KeyType::Other(n),
        }
    }

    /// The protobuf type number.
    pub fn number(self) -> u64 {
        match self {
            KeyType::Rsa => 0,
            KeyType::Ed25519 => 1,
            KeyType::Secp256k1 => 2,
            KeyType::Ecdsa => 3,
            KeyType::Other(n) => n,
        }
    }

    /// The type's name, as go-libp2p prints it (`Ed25519`, ...).
    pub fn name(self) -> String {
        match self {
            KeyType::Rsa => "RSA".into(),
            KeyType::Ed25519 => "Ed25519".into(),
            KeyType::Secp256k1 => "Secp256k1".into(),
            KeyType::Ecdsa => "ECDSA".into(),
            KeyType::Other(n) => format!("unknown key type {n}"),
        }
    }
}

/// A stored key: its type, its data, and the exact protobuf bytes it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// The key's type.
    pub key_type: KeyType,
    /// The key material (`Data`), as stored.
    pub data: Vec<u8>,
    raw: Vec<u8>,
}

impl StoredKey {
    /// Reads a `PublicKey` or `PrivateKey` protobuf. Both fields are required (proto2).
    pub fn decode(raw: &[u8]) -> Result<StoredKey> {
        let mut key_type = None;
        let mut data = None;
        let mut r = Reader::new(raw);
        while let Some(f) = r.next_field()? {
            match (f.number, f.wire_type) {
                (1, VARINT) => key_type = Some(KeyType::from_number(f.varint)),
                (2, LEN) => data = Some(f.bytes.to_vec()),
                _ => {}
            }
        }
        let (Some(key_type), Some(data)) = (key_type, data) else {
            return Err(Error::Key("a key protobuf needs both Type and Data".into()));
        };
        Ok(StoredKey {
            key_type,
            data,
            raw: raw.to_vec(),
        })
    }

    /// Reads a key as a proto3 encoder writes it, where a `Type` of 0 (RSA), the default, is
    /// left out: py-libp2p 0.8.1 encodes the public key of a signed envelope so. Go's proto2
    /// schema requires the field; [`Envelope::canonical_bytes`](super::envelope::Envelope)
    /// writes it back explicitly.
    pub fn decode_proto3(raw: &[u8]) -> Result<StoredKey> {
        let mut key_type = KeyType::Rsa;
        let mut data = None;
        let mut r = Reader::new(raw);
        while let Some(f) = r.next_field()? {
            match (f.number, f.wire_type) {
                (1, VARINT) => key_type = KeyType::from_number(f.varint),
                (2, LEN) => data = Some(f.bytes.to_vec()),
                _ => {}
            }
        }
        let Some(data) = data else {
            return Err(Error::Key("a key protobuf needs Data".into()));
        };
        Ok(StoredKey {
            key_type,
            data,
            raw: raw.to_vec(),
        })
    }

    /// A key from its parts, encoded as Go marshals it (type always written, then data).
    pub fn new(key_type: KeyType, data: Vec<u8>) -> StoredKey {
        let mut raw = Vec::with_capacity(data.len() + 8);
        put_varint_field(&mut raw, 1, key_type.number());
        put_bytes_field(&mut raw, 2, &data);
        StoredKey {
            key_type,
            data,
            raw,
        }
    }

    /// A public key from libp2p-identity's type.
    pub fn from_public(key: &PublicKey) -> StoredKey {
        StoredKey::decode(&key.encode_protobuf()).expect("libp2p-identity encodes valid protobuf")
    }

    /// The bytes to store: exactly those that were read.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Parses the key as a public key.
    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::try_decode_protobuf(&self.raw).map_err(|e| {
            Error::Key(format!(
                "cannot parse {} public key: {e}",
                self.key_type.name()
            ))
        })
    }

    /// Parses the key as a private key (any form go-libp2p writes, including Ed25519's legacy
    /// 96-byte form).
    pub fn keypair(&self) -> Result<Keypair> {
        let fail = |e: &dyn std::fmt::Display| {
            Error::Key(format!(
                "cannot parse {} private key: {e}",
                self.key_type.name()
            ))
        };
        if self.key_type == KeyType::Ed25519 && self.data.len() == 96 {
            // seed || pub || pub: Go accepts it if both public halves agree.
            if self.data[32..64] != self.data[64..96] {
                return Err(fail(&"legacy 96-byte form with mismatched public halves"));
            }
            let trimmed = StoredKey::new(KeyType::Ed25519, self.data[..64].to_vec());
            return Keypair::from_protobuf_encoding(&trimmed.raw).map_err(|e| fail(&e));
        }
        Keypair::from_protobuf_encoding(&self.raw).map_err(|e| fail(&e))
    }

    /// The peer ID of this key taken as a public key, by go-libp2p's rule: the protobuf
    /// encoding itself (identity multihash) if it is at most 42 bytes, its SHA-256 otherwise.
    /// Works for key types this version cannot parse.
    pub fn peer_id_bytes(&self) -> Vec<u8> {
        // Go hashes its own canonical marshalling: rebuild it from the parts.
        let canonical = StoredKey::new(self.key_type, self.data.clone()).raw;
        if canonical.len() <= 42 {
            let mut id = vec![0x00, canonical.len() as u8];
            id.extend_from_slice(&canonical);
            id
        } else {
            let mut id = vec![0x12, 0x20];
            id.extend_from_slice(&Sha256::digest(&canonical));
            id
        }
    }

    /// The peer ID that owns this private key.
    pub fn private_peer_id_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.keypair()?.public().to_peer_id().to_bytes())
    }
}

/// The public key embedded in an identity-multihash peer ID (`00 <len> <PublicKey protobuf>`),
/// if it holds one.
pub fn extract_public_key(peer: &[u8]) -> Option<StoredKey> {
    let (&code, rest) = peer.split_first()?;
    if code != 0x00 {
        return None;
    }
    let mut rest = rest;
    let len = prost::encoding::decode_varint(&mut rest).ok()?;
    if len as usize != rest.len() {
        return None;
    }
    StoredKey::decode(rest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_key_types_round_trip_and_give_libp2p_peer_ids() {
        for kp in [
            Keypair::generate_ed25519(),
            Keypair::generate_secp256k1(),
            Keypair::generate_ecdsa(),
        ] {
            let stored = StoredKey::from_public(&kp.public());
            assert_eq!(stored.public_key().unwrap(), kp.public());
            assert_eq!(stored.peer_id_bytes(), kp.public().to_peer_id().to_bytes());
            let priv_raw = kp.to_protobuf_encoding().unwrap();
            let sk = StoredKey::decode(&priv_raw).unwrap();
            assert_eq!(sk.raw(), &priv_raw[..]);
            assert_eq!(
                sk.private_peer_id_bytes().unwrap(),
                kp.public().to_peer_id().to_bytes()
            );
        }
    }

    #[test]
    fn ed25519_identity_peer_id_holds_the_key() {
        let kp = Keypair::generate_ed25519();
        let id = kp.public().to_peer_id().to_bytes();
        assert_eq!(&id[..6], &[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
        let extracted = extract_public_key(&id).unwrap();
        assert_eq!(extracted.public_key().unwrap(), kp.public());
        assert_eq!(extract_public_key(&[0x12, 0x20, 1, 2]), None);
    }

    #[test]
    fn ed25519_legacy_96_byte_private_key_is_read() {
        let kp = Keypair::generate_ed25519();
        let modern = StoredKey::decode(&kp.to_protobuf_encoding().unwrap()).unwrap();
        assert_eq!(modern.data.len(), 64);
        let mut legacy = modern.data.clone();
        legacy.extend_from_slice(&modern.data[32..]);
        let legacy = StoredKey::new(KeyType::Ed25519, legacy);
        assert_eq!(legacy.keypair().unwrap().public(), kp.public());
        let mut broken = legacy.data.clone();
        broken[95] ^= 1;
        assert!(StoredKey::new(KeyType::Ed25519, broken).keypair().is_err());
    }

    #[test]
    fn unparseable_keys_are_kept_and_still_have_a_peer_id() {
        // A key type from the future, and ECDSA data libp2p-identity cannot parse.
        for key in [
            StoredKey::new(KeyType::Other(9), vec![1, 2, 3]),
            StoredKey::new(KeyType::Ecdsa, vec![0x30; 120]),
        ] {
            assert!(key.public_key().is_err());
            let again = StoredKey::decode(key.raw()).unwrap();
            assert_eq!(again, key);
            assert!(!key.peer_id_bytes().is_empty());
        }
        // Long keys are hashed.
        assert_eq!(
            StoredKey::new(KeyType::Ecdsa, vec![0x30; 120]).peer_id_bytes()[..2],
            [0x12, 0x20]
        );
    }

    #[test]
    fn rsa_type_zero_is_always_written() {
        assert_eq!(
            StoredKey::new(KeyType::Rsa, vec![9]).raw(),
            [0x08, 0x00, 0x12, 0x01, 0x09]
        );
    }

    #[test]
    fn malformed_key_bytes_are_errors() {
        assert!(StoredKey::decode(&[0x08, 0x01]).is_err());
        assert!(StoredKey::decode(&[0x12, 0x01, 0x09]).is_err());
        assert!(StoredKey::decode(&[0x12, 0x05]).is_err());
    }
}
