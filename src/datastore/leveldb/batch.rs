//! The write batch: what one journal record holds. An 8-byte sequence number (of the first
//! operation), a 4-byte count, then each operation as a tag byte (1 put, 0 delete), the
//! length-prefixed key and, for a put, the length-prefixed value. Twin of C++ LevelDB's
//! `db/write_batch.cc` and goleveldb's `leveldb/batch.go`.

use super::coding::{put_prefixed, take_prefixed};
use super::dbformat::{KIND_DELETION, KIND_VALUE};
use crate::datastore::Op;

/// The size of a batch's header (sequence number and count).
pub const HEADER_SIZE: usize = 12;

/// One operation of a journal batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOp {
    /// A put of a key and value.
    Put(Vec<u8>, Vec<u8>),
    /// A deletion of a key.
    Delete(Vec<u8>),
}

/// A journal record: a write batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalBatch {
    /// The sequence number of the first operation.
    pub seq: u64,
    /// The puts and deletes, in order.
    pub ops: Vec<BatchOp>,
}

impl JournalBatch {
    /// The sequence number of the last operation.
    pub fn last_seq(&self) -> u64 {
        self.seq + (self.ops.len() as u64).saturating_sub(1)
    }
}

/// Encodes datastore operations as one batch starting at sequence `seq` into `out` (cleared
/// first); returns how many operations it holds.
pub fn encode<'a>(out: &mut Vec<u8>, seq: u64, ops: impl Iterator<Item = &'a Op>) -> u32 {
    out.clear();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let mut count = 0u32;
    for op in ops {
        match op {
            Op::Put(k, v) => {
                out.push(KIND_VALUE);
                put_prefixed(out, k.as_bytes());
                put_prefixed(out, v);
            }
            Op::Delete(k) => {
                out.push(KIND_DELETION);
                put_prefixed(out, k.as_bytes());
            }
        }
        count += 1;
    }
    out[8..12].copy_from_slice(&count.to_le_bytes());
    count
}

/// One operation of an encoded batch, borrowed from it: kind, key and value (empty for a
/// deletion).
pub type RawOp<'a> = (u8, &'a [u8], &'a [u8]);

/// The sequence number and operations of an encoded batch, borrowed from it.
pub fn decode_raw(data: &[u8]) -> Result<(u64, Vec<RawOp<'_>>), &'static str> {
    if data.len() < HEADER_SIZE {
        return Err("batch shorter than its 12-byte header");
    }
    let seq = u64::from_le_bytes(data[0..8].try_into().expect("8 bytes"));
    let count = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes")) as usize;
    let mut rest = &data[HEADER_SIZE..];
    let mut ops = Vec::with_capacity(count.min(1 << 16));
    while !rest.is_empty() {
        let kind = rest[0];
        rest = &rest[1..];
        let key = take_prefixed(&mut rest).ok_or("batch entry key runs past the record")?;
        match kind {
            KIND_VALUE => {
                let value =
                    take_prefixed(&mut rest).ok_or("batch entry value runs past the record")?;
                ops.push((KIND_VALUE, key, value));
            }
            KIND_DELETION => ops.push((KIND_DELETION, key, &[][..])),
            _ => return Err("unknown batch entry tag"),
        }
    }
    if ops.len() != count {
        return Err("batch count does not match its entries");
    }
    Ok((seq, ops))
}

/// Decodes a write batch into owned operations.
pub fn decode_batch(data: &[u8]) -> Result<JournalBatch, &'static str> {
    let (seq, raw) = decode_raw(data)?;
    let ops = raw
        .into_iter()
        .map(|(kind, k, v)| match kind {
            KIND_VALUE => BatchOp::Put(k.to_vec(), v.to_vec()),
            _ => BatchOp::Delete(k.to_vec()),
        })
        .collect();
    Ok(JournalBatch { seq, ops })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::Key;

    #[test]
    fn batches_decode() {
        let mut data = 7u64.to_le_bytes().to_vec();
        data.extend_from_slice(&2u32.to_le_bytes());
        data.extend_from_slice(&[1, 1, b'k', 2, b'v', b'w', 0, 1, b'x']);
        let batch = decode_batch(&data).unwrap();
        assert_eq!(batch.seq, 7);
        assert_eq!(batch.last_seq(), 8);
        assert_eq!(
            batch.ops,
            vec![
                BatchOp::Put(b"k".to_vec(), b"vw".to_vec()),
                BatchOp::Delete(b"x".to_vec())
            ]
        );
        assert!(decode_batch(&data[..data.len() - 1]).is_err());
    }

    #[test]
    fn encoded_batches_decode_to_their_ops() {
        let ops = [
            Op::Put(Key::new("/a"), b"1".to_vec()),
            Op::Delete(Key::new("/b")),
            Op::Put(Key::new("/c"), Vec::new()),
        ];
        let mut out = Vec::new();
        assert_eq!(encode(&mut out, 42, ops.iter()), 3);
        let batch = decode_batch(&out).unwrap();
        assert_eq!(batch.seq, 42);
        assert_eq!(
            batch.ops,
            vec![
                BatchOp::Put(b"/a".to_vec(), b"1".to_vec()),
                BatchOp::Delete(b"/b".to_vec()),
                BatchOp::Put(b"/c".to_vec(), Vec::new()),
            ]
        );
    }
}
