//! Bloom filters of user keys, and the filter block that holds one for each 2 KiB of data
//! blocks: built when a table is written, probed by point reads. LevelDB's
//! `leveldb.BuiltinBloomFilter2`, 10 bits a key. Twin of C++ LevelDB's `util/bloom.cc` and
//! `table/filter_block.cc`, goleveldb's `leveldb/filter/bloom.go` and `table/writer.go`.
//!
//! Also [`TableKeys`]: a whole-table filter, kept in memory only, for the tables this process
//! writes. Neither LevelDB has one (RocksDB's "full filters" are the idea); it lets a read of
//! a key a table lacks skip the table's index search and its block filter, and at 16 bits a
//! key it lets through about 20 times fewer absent keys than the block filter does, so fewer
//! data blocks are read for nothing. The files stay exactly LevelDB's. All three filters (the
//! block filters, [`TableKeys`], the memtable's) probe with `bloom_probes`.

/// The metaindex key of LevelDB's Bloom filter block (C++ LevelDB and goleveldb name theirs
/// the same).
pub const BLOOM_FILTER_KEY: &[u8] = b"filter.leveldb.BuiltinBloomFilter2";

/// A table's filter block: a Bloom filter of user keys for each `1 << base_lg` bytes of data
/// blocks, then the filters' offsets, where that array starts, and `base_lg`.
pub struct FilterBlock {
    data: Vec<u8>,
    /// Where the offset array starts.
    offsets: usize,
    base_lg: u8,
}

impl FilterBlock {
    /// Checks the layout of an uncompressed filter block.
    pub fn new(data: Vec<u8>) -> Result<FilterBlock, &'static str> {
        let n = data.len();
        if n < 5 {
            return Err("filter block too short");
        }
        let offsets = u32::from_le_bytes(data[n - 5..n - 1].try_into().expect("4")) as usize;
        if offsets > n - 5 || !(n - 5 - offsets).is_multiple_of(4) {
            return Err("filter block offset array outside the block");
        }
        let block = FilterBlock {
            base_lg: data[n - 1],
            data,
            offsets,
        };
        if (0..block.count()).any(|i| block.offset(i) > offsets) {
            return Err("filter block names a filter outside the block");
        }
        Ok(block)
    }

    fn count(&self) -> usize {
        (self.data.len() - 5 - self.offsets) / 4
    }

    fn offset(&self, i: usize) -> usize {
        let at = self.offsets + 4 * i;
        u32::from_le_bytes(self.data[at..at + 4].try_into().expect("4")) as usize
    }

    /// Whether the data block at `block_offset` may hold `user_key`: false only when its
    /// filter says the key is not there.
    pub fn may_hold(&self, block_offset: u64, user_key: &[u8]) -> bool {
        let Some(i) = block_offset
            .checked_shr(u32::from(self.base_lg))
            .and_then(|i| usize::try_from(i).ok())
            .filter(|&i| i < self.count())
        else {
            return true;
        };
        let start = self.offset(i);
        let limit = match i + 1 < self.count() {
            true => self.offset(i + 1),
            false => self.offsets,
        };
        match self.data.get(start..limit) {
            Some(filter) if !filter.is_empty() => bloom_may_hold(filter, user_key),
            _ => true,
        }
    }
}

