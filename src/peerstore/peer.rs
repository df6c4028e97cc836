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
        RawPeerId(p.to_bytes())
    }
}

impl From<&PeerId> for RawPeerId {
    fn from(p: &PeerId) -> RawPeerId {
        RawPeerId(p.to_bytes())
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
