//! The protocol book: a peer's protocols as the gob map `map[protocol.ID]struct {}` under the
//! metadata name `protocols` (go-libp2p's `protobook.go`). Maps written by go-libp2p before
//! v0.25.0 (`map[string]struct {}`) are read too and rewritten in the current form.

use super::{Error, Peerstore, RawPeerId, Result};
use crate::codec::gob;
use crate::codec::peer_key;
use crate::datastore::Batch;

impl Peerstore {
    pub(crate) fn protocols_key(&self, peer: &RawPeerId) -> crate::datastore::Key {
        peer_key::metadata_key(peer.as_bytes(), peer_key::PROTOCOLS)
            .expect("\"protocols\" is a valid metadata name")
    }

    /// The stored protocols (sorted), and the bytes they were read from. Call with the peer
    /// locked.
    fn load_protocols(&self, peer: &RawPeerId) -> Result<(Vec<String>, Option<Vec<u8>>)> {
        let Some((decoded, bytes)) =
            self.read_decoded_with_bytes(&self.protocols_key(peer), gob::decode_protocols)?
        else {
            return Ok((Vec::new(), None));
        };
        let mut p = decoded.protocols;
        p.sort();
        p.dedup();
        Ok((p, Some(bytes)))
    }

    /// Reads the protocols, lets `change` compute the new list (`None`: write nothing) and
    /// writes it. Over a shared store the write applies only if the stored map is still the
    /// one read, and the whole step is retried otherwise. Call with the peer locked.
    fn update_protocols(
        &self,
        peer: &RawPeerId,
        change: impl Fn(Vec<String>) -> Result<Option<Vec<String>>>,
    ) -> Result<()> {
        self.retry_conflicts(|| {
            let (have, was) = self.load_protocols(peer)?;
            let Some(new) = change(have)? else {
                return Ok(());
            };
            let key = self.protocols_key(peer);
            let bytes = gob::encode_protocols(new.iter().map(String::as_str));
            let mut batch = Batch::new().put(key.clone(), bytes);
            if self.inner.ds.is_shared() {
                batch.expect(key, was);
            }
            self.inner.ds.write(batch)?;
            Ok(())
        })
    }

    pub(crate) fn too_many(&self, peer: &RawPeerId, count: usize) -> Result<()> {
        let max = self.inner.opts.max_protocols;
        if count > max {
            return Err(Error::TooManyProtocols {
                peer: peer.to_string(),
                count,
                max,
            });
        }
        Ok(())
    }

    /// The peer's protocols, sorted.
    pub fn get_protocols(&self, peer: impl Into<RawPeerId>) -> Result<Vec<String>> {
        let peer = peer.into();
        self.check_open()?;
        let _lock = self.lock_peer(peer.as_bytes());
        Ok(self.load_protocols(&peer)?.0)
    }

    /// Adds protocols. Fails ("too many protocols") if the stored count plus the number given
    /// exceeds the limit, counted before de-duplication, as in go-libp2p.
    pub fn add_protocols<S: AsRef<str>>(
        &self,
        peer: impl Into<RawPeerId>,
        protocols: &[S],
    ) -> Result<()> {
        let peer = peer.into();
        self.check_open()?;
        let _lock = self.lock_peer(peer.as_bytes());
        self.update_protocols(&peer, |mut have| {
            self.too_many(&peer, have.len() + protocols.len())?;
            have.extend(protocols.iter().map(|p| p.as_ref().to_owned()));
            Ok(Some(have))
        })
    }

    /// Replaces the peer's protocols. Fails if more than the limit are given (before
    /// de-duplication).
    pub fn set_protocols<S: AsRef<str>>(
        &self,
        peer: impl Into<RawPeerId>,
        protocols: &[S],
    ) -> Result<()> {
        let peer = peer.into();
        self.check_open()?;
        self.too_many(&peer, protocols.len())?;
        let _lock = self.lock_peer(peer.as_bytes());
        let set: Vec<String> = protocols.iter().map(|p| p.as_ref().to_owned()).collect();
        let bytes = gob::encode_protocols(set.iter().map(String::as_str));
        self.inner.ds.put(&self.protocols_key(&peer), &bytes)?;
        Ok(())
    }

    /// Removes protocols; the map is written back even when it ends up empty (as in Go), but
    /// nothing is written when the peer had none.
    pub fn remove_protocols<S: AsRef<str>>(
        &self,
        peer: impl Into<RawPeerId>,
        protocols: &[S],
    ) -> Result<()> {
        let peer = peer.into();
        self.check_open()?;
        let _lock = self.lock_peer(peer.as_bytes());
        self.update_protocols(&peer, |mut have| {
            if have.is_empty() {
                return Ok(None);
            }
            have.retain(|p| !protocols.iter().any(|r| r.as_ref() == p));
            Ok(Some(have))
        })
    }

    /// Those of `protocols` the peer supports, in the order asked.
    pub fn supports_protocols<S: AsRef<str>>(
        &self,
        peer: impl Into<RawPeerId>,
        protocols: &[S],
    ) -> Result<Vec<String>> {
        let have = self.get_protocols(peer)?;
        Ok(protocols
            .iter()
            .filter(|p| {
                have.binary_search_by(|h| h.as_str().cmp(p.as_ref()))
                    .is_ok()
            })
            .map(|p| p.as_ref().to_owned())
            .collect())
    }

    /// The first of `protocols` the peer supports.
    pub fn first_supported_protocol<S: AsRef<str>>(
        &self,
        peer: impl Into<RawPeerId>,
        protocols: &[S],
    ) -> Result<Option<String>> {
        Ok(self.supports_protocols(peer, protocols)?.into_iter().next())
    }
}
