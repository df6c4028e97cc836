//! The key book: public and private keys at `/peers/keys/<B32>/{pub,priv}` (go-libp2p's
//! `keybook.go`). Keys are stored as the exact protobuf bytes and parsed only on demand.

use libp2p_identity::{Keypair, PublicKey};

use super::{Error, Peerstore, RawPeerId, Result};
use crate::codec::crypto::{StoredKey, extract_public_key};
use crate::codec::peer_key;
use crate::datastore::{Batch, Key};

/// The key and value that store `raw` as the peer's public key, refused if it is not the
/// peer's key.
pub(crate) fn pub_key_entry(peer: &RawPeerId, raw: &[u8]) -> Result<(Key, Vec<u8>)> {
    let stored = StoredKey::decode(raw).map_err(|e| Error::BadKey {
        peer: peer.to_string(),
        which: "public",
        source: Box::new(e),
    })?;
    if stored.peer_id_bytes() != peer.as_bytes() {
        return Err(Error::KeyMismatch {
            peer: peer.to_string(),
            which: "public",
        });
    }
    Ok((
        peer_key::pub_key_key(peer.as_bytes()),
        stored.raw().to_vec(),
    ))
}

impl Peerstore {
    fn read_key(&self, key: &Key) -> Result<Option<StoredKey>> {
        self.read_decoded(key, StoredKey::decode)
    }

    /// The peer's public key. When none is stored but the peer ID embeds one (identity
    /// multihash, e.g. Ed25519), it is extracted and written back, as go-libp2p does.
    pub fn pub_key(&self, peer: impl Into<RawPeerId>) -> Result<Option<StoredKey>> {
        let peer = peer.into();
        self.check_open()?;
        let key = peer_key::pub_key_key(peer.as_bytes());
        if let Some(k) = self.read_key(&key)? {
            return Ok(Some(k));
        }
        match extract_public_key(peer.as_bytes()) {
            Some(k) => {
                self.inner.ds.put(&key, k.raw())?;
                Ok(Some(k))
            }
            None => Ok(None),
        }
    }

    /// The peer's private key, if stored.
    pub fn priv_key(&self, peer: impl Into<RawPeerId>) -> Result<Option<StoredKey>> {
        let peer = peer.into();
        self.check_open()?;
        self.read_key(&peer_key::priv_key_key(peer.as_bytes()))
    }

    /// Stores the peer's public key; refused if it is not the peer's key.
    pub fn add_pub_key(&self, peer: impl Into<RawPeerId>, key: &PublicKey) -> Result<()> {
        self.add_pub_key_bytes(peer, &key.encode_protobuf())
    }

    /// Stores a public key given as its protobuf bytes (any key type, parsed or not).
    pub fn add_pub_key_bytes(&self, peer: impl Into<RawPeerId>, raw: &[u8]) -> Result<()> {
        let peer = peer.into();
        self.check_open()?;
        let (key, value) = pub_key_entry(&peer, raw)?;
        self.inner.ds.put(&key, &value)?;
        Ok(())
    }

    /// Stores the peer's private key; refused if it is not the peer's key. libp2p-identity
    /// cannot encode RSA private keys: store those with [`Peerstore::add_priv_key_bytes`].
    pub fn add_priv_key(&self, peer: impl Into<RawPeerId>, key: &Keypair) -> Result<()> {
        let peer = peer.into();
        let raw = key.to_protobuf_encoding().map_err(|e| Error::BadKey {
            peer: peer.to_string(),
            which: "private",
            source: Box::new(e),
        })?;
        self.add_priv_key_bytes(peer, &raw)
    }

    /// Stores a private key given as its protobuf bytes.
    pub fn add_priv_key_bytes(&self, peer: impl Into<RawPeerId>, raw: &[u8]) -> Result<()> {
        let peer = peer.into();
        self.check_open()?;
        let unusable = |e: crate::codec::Error| Error::BadKey {
            peer: peer.to_string(),
            which: "private",
            source: Box::new(e),
        };
        let stored = StoredKey::decode(raw).map_err(unusable)?;
        let owner = stored.private_peer_id_bytes().map_err(unusable)?;
        if owner != peer.as_bytes() {
            return Err(Error::KeyMismatch {
                peer: peer.to_string(),
                which: "private",
            });
        }
        self.inner
            .ds
            .put(&peer_key::priv_key_key(peer.as_bytes()), stored.raw())?;
        Ok(())
    }

    /// Every peer with a public or a private key stored.
    pub fn peers_with_keys(&self) -> Result<Vec<RawPeerId>> {
        self.check_open()?;
        let mut peers = self.peers_under(&Key::new(peer_key::KEYS))?;
        peers.sort();
        peers.dedup();
        Ok(peers)
    }

    pub(crate) fn remove_keys(&self, peer: &RawPeerId) -> Result<()> {
        self.inner.ds.write(
            Batch::new()
                .delete(peer_key::pub_key_key(peer.as_bytes()))
                .delete(peer_key::priv_key_key(peer.as_bytes())),
        )?;
        Ok(())
    }
}
