//! The memtable: the writes since the current journal started, in a lock-free skip list keyed
//! by internal key (crossbeam-skiplist), so readers never wait for the writer inserting into
//! it. Twin of C++ LevelDB's `db/memtable.cc` and goleveldb's `leveldb/memdb/memdb.go`.
//!
//! Only the write-group leader inserts (one at a time, under the journal's lock); any number
//! of readers look up and iterate meanwhile. Entries are never removed: a memtable is dropped
//! whole once it is in a table and no reader holds it.
//!
//! A point read of a key the memtable does not hold (a peer never seen, the commonest write's
//! read) is answered by a Bloom filter of its user keys before the skip list is searched, as
//! RocksDB's `memtable_whole_key_filtering` does (neither LevelDB has one).

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_skiplist::SkipMap;
use crossbeam_skiplist::map::Entry;

use super::dbformat;
use super::filter::bloom_probes;

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

/// How many leading bytes of the user key an entry keeps beside the pointer to its buffer.
/// A skip-list search compares its target with a node on every step; with the bytes that
/// decide most comparisons in the node itself it reads one cache line a step, not two. 31
/// bytes hold the peer keys' shared prefix (`/peers/addrs/` and the base32 of an identity
/// multihash's header: 22 bytes) and 9 characters that tell neighbours apart. The entry is
/// then 48 bytes, so a node of height 1 is 64. The memtable's size does not count the head
/// (flushes come where they came without it): it costs 32 bytes an entry of real memory.
const HEAD: usize = 31;

/// One entry, its internal key and its value in one allocation (the length of the key, 4
/// bytes, then the key, then the value), ordered by its internal key; `head` is a copy of the
/// first `head_len` bytes of its user key.
struct MemEntry {
    head: [u8; HEAD],
    head_len: u8,
    buf: Box<[u8]>,
}

impl MemEntry {
    fn new(user: &[u8], seq: u64, kind: u8, value: &[u8]) -> MemEntry {
        let key_len = user.len() + dbformat::TAG_SIZE;
        let mut buf = Vec::with_capacity(4 + key_len + value.len());
        buf.extend_from_slice(&(key_len as u32).to_le_bytes());
        dbformat::append_internal_key(&mut buf, user, seq, kind);
        buf.extend_from_slice(value);
        MemEntry::with_buf(user, buf)
    }

    /// An entry holding just the internal key `target`: what a seek compares against.
    fn probe(target: &[u8]) -> MemEntry {
        let mut buf = Vec::with_capacity(4 + target.len());
        buf.extend_from_slice(&(target.len() as u32).to_le_bytes());
        buf.extend_from_slice(target);
        MemEntry::with_buf(dbformat::user_key(target), buf)
    }

    fn with_buf(user: &[u8], buf: Vec<u8>) -> MemEntry {
        let head_len = user.len().min(HEAD);
        let mut head = [0; HEAD];
        head[..head_len].copy_from_slice(&user[..head_len]);
        MemEntry {
            head,
            head_len: head_len as u8,
            buf: buf.into_boxed_slice(),
        }
    }

    fn key_len(&self) -> usize {
        u32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize
    }

    fn key(&self) -> &[u8] {
        &self.buf[4..4 + self.key_len()]
    }

    fn value(&self) -> &[u8] {
        &self.buf[4 + self.key_len()..]
    }
}

impl Ord for MemEntry {
    /// [`dbformat::compare`]'s order. User keys whose first bytes differ within both heads are
    /// ordered by those bytes (user keys compare bytewise) without reading either buffer.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let n = usize::from(self.head_len.min(other.head_len));
        self.head[..n]
            .cmp(&other.head[..n])
            .then_with(|| dbformat::compare(self.key(), other.key()))
    }
}

impl PartialEq for MemEntry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for MemEntry {}

impl PartialOrd for MemEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Bits of the memtable's key filter: 32 KiB, a false positive in about 20 of a thousand
/// reads at 32,000 keys (a 4 MiB memtable of 128-byte entries), more beyond.
const FILTER_BITS: u32 = 1 << 18;
/// Probes of the key filter.
const FILTER_PROBES: u32 = 6;

/// A Bloom filter of the user keys inserted, set before an entry becomes visible.
struct KeyFilter(Box<[AtomicU64]>);

impl KeyFilter {
    fn new() -> KeyFilter {
        KeyFilter((0..FILTER_BITS / 64).map(|_| AtomicU64::new(0)).collect())
    }