/// LevelDB's Bloom filter test: `k` probes (the filter's last byte) stepping by a rotation of
/// the key's hash.
fn bloom_may_hold(filter: &[u8], key: &[u8]) -> bool {
    let (bits, k) = filter.split_at(filter.len() - 1);
    let k = k[0];
    if k > 30 || bits.is_empty() {
        // Reserved for other encodings: match everything.
        return true;
    }
    let nbits = bits.len() as u32 * 8;
    bloom_probes(key, u32::from(k), nbits)
        .all(|bit| bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
}

/// The `k` bits (of `nbits`) a Bloom filter sets for `key`, LevelDB's way: the key's hash,
/// stepped by a rotation of itself.
pub(super) fn bloom_probes(key: &[u8], k: u32, nbits: u32) -> impl Iterator<Item = u32> {
    probes_of_hash(bloom_hash(key), k, nbits)
}

/// [`bloom_probes`] of a key whose [`bloom_hash`] is `h`.
fn probes_of_hash(mut h: u32, k: u32, nbits: u32) -> impl Iterator<Item = u32> {
    let delta = h.rotate_right(17);
    (0..k).map(move |_| {
        let bit = h % nbits;
        h = h.wrapping_add(delta);
        bit
    })
}

/// LevelDB's `Hash(data, n, 0xbc9f1d34)`, the hash its Bloom filters use.
pub(super) fn bloom_hash(data: &[u8]) -> u32 {
    const M: u32 = 0xc6a4_a793;
    let mut h = 0xbc9f_1d34 ^ (data.len() as u32).wrapping_mul(M);
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        h = h.wrapping_add(u32::from_le_bytes(w.try_into().expect("4 bytes")));
        h = h.wrapping_mul(M);
        h ^= h >> 16;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h = h.wrapping_add(u32::from(b) << (8 * i));
        }
        h = h.wrapping_mul(M);
        h ^= h >> 24;
    }
    h
}

/// Bits of a [`TableKeys`] filter per key, and its probes (about ln 2 * bits, fewer: a key the
/// table lacks usually stops at the first or second probe anyway).
const TABLE_BITS_PER_KEY: usize = 16;
const TABLE_PROBES: u32 = 10;

/// A Bloom filter of every user key of one table, built as the table is written (never read
/// from or written to the file), with LevelDB's hash and probe sequence: one `bloom_hash` of
/// a key serves the filters of every table a read passes.
#[derive(Clone, PartialEq, Eq)]
pub struct TableKeys {
    words: Box<[u64]>,
}

impl std::fmt::Debug for TableKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TableKeys({} bits)", self.words.len() * 64)
    }
}

impl TableKeys {
    /// The hash a key is filed under (LevelDB's `bloom_hash`).
    pub fn hash(user_key: &[u8]) -> u32 {
        bloom_hash(user_key)
    }

    /// The filter's size in bits: at most `u32::MAX` rounded down to a word, as LevelDB's
    /// probes are 32-bit (a table of 268 million keys).
    fn nbits(words: usize) -> u32 {
        (words * 64).min(u32::MAX as usize & !63) as u32
    }

    /// The filter of the keys whose hashes are given.
    pub fn from_hashes(hashes: &[u32]) -> TableKeys {
        let words = (hashes.len() * TABLE_BITS_PER_KEY).div_ceil(64).max(1);
        let nbits = Self::nbits(words);
        let mut bits = vec![0u64; words];
        for &h in hashes {
            for bit in probes_of_hash(h, TABLE_PROBES, nbits) {
                bits[(bit / 64) as usize] |= 1 << (bit % 64);
            }
        }
        TableKeys {
            words: bits.into_boxed_slice(),
        }
    }

    /// False only if the table holds no entry of the key whose [`TableKeys::hash`] is `h`.
    pub fn may_hold_hash(&self, h: u32) -> bool {
        probes_of_hash(h, TABLE_PROBES, Self::nbits(self.words.len()))
            .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// False only if the table holds no entry of `user_key`.
    pub fn may_hold(&self, user_key: &[u8]) -> bool {
        self.may_hold_hash(Self::hash(user_key))
    }
}

/// The filter block's `base_lg`: one filter for each 2 KiB of data-block offsets.
const FILTER_BASE_LG: u8 = 11;

/// Bits of filter per key.
const BITS_PER_KEY: usize = 10;

/// Builds a table's filter block as its data blocks are written.
#[derive(Default)]
pub struct FilterBuilder {
    /// The keys of the filter being gathered, back to back, and where each starts.
    keys: Vec<u8>,
    starts: Vec<usize>,
    /// The filters so far, and where each starts.
    result: Vec<u8>,
    offsets: Vec<u32>,
}

impl FilterBuilder {
    /// A builder for an empty table.
    pub fn new() -> FilterBuilder {
        FilterBuilder::default()
    }

