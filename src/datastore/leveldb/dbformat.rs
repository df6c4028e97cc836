//! Internal keys: a user key followed by an 8-byte tag (sequence number << 8 | kind), ordered
//! by user key ascending, then by tag descending, so the newest version of a key comes first.
//! Twin of C++ LevelDB's `db/dbformat.cc` and goleveldb's `leveldb/key.go`.

use std::cmp::Ordering;

use ref_cast::RefCast;

/// The largest sequence number a tag can hold.
pub const MAX_SEQUENCE: u64 = (1 << 56) - 1;

/// The kind byte of a deletion marker.
pub const KIND_DELETION: u8 = 0;
/// The kind byte of a value.
pub const KIND_VALUE: u8 = 1;

/// The size of the tag behind the user key.
pub const TAG_SIZE: usize = 8;

/// The tag of a sequence number and kind.
pub fn pack_tag(seq: u64, kind: u8) -> u64 {
    (seq << 8) | u64::from(kind)
}

/// Appends the internal key of `user` at `seq` to `out`.
pub fn append_internal_key(out: &mut Vec<u8>, user: &[u8], seq: u64, kind: u8) {
    out.extend_from_slice(user);
    out.extend_from_slice(&pack_tag(seq, kind).to_le_bytes());
}

/// The internal key of `user` at `seq`.
pub fn internal_key(user: &[u8], seq: u64, kind: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(user.len() + TAG_SIZE);
    append_internal_key(&mut out, user, seq, kind);
    out
}

/// The key to seek to for the newest version of `user` at or below `seq`: every entry of the
/// key with a sequence number up to `seq` sorts at or after it.
pub fn seek_key(user: &[u8], seq: u64) -> Vec<u8> {
    internal_key(user, seq, KIND_VALUE)
}

/// The user key of an internal key (the key without its tag).
pub fn user_key(internal: &[u8]) -> &[u8] {
    &internal[..internal.len().saturating_sub(TAG_SIZE)]
}

/// The raw tag of an internal key (0 for a key too short to hold one).
fn raw_tag(internal: &[u8]) -> u64 {
    match internal.len().checked_sub(TAG_SIZE) {
        Some(at) => u64::from_le_bytes(internal[at..].try_into().expect("8 bytes")),
        None => 0,
    }
}

/// The sequence number and kind (true: a value, false: a deletion) of an internal key, or
/// `None` for a key too short to hold its tag.
pub fn key_tag(internal: &[u8]) -> Option<(u64, bool)> {
    internal.len().checked_sub(TAG_SIZE)?;
    let tag = raw_tag(internal);
    Some((tag >> 8, tag & 0xff == u64::from(KIND_VALUE)))
}

/// Orders internal keys: user keys bytewise, then newer (larger tag) first.
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    user_key(a)
        .cmp(user_key(b))
        .then_with(|| raw_tag(b).cmp(&raw_tag(a)))
}

/// An internal key borrowed from a buffer, ordered as [`compare`] says.
#[derive(RefCast, PartialEq, Eq)]
#[repr(transparent)]
pub struct IKeyRef(pub [u8]);

impl IKeyRef {
    /// The borrowed internal key held by `bytes`.
    pub fn new(bytes: &[u8]) -> &IKeyRef {
        IKeyRef::ref_cast(bytes)
    }
}

impl Ord for IKeyRef {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

impl PartialOrd for IKeyRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A short internal key at or after `start` and before `limit` (LevelDB's
/// `FindShortestSeparator` for the bytewise comparator): the index key of a data block.
pub fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let (user_start, user_limit) = (user_key(start), user_key(limit));
    let common = user_start
        .iter()
        .zip(user_limit)
        .take_while(|(a, b)| a == b)
        .count();
    if common < user_start.len().min(user_limit.len()) {
        let byte = user_start[common];
        // As LevelDB: only a key that is shorter is worth the change.
        if byte < 0xff && byte + 1 < user_limit[common] && common + 1 < user_start.len() {
            let mut short = user_start[..=common].to_vec();
            short[common] += 1;
            let candidate = internal_key(&short, MAX_SEQUENCE, KIND_VALUE);
            if compare(start, &candidate).is_lt() && compare(&candidate, limit).is_lt() {
                return candidate;
            }
        }
    }
    start.to_vec()
}

/// A short internal key at or after `key` (LevelDB's `FindShortSuccessor`): the index key of
/// a table's last data block.
pub fn short_successor(key: &[u8]) -> Vec<u8> {
    let user = user_key(key);
    if let Some(at) = user.iter().position(|&b| b != 0xff)
        && at + 1 < user.len()
    {
        let mut short = user[..=at].to_vec();
        short[at] += 1;
        return internal_key(&short, MAX_SEQUENCE, KIND_VALUE);
    }
    key.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_of_a_key_sort_first_and_user_keys_bytewise() {
        let a1 = internal_key(b"a", 1, KIND_VALUE);
        let a2 = internal_key(b"a", 2, KIND_VALUE);
        let a2_del = internal_key(b"a", 2, KIND_DELETION);
        let ab = internal_key(b"ab", 9, KIND_VALUE);
        assert!(compare(&a2, &a1).is_lt());
        assert!(compare(&a2, &a2_del).is_lt());
        assert!(compare(&a1, &ab).is_lt());
        assert!(IKeyRef::new(&a2) < IKeyRef::new(&a1));
        assert_eq!(key_tag(&a2_del), Some((2, false)));
        assert_eq!(key_tag(&a1), Some((1, true)));
        assert_eq!(user_key(&ab), b"ab");
        assert!(key_tag(b"short").is_none());
    }

    #[test]
    fn separators_are_between_their_keys() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"abcdefg", b"abzz"),
            (b"abc", b"abd"),
            (b"abc", b"abc\x01"),
            (b"a\xff\xff", b"b"),
            (b"/peers/addrs/CIQA", b"/peers/addrs/CIQZ"),
        ];
        for (s, l) in cases {
            let start = internal_key(s, 5, KIND_VALUE);
            let limit = internal_key(l, 3, KIND_VALUE);
            let sep = shortest_separator(&start, &limit);
            assert!(compare(&start, &sep).is_le(), "{s:?} {l:?}");
            assert!(compare(&sep, &limit).is_lt(), "{s:?} {l:?}");
        }
        let sep = shortest_separator(
            &internal_key(b"abcdefg", 5, KIND_VALUE),
            &internal_key(b"abzz", 3, KIND_VALUE),
        );
        assert_eq!(user_key(&sep), b"abd");
        let key = internal_key(b"\xff\xffab", 1, KIND_VALUE);
        let succ = short_successor(&key);
        assert!(compare(&key, &succ).is_le());
        assert_eq!(user_key(&succ), b"\xff\xffb");
    }
}
