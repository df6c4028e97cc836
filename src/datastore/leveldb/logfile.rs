//! LevelDB's log format, read and checked by us: the journal (`NNNNNN.log`) and the MANIFEST
//! share it. The file is a sequence of 32 KiB blocks; each physical record is a 7-byte header
//! (masked CRC32C of type and payload, little-endian length, type) and its payload; a logical
//! record is one FULL record or a FIRST, MIDDLEs and a LAST. Fewer than 7 bytes left in a block
//! are zero padding.
//!
//! The reader finds every readable record and every damaged range, so the caller can tell a
//! torn tail (a crash during an append) from damage in the middle; [`LogWriter`] lays records
//! out as both LevelDBs write them. Twin of C++ LevelDB's `db/log_reader.cc` and
//! `db/log_writer.cc`, goleveldb's `leveldb/journal/journal.go`.

/// The log format's block size.
pub const BLOCK_SIZE: usize = 32 * 1024;
/// The size of a physical record's header.
pub const HEADER_SIZE: usize = 7;

const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;

const MASK_DELTA: u32 = 0xa282_ead8;

/// LevelDB's masked CRC32C, as stored in log records and table block trailers.
pub fn masked_crc(parts: &[&[u8]]) -> u32 {
    let mut crc = 0;
    for part in parts {
        crc = crc32c::crc32c_append(crc, part);
    }
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// One logical record and the offset of its first physical record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where the record starts in the file.
    pub offset: u64,
    /// The record's payload.
    pub data: Vec<u8>,
}

/// A byte range that could not be read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRange {
    /// Where the damage starts.
    pub offset: u64,
    /// How many bytes it covers.
    pub len: u64,
    /// What is wrong.
    pub reason: &'static str,
}

impl BadRange {
    /// Damage an append cut short leaves (by the end of the file, or zero-filled space the file
    /// system left), not bytes that fail their checksum.
    pub fn is_cut_short(&self) -> bool {
        matches!(
            self.reason,
            "record cut short by the end of the file"
                | "truncated record header"
                | "zero-filled space"
        )
    }
}

/// What a whole log file holds.
#[derive(Clone, Debug, Default)]
pub struct LogScan {
    /// Every readable logical record, in order.
    pub records: Vec<Record>,
    /// Every unreadable byte range, in order.
    pub bad: Vec<BadRange>,
    /// The end of the last good logical record: a clean file ends here.
    pub good_len: u64,
    /// The file's length.
    pub file_len: u64,
}

impl LogScan {
    /// Damage exists, and no readable record follows it: what a crash during an append leaves
    /// (the writer died part-way through a record). Everything from `good_len` on is unreadable.
    pub fn is_torn_tail(&self) -> bool {
        !self.bad.is_empty() && self.bad.iter().all(|b| b.offset >= self.good_len)
    }

    /// A torn tail made only by an append cut short (by the end of the file, or zero-filled
    /// space the file system left), not by bytes that fail their checksum: the only tail a
    /// MANIFEST, synced after every edit, may have.
    pub fn is_cut_short_tail(&self) -> bool {
        self.is_torn_tail() && self.bad.iter().all(BadRange::is_cut_short)
    }

    /// The file is readable to its end.
    pub fn is_clean(&self) -> bool {
        self.bad.is_empty()
    }

    /// The first damaged range that has readable records behind it, if any.
    pub fn first_damage_in_middle(&self) -> Option<&BadRange> {
        self.bad.iter().find(|b| b.offset < self.good_len)
    }
}

