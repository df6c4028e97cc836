//! Range scans read from the database files instead of through rusty-leveldb's iterator.
//!
//! rusty-leveldb 4.0.2's `DBIterator` copies every key and value it passes into fresh
//! allocations, several times per step (its merging iterator asks each child for an owned copy
//! of its current entry to compare them), so a step costs 1.2 to 1.5 µs, and a scan over
//! overwritten versions pays that for each version. This scanner reads what the engine would:
//!
//! - the live tables, as the MANIFEST lists them (the edits appended since it was last read,
//!   when the env saw it written);
//! - the memtable, which holds exactly the batches written since the current journal was
//!   opened: the datastore hands it each batch the engine accepted ([`Scanner::written`]),
//!   and it starts afresh whenever the env opens a journal (the engine swaps its memtable
//!   then, before inserting the batch of that write, and after an open it is empty: both
//!   reuse options are off).
//!
//! Point reads ([`Scanner::get`]) look the key up the same way, with the tables' Bloom filters
//! and a block cache of their own.
//!
//! Reads do not take the engine's lock, so they run beside each other and beside writes,
//! syncs and compactions. What they see is one state: the memtable mirror changes only after
//! the engine accepted a write (under the engine's lock and this scanner's state lock), and by
//! then every MANIFEST edit that write made is in the file, so a read that sees the mirror
//! started afresh also sees the MANIFEST moved on (the env counts its writes after they land)
//! and re-reads it: the tables it then reads hold what the old mirror held. Tables are never
//! rewritten, only deleted once a compaction replaced them: a read that finds a table of its
//! version gone, while the MANIFEST moved on meanwhile, starts again on the new version.
//!
//! For each user key the newest entry wins (the memtable, then the highest sequence number),
//! and a deletion hides the key, as in the engine. Table blocks are checked against their
//! CRCs: damage is recorded in the env and the read fails, naming the file and offset.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use arc_cache::ArcCache;
use rusty_leveldb::{Status, StatusCode};

use super::coding::take_varint;
use super::dbformat::user_key;
use super::env::IoState;
use super::logfile;
use super::manifest::{Manifest, TableFile};
use super::table;
use crate::datastore::{Entry, Op, Query};

/// A table's index: the file, and for each data block a key at or after its last key, with
/// the block's place.
struct TableIndex {
    path: PathBuf,
    file: File,
    blocks: Vec<(Vec<u8>, table::BlockHandle)>,
    /// The table's Bloom filters of user keys, if it has LevelDB's.
    filter: Option<super::filter::FilterBlock>,
}

/// The live tables by level: level 0 newest first, the others by key.
struct Version {
    levels: Vec<Vec<TableFile>>,
}

/// The scanner of one open engine, shared by every reader.
pub(super) struct Scanner {
    dir: PathBuf,
    state: RwLock<State>,
    tables: Tables,
    /// Data blocks that point reads and scans loaded, uncompressed, by table number and offset.
    blocks: Mutex<BlockCache>,
}

/// Uncompressed data blocks by table number and offset.
type BlockCache = ArcCache<(u64, u64), Arc<Vec<u8>>, ahash::RandomState>;

/// What a read sees: the memtable mirror and the live tables.
struct State {
    /// The memtable: the newest write of each key since `mem_journal` (`None`: deleted).
    mem: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The env's journal count ([`IoState::journal_opens`]) the memtable belongs to.
    mem_journal: u64,
    /// The live tables, and the env's MANIFEST write count they were read at.
    version: Option<(u64, Arc<Version>)>,
    manifest: Option<ManifestState>,
}

/// How many data blocks the scanner keeps: about 8 MiB of 4 KiB blocks, goleveldb's default
/// block cache.
const CACHED_BLOCKS: usize = 2048;

/// A key's newest entry in a table: its sequence number and value (`None`: a deletion).
type Newest = (u64, Option<Vec<u8>>);

/// Where a seek in one block ended.
enum Seek {
    /// At an entry of the key: its sequence number, and its value (`None`: a deletion).
    Found(u64, Option<Vec<u8>>),
    /// At a larger key: the table does not hold the key.
    Past,
    /// At the block's end: the key may start the next block.
    End,
}

