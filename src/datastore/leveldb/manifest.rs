//! The MANIFEST: a log of version edits that says which tables are live, which journal is
//! current and the last sequence number that tables hold. Decoded by us to check a directory
//! before the engine sees it, and to tell whether goleveldb would replay its journals in full.

use std::collections::BTreeMap;

use super::logfile::{take_prefixed, take_varint};

/// A table file named by the MANIFEST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableFile {
    pub level: u64,
    pub number: u64,
    pub size: u64,
    /// Smallest and largest internal keys (user key + 8-byte tag).
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
}

/// The database state a MANIFEST describes once all its edits are applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub comparator: Option<String>,
    pub log_number: Option<u64>,
    pub prev_log_number: Option<u64>,
    pub next_file_number: Option<u64>,
    pub last_sequence: Option<u64>,
    /// Live tables by file number.
    pub tables: BTreeMap<u64, TableFile>,
}

impl Manifest {
    /// Applies the edits (each one MANIFEST record) in order.
    pub fn from_edits<'a>(edits: impl IntoIterator<Item = &'a [u8]>) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (i, edit) in edits.into_iter().enumerate() {
            m.apply(edit)
                .map_err(|e| format!("version edit {i}: {e}"))?;
        }
        Ok(m)
    }

    fn apply(&mut self, mut edit: &[u8]) -> Result<(), &'static str> {
        let rest = &mut edit;
        let num = |rest: &mut &[u8]| take_varint(rest).ok_or("truncated number");
        while !rest.is_empty() {
            match num(rest)? {
                1 => {
                    let name = take_prefixed(rest).ok_or("truncated comparator name")?;
                    self.comparator = Some(String::from_utf8_lossy(name).into_owned());
                }
                2 => self.log_number = Some(num(rest)?),
                3 => self.next_file_number = Some(num(rest)?),
                4 => self.last_sequence = Some(num(rest)?),
                5 => {
                    num(rest)?;
                    take_prefixed(rest).ok_or("truncated compaction pointer")?;
                }
                6 => {
                    num(rest)?;
                    let number = num(rest)?;
                    self.tables.remove(&number);
                }
                7 => {
                    let level = num(rest)?;
                    let number = num(rest)?;
                    let size = num(rest)?;
                    let smallest = take_prefixed(rest)
                        .ok_or("truncated smallest key")?
                        .to_vec();
                    let largest = take_prefixed(rest).ok_or("truncated largest key")?.to_vec();
                    self.tables.insert(
                        number,
                        TableFile {
                            level,
                            number,
                            size,
                            smallest,
                            largest,
                        },
                    );
                }
                9 => self.prev_log_number = Some(num(rest)?),
                _ => return Err("unknown version edit tag"),
            }
        }
        Ok(())
    }

    /// Journals a goleveldb open replays: number >= the log number, or the previous log number.
    pub fn replays_journal(&self, number: u64) -> bool {
        let log = self.log_number.unwrap_or(0);
        number >= log || (number != 0 && Some(number) == self.prev_log_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    #[test]
    fn edits_apply_in_order() {
        let mut a = Vec::new();
        a.push(1);
        varint(26, &mut a);
        a.extend_from_slice(b"leveldb.BytewiseComparator");
        for (tag, v) in [(2, 5), (3, 9), (4, 300)] {
            varint(tag, &mut a);
            varint(v, &mut a);
        }
        for (number, key) in [(6u64, b"a"), (7, b"b")] {
            varint(7, &mut a);
            varint(0, &mut a);
            varint(number, &mut a);
            varint(100, &mut a);
            varint(9, &mut a);
            a.extend_from_slice(key);
            a.extend_from_slice(&[0; 8]);
            varint(9, &mut a);
            a.extend_from_slice(key);
            a.extend_from_slice(&[0; 8]);
        }
        let mut b = Vec::new();
        varint(6, &mut b);
        varint(0, &mut b);
        varint(6, &mut b);
        varint(4, &mut b);
        varint(301, &mut b);
        let m = Manifest::from_edits([a.as_slice(), b.as_slice()]).unwrap();
        assert_eq!(m.comparator.as_deref(), Some("leveldb.BytewiseComparator"));
        assert_eq!(m.log_number, Some(5));
        assert_eq!(m.last_sequence, Some(301));
        assert_eq!(m.tables.keys().copied().collect::<Vec<_>>(), vec![7]);
        assert!(m.replays_journal(5) && m.replays_journal(8) && !m.replays_journal(4));
        assert!(Manifest::from_edits([&[7u8, 0][..]]).is_err());
    }
}
