//! The lookahead GC's index of first expiries, in memory. go-libp2p renews its lookahead window
//! by walking every address record; with this index, kept up to date by every write of an
//! address record through the peerstore, renewing it reads only the records that expire in
//! the window. The index is built by the first renewal's walk (which visits every record
//! anyway) and is bounded by [`Options::gc_index_max_records`](super::Options): over that, it
//! is dropped and every renewal walks, as go-libp2p's does.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// First expiries at or after this (unix seconds, the year 2286) are never due: a permanent
/// address expires about 292 years from when it was added. They are not indexed, so records of
/// permanent addresses cost no memory; a window reaching this far is renewed by a walk.
pub(crate) const NEVER_DUE: i64 = 10_000_000_000;

/// Each indexed record's first (soonest) expiry, by peer and in expiry order.
#[derive(Debug)]
pub(crate) struct ExpiryIndex {
    by_peer: HashMap<Arc<[u8]>, i64, ahash::RandomState>,
    by_expiry: BTreeSet<(i64, Arc<[u8]>)>,
    /// Most records held; past it the index gives up.
    cap: usize,
    /// Built: every record written before the build's walk was met by it.
    pub complete: bool,
}

impl ExpiryIndex {
    pub fn new(cap: usize) -> ExpiryIndex {
        ExpiryIndex {
            by_peer: HashMap::default(),
            by_expiry: BTreeSet::new(),
            cap,
            complete: false,
        }
    }

    /// Records `peer`'s first expiry as stored now (`None`: no record, or one without
    /// addresses). False when the index would hold more than its cap.
    pub fn set(&mut self, peer: &[u8], first: Option<i64>) -> bool {
        let first = first.filter(|e| *e < NEVER_DUE);
        if let Some((key, &old)) = self.by_peer.get_key_value(peer) {
            if Some(old) == first {
                return true;
            }
            let key = key.clone();
            self.by_expiry.remove(&(old, key.clone()));
            match first {
                Some(e) => {
                    self.by_expiry.insert((e, key.clone()));
                    self.by_peer.insert(key, e);
                }
                None => {
                    self.by_peer.remove(peer);
                }
            }
            return true;
        }
        let Some(e) = first else { return true };
        if self.by_peer.len() >= self.cap {
            return false;
        }
        let key: Arc<[u8]> = Arc::from(peer);
        self.by_expiry.insert((e, key.clone()));
        self.by_peer.insert(key, e);
        true
    }

    /// The records whose first expiry is at or before `until`, soonest first.
    pub fn due(&self, until: i64) -> impl Iterator<Item = (i64, &[u8])> {
        self.by_expiry
            .iter()
            .take_while(move |(e, _)| *e <= until)
            .map(|(e, p)| (*e, &**p))
    }

    pub fn len(&self) -> usize {
        self.by_peer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_found_by_its_latest_first_expiry_only() {
        let mut ix = ExpiryIndex::new(10);
        assert!(ix.set(b"a", Some(30)));
        assert!(ix.set(b"b", Some(10)));
        assert!(ix.set(b"c", Some(20)));
        assert!(ix.set(b"a", Some(5)));
        assert!(ix.set(b"c", None));
        assert!(ix.set(b"d", Some(NEVER_DUE)));
        let due: Vec<(i64, &[u8])> = ix.due(10).collect();
        assert_eq!(due, [(5, &b"a"[..]), (10, &b"b"[..])]);
        assert_eq!(ix.due(i64::MAX).count(), 2);
        assert_eq!(ix.len(), 2);
    }

    #[test]
    fn past_its_cap_the_index_refuses_new_records_but_not_changes() {
        let mut ix = ExpiryIndex::new(2);
        assert!(ix.set(b"a", Some(1)));
        assert!(ix.set(b"b", Some(2)));
        assert!(!ix.set(b"c", Some(3)));
        assert!(ix.set(b"a", Some(4)));
        assert!(ix.set(b"b", None));
        assert!(ix.set(b"c", Some(3)));
    }
}