/// Open tables with their indexes, at most [`OPEN_TABLES`] (each holds a file descriptor).
struct Tables {
    dir: PathBuf,
    open: Mutex<HashMap<u64, Arc<TableIndex>>>,
}

/// How many tables the scanner keeps open between scans.
const OPEN_TABLES: usize = 256;

impl Tables {
    fn get(&self, io: &IoState, number: u64) -> Result<Arc<TableIndex>, Status> {
        if let Some(t) = self.lock().get(&number) {
            return Ok(t.clone());
        }
        // Opened outside the lock: other readers go on meanwhile.
        let t = Arc::new(TableIndex::open(&self.dir, io, number)?);
        let mut open = self.lock();
        if open.len() >= OPEN_TABLES {
            // A read holds the tables it reads; the others are opened again when needed.
            open.clear();
        }
        open.insert(number, t.clone());
        Ok(t)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<TableIndex>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn corruption(msg: String) -> Status {
    Status::new(StatusCode::Corruption, &msg)
}

fn io_error(path: &Path, e: std::io::Error) -> Status {
    Status::new(StatusCode::IOError, &format!("{}: {e}", path.display()))
}

/// The sequence number and whether it is a put of an internal key (none for a key too short
/// to hold its tag).
fn tag(internal: &[u8]) -> (u64, bool) {
    super::dbformat::key_tag(internal).unwrap_or((0, false))
}

/// How many times a read starts again on a newer version after a table of its own was
/// deleted (each time the MANIFEST moved on meanwhile) before it reports the missing table.
const RETRIES: usize = 64;

impl Scanner {
    pub(super) fn new(dir: &Path, io: &IoState) -> Scanner {
        Scanner {
            dir: dir.to_path_buf(),
            state: RwLock::new(State {
                mem: BTreeMap::new(),
                mem_journal: io.journal_opens(),
                version: None,
                manifest: None,
            }),
            tables: Tables {
                dir: dir.to_path_buf(),
                open: Mutex::new(HashMap::new()),
            },
            blocks: Mutex::new(
                ArcCache::with_hasher(CACHED_BLOCKS, ahash::RandomState::new())
                    .expect("a non-zero capacity"),
            ),
        }
    }

    /// The state, and its version, current with the MANIFEST.
    fn current(&self, io: &IoState) -> Result<(RwLockReadGuard<'_, State>, Arc<Version>), Status> {
        loop {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            let stamp = io.manifest_writes();
            if let Some((at, version)) = &state.version
                && *at == stamp
            {
                let version = version.clone();
                return Ok((state, version));
            }
            drop(state);
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            state.refresh_version(io, &self.dir, &self.tables)?;
        }
    }

    /// Runs a read, again on a newer version if a table it needed was deleted meanwhile.
    fn with_retries<T>(
        &self,
        io: &IoState,
        mut read: impl FnMut() -> Result<T, Status>,
    ) -> Result<T, Status> {
        let mut tries = 0;
        loop {
            let stamp = io.manifest_writes();
            match read() {
                Err(e) if e.code == StatusCode::NotFound && tries < RETRIES => {
                    if io.manifest_writes() == stamp {
                        return Err(e);
                    }
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// The value of `key` as the engine holds it now (`None`: absent or deleted): the
    /// memtable's, else the newest entry in the tables. A level-0 table may overlap the
    /// others, so all that may hold the key are read and the highest sequence number wins;
    /// in the other levels an entry is newer than any of the same key in a deeper level, so
    /// the first level that holds the key answers, as in the engine.
    pub(super) fn get(&self, io: &IoState, key: &[u8]) -> Result<Option<Vec<u8>>, Status> {
        self.with_retries(io, || {
            let version = {
                let (state, version) = self.current(io)?;
                if let Some(value) = state.mem.get(key) {
                    return Ok(value.clone());
                }
                version
            };
            self.tables_get(io, &version, key)
        })
    }

    /// The newest value of `key` in the tables of a version.
    fn tables_get(
        &self,
        io: &IoState,
        version: &Version,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, Status> {
        let holds = |f: &TableFile| user_key(&f.smallest) <= key && key <= user_key(&f.largest);
        for (level, files) in version.levels.iter().enumerate() {
            if level == 0 {
                let mut newest: Option<Newest> = None;
                for f in files.iter().filter(|f| holds(f)) {
                    if let Some((seq, value)) = self.table_get(io, f.number, key)?
                        && newest.as_ref().is_none_or(|(s, _)| seq > *s)
                    {
                        newest = Some((seq, value));
                    }
                }
                if let Some((_, value)) = newest {
                    return Ok(value);
                }
                continue;
            }
            let at = files.partition_point(|f| user_key(&f.largest) < key);
            if let Some(f) = files.get(at).filter(|f| holds(f))
                && let Some((_, value)) = self.table_get(io, f.number, key)?
            {
                return Ok(value);
            }
        }
        Ok(None)
    }

    /// The newest entry of `key` in one table: its sequence number and value.
    fn table_get(&self, io: &IoState, number: u64, key: &[u8]) -> Result<Option<Newest>, Status> {
        let t = self.tables.get(io, number)?;
        // The first block whose last key may be at or after the key.
        let mut at = t.blocks.partition_point(|(k, _)| user_key(k) < key);
        while let Some(&(_, h)) = t.blocks.get(at) {
            if t.filter
                .as_ref()
                .is_some_and(|f| !f.may_hold(h.offset, key))
            {
                // The block does not hold the key, so neither does the table: its newest
                // entry would be in this block.
                return Ok(None);
            }
            let block = self.block(io, &t, number, h)?;
            match seek_block(&block, key).map_err(|r| t.damage(io, h.offset, r))? {
                Seek::Found(seq, value) => return Ok(Some((seq, value))),
                Seek::Past => return Ok(None),
                Seek::End => at += 1,
            }
        }
        Ok(None)
    }

    /// Follows the engine after a call that may have opened a journal (a write, a flush):
    /// call under the engine's lock, after the call returned.
    pub(super) fn follow(&self, io: &IoState) {
        self.written(io, std::iter::empty());
    }

    /// Records ops the engine accepted (call right after its write returns, under its lock).
    pub(super) fn written<'a>(&self, io: &IoState, ops: impl Iterator<Item = &'a Op>) {
        // Copied before the lock is taken: readers wait while it is held.
        let ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = ops
            .map(|op| match op {
                Op::Put(k, v) => (k.as_bytes().to_vec(), Some(v.clone())),
                Op::Delete(k) => (k.as_bytes().to_vec(), None),
            })
            .collect();
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let journal = io.journal_opens();
        if journal != state.mem_journal {
            // The engine swapped its memtable and wrote the old one to a table; the MANIFEST
            // names that table by now.
            state.mem.clear();
            state.mem_journal = journal;
        }
        state.mem.extend(ops);
    }

    fn cached_blocks(&self) -> std::sync::MutexGuard<'_, BlockCache> {
        self.blocks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A data block of table `number`, uncompressed: from the block cache, else read, checked
    /// and cached (scans fill the cache too, as goleveldb's iterators do by default).
    fn block(
        &self,
        io: &IoState,
        t: &TableIndex,
        number: u64,
        h: table::BlockHandle,
    ) -> Result<Arc<Vec<u8>>, Status> {
        if let Some(block) = self.cached_blocks().get_mut(&(number, h.offset)) {
            return Ok(block.clone());
        }
        // Read outside the lock: other readers go on meanwhile.
        let block = Arc::new(t.block(io, h)?);
        self.cached_blocks()
            .insert((number, h.offset), block.clone());
        Ok(block)
    }

    /// The entries a query selects, as the engine holds them now.
    pub(super) fn query(&self, io: &IoState, query: &Query) -> Result<Vec<Entry>, Status> {
        self.with_retries(io, || {
            let (state, version) = self.current(io)?;
            self.merge(io, &state.mem, &version, query)
        })
    }

    /// A query over the memtable mirror and a version's tables.
    fn merge(
        &self,
        io: &IoState,
        mem: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        version: &Version,
        query: &Query,
    ) -> Result<Vec<Entry>, Status> {
        let start = query.seek_key();
        let prefix = query.prefix.query_prefix().into_bytes();
        let mut sources: Vec<Source> = Vec::new();
        for (level, files) in version.levels.iter().enumerate() {
            let past_prefix = |f: &TableFile| {
                let smallest = user_key(&f.smallest);
                smallest > prefix.as_slice() && !smallest.starts_with(&prefix)
            };
            let in_range =
                |f: &&TableFile| user_key(&f.largest) >= start.as_slice() && !past_prefix(f);
            if level == 0 {
                for f in files.iter().filter(in_range) {
                    sources.push(Source::new(vec![f.number], self, io, &start)?);
                }
            } else {
                // A level's tables hold disjoint key ranges, in order.
                let numbers: Vec<u64> = files
                    .iter()
                    .skip_while(|f| user_key(&f.largest) < start.as_slice())
                    .take_while(|f| !past_prefix(f))
                    .map(|f| f.number)
                    .collect();
                if !numbers.is_empty() {
                    sources.push(Source::new(numbers, self, io, &start)?);
                }
            }
        }
        let mut mem = mem.range(start.clone()..).peekable();
        let limit = query.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        // The sources whose current user key is the smallest.
        let mut ties: Vec<usize> = Vec::with_capacity(sources.len());
        while out.len() < limit {
            // The smallest user key in the tables; among its entries, the newest.
            let mut best: Option<usize> = None;
            ties.clear();
            for (i, s) in sources.iter().enumerate() {
                let Some(k) = s.key() else { continue };
                let Some(b) = best else {
                    best = Some(i);
                    ties.push(i);
                    continue;
                };
                let bk = sources[b].key_unchecked();
                match user_key(k).cmp(user_key(bk)) {
                    std::cmp::Ordering::Less => {
                        best = Some(i);
                        ties.clear();
                        ties.push(i);
                    }
                    std::cmp::Ordering::Equal => {
                        ties.push(i);
                        if tag(k).0 > tag(bk).0 {
                            best = Some(i);
                        }
                    }
                    std::cmp::Ordering::Greater => {}
                }
            }
            let table_key = best.map(|b| user_key(sources[b].key_unchecked()));
            let mem_first = match (mem.peek(), table_key) {
                (Some((mk, _)), Some(tk)) => mk.as_slice().cmp(tk),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => break,
            };
            let (key, value) = match (mem_first, best) {
                (std::cmp::Ordering::Greater, Some(b)) => {
                    let s = &sources[b];
                    let put = tag(s.key_unchecked()).1;
                    let value = match query.keys_only {
                        true => Vec::new(),
                        false => s.value().to_vec(),
                    };
                    (user_key(s.key_unchecked()).to_vec(), put.then_some(value))
                }
                _ => {
                    let (k, v) = mem.next().expect("peeked");
                    let value = match query.keys_only {
                        true => v.as_ref().map(|_| Vec::new()),
                        false => v.clone(),
                    };
                    (k.clone(), value)
                }
            };
            if !key.starts_with(&prefix) {
                break;
            }
            if mem_first != std::cmp::Ordering::Less {
                // Every older version of this key, in every table, is hidden.
                for &i in &ties {
                    sources[i].skip_user_key(io, self, &key)?;
                }
            }
            let Some(value) = value else { continue };
            if !query.past_start(&key) {
                continue;
            }
            out.push(Entry { key, value });
        }
        Ok(out)
    }
}

/// Finds the first entry of `key` in an uncompressed block: from the last restart point (where
/// keys are whole) before the key, entry by entry.
fn seek_block(block: &[u8], key: &[u8]) -> Result<Seek, &'static str> {
    let end = table::entries_end(block)?;
    let restarts = (block.len() - 4 - end) / 4;
    let restart = |i: usize| -> Result<usize, &'static str> {
        let at = end + 4 * i;
        let offset = u32::from_le_bytes(block[at..at + 4].try_into().expect("4 bytes")) as usize;
        if offset > end {
            return Err("block restart point outside its entries");
        }
        Ok(offset)
    };
    // The whole key at a restart point (it shares nothing with the one before).
    let key_at = |offset: usize| -> Result<&[u8], &'static str> {
        let mut rest = &block[offset..end];
        let before = rest.len();
        let (_, unshared, _) = table::entry_header(&mut rest, 0)?;
        let at = offset + (before - rest.len());
        Ok(&block[at..at + unshared])
    };
    // The last restart point whose key is before `key` (or the first).
    let (mut lo, mut hi) = (0, restarts);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if user_key(key_at(restart(mid)?)?) < key {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut pos = if restarts == 0 { end } else { restart(lo)? };
    let mut current: Vec<u8> = Vec::new();
    while pos < end {
        let value = table::read_entry(block, pos, end, &mut current)?;
        pos = value.end;
        match user_key(&current).cmp(key) {
            std::cmp::Ordering::Less => continue,
            std::cmp::Ordering::Greater => return Ok(Seek::Past),
            std::cmp::Ordering::Equal => {
                let (seq, put) = tag(&current);
                return Ok(Seek::Found(seq, put.then(|| block[value].to_vec())));
            }
        }
    }
    Ok(Seek::End)
}

impl State {
    /// Re-reads the live tables from the MANIFEST if the env wrote to one since.
    fn refresh_version(&mut self, io: &IoState, dir: &Path, tables: &Tables) -> Result<(), Status> {
        let stamp = io.manifest_writes();
        if self.version.as_ref().is_some_and(|(at, _)| *at == stamp) {
            return Ok(());
        }
        let path = super::check::current_manifest(dir).map_err(corruption)?;
        if self.manifest.as_ref().is_none_or(|m| m.path != path) {
            self.manifest = Some(ManifestState {
                path,
                manifest: Manifest::default(),
                read: 0,
            });
        }
        let state = self.manifest.as_mut().expect("set above");
        state.catch_up().map_err(corruption)?;
        let m = &state.manifest;
        let live: std::collections::HashSet<u64> = m.tables.keys().copied().collect();
        tables.lock().retain(|n, _| live.contains(n));
        self.version = Some((stamp, Arc::new(Version::of(m))));
        Ok(())
    }
}

/// The MANIFEST the engine writes, read as far as it has been written: the engine only appends
/// whole edits to it (each flushed and synced), so each catch-up applies the edits after the
/// last one read.
struct ManifestState {
    path: PathBuf,
    manifest: Manifest,
    /// Where the last edit applied ends.
    read: u64,
}

impl ManifestState {
    fn catch_up(&mut self) -> Result<(), String> {
        use std::io::{Read, Seek, SeekFrom};
        let where_ = |e: std::io::Error| format!("{}: {e}", self.path.display());
        // Records are laid out in blocks: read from the start of the block the last edit
        // ended in (the parts of earlier records there are skipped).
        let start = self.read - self.read % logfile::BLOCK_SIZE as u64;
        let mut file = File::open(&self.path).map_err(where_)?;
        file.seek(SeekFrom::Start(start)).map_err(where_)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(where_)?;
        let scan = logfile::scan(&bytes);
        // An edit cut short by the end of the file is what a crash during an append leaves
        // (the engine never reads it); any other damage after the last edit read is damage.
        let cut_short = |b: &&logfile::BadRange| b.offset >= scan.good_len && b.is_cut_short();
        if let Some(bad) = scan
            .bad
            .iter()
            .find(|b| start + b.offset >= self.read && !cut_short(b))
        {
            return Err(format!(
                "{} is damaged at offset {} ({})",
                self.path.display(),
                start + bad.offset,
                bad.reason
            ));
        }
        for r in scan
            .records
            .iter()
            .filter(|r| start + r.offset >= self.read)
        {
            self.manifest
                .apply(&r.data)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        self.read = self.read.max(start + scan.good_len);
        if let Some(cmp) = self.manifest.foreign_comparator() {
            return Err(format!(
                "{} uses the comparator {cmp:?}",
                self.path.display()
            ));
        }
        Ok(())
    }
}

impl Version {
    fn of(m: &Manifest) -> Version {
        let mut levels: Vec<Vec<TableFile>> = Vec::new();
        for t in m.tables.values() {
            let level = t.level as usize;
            if levels.len() <= level {
                levels.resize_with(level + 1, Vec::new);
            }
            levels[level].push(t.clone());
        }
        for (level, files) in levels.iter_mut().enumerate() {
            if level == 0 {
                files.sort_by_key(|f| std::cmp::Reverse(f.number));
            } else {
                files.sort_by(|a, b| user_key(&a.smallest).cmp(user_key(&b.smallest)));
            }
        }
        Version { levels }
    }
}

impl TableIndex {
    fn open(dir: &Path, io: &IoState, number: u64) -> Result<TableIndex, Status> {
        let ldb = dir.join(format!("{number:06}.ldb"));
        // goleveldb and rusty-leveldb name tables .ldb; LevelDB before 1.14 named them .sst.
        let sst = dir.join(format!("{number:06}.sst"));
        let path = if !ldb.exists() && sst.exists() {
            sst
        } else {
            ldb
        };
        let file = File::open(&path).map_err(|e| match e.kind() {
            // A compaction may have replaced it since the read took its version.
            std::io::ErrorKind::NotFound => {
                Status::new(StatusCode::NotFound, &format!("{}: {e}", path.display()))
            }
            _ => io_error(&path, e),
        })?;
        let len = file.metadata().map_err(|e| io_error(&path, e))?.len();
        let footer_len = table::FOOTER_SIZE.min(len as usize);
        let mut footer = vec![0u8; footer_len];
        file.read_exact_at(&mut footer, len - footer_len as u64)
            .map_err(|e| io_error(&path, e))?;
        let (meta, index) = table::decode_footer(&footer, len).map_err(|reason| {
            io.record_damage(&path, len - footer_len as u64, reason.clone());
            corruption(format!("{}: {reason}", path.display()))
        })?;
        let mut t = TableIndex {
            path,
            file,
            blocks: Vec::new(),
            filter: None,
        };
        let meta = t.block(io, meta)?;
        let meta = table::block_entries(&meta).map_err(|r| t.damage(io, 0, r))?;
        if let Some((_, handle)) = meta
            .iter()
            .find(|(k, _)| k == super::filter::BLOOM_FILTER_KEY)
        {
            let mut rest = handle.as_slice();
            let (Some(offset), Some(size)) = (take_varint(&mut rest), take_varint(&mut rest))
            else {
                return Err(t.damage(io, 0, "unreadable filter handle in the metaindex"));
            };
            let h = table::BlockHandle { offset, size };
            let block = t.block(io, h)?;
            let filter =
                super::filter::FilterBlock::new(block).map_err(|r| t.damage(io, offset, r))?;
            t.filter = Some(filter);
        }
        let index = t.block(io, index)?;
        let entries = table::block_entries(&index).map_err(|r| t.damage(io, 0, r))?;
        for (key, handle) in entries {
            let mut rest = handle.as_slice();
            let (Some(offset), Some(size)) = (take_varint(&mut rest), take_varint(&mut rest))
            else {
                return Err(t.damage(io, 0, "unreadable block handle in the index"));
            };
            t.blocks.push((key, table::BlockHandle { offset, size }));
        }
        Ok(t)
    }

    fn damage(&self, io: &IoState, offset: u64, reason: &str) -> Status {
        io.record_damage(&self.path, offset, reason);
        corruption(format!(
            "{} at offset {offset}: {reason}",
            self.path.display()
        ))
    }

    /// A block's contents, checked and uncompressed.
    fn block(&self, io: &IoState, h: table::BlockHandle) -> Result<Vec<u8>, Status> {
        let mut raw = vec![0u8; h.size as usize + 5];
        self.file
            .read_exact_at(&mut raw, h.offset)
            .map_err(|e| io_error(&self.path, e))?;
        table::decode_block(&raw).map_err(|r| self.damage(io, h.offset, r))
    }
}

/// Entries of consecutive tables (one level-0 table, or a level's tables from the first that
/// may hold the start key), from the start key on.
struct Source {
    /// The tables, by number, and the one being read.
    numbers: Vec<u64>,
    table: usize,
    current: Option<Arc<TableIndex>>,
    /// Which of its blocks is loaded.
    block_no: usize,
    block: Arc<Vec<u8>>,
    /// Where the block's entries end, and where the next entry starts.
    end: usize,
    pos: usize,
    /// The current entry: its internal key, and where its value lies in `block`.
    key: Vec<u8>,
    value: (usize, usize),
    valid: bool,
}

impl Source {
    fn new(
        numbers: Vec<u64>,
        scanner: &Scanner,
        io: &IoState,
        start: &[u8],
    ) -> Result<Source, Status> {
        let first_table = scanner.tables.get(io, numbers[0])?;
        let mut s = Source {
            numbers,
            table: 0,
            current: Some(first_table.clone()),
            block_no: 0,
            block: Arc::new(Vec::new()),
            end: 0,
            pos: 0,
            key: Vec::new(),
            value: (0, 0),
            valid: false,
        };
        // The first block whose last key may be at or after the start.
        let first = first_table
            .blocks
            .partition_point(|(k, _)| user_key(k) < start);
        s.load(io, scanner, first)?;
        while s.key().is_some_and(|k| user_key(k) < start) {
            s.advance(io, scanner)?;
        }
        Ok(s)
    }

    fn key(&self) -> Option<&[u8]> {
        self.valid.then_some(self.key.as_slice())
    }

    fn key_unchecked(&self) -> &[u8] {
        &self.key
    }

    fn value(&self) -> &[u8] {
        &self.block[self.value.0..self.value.1]
    }

    /// Loads block `n` of the current table (or, past its last, the next table's first) and
    /// reads its first entry.
    fn load(&mut self, io: &IoState, scanner: &Scanner, mut n: usize) -> Result<(), Status> {
        loop {
            let Some(t) = self.current.clone() else {
                self.valid = false;
                return Ok(());
            };
            let Some(&(_, h)) = t.blocks.get(n) else {
                self.table += 1;
                self.current = match self.numbers.get(self.table) {
                    Some(&number) => Some(scanner.tables.get(io, number)?),
                    None => None,
                };
                n = 0;
                continue;
            };
            self.block = scanner.block(io, &t, self.numbers[self.table], h)?;
            self.end = table::entries_end(&self.block).map_err(|r| t.damage(io, h.offset, r))?;
            self.block_no = n;
            self.pos = 0;
            self.key.clear();
            if self.pos < self.end {
                return self.read_entry(io);
            }
            n += 1;
        }
    }

    fn read_entry(&mut self, io: &IoState) -> Result<(), Status> {
        let value = table::read_entry(&self.block, self.pos, self.end, &mut self.key).map_err(
            |reason| {
                let t = self
                    .current
                    .as_ref()
                    .expect("an entry is read from a loaded table");
                t.damage(io, t.blocks[self.block_no].1.offset, reason)
            },
        )?;
        self.pos = value.end;
        self.value = (value.start, value.end);
        self.valid = true;
        Ok(())
    }

    /// Moves past every entry of user key `key` (the current one's). A block after the
    /// current one whose index key has that user key holds nothing else (its entries are at or
    /// after the current one, and at or before its index key), so it is skipped unread: a key
    /// rewritten many times costs a block per version only in the block where it starts.
    fn skip_user_key(&mut self, io: &IoState, scanner: &Scanner, key: &[u8]) -> Result<(), Status> {
        while self.key().is_some_and(|k| user_key(k) == key) {
            if self.pos < self.end {
                self.read_entry(io)?;
                continue;
            }
            // The last entry of its block: skip the blocks that hold only this key.
            let mut next = self.block_no + 1;
            if let Some(t) = &self.current {
                while t.blocks.get(next).is_some_and(|(k, _)| user_key(k) == key) {
                    next += 1;
                }
            }
            self.load(io, scanner, next)?;
        }
        Ok(())
    }

    fn advance(&mut self, io: &IoState, scanner: &Scanner) -> Result<(), Status> {
        if !self.valid {
            return Ok(());
        }
        if self.pos < self.end {
            return self.read_entry(io);
        }
        let next = self.block_no + 1;
        self.load(io, scanner, next)
    }
}