/// Reads every record of a log file's bytes.
pub fn scan(bytes: &[u8]) -> LogScan {
    let mut out = LogScan {
        file_len: bytes.len() as u64,
        ..LogScan::default()
    };
    // The logical record being assembled: its start offset and payload.
    let mut pending: Option<(usize, Vec<u8>)> = None;
    let mut pos = 0usize;
    let bad = |out: &mut LogScan, offset: usize, end: usize, reason| {
        out.bad.push(BadRange {
            offset: offset as u64,
            len: (end - offset) as u64,
            reason,
        })
    };
    while pos < bytes.len() {
        let block_end = (pos / BLOCK_SIZE + 1) * BLOCK_SIZE;
        let block_left = block_end - pos;
        if block_left < HEADER_SIZE {
            // The block's zero trailer.
            pos = block_end;
            continue;
        }
        if bytes.len() - pos < HEADER_SIZE {
            let start = pending.take().map_or(pos, |(s, _)| s);
            bad(&mut out, start, bytes.len(), "truncated record header");
            break;
        }
        let header = &bytes[pos..pos + HEADER_SIZE];
        let crc = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let len = u16::from_le_bytes([header[4], header[5]]) as usize;
        let typ = header[6];
        let body_start = pos + HEADER_SIZE;
        let body_end = body_start + len;
        let problem = if crc == 0 && len == 0 && typ == 0 {
            Some("zero-filled space")
        } else if !(FULL..=LAST).contains(&typ) {
            Some("unknown record type")
        } else if body_end > block_end {
            Some("record length runs past its block")
        } else if body_end > bytes.len() {
            Some("record cut short by the end of the file")
        } else if masked_crc(&[&[typ], &bytes[body_start..body_end]]) != crc {
            Some("checksum mismatch")
        } else {
            None
        };
        if let Some(reason) = problem {
            // A checksum mismatch with a length that fits: the next record may start right
            // behind this one (if the length itself was hit, the next header fails its own
            // check). Otherwise nothing in the rest of the block can be trusted: resynchronise
            // at the next block, as LevelDB does.
            let start = pending.take().map_or(pos, |(s, _)| s);
            let end = if reason == "checksum mismatch" {
                body_end
            } else {
                block_end.min(bytes.len())
            };
            bad(&mut out, start, end, reason);
            pos = end;
            continue;
        }
        let body = &bytes[body_start..body_end];
        pos = body_end;
        match typ {
            FULL | FIRST => {
                if let Some((start, _)) = pending.take() {
                    bad(
                        &mut out,
                        start,
                        body_start - HEADER_SIZE,
                        "record without its end",
                    );
                }
                if typ == FULL {
                    out.records.push(Record {
                        offset: (body_start - HEADER_SIZE) as u64,
                        data: body.to_vec(),
                    });
                    out.good_len = pos as u64;
                } else {
                    pending = Some((body_start - HEADER_SIZE, body.to_vec()));
                }
            }
            _ => match pending.as_mut() {
                None => bad(
                    &mut out,
                    body_start - HEADER_SIZE,
                    body_end,
                    "record part without its start",
                ),
                Some((start, data)) => {
                    data.extend_from_slice(body);
                    if typ == LAST {
                        let start = *start;
                        let (_, data) = pending.take().expect("pending record");
                        out.records.push(Record {
                            offset: start as u64,
                            data,
                        });
                        out.good_len = pos as u64;
                    }
                }
            },
        }
    }
    if let Some((start, _)) = pending {
        bad(
            &mut out,
            start,
            bytes.len(),
            "record cut short by the end of the file",
        );
    }
    // Adjacent ranges from one stretch of damage read better as one.
    out.bad.dedup_by(|next, prev| {
        if prev.offset + prev.len == next.offset && prev.reason == next.reason {
            prev.len += next.len;
            true
        } else {
            false
        }
    });
    out
}

/// Encodes logical records as a log file, as LevelDB's writer does.
pub fn encode(records: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = LogWriter::new(0);
    for data in records {
        writer.append(data, &mut out);
    }
    out
}

/// Lays out logical records as the log writer of C++ LevelDB (`db/log_writer.cc`) and
/// goleveldb (`journal.Writer`) do, for a file it appends to: it tracks where in its 32 KiB
/// block the file ends.
#[derive(Clone, Debug)]
pub struct LogWriter {
    block_offset: usize,
}

