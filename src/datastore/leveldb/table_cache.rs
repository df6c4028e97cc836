//! Reading tables: open tables with their index and Bloom filter kept in memory, a cache of
//! uncompressed data blocks, point lookups, and iterators over one table and over a level's
//! tables one after another. Every block read is checked against its CRC; damage is recorded
//! in the env and fails the read, naming the file and offset. Twin of C++ LevelDB's
//! `db/table_cache.cc`, `table/table.cc` and `table/two_level_iterator.cc`, goleveldb's
//! `leveldb/table.go` and `leveldb/table/reader.go`.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_cache::ArcCache;

use super::coding::take_varint;
use super::dbformat::{self, user_key};
use super::env::Env;
use super::error::{DbError, DbResult};
use super::filter::{BLOOM_FILTER_KEY, FilterBlock};
use super::iter::InternalIter;
use super::memtable::Lookup;
use super::table::{self, BlockHandle};

/// An open table: its file, and for each data block a key at or after its last key, with the
/// block's place; and its Bloom filter, if it has LevelDB's.
pub struct Table {
    number: u64,
    path: PathBuf,
    file: File,
    blocks: Vec<(Vec<u8>, BlockHandle)>,
    filter: Option<FilterBlock>,
}

/// The path of table `number`: `.ldb`, or `.sst` (LevelDB before 1.14) when only that exists.
pub fn table_path(dir: &Path, number: u64) -> PathBuf {
    let ldb = dir.join(format!("{number:06}.ldb"));
    let sst = dir.join(format!("{number:06}.sst"));
    if !ldb.exists() && sst.exists() {
        sst
    } else {
        ldb
    }
}

impl Table {
    fn open(env: &Env, number: u64) -> DbResult<Table> {
        let path = table_path(env.dir(), number);
        let file = env
            .open_read(&path)
            .map_err(|e| DbError::Io(format!("opening {}: {e}", path.display())))?;
        let len = file
            .metadata()
            .map_err(|e| DbError::Io(format!("reading {}: {e}", path.display())))?
            .len();
        let footer_len = table::FOOTER_SIZE.min(len as usize);
        let mut footer = vec![0u8; footer_len];
        file.read_exact_at(&mut footer, len - footer_len as u64)
            .map_err(|e| DbError::Io(format!("reading {}: {e}", path.display())))?;
        let (meta, index) = table::decode_footer(&footer, len)
            .map_err(|reason| env.damage(&path, len - footer_len as u64, reason))?;
        let mut t = Table {
            number,
            path,
            file,
            blocks: Vec::new(),
            filter: None,
        };
        let meta_block = t.read_block(env, meta)?;
        let meta_entries =
            table::block_entries(&meta_block).map_err(|r| env.damage(&t.path, meta.offset, r))?;
        if let Some((_, handle)) = meta_entries.iter().find(|(k, _)| k == BLOOM_FILTER_KEY) {
            let h = decode_handle(handle)
                .ok_or_else(|| env.damage(&t.path, meta.offset, "unreadable filter handle"))?;
            let block = t.read_block(env, h)?;
            let filter = FilterBlock::new(block).map_err(|r| env.damage(&t.path, h.offset, r))?;
            t.filter = Some(filter);
        }
        let index_block = t.read_block(env, index)?;
        let entries =
            table::block_entries(&index_block).map_err(|r| env.damage(&t.path, index.offset, r))?;
        for (key, handle) in entries {
            let h = decode_handle(&handle)
                .ok_or_else(|| env.damage(&t.path, index.offset, "unreadable block handle"))?;
            t.blocks.push((key, h));
        }
        Ok(t)
    }

    /// A block's contents, checked and uncompressed.
    fn read_block(&self, env: &Env, h: BlockHandle) -> DbResult<Vec<u8>> {
        let mut raw = vec![0u8; h.size as usize + 5];
        self.file.read_exact_at(&mut raw, h.offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                env.damage(&self.path, h.offset, "block runs past the end of the file")
            } else {
                DbError::Io(format!("reading {}: {e}", self.path.display()))
            }
        })?;
        table::decode_block(&raw).map_err(|r| env.damage(&self.path, h.offset, r))
    }
}

