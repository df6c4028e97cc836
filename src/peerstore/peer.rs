//! Peer IDs as go-libp2p's `peer.ID`: any bytes (normally a multihash).

use std::fmt;

use libp2p_identity::PeerId;

/// A peer ID as raw bytes. go-libp2p's `peer.ID` is a byte string that need not be a valid
/// multihash (its own tests use `"foo"`), and databases hold whatever was written, so the
/// peerstore keys everything by these bytes. Converts from and to libp2p's [`PeerId`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RawPeerId(Vec<u8>);

impl RawPeerId {
    /// A peer ID from its raw bytes (the multihash).
    pub fn from_bytes(b: impl Into<Vec<u8>>) -> RawPeerId {
        RawPeerId(b.into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The raw bytes as the cache's key type, without copying them.
    pub(crate) fn as_vec(&self) -> &Vec<u8> {
        &self.0
    }

    /// The libp2p peer ID, if the bytes are a valid one.
    pub fn to_peer_id(&self) -> Option<PeerId> {
        PeerId::from_bytes(&self.0).ok()
    }

    /// Parses base58btc text, as Go's `peer.Decode` (`Qm...`, `12D3KooW...`).
    pub fn from_base58(s: &str) -> Option<RawPeerId> {
        bs58::decode(s).into_vec().ok().map(RawPeerId)
    }
}

impl From<PeerId> for RawPeerId {
    fn from(p: PeerId) -> RawPeerId {
        RawPeerId::from(&p)
    }
}

impl From<&PeerId> for RawPeerId {
    fn from(p: &PeerId) -> RawPeerId {
        // The multihash's bytes (code, digest length, digest), written into one sized vector:
        // `PeerId::to_bytes` grows its vector a varint at a time (a third of a cached `addrs`
        // read went there).
        let mh: &multiaddr::multihash::Multihash<64> = p.as_ref();
        let mut bytes = Vec::with_capacity(mh.encoded_len());
        prost::encoding::encode_varint(mh.code(), &mut bytes);
        prost::encoding::encode_varint(u64::from(mh.size()), &mut bytes);
        bytes.extend_from_slice(mh.digest());
        RawPeerId(bytes)
    }
}

impl From<&RawPeerId> for RawPeerId {
    fn from(p: &RawPeerId) -> RawPeerId {
        p.clone()
    }
}

impl From<&str> for RawPeerId {
    /// The string's bytes as the ID (Go's `peer.ID("foo")`), not base58 decoding.
    fn from(s: &str) -> RawPeerId {
        RawPeerId(s.as_bytes().to_vec())
    }
}

impl fmt::Display for RawPeerId {
    /// base58btc, as Go's `peer.ID.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).into_string())
    }
}

impl fmt::Debug for RawPeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawPeerId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_of_a_peer_id_are_its_multihash_bytes() {
        let ed25519 = libp2p_identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id();
        // An identity multihash (inlined ed25519 key) and a sha2-256 one.
        for p in [ed25519, PeerId::random()] {
            assert_eq!(RawPeerId::from(p).as_bytes(), p.to_bytes());
            assert_eq!(RawPeerId::from(&p).as_bytes(), p.to_bytes());
        }
    }
}
