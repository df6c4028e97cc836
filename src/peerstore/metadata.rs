//! Peer metadata: Go gob values at `/peers/metadata/<B32>/<name>` (go-libp2p's `metadata.go`).

use super::{Error, Peerstore, RawPeerId, Result};
use crate::codec::gob::Value;
use crate::codec::peer_key;
use crate::datastore::{Batch, Query};

fn metadata_key(peer: &RawPeerId, name: &str) -> Result<crate::datastore::Key> {
    peer_key::metadata_key(peer.as_bytes(), name).map_err(|source| Error::BadMetadata {
        peer: peer.to_string(),
        name: name.to_owned(),
        source,
    })
}

/// The key and gob bytes that store `value` under `name`; a bad name or value is refused.
pub(crate) fn metadata_entry(
    peer: &RawPeerId,
    name: &str,
    value: &Value,
) -> Result<(crate::datastore::Key, Vec<u8>)> {
    let key = metadata_key(peer, name)?;
    let bytes = value.encode().map_err(|source| Error::BadMetadata {
        peer: peer.to_string(),
        name: name.to_owned(),
        source,
    })?;
    Ok((key, bytes))
}

impl Peerstore {
    /// The value stored under `name`, or `None`. Values of types without a Rust variant come
    /// back as [`Value::Other`] with their bytes.
    pub fn get(&self, peer: impl Into<RawPeerId>, name: &str) -> Result<Option<Value>> {
        let peer = peer.into();
        self.check_open()?;
        self.read_decoded(&metadata_key(&peer, name)?, Value::decode)
    }

    /// Stores `value` under `name`, gob-encoded as go-libp2p writes it.
    pub fn put(&self, peer: impl Into<RawPeerId>, name: &str, value: &Value) -> Result<()> {
        let peer = peer.into();
        self.check_open()?;
        let (key, bytes) = metadata_entry(&peer, name, value)?;
        self.inner.ds.put(&key, &bytes)?;
        Ok(())
    }

    /// Deletes all of the peer's metadata (protocols included), in one batch.
    pub(crate) fn remove_metadata(&self, peer: &RawPeerId) -> Result<()> {
        let _lock = self.lock_peer(peer.as_bytes());
        let prefix = peer_key::metadata_prefix(peer.as_bytes());
        let mut batch = Batch::new();
        for e in self.inner.ds.query(&Query::keys(prefix))? {
            batch = batch.delete(e.key()?);
        }
        self.inner.ds.write(batch)?;
        Ok(())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
