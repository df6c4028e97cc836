//! Table files (`.ldb`, `.sst`): the footer, block trailers and entries, checked as they are
//! read. [`scan`] reads a whole table and names every bad block, so `pstore verify` and
//! `pstore salvage` can report damage instead of shrinking the data; the engine reads tables
//! through [`super::table_cache`] with the same helpers. Twin of C++ LevelDB's
//! `table/format.cc` and `table/block.cc`, goleveldb's `leveldb/table/reader.go`.
//!
//! Layout: data blocks, a metaindex block, an index block (one entry per data block: a key at
//! or after the block's last key, and the block's handle) and a 48-byte footer ending in the
//! magic number. Each block is followed by a 1-byte compression type (0 none, 1 Snappy) and the
//! masked CRC32C of the block and that byte.

use super::coding::take_varint;
use super::dbformat::user_key;
use super::logfile::masked_crc;

/// The footer's size.
pub const FOOTER_SIZE: usize = 48;
const MAGIC: [u8; 8] = 0xdb47_7524_8b80_fb57u64.to_le_bytes();
const TRAILER_SIZE: usize = 5;

/// Where a block lies in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHandle {
    /// Where the block starts.
    pub offset: u64,
    /// The block's size without its trailer.
    pub size: u64,
}

impl BlockHandle {
    fn decode(rest: &mut &[u8]) -> Option<BlockHandle> {
        Some(BlockHandle {
            offset: take_varint(rest)?,
            size: take_varint(rest)?,
        })
    }
}

/// The footer: the metaindex and index handles. `file_len` is the whole table's length and
/// `footer` its last 48 bytes.
pub fn decode_footer(footer: &[u8], file_len: u64) -> Result<(BlockHandle, BlockHandle), String> {
    if footer.len() != FOOTER_SIZE {
        return Err(format!("file too short for a table ({file_len} bytes)"));
    }
    if footer[40..] != MAGIC {
        return Err("no table magic number in the footer (damaged or cut short)".to_owned());
    }
    let mut rest = &footer[..40];
    let meta = BlockHandle::decode(&mut rest).ok_or("unreadable metaindex handle in the footer")?;
    let index = BlockHandle::decode(&mut rest).ok_or("unreadable index handle in the footer")?;
    let body = file_len - FOOTER_SIZE as u64;
    for (what, h) in [("metaindex", meta), ("index", index)] {
        if h.offset
            .checked_add(h.size + TRAILER_SIZE as u64)
            .is_none_or(|end| end > body)
        {
            return Err(format!(
                "the footer's {what} handle points outside the file"
            ));
        }
    }
    Ok((meta, index))
}

/// Checks a block and its trailer (`raw` = block bytes followed by the 5-byte trailer) and
/// returns its uncompressed contents.
pub fn decode_block(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let (data, typ) = check_trailer(raw)?;
    match typ {
        0 => Ok(data.to_vec()),
        1 => snap::raw::Decoder::new()
            .decompress_vec(data)
            .map_err(|_| "block does not decompress (Snappy)"),
        _ => Err("unknown block compression type"),
    }
}

/// Checks a block's CRC (`raw` = block bytes followed by the 5-byte trailer); returns the
/// block's bytes and its compression type.
pub fn check_trailer(raw: &[u8]) -> Result<(&[u8], u8), &'static str> {
    if raw.len() < TRAILER_SIZE {
        return Err("block shorter than its trailer");
    }
    let (data, trailer) = raw.split_at(raw.len() - TRAILER_SIZE);
    let stored = u32::from_le_bytes(trailer[1..5].try_into().expect("4 bytes"));
    if masked_crc(&[data, &trailer[..1]]) != stored {
        return Err("block checksum mismatch");
    }
    Ok((data, trailer[0]))
}

/// A key and its value, as stored in a block.
pub type BlockEntry = (Vec<u8>, Vec<u8>);

/// Where the entries of an uncompressed block end (its restart array follows them).
pub fn entries_end(block: &[u8]) -> Result<usize, &'static str> {
    if block.len() < 4 {
        return Err("block too short for its restart count");
    }
    let restarts = u32::from_le_bytes(block[block.len() - 4..].try_into().expect("4")) as usize;
    restarts
        .checked_mul(4)
        .and_then(|r| block.len().checked_sub(4 + r))
        .ok_or("block restart array larger than the block")
}