fn decode_handle(mut bytes: &[u8]) -> Option<BlockHandle> {
    Some(BlockHandle {
        offset: take_varint(&mut bytes)?,
        size: take_varint(&mut bytes)?,
    })
}

/// Uncompressed data blocks by table number and offset.
type BlockCache = ArcCache<(u64, u64), Arc<Vec<u8>>, ahash::RandomState>;

/// The open tables and the block cache of one database.
pub struct TableCache {
    env: Arc<Env>,
    open: Mutex<HashMap<u64, Arc<Table>>>,
    max_open: usize,
    blocks: Mutex<BlockCache>,
}

impl TableCache {
    /// A cache keeping up to `max_open` tables open and `blocks` data blocks.
    pub fn new(env: Arc<Env>, max_open: usize, blocks: usize) -> TableCache {
        TableCache {
            env,
            open: Mutex::new(HashMap::new()),
            max_open: max_open.max(1),
            blocks: Mutex::new(
                ArcCache::with_hasher(blocks.max(1), ahash::RandomState::new())
                    .expect("a non-zero capacity"),
            ),
        }
    }

    fn open_tables(&self) -> MutexGuard<'_, HashMap<u64, Arc<Table>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Table `number`, opened if it is not open yet.
    pub fn table(&self, number: u64) -> DbResult<Arc<Table>> {
        if let Some(t) = self.open_tables().get(&number) {
            return Ok(t.clone());
        }
        // Opened outside the lock: other readers go on meanwhile.
        let t = Arc::new(Table::open(&self.env, number)?);
        let mut open = self.open_tables();
        if open.len() >= self.max_open {
            // Readers hold the tables they read; the others are opened again when needed.
            open.clear();
        }
        open.insert(number, t.clone());
        Ok(t)
    }

    /// Forgets table `number` (deleted) and its file handle.
    pub fn evict(&self, number: u64) {
        self.open_tables().remove(&number);
    }

    /// A data block: from the cache, else read, checked and (when `fill`) cached.
    fn block(&self, t: &Table, h: BlockHandle, fill: bool) -> DbResult<Arc<Vec<u8>>> {
        let key = (t.number, h.offset);
        if let Some(block) = self
            .blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&key)
        {
            return Ok(block.clone());
        }
        let block = Arc::new(t.read_block(&self.env, h)?);
        if fill {
            self.blocks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, block.clone());
        }
        Ok(block)
    }

    /// The newest entry of `user` with a sequence number up to `seq` in table `number`.
    pub fn get(&self, number: u64, user: &[u8], seq: u64) -> DbResult<Option<Lookup>> {
        let t = self.table(number)?;
        let target = dbformat::seek_key(user, seq);
        let mut at = t
            .blocks
            .partition_point(|(k, _)| dbformat::compare(k, &target).is_lt());
        while let Some(&(_, h)) = t.blocks.get(at) {
            if t.filter
                .as_ref()
                .is_some_and(|f| !f.may_hold(h.offset, user))
            {
                // The key's first entry at or after the target would be in this block.
                return Ok(None);
            }
            let block = self.block(&t, h, true)?;
            let mut cursor =
                BlockCursor::new(block).map_err(|r| self.env.damage(&t.path, h.offset, r))?;
            cursor
                .seek(&target)
                .map_err(|r| self.env.damage(&t.path, h.offset, r))?;
            if cursor.valid() {
                if user_key(cursor.key()) != user {
                    return Ok(None);
                }
                return Ok(Some(match dbformat::key_tag(cursor.key()) {
                    Some((_, true)) => Lookup::Value(cursor.value().to_vec()),
                    _ => Lookup::Deleted,
                }));
            }
            at += 1;
        }
        Ok(None)
    }

    /// An iterator over table `number`; `fill` says whether the blocks it reads go into the
    /// block cache (reads: yes; compactions: no, as in LevelDB).
    pub fn iter(self: &Arc<Self>, number: u64, fill: bool) -> DbResult<TableIter> {
        Ok(TableIter {
            table: self.table(number)?,
            cache: self.clone(),
            fill,
            block_no: 0,
            cursor: None,
        })
    }
}

