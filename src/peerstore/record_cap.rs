//! The cap on address records kept (`Options::max_peer_records`): the records whose addresses
//! expire soonest are evicted first.

use super::{Peerstore, RawPeerId, Result};
use crate::codec::peer_key;
use crate::codec::record::AddrBookRecord;
use crate::datastore::{Key, Query};

impl Peerstore {
    /// Remembers that a record was created, so the next [`Peerstore::enforce_record_cap`]
    /// counts the records.
    pub(crate) fn note_record_created(&self) {
        if self.inner.opts.max_peer_records.is_some() {
            self.inner
                .maybe_over_cap
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// With a cap on the number of address records: when a record was created since the last
    /// check and the store now holds more than the cap, evicts the records whose addresses all
    /// expire soonest (records with connected or permanent addresses go last). Must be called
    /// with no peer locked.
    pub(crate) fn enforce_record_cap(&self) -> Result<()> {
        let Some(cap) = self.inner.opts.max_peer_records else {
            return Ok(());
        };
        if !self
            .inner
            .maybe_over_cap
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(());
        }
        let count = self
            .inner
            .ds
            .query(&Query::keys(Key::new(peer_key::ADDRS)))?
            .len();
        if count <= cap {
            return Ok(());
        }
        let mut by_expiry: Vec<(i64, Vec<u8>)> = Vec::with_capacity(count);
        self.walk_records(|records| {
            for walked in records {
                // Read by the walk, not through the cache (a full walk would flush it).
                // Unreadable records are never evicted: they are kept as they are.
                let Some(bytes) = &walked.bytes else { continue };
                if let Ok(rec) = AddrBookRecord::decode(bytes) {
                    let last = rec.addrs.iter().map(|a| a.expiry).max().unwrap_or(i64::MIN);
                    by_expiry.push((last, walked.peer.clone()));
                }
            }
            Ok(())
        })?;
        by_expiry.sort();
        let excess = count.saturating_sub(cap);
        for (_, peer) in by_expiry.into_iter().take(excess) {
            let _lock = self.lock_peer(&peer);
            self.cache_remove(&peer);
            self.inner.ds.delete(&peer_key::addrs_key(&peer))?;
            self.record_stored(&peer, None);
            tracing::debug!(peer = %RawPeerId::from_bytes(peer.clone()), "evicted by the \
                peer-record cap");
        }
        Ok(())
    }
}