    /// A data block starts at `block_offset`: the filters of the 2 KiB ranges before it are
    /// finished.
    pub fn start_block(&mut self, block_offset: u64) {
        let index = (block_offset >> FILTER_BASE_LG) as usize;
        while index > self.offsets.len() {
            self.generate();
        }
    }

    /// Adds a user key of the current data block.
    pub fn add_key(&mut self, user_key: &[u8]) {
        self.starts.push(self.keys.len());
        self.keys.extend_from_slice(user_key);
    }

    /// The finished filter block.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.starts.is_empty() {
            self.generate();
        }
        let array = self.result.len() as u32;
        for o in &self.offsets {
            self.result.extend_from_slice(&o.to_le_bytes());
        }
        self.result.extend_from_slice(&array.to_le_bytes());
        self.result.push(FILTER_BASE_LG);
        self.result
    }

    fn generate(&mut self) {
        self.offsets.push(self.result.len() as u32);
        if self.starts.is_empty() {
            return;
        }
        let n = self.starts.len();
        let bits = (n * BITS_PER_KEY).max(64);
        let bytes = bits.div_ceil(8);
        let bits = (bytes * 8) as u32;
        // ln 2 * bits per key probes, as LevelDB rounds it.
        let k = ((BITS_PER_KEY as f64 * 0.69) as u8).clamp(1, 30);
        let start = self.result.len();
        self.result.resize(start + bytes, 0);
        for i in 0..n {
            let end = self.starts.get(i + 1).copied().unwrap_or(self.keys.len());
            for bit in bloom_probes(&self.keys[self.starts[i]..end], u32::from(k), bits) {
                self.result[start + (bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
        self.result.push(k);
        self.keys.clear();
        self.starts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_added_is_found_and_most_others_are_not() {
        let mut b = FilterBuilder::new();
        // Two data blocks: keys 0..500 at offset 0, 500..1000 at offset 5000.
        b.start_block(0);
        for i in 0..500u32 {
            b.add_key(format!("key{i}").as_bytes());
        }
        b.start_block(5000);
        for i in 500..1000u32 {
            b.add_key(format!("key{i}").as_bytes());
        }
        let block = FilterBlock::new(b.finish()).unwrap();
        for i in 0..500u32 {
            assert!(block.may_hold(0, format!("key{i}").as_bytes()));
        }
        for i in 500..1000u32 {
            assert!(block.may_hold(5000, format!("key{i}").as_bytes()));
        }
        let false_positives = (1000..11000u32)
            .filter(|i| block.may_hold(0, format!("key{i}").as_bytes()))
            .count();
        // 10 bits a key: about 1 % false positives.
        assert!(false_positives < 300, "{false_positives} of 10000");
    }

    #[test]
    fn a_table_filter_finds_every_key_and_lets_few_others_through() {
        let hashes: Vec<u32> = (0..20_000u32)
            .map(|i| TableKeys::hash(format!("/peers/addrs/{i}").as_bytes()))
            .collect();
        let keys = TableKeys::from_hashes(&hashes);
        for i in 0..20_000u32 {
            assert!(
                keys.may_hold(format!("/peers/addrs/{i}").as_bytes()),
                "key {i}"
            );
        }
        let false_positives = (20_000..120_000u32)
            .filter(|i| keys.may_hold(format!("/peers/addrs/{i}").as_bytes()))
            .count();
        // 16 bits a key, 10 probes: about 0.05 %.
        assert!(false_positives < 200, "{false_positives} of 100000");
        // An empty table's filter holds nothing.
        assert!(!TableKeys::from_hashes(&[]).may_hold(b"k"));
    }
}
