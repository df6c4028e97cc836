//! Writing table files (`NNNNNN.ldb`) exactly as C++ LevelDB and goleveldb lay them out: data
//! blocks of about 4 KiB with prefix-compressed keys and a restart point every 16 entries,
//! each block Snappy-compressed when that saves an eighth, a Bloom filter block
//! (`filter.leveldb.BuiltinBloomFilter2`), a metaindex block naming it, an index block (one
//! entry per data block: a short separator key and the block's place), and the 48-byte footer.
//! Twin of C++ LevelDB's `table/table_builder.cc` and `table/block_builder.cc`, goleveldb's
//! `leveldb/table/writer.go`.

use super::coding::put_varint;
use super::dbformat::{self, user_key};
use super::env::WritableFile;
use super::error::DbResult;
use super::filter::{BLOOM_FILTER_KEY, FilterBuilder, TableKeys};
use super::logfile::masked_crc;
use super::table::{BlockHandle, FOOTER_SIZE};

/// Target size of a data block before compression (LevelDB's `block_size`).
pub const BLOCK_SIZE: usize = 4096;
/// Entries between restart points in data blocks (LevelDB's `block_restart_interval`).
const RESTART_INTERVAL: usize = 16;
/// Bytes gathered before they are handed to the OS.
const WRITE_CHUNK: usize = 256 << 10;

const MAGIC: u64 = 0xdb47_7524_8b80_fb57;

/// Builds one block: entries sharing key prefixes with the one before, and the restart array.
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    interval: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    /// A builder with a restart point every `interval` entries.
    pub fn new(interval: usize) -> BlockBuilder {
        BlockBuilder {
            buf: Vec::with_capacity(BLOCK_SIZE + 512),
            restarts: vec![0],
            counter: 0,
            interval,
            last_key: Vec::new(),
        }
    }

    /// Adds an entry; keys must come in order.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.interval {
            key.iter()
                .zip(&self.last_key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.counter += 1;
    }

    /// The size the block will have once finished.
    pub fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Whether nothing was added since the last reset.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The finished block; the builder is empty again.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.last_key.clear();
        out
    }
}

/// What a finished table holds.
#[derive(Clone, Debug)]
pub struct BuiltTable {
    /// The file's size.
    pub size: u64,
    /// The smallest and largest internal keys.
    pub smallest: Vec<u8>,
    /// The largest internal key.
    pub largest: Vec<u8>,
    /// How many entries.
    pub entries: u64,
    /// The filter of its user keys.
    pub keys: TableKeys,
}

/// Writes one table file.
pub struct TableBuilder {
    file: WritableFile,
    compress: bool,
    /// Bytes written or waiting in `out`.
    offset: u64,
    out: Vec<u8>,
    data: BlockBuilder,
    index: BlockBuilder,
    filter: FilterBuilder,
    /// The hashes of the table's user keys, once each, for its [`TableKeys`].
    key_hashes: Vec<u32>,
    /// The block just finished, whose index entry waits for the next key (to pick a short
    /// separator), as in LevelDB.
    pending: Option<BlockHandle>,
    smallest: Vec<u8>,
    last_key: Vec<u8>,
    entries: u64,
    scratch: Vec<u8>,
}

impl TableBuilder {
    /// A builder writing to `file`, compressing blocks with Snappy when `compress`.
    pub fn new(file: WritableFile, compress: bool) -> TableBuilder {
        let mut filter = FilterBuilder::new();
        filter.start_block(0);
        TableBuilder {
            file,
            compress,
            offset: 0,
            out: Vec::with_capacity(WRITE_CHUNK + BLOCK_SIZE),
            data: BlockBuilder::new(RESTART_INTERVAL),
            index: BlockBuilder::new(1),
            filter,
            key_hashes: Vec::new(),
            pending: None,
            smallest: Vec::new(),
            last_key: Vec::new(),
            entries: 0,
            scratch: Vec::new(),
        }
    }

    /// Adds an entry: internal keys in increasing order.
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> DbResult<()> {
        if let Some(handle) = self.pending.take() {
            let separator = dbformat::shortest_separator(&self.last_key, key);
            self.add_index_entry(&separator, handle);
        }
        if self.entries == 0 {
            self.smallest = key.to_vec();
        }
        let user = user_key(key);
        self.filter.add_key(user);
        if self.entries == 0 || user != user_key(&self.last_key) {
            self.key_hashes.push(TableKeys::hash(user));
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.entries += 1;
        self.data.add(key, value);
        if self.data.size_estimate() >= BLOCK_SIZE {
            self.finish_data_block()?;
        }
        Ok(())
    }

    /// The file size so far (what is written and waiting).
    pub fn file_size(&self) -> u64 {
        self.offset
    }

    /// How many entries were added.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    fn add_index_entry(&mut self, key: &[u8], handle: BlockHandle) {
        let mut encoded = Vec::with_capacity(20);
        put_varint(&mut encoded, handle.offset);
        put_varint(&mut encoded, handle.size);
        self.index.add(key, &encoded);
    }

