//! The peers this process has heard of. py-libp2p's in-memory `PeerStore` knows a peer from the
//! first call that names it until it is cleared, even when nothing about it is left (its
//! addresses cleared, say), and its `addrs`/`get`/... raise for a peer it does not know. Go's
//! layout has no such record, so a peer is known here when something is stored for it or when
//! a call of this process named it; the second part lives in memory.

use std::collections::HashMap;
use std::sync::Mutex;

/// What this process remembers of a peer beyond what is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// The peer's last address TTL (py-libp2p keeps one per peer) was finite: once its
    /// addresses are gone it is expired, as py-libp2p's `is_expired`.
    pub expiring: bool,
}

/// ahash: randomly seeded, as std's SipHash is, and cheaper on every `add_addrs`.
type Map = HashMap<Vec<u8>, Known, ahash::RandomState>;

/// The known peers, by raw peer ID.
#[derive(Debug, Default)]
pub struct KnownPeers(Mutex<Map>);

impl KnownPeers {
    fn map(&self) -> std::sync::MutexGuard<'_, Map> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A call named the peer.
    pub fn note(&self, peer: &[u8]) {
        let mut map = self.map();
        if !map.contains_key(peer) {
            map.insert(peer.to_vec(), Known::default());
        }
    }

    /// The peer's addresses were given a TTL (finite: `expiring`).
    pub fn note_ttl(&self, peer: &[u8], expiring: bool) {
        let mut map = self.map();
        match map.get_mut(peer) {
            Some(known) => known.expiring = expiring,
            None => {
                map.insert(peer.to_vec(), Known { expiring });
            }
        }
    }

    /// What is remembered of the peer, if it was named.
    pub fn get(&self, peer: &[u8]) -> Option<Known> {
        self.map().get(peer).copied()
    }

    /// Forgets the peer (`clear_peerdata`, or its addresses expired and were collected).
    pub fn forget(&self, peer: &[u8]) {
        self.map().remove(peer);
    }

    /// Every peer named, in no order.
    pub fn peers(&self) -> Vec<Vec<u8>> {
        self.map().keys().cloned().collect()
    }
}