/// A position in one uncompressed block.
struct BlockCursor {
    block: Arc<Vec<u8>>,
    /// Where the entries end (the restart array follows).
    end: usize,
    restarts: usize,
    /// Where the next entry starts.
    next: usize,
    key: Vec<u8>,
    value: (usize, usize),
    valid: bool,
}

impl BlockCursor {
    fn new(block: Arc<Vec<u8>>) -> Result<BlockCursor, &'static str> {
        let end = table::entries_end(&block)?;
        let restarts = (block.len() - 4 - end) / 4;
        Ok(BlockCursor {
            block,
            end,
            restarts,
            next: 0,
            key: Vec::new(),
            value: (0, 0),
            valid: false,
        })
    }

    fn restart(&self, i: usize) -> Result<usize, &'static str> {
        let at = self.end + 4 * i;
        let offset =
            u32::from_le_bytes(self.block[at..at + 4].try_into().expect("4 bytes")) as usize;
        if offset > self.end {
            return Err("block restart point outside its entries");
        }
        Ok(offset)
    }

    /// The whole key at a restart point (it shares nothing with the one before).
    fn key_at(&self, offset: usize) -> Result<&[u8], &'static str> {
        let mut rest = &self.block[offset..self.end];
        let before = rest.len();
        let (_, unshared, _) = table::entry_header(&mut rest, 0)?;
        let at = offset + (before - rest.len());
        Ok(&self.block[at..at + unshared])
    }

    fn seek_to_first(&mut self) -> Result<(), &'static str> {
        self.next = 0;
        self.key.clear();
        self.advance()
    }

    /// Moves to the first entry at or after the internal key `target`.
    fn seek(&mut self, target: &[u8]) -> Result<(), &'static str> {
        // The last restart point whose key is before the target (or the first).
        let (mut lo, mut hi) = (0, self.restarts);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if dbformat::compare(self.key_at(self.restart(mid)?)?, target).is_lt() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.next = if self.restarts == 0 {
            self.end
        } else {
            self.restart(lo)?
        };
        self.key.clear();
        self.advance()?;
        while self.valid && dbformat::compare(&self.key, target).is_lt() {
            self.advance()?;
        }
        Ok(())
    }

    /// Reads the entry at `next`, or becomes invalid at the end.
    fn advance(&mut self) -> Result<(), &'static str> {
        if self.next >= self.end {
            self.valid = false;
            return Ok(());
        }
        let value = table::read_entry(&self.block, self.next, self.end, &mut self.key)?;
        self.next = value.end;
        self.value = (value.start, value.end);
        self.valid = true;
        Ok(())
    }

    fn valid(&self) -> bool {
        self.valid
    }

    fn key(&self) -> &[u8] {
        &self.key
    }

    fn value(&self) -> &[u8] {
        &self.block[self.value.0..self.value.1]
    }
}

/// The entries of one table in order.
pub struct TableIter {
    table: Arc<Table>,
    cache: Arc<TableCache>,
    fill: bool,
    block_no: usize,
    cursor: Option<BlockCursor>,
}

impl TableIter {
    fn damage(&self, offset: u64, reason: &str) -> DbError {
        self.cache.env.damage(&self.table.path, offset, reason)
    }

    /// Loads block `n` (or the first non-empty one after it) at its first entry, or becomes
    /// invalid past the last block.
    fn load(&mut self, mut n: usize) -> DbResult<()> {
        loop {
            let Some(&(_, h)) = self.table.blocks.get(n) else {
                self.cursor = None;
                self.block_no = n;
                return Ok(());
            };
            let block = self.cache.block(&self.table, h, self.fill)?;
            let mut cursor = BlockCursor::new(block).map_err(|r| self.damage(h.offset, r))?;
            cursor
                .seek_to_first()
                .map_err(|r| self.damage(h.offset, r))?;
            self.block_no = n;
            if cursor.valid() {
                self.cursor = Some(cursor);
                return Ok(());
            }
            n += 1;
        }
    }

    fn offset(&self) -> u64 {
        self.table
            .blocks
            .get(self.block_no)
            .map_or(0, |b| b.1.offset)
    }
}

impl InternalIter for TableIter {
    fn valid(&self) -> bool {
        self.cursor.as_ref().is_some_and(BlockCursor::valid)
    }