    fn probes(user: &[u8]) -> impl Iterator<Item = (usize, u64)> {
        bloom_probes(user, FILTER_PROBES, FILTER_BITS)
            .map(|bit| ((bit / 64) as usize, 1u64 << (bit % 64)))
    }

    fn add(&self, user: &[u8]) {
        for (word, mask) in Self::probes(user) {
            // Relaxed: the entry is published to readers later, with Release.
            self.0[word].fetch_or(mask, Ordering::Relaxed);
        }
    }

    fn may_hold(&self, user: &[u8]) -> bool {
        Self::probes(user).all(|(word, mask)| self.0[word].load(Ordering::Relaxed) & mask != 0)
    }
}

/// A memtable.
pub struct Memtable {
    map: SkipMap<MemEntry, ()>,
    filter: KeyFilter,
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
            filter: KeyFilter::new(),
            size: AtomicUsize::new(0),
            last_seq: AtomicU64::new(0),
        }
    }

    /// Inserts the entry of `user` at `seq` (a value, or a deletion with an empty value).
    pub fn insert(&self, user: &[u8], seq: u64, kind: u8, value: &[u8]) {
        let entry = MemEntry::new(user, seq, kind, value);
        let bytes = entry.buf.len() + NODE_OVERHEAD;
        self.filter.add(user);
        self.map.insert(entry, ());
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
        if !self.filter.may_hold(user) {
            return None;
        }
        // `dbformat::seek_key(user, seq)`, built in the entry's own buffer (one allocation).
        let target = MemEntry::new(user, seq, dbformat::KIND_VALUE, &[]);
        let entry = self.map.lower_bound(Bound::Included(&target))?;
        let found = entry.key();
        if dbformat::user_key(found.key()) != user {
            return None;
        }
        match dbformat::key_tag(found.key()) {
            Some((_, true)) => Some(Lookup::Value(found.value().to_vec())),
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
    map: &'a SkipMap<MemEntry, ()>,
    current: Option<Entry<'a, MemEntry, ()>>,
}

impl<'a> MemIter<'a> {
    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        self.current = self.map.front();
    }

    /// Moves to the first entry at or after the internal key `target`.
    pub fn seek(&mut self, target: &[u8]) {
        self.current = self
            .map
            .lower_bound(Bound::Included(&MemEntry::probe(target)));
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
        self.current.as_ref().map_or(&[], |e| e.key().key())
    }

    /// The current entry's value (empty when not at one, or for a deletion).
    pub fn value(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |e| e.key().value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::leveldb::dbformat::KIND_DELETION;
    const VALUE: u8 = dbformat::KIND_VALUE;

    #[test]
    fn the_key_filter_never_hides_a_key_and_answers_most_absent_ones() {
        let m = Memtable::new();
        let key = |i: u32| format!("/peers/addrs/{i:08}").into_bytes();
        for i in 0..32_000 {
            m.insert(&key(i), u64::from(i) + 1, VALUE, b"v");
        }
        for i in 0..32_000 {
            assert!(m.filter.may_hold(&key(i)), "key {i} hidden by the filter");
            assert_eq!(
                m.get(&key(i), u64::MAX >> 8),
                Some(Lookup::Value(b"v".to_vec()))
            );
        }
        let passed = (32_000..64_000)
            .filter(|&i| m.filter.may_hold(&key(i)))
            .count();
        assert!(
            passed < 32_000 / 20,
            "{passed} of 32000 absent keys passed the filter"
        );
    }

    #[test]
    fn entries_order_as_internal_keys_whatever_their_shared_prefix() {
        // Keys sharing up to more than a head's bytes, of lengths around it, with sequence
        // numbers that tie some user keys.
        let mut keys = Vec::new();
        for stem in [
            &b""[..],
            b"/peers/addrs/",
            b"/peers/addrs/CIQAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            for tail in [
                &b""[..],
                b"a",
                b"ab",
                b"b",
                b"\x00",
                b"\xff",
                b"aaaaaaaaaaaaaaaaaaaa",
            ] {
                let user = [stem, tail].concat();
                for seq in [1, 2, 300] {
                    for kind in [KIND_DELETION, VALUE] {
                        keys.push(dbformat::internal_key(&user, seq, kind));
                    }
                }
            }
        }
        keys.push(vec![1, 2, 3]);
        for a in &keys {
            for b in &keys {
                let entries = (MemEntry::probe(a), MemEntry::probe(b));
                assert_eq!(
                    entries.0.cmp(&entries.1),
                    dbformat::compare(a, b),
                    "{a:?} against {b:?}"
                );
            }
        }
    }

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