/// Reads an entry's header from `rest`: how many bytes of the previous key it shares, and the
/// lengths of the rest of its key and of its value, checked against `key_len` (the previous
/// key's length) and what is left of the block.
pub fn entry_header(
    rest: &mut &[u8],
    key_len: usize,
) -> Result<(usize, usize, usize), &'static str> {
    let mut read = || {
        take_varint(rest)
            .map(|v| v as usize)
            .ok_or("truncated block entry")
    };
    let (shared, unshared, value_len) = (read()?, read()?, read()?);
    if shared > key_len || unshared.saturating_add(value_len) > rest.len() {
        return Err("block entry runs past its block");
    }
    Ok((shared, unshared, value_len))
}

/// Reads the entry at `pos` of an uncompressed block whose entries end at `end`: rebuilds its
/// key in `key`, which holds the previous entry's key, and returns where its value lies (the
/// next entry starts where the value ends).
pub fn read_entry(
    block: &[u8],
    pos: usize,
    end: usize,
    key: &mut Vec<u8>,
) -> Result<std::ops::Range<usize>, &'static str> {
    let mut rest = &block[pos..end];
    let before = rest.len();
    let (shared, unshared, value_len) = entry_header(&mut rest, key.len())?;
    let at = pos + (before - rest.len());
    key.truncate(shared);
    key.extend_from_slice(&block[at..at + unshared]);
    Ok(at + unshared..at + unshared + value_len)
}

/// The entries of an uncompressed block, in order.
pub fn block_entries(block: &[u8]) -> Result<Vec<BlockEntry>, &'static str> {
    let end = entries_end(block)?;
    let (mut pos, mut key) = (0, Vec::new());
    let mut out = Vec::new();
    while pos < end {
        let value = read_entry(block, pos, end, &mut key)?;
        pos = value.end;
        out.push((key.clone(), block[value].to_vec()));
    }
    Ok(out)
}

/// A damaged part of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableProblem {
    /// Where the damaged part starts.
    pub offset: u64,
    /// How many bytes it covers.
    pub len: u64,
    /// What is wrong.
    pub reason: String,
    /// The user keys the damaged block covered, where the index says: (after, up to).
    pub key_range: Option<(Vec<u8>, Vec<u8>)>,
}

/// Everything readable in a table, and what is not.
#[derive(Clone, Debug, Default)]
pub struct TableScan {
    /// Internal keys (user key + 8-byte tag) and values, in order.
    pub entries: Vec<BlockEntry>,
    /// Every unreadable part.
    pub problems: Vec<TableProblem>,
    /// Data blocks the index names.
    pub blocks: usize,
}

/// Reads and checks a whole table: footer, index, and every data block.
pub fn scan(bytes: &[u8]) -> TableScan {
    let mut out = TableScan::default();
    let whole = |reason: String| TableProblem {
        offset: 0,
        len: bytes.len() as u64,
        reason,
        key_range: None,
    };
    if bytes.len() < FOOTER_SIZE {
        out.problems.push(whole(format!(
            "file too short for a table ({} bytes)",
            bytes.len()
        )));
        return out;
    }
    let footer = &bytes[bytes.len() - FOOTER_SIZE..];
    let (_, index) = match decode_footer(footer, bytes.len() as u64) {
        Ok(h) => h,
        Err(e) => {
            out.problems.push(whole(e));
            return out;
        }
    };
    let raw =
        |h: BlockHandle| &bytes[h.offset as usize..(h.offset + h.size) as usize + TRAILER_SIZE];
    let index_entries = match decode_block(raw(index)).and_then(|b| block_entries(&b)) {
        Ok(e) => e,
        Err(e) => {
            out.problems.push(TableProblem {
                offset: index.offset,
                len: index.size + TRAILER_SIZE as u64,
                reason: format!("index block: {e}"),
                key_range: None,
            });
            return out;
        }
    };
    let body = (bytes.len() - FOOTER_SIZE) as u64;
    let mut previous: Vec<u8> = Vec::new();
    for (separator, handle) in index_entries {
        out.blocks += 1;
        let range = Some((user_key(&previous).to_vec(), user_key(&separator).to_vec()));
        let mut h = &handle[..];
        let block = match BlockHandle::decode(&mut h) {
            Some(b) if b.offset + b.size + TRAILER_SIZE as u64 <= body => decode_block(raw(b))
                .and_then(|d| block_entries(&d))
                .map_err(|e| (b, e)),
            Some(b) => Err((b, "index entry points outside the file")),
            None => Err((BlockHandle { offset: 0, size: 0 }, "unreadable index entry")),
        };
        match block {
            Ok(entries) => out.entries.extend(entries),
            Err((b, e)) => out.problems.push(TableProblem {
                offset: b.offset,
                len: b.size + TRAILER_SIZE as u64,
                reason: e.to_owned(),
                key_range: range,
            }),
        }
        previous = separator;
    }
    out
}
