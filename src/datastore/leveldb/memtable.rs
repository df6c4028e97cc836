//! The memtable: the writes since the current journal started, in a lock-free skip list keyed
//! by internal key (crossbeam-skiplist), so readers never wait for the writer inserting into
//! it. Twin of C++ LevelDB's `db/memtable.cc` and goleveldb's `leveldb/memdb/memdb.go`.
//!
//! Only the write-group leader inserts (one at a time, under the journal's lock); any number
//! of readers look up and iterate meanwhile. Entries are never removed: a memtable is dropped
//! whole once it is in a table and no reader holds it.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_skiplist::SkipMap;
use crossbeam_skiplist::map::Entry;

use super::dbformat::{self, IKey, IKeyRef};

/// What a lookup found for a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The newest version is a value.
    Value(Vec<u8>),
    /// The newest version is a deletion.
    Deleted,
}

/// Bytes a skip-list node costs beyond its key and value, roughly: what the size counts, so
/// that a memtable of small entries is flushed at about the same memory as a C++ one.
const NODE_OVERHEAD: usize = 48;

/// A memtable.
pub struct Memtable {
    map: SkipMap<IKey, Box<[u8]>>,
    size: AtomicUsize,
    /// The sequence number of the last entry inserted.
    last_seq: AtomicU64,
}

impl Default for Memtable {
    fn default() -> Self {
        Memtable::new()
    }
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Memtable {
        Memtable {
            map: SkipMap::new(),
            size: AtomicUsize::new(0),
            last_seq: AtomicU64::new(0),
        }
    }

    /// Inserts the entry of `user` at `seq` (a value, or a deletion with an empty value).
    pub fn insert(&self, user: &[u8], seq: u64, kind: u8, value: &[u8]) {
        let key = dbformat::internal_key(user, seq, kind).into_boxed_slice();
        let bytes = key.len() + value.len() + NODE_OVERHEAD;
        self.map.insert(IKey(key), value.into());
        self.size.fetch_add(bytes, Ordering::Relaxed);
        self.last_seq.fetch_max(seq, Ordering::Release);
    }

    /// Roughly how much memory the entries take.
    pub fn approximate_size(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The sequence number of the newest entry (0: none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// The newest version of `user` with a sequence number up to `seq`, if the memtable holds
    /// one.
    pub fn get(&self, user: &[u8], seq: u64) -> Option<Lookup> {
        let target = dbformat::seek_key(user, seq);
        let entry = self
            .map
            .lower_bound(Bound::Included(IKeyRef::new(&target)))?;
        let key = &entry.key().0;
        if dbformat::user_key(key) != user {
            return None;
        }
        match dbformat::key_tag(key) {
            Some((_, true)) => Some(Lookup::Value(entry.value().to_vec())),
            _ => Some(Lookup::Deleted),
        }
    }

    /// An iterator over the entries, in internal-key order.
    pub fn iter(&self) -> MemIter<'_> {
        MemIter {
            map: &self.map,
            current: None,
        }
    }
}

/// Entries of a memtable in internal-key order; it starts unpositioned (seek first).
pub struct MemIter<'a> {
    map: &'a SkipMap<IKey, Box<[u8]>>,
    current: Option<Entry<'a, IKey, Box<[u8]>>>,
}

impl<'a> MemIter<'a> {
    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        self.current = self.map.front();
    }

    /// Moves to the first entry at or after the internal key `target`.
    pub fn seek(&mut self, target: &[u8]) {
        self.current = self.map.lower_bound(Bound::Included(IKeyRef::new(target)));
    }

    /// Moves to the next entry.
    pub fn next(&mut self) {
        self.current = self.current.take().and_then(|e| e.next());
    }

    /// Whether the iterator is at an entry.
    pub fn valid(&self) -> bool {
        self.current.is_some()
    }

    /// The current entry's internal key (empty when not at one).
    pub fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |e| &e.key().0)
    }

    /// The current entry's value (empty when not at one, or for a deletion).
    pub fn value(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |e| e.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::leveldb::dbformat::KIND_DELETION;
    const VALUE: u8 = dbformat::KIND_VALUE;

    #[test]
    fn lookups_see_the_newest_version_at_or_below_their_sequence() {
        let m = Memtable::new();
        m.insert(b"a", 1, VALUE, b"one");
        m.insert(b"a", 3, KIND_DELETION, b"");
        m.insert(b"a", 5, VALUE, b"five");
        m.insert(b"ab", 2, VALUE, b"ab");
        assert_eq!(m.get(b"a", 0), None);
        assert_eq!(m.get(b"a", 1), Some(Lookup::Value(b"one".to_vec())));
        assert_eq!(m.get(b"a", 2), Some(Lookup::Value(b"one".to_vec())));
        assert_eq!(m.get(b"a", 4), Some(Lookup::Deleted));
        assert_eq!(m.get(b"a", 9), Some(Lookup::Value(b"five".to_vec())));
        assert_eq!(m.get(b"ab", 9), Some(Lookup::Value(b"ab".to_vec())));
        assert_eq!(m.get(b"b", 9), None);
        assert_eq!(m.last_seq(), 5);
        let mut it = m.iter();
        it.seek_to_first();
        let mut seen = Vec::new();
        while it.valid() {
            seen.push(dbformat::key_tag(it.key()).unwrap().0);
            it.next();
        }
        assert_eq!(seen, vec![5, 3, 1, 2]);
    }
}