    fn seek_to_first(&mut self) -> DbResult<()> {
        self.load(0)
    }

    fn seek(&mut self, target: &[u8]) -> DbResult<()> {
        let first = self
            .table
            .blocks
            .partition_point(|(k, _)| dbformat::compare(k, target).is_lt());
        self.load(first)?;
        if let Some(c) = self.cursor.as_mut() {
            let seek = c.seek(target);
            if let Err(r) = seek {
                return Err(self.damage(self.offset(), r));
            }
            if !self.valid() {
                self.load(self.block_no + 1)?;
            }
        }
        Ok(())
    }

    fn next(&mut self) -> DbResult<()> {
        let Some(c) = self.cursor.as_mut() else {
            return Ok(());
        };
        if let Err(r) = c.advance() {
            return Err(self.damage(self.offset(), r));
        }
        if !c.valid() {
            self.load(self.block_no + 1)?;
        }
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.cursor.as_ref().map_or(&[], |c| c.key())
    }

    fn value(&self) -> &[u8] {
        self.cursor.as_ref().map_or(&[], |c| c.value())
    }

    /// Moves past every entry of `user`. A block after the current one whose index key has
    /// that user key holds nothing else (its entries lie between the current one and its
    /// index key), so it is skipped unread: a key rewritten many times costs one block per
    /// scan, not one per version.
    fn skip_user_key(&mut self, user: &[u8]) -> DbResult<()> {
        while self.valid() && user_key(self.key()) <= user {
            let at_block_end = self.cursor.as_ref().is_some_and(|c| c.next >= c.end);
            if !at_block_end {
                self.next()?;
                continue;
            }
            let mut next = self.block_no + 1;
            while self
                .table
                .blocks
                .get(next)
                .is_some_and(|(k, _)| user_key(k) == user)
            {
                next += 1;
            }
            self.load(next)?;
        }
        Ok(())
    }
}

/// The tables of one level above 0 (sorted, disjoint key ranges) read one after another,
/// opening each only when the iteration reaches it.
pub struct LevelIter {
    cache: Arc<TableCache>,
    /// The tables: number and largest internal key.
    files: Vec<(u64, Vec<u8>)>,
    fill: bool,
    at: usize,
    current: Option<TableIter>,
}

impl LevelIter {
    /// An iterator over the tables `files` (number, largest key), in key order.
    pub fn new(cache: Arc<TableCache>, files: Vec<(u64, Vec<u8>)>, fill: bool) -> LevelIter {
        LevelIter {
            cache,
            files,
            fill,
            at: 0,
            current: None,
        }
    }

    /// Opens table `at` at `target` (or its first entry); moves on past the tables that
    /// hold nothing from there.
    fn open_from(&mut self, mut at: usize, mut target: Option<&[u8]>) -> DbResult<()> {
        loop {
            self.at = at;
            let Some((number, _)) = self.files.get(at) else {
                self.current = None;
                return Ok(());
            };
            let mut it = self.cache.iter(*number, self.fill)?;
            match target.take() {
                Some(t) => it.seek(t)?,
                None => it.seek_to_first()?,
            }
            if it.valid() {
                self.current = Some(it);
                return Ok(());
            }
            at += 1;
        }
    }
}

impl InternalIter for LevelIter {
    fn valid(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.valid())
    }

    fn seek_to_first(&mut self) -> DbResult<()> {
        self.open_from(0, None)
    }

    fn seek(&mut self, target: &[u8]) -> DbResult<()> {
        let at = self
            .files
            .partition_point(|(_, largest)| dbformat::compare(largest, target).is_lt());
        self.open_from(at, Some(target))
    }

    fn next(&mut self) -> DbResult<()> {
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        c.next()?;
        if !c.valid() {
            self.open_from(self.at + 1, None)?;
        }
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.key())
    }

    fn value(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.value())
    }

    fn skip_user_key(&mut self, user: &[u8]) -> DbResult<()> {
        while let Some(c) = self.current.as_mut() {
            c.skip_user_key(user)?;
            if c.valid() {
                return Ok(());
            }
            self.open_from(self.at + 1, None)?;
            if !self.valid() || user_key(self.key()) > user {
                return Ok(());
            }
        }
        Ok(())
    }
}
