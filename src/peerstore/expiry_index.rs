//! The lookahead GC's index of first expiries, in memory. go-libp2p renews its lookahead window
//! by walking every address record; with this index, kept up to date by every write of an
//! address record through the peerstore, renewing it reads only the records that expire in
//! the window. The index is built by the first renewal's walk (which visits every record
//! anyway) and is bounded by [`Options::gc_index_max_records`](super::Options): over that, it
//! keeps the records that expire soonest and forgets the rest, lowering its horizon: a window
//! that ends before the horizon is still read from the index, one that reaches it is renewed
//! by a walk (as go-libp2p renews every window), which builds the index afresh.

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
    /// Most records held; past it the index forgets those that expire last.
    cap: usize,
    /// Every record whose first expiry is before this is indexed; a record expiring at or
    /// after it may not be (it was forgotten to keep the cap). Only ever lowered.
    horizon: i64,
    /// Built: every record written before the build's walk was met by it.
    pub complete: bool,
}

impl ExpiryIndex {
    pub fn new(cap: usize) -> ExpiryIndex {
        ExpiryIndex {
            by_peer: HashMap::default(),
            by_expiry: BTreeSet::new(),
            cap,
            horizon: NEVER_DUE,
            complete: false,
        }
    }

    /// Records `peer`'s first expiry as stored now (`None`: no record, or one without
    /// addresses). Over the cap, the record that expires last is forgotten and the horizon
    /// comes down to its expiry.
    pub fn set(&mut self, peer: &[u8], first: Option<i64>) {
        let first = first.filter(|e| *e < self.horizon);
        let key = match self.by_peer.get_key_value(peer) {
            Some((_, &old)) if Some(old) == first => return,
            Some((key, &old)) => {
                let key = key.clone();
                self.by_expiry.remove(&(old, key.clone()));
                self.by_peer.remove(peer);
                key
            }
            None => Arc::from(peer),
        };
        let Some(e) = first else { return };
        self.by_expiry.insert((e, key.clone()));
        self.by_peer.insert(key, e);
        if self.by_peer.len() > self.cap
            && let Some((last, forgotten)) = self.by_expiry.pop_last()
        {
            self.by_peer.remove(&forgotten);
            self.horizon = last;
        }
    }

    /// The records whose first expiry is at or before `until`, soonest first; `None` when
    /// the index may not hold them all (`until` reaches its horizon).
    pub fn due(&self, until: i64) -> Option<impl Iterator<Item = (i64, &Arc<[u8]>)>> {
        (until < self.horizon).then(|| {
            self.by_expiry
                .iter()
                .take_while(move |(e, _)| *e <= until)
                .map(|(e, p)| (*e, p))
        })
    }

    pub fn len(&self) -> usize {
        self.by_peer.len()
    }

    /// Below it, every record is indexed ([`NEVER_DUE`] while none was forgotten).
    pub fn horizon(&self) -> i64 {
        self.horizon
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(ix: &ExpiryIndex, until: i64) -> Option<Vec<(i64, &[u8])>> {
        ix.due(until)
            .map(|due| due.map(|(e, p)| (e, &**p)).collect())
    }

    #[test]
    fn a_record_is_found_by_its_latest_first_expiry_only() {
        let mut ix = ExpiryIndex::new(10);
        ix.set(b"a", Some(30));
        ix.set(b"b", Some(10));
        ix.set(b"c", Some(20));
        ix.set(b"a", Some(5));
        ix.set(b"c", None);
        ix.set(b"d", Some(NEVER_DUE));
        assert_eq!(due(&ix, 10), Some(vec![(5, &b"a"[..]), (10, &b"b"[..])]));
        assert_eq!(due(&ix, NEVER_DUE - 1).map(|d| d.len()), Some(2));
        assert_eq!(due(&ix, NEVER_DUE), None, "a window this long is walked");
        assert_eq!(ix.len(), 2);
    }

    #[test]
    fn past_its_cap_the_index_forgets_what_expires_last_and_lowers_its_horizon() {
        let mut ix = ExpiryIndex::new(2);
        ix.set(b"a", Some(10));
        ix.set(b"b", Some(30));
        ix.set(b"c", Some(20));
        assert_eq!((ix.len(), ix.horizon()), (2, 30), "b is forgotten");
        assert_eq!(due(&ix, 29), Some(vec![(10, &b"a"[..]), (20, &b"c"[..])]));
        assert_eq!(due(&ix, 30), None, "b might be due: the window is walked");
        // At or past the horizon a record is not indexed (and stops being, if it was).
        ix.set(b"d", Some(35));
        ix.set(b"a", Some(31));
        assert_eq!((ix.len(), ix.horizon()), (1, 30));
        assert_eq!(due(&ix, 29), Some(vec![(20, &b"c"[..])]));
        // Below it, records come in again, pushing out the last.
        ix.set(b"e", Some(25));
        ix.set(b"f", Some(1));
        assert_eq!((ix.len(), ix.horizon()), (2, 25));
        assert_eq!(due(&ix, 24), Some(vec![(1, &b"f"[..]), (20, &b"c"[..])]));
    }
}