    fn finish_data_block(&mut self) -> DbResult<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let block = self.data.finish();
        let handle = self.write_block(&block, self.compress)?;
        self.pending = Some(handle);
        self.filter.start_block(self.offset);
        Ok(())
    }

    /// Writes a block and its trailer (compression type, masked CRC32C); compressed only when
    /// that saves at least an eighth, as LevelDB decides.
    fn write_block(&mut self, raw: &[u8], compress: bool) -> DbResult<BlockHandle> {
        let mut typ = 0u8;
        let mut contents = raw;
        if compress {
            self.scratch
                .resize(snap::raw::max_compress_len(raw.len()), 0);
            if let Ok(n) = snap::raw::Encoder::new().compress(raw, &mut self.scratch)
                && n < raw.len() - raw.len() / 8
            {
                self.scratch.truncate(n);
                contents = &self.scratch;
                typ = 1;
            }
        }
        let handle = BlockHandle {
            offset: self.offset,
            size: contents.len() as u64,
        };
        let crc = masked_crc(&[contents, &[typ]]);
        self.out.extend_from_slice(contents);
        self.out.push(typ);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.offset += contents.len() as u64 + 5;
        if self.out.len() >= WRITE_CHUNK {
            self.file.append(&self.out)?;
            self.out.clear();
        }
        Ok(handle)
    }

    /// Writes the last data block, the filter, metaindex and index blocks and the footer,
    /// and syncs the file.
    pub fn finish(mut self) -> DbResult<BuiltTable> {
        self.finish_data_block()?;
        let filter = std::mem::take(&mut self.filter).finish();
        let filter_handle = self.write_block(&filter, false)?;
        let mut meta = BlockBuilder::new(RESTART_INTERVAL);
        let mut encoded = Vec::new();
        put_varint(&mut encoded, filter_handle.offset);
        put_varint(&mut encoded, filter_handle.size);
        meta.add(BLOOM_FILTER_KEY, &encoded);
        let meta_handle = self.write_block(&meta.finish(), self.compress)?;
        if let Some(handle) = self.pending.take() {
            let successor = dbformat::short_successor(&self.last_key);
            self.add_index_entry(&successor, handle);
        }
        let index = self.index.finish();
        let index_handle = self.write_block(&index, self.compress)?;
        let mut footer = Vec::with_capacity(FOOTER_SIZE);
        for h in [meta_handle, index_handle] {
            put_varint(&mut footer, h.offset);
            put_varint(&mut footer, h.size);
        }
        footer.resize(FOOTER_SIZE - 8, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        self.out.extend_from_slice(&footer);
        self.offset += FOOTER_SIZE as u64;
        self.file.append(&self.out)?;
        self.file.sync()?;
        Ok(BuiltTable {
            size: self.offset,
            smallest: self.smallest,
            largest: self.last_key,
            entries: self.entries,
            keys: TableKeys::from_hashes(&self.key_hashes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::leveldb::dbformat::{KIND_DELETION, KIND_VALUE, internal_key};
    use crate::datastore::leveldb::env::Env;
    use crate::datastore::leveldb::table;

    #[test]
    fn a_built_table_reads_back_entry_for_entry() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::new(dir.path(), None);
        let path = dir.path().join("000007.ldb");
        for compress in [true, false] {
            let mut b = TableBuilder::new(env.create(&path).unwrap(), compress);
            let mut expected = Vec::new();
            for i in 0..3000u32 {
                let kind = if i % 7 == 0 {
                    KIND_DELETION
                } else {
                    KIND_VALUE
                };
                let key = internal_key(format!("/peers/addrs/K{i:08}").as_bytes(), 9, kind);
                let value = format!("value {i} {}", "v".repeat((i % 50) as usize));
                b.add(&key, value.as_bytes()).unwrap();
                expected.push((key, value.into_bytes()));
            }
            let built = b.finish().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(built.size, bytes.len() as u64);
            assert_eq!(built.smallest, expected[0].0);
            assert_eq!(built.largest, expected.last().unwrap().0);
            let scan = table::scan(&bytes);
            assert!(scan.problems.is_empty(), "{:?}", scan.problems);
            assert!(scan.blocks > 10);
            assert_eq!(scan.entries, expected);
        }
    }
}