impl LogWriter {
    /// A writer for a file that is `len` bytes long.
    pub fn new(len: u64) -> LogWriter {
        LogWriter {
            block_offset: (len % BLOCK_SIZE as u64) as usize,
        }
    }

    /// Appends the physical records of one logical record to `out`: the bytes to append to
    /// the file, in one write.
    pub fn append(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut rest = data;
        let mut first = true;
        loop {
            let left = BLOCK_SIZE - self.block_offset;
            if left < HEADER_SIZE {
                // Too little room for a header: the block's zero trailer.
                out.resize(out.len() + left, 0);
                self.block_offset = 0;
                continue;
            }
            let n = rest.len().min(left - HEADER_SIZE);
            let last = n == rest.len();
            let typ = match (first, last) {
                (true, true) => FULL,
                (true, false) => FIRST,
                (false, true) => LAST,
                (false, false) => MIDDLE,
            };
            let (chunk, tail) = rest.split_at(n);
            out.extend_from_slice(&masked_crc(&[&[typ], chunk]).to_le_bytes());
            out.extend_from_slice(&(n as u16).to_le_bytes());
            out.push(typ);
            out.extend_from_slice(chunk);
            self.block_offset += HEADER_SIZE + n;
            rest = tail;
            first = false;
            if last {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize, size: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![i as u8; size + i % 7]).collect()
    }

    fn encoded(recs: &[Vec<u8>]) -> Vec<u8> {
        encode(&recs.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    #[test]
    fn encode_then_scan_round_trips_across_blocks() {
        let recs = records(40, 3000);
        let bytes = encoded(&recs);
        assert!(bytes.len() > 3 * BLOCK_SIZE);
        let scan = scan(&bytes);
        assert!(scan.is_clean());
        assert_eq!(scan.good_len, bytes.len() as u64);
        let got: Vec<_> = scan.records.into_iter().map(|r| r.data).collect();
        assert_eq!(got, recs);
    }

    #[test]
    fn records_appended_one_at_a_time_read_back_as_written() {
        let recs = records(30, 5000);
        let mut writer = LogWriter::new(0);
        let mut file = Vec::new();
        for r in &recs {
            let mut out = Vec::new();
            writer.append(r, &mut out);
            file.extend_from_slice(&out);
            // A writer picking up an existing file continues its block layout.
            writer = LogWriter::new(file.len() as u64);
        }
        assert_eq!(file, encoded(&recs));
        let got: Vec<_> = scan(&file).records.into_iter().map(|r| r.data).collect();
        assert_eq!(got, recs);
    }

    #[test]
    fn a_cut_anywhere_is_a_torn_tail() {
        let recs = records(30, 2500);
        let bytes = encoded(&recs);
        for cut in (1..bytes.len()).step_by(997) {
            let scan = scan(&bytes[..cut]);
            if cut as u64 == scan.good_len {
                continue;
            }
            assert!(scan.is_torn_tail(), "cut at {cut}");
            assert!(scan.first_damage_in_middle().is_none());
            for r in &scan.records {
                assert!(r.offset < scan.good_len);
            }
        }
    }

    #[test]
    fn a_flip_with_records_behind_it_is_damage_in_the_middle() {
        let recs = records(60, 2000);
        let mut bytes = encoded(&recs);
        let at = bytes.len() / 10;
        bytes[at] ^= 0x40;
        let scan = scan(&bytes);
        let damage = scan.first_damage_in_middle().expect("damage found");
        assert!(damage.offset as usize <= at && at < (damage.offset + damage.len) as usize);
        assert!(!scan.is_torn_tail());
        // Everything outside the damaged block is still read.
        assert!(scan.records.len() >= recs.len() - 17);
    }

    #[test]
    fn a_flip_in_the_last_record_is_a_torn_tail() {
        let recs = records(10, 100);
        let mut bytes = encoded(&recs);
        let n = bytes.len();
        bytes[n - 3] ^= 1;
        let scan = scan(&bytes);
        assert!(scan.is_torn_tail());
        assert_eq!(scan.records.len(), 9);
    }
}
