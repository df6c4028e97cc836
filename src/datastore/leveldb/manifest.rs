//! The MANIFEST: a log of version edits that says which tables are live, which journal is
//! current and the last sequence number that tables hold. Decoded by us to check a directory
//! before the engine sees it, and to tell whether goleveldb would replay its journals in full.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::coding::{put_prefixed, put_varint, take_prefixed, take_varint};
use super::filter::TableKeys;

/// A table file named by the MANIFEST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableFile {
    /// The level the table is on.
    pub level: u64,
    /// The table's file number.
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Smallest and largest internal keys (user key + 8-byte tag).
    pub smallest: Vec<u8>,
    /// The largest internal key.
    pub largest: Vec<u8>,
}

/// The database state a MANIFEST describes once all its edits are applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The comparator's name (`leveldb.BytewiseComparator`).
    pub comparator: Option<String>,
    /// The current journal's number: journals from it on are replayed.
    pub log_number: Option<u64>,
    /// A previous journal still to be replayed (0 or absent: none).
    pub prev_log_number: Option<u64>,
    /// The next unused file number.
    pub next_file_number: Option<u64>,
    /// The last sequence number the tables hold.
    pub last_sequence: Option<u64>,
    /// Live tables by file number.
    pub tables: BTreeMap<u64, TableFile>,
    /// The last compaction pointer (an internal key) of each level.
    pub compact_pointers: BTreeMap<u64, Vec<u8>>,
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

    /// The comparator the MANIFEST names when it is not LevelDB's bytewise one (which every
    /// reader here assumes).
    pub fn foreign_comparator(&self) -> Option<&str> {
        self.comparator
            .as_deref()
            .filter(|c| *c != "leveldb.BytewiseComparator")
    }

    /// Applies one version edit: its deletions first, then its additions, as LevelDB's version
    /// builder does. A table added twice is one table (goleveldb's MANIFESTs do that).
    pub fn apply(&mut self, mut edit: &[u8]) -> Result<(), &'static str> {
        let rest = &mut edit;
        let num = |rest: &mut &[u8]| take_varint(rest).ok_or("truncated number");
        let mut deleted = Vec::new();
        let mut added = Vec::new();
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
                    let level = num(rest)?;
                    let key = take_prefixed(rest).ok_or("truncated compaction pointer")?;
                    self.compact_pointers.insert(level, key.to_vec());
                }
                6 => {
                    num(rest)?;
                    deleted.push(num(rest)?);
                }
                7 => {
                    let level = num(rest)?;
                    let number = num(rest)?;
                    let size = num(rest)?;
                    let smallest = take_prefixed(rest)
                        .ok_or("truncated smallest key")?
                        .to_vec();
                    let largest = take_prefixed(rest).ok_or("truncated largest key")?.to_vec();
                    added.push(TableFile {
                        level,
                        number,
                        size,
                        smallest,
                        largest,
                    });
                }
                9 => self.prev_log_number = Some(num(rest)?),
                _ => return Err("unknown version edit tag"),
            }
        }
        for number in deleted {
            self.tables.remove(&number);
        }
        for table in added {
            self.tables.insert(table.number, table);
        }
        Ok(())
    }

    /// The whole state as one version edit: what a fresh MANIFEST holds.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        VersionEdit {
            comparator: self.comparator.clone(),
            log_number: self.log_number,
            prev_log_number: self.prev_log_number,
            next_file_number: self.next_file_number,
            last_sequence: self.last_sequence,
            compact_pointers: self
                .compact_pointers
                .iter()
                .map(|(l, k)| (*l, k.clone()))
                .collect(),
            deleted: Vec::new(),
            added: self.tables.values().cloned().collect(),
            key_filters: Vec::new(),
        }
        .encode()
    }

    /// Journals a goleveldb open replays: number >= the log number, or the previous log number.
    pub fn replays_journal(&self, number: u64) -> bool {
        let log = self.log_number.unwrap_or(0);
        number >= log || (number != 0 && Some(number) == self.prev_log_number)
    }
}

/// One version edit: what changed in the database's state. Twin of C++ LevelDB's
/// `db/version_edit.cc` and goleveldb's `leveldb/session_record.go`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// The comparator's name (in a MANIFEST's first edit).
    pub comparator: Option<String>,
    /// The journal from which on journals hold writes not yet in tables.
    pub log_number: Option<u64>,
    /// A previous journal still to be replayed (C++ LevelDB before 1.2 wrote it).
    pub prev_log_number: Option<u64>,
    /// The next unused file number.
    pub next_file_number: Option<u64>,
    /// The last sequence number the tables hold.
    pub last_sequence: Option<u64>,
    /// Compaction pointers set: level and internal key.
    pub compact_pointers: Vec<(u64, Vec<u8>)>,
    /// Tables removed: level and number.
    pub deleted: Vec<(u64, u64)>,
    /// Tables added.
    pub added: Vec<TableFile>,
    /// In memory only, never encoded: the key filters of added tables this process wrote, by
    /// table number, for the version the edit makes.
    pub key_filters: Vec<(u64, Arc<TableKeys>)>,
}

impl VersionEdit {
    /// The edit as a MANIFEST record, its fields in the order LevelDB writes them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let number = |out: &mut Vec<u8>, tag: u64, v: u64| {
            put_varint(out, tag);
            put_varint(out, v);
        };
        if let Some(c) = &self.comparator {
            put_varint(&mut out, 1);
            put_prefixed(&mut out, c.as_bytes());
        }
        if let Some(v) = self.log_number {
            number(&mut out, 2, v);
        }
        if let Some(v) = self.prev_log_number {
            number(&mut out, 9, v);
        }
        if let Some(v) = self.next_file_number {
            number(&mut out, 3, v);
        }
        if let Some(v) = self.last_sequence {
            number(&mut out, 4, v);
        }
        for (level, key) in &self.compact_pointers {
            number(&mut out, 5, *level);
            put_prefixed(&mut out, key);
        }
        for (level, n) in &self.deleted {
            number(&mut out, 6, *level);
            put_varint(&mut out, *n);
        }
        for t in &self.added {
            number(&mut out, 7, t.level);
            put_varint(&mut out, t.number);
            put_varint(&mut out, t.size);
            put_prefixed(&mut out, &t.smallest);
            put_prefixed(&mut out, &t.largest);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64, out: &mut Vec<u8>) {
        put_varint(out, v);
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
        // The snapshot says the same in one edit.
        let again = Manifest::from_edits([m.encode_snapshot().as_slice()]).unwrap();
        assert_eq!(again, m);
        // goleveldb names a new table in its snapshot and again in the edit: one table.
        let twice = Manifest::from_edits([a.as_slice(), a.as_slice()]).unwrap();
        assert_eq!(twice.tables.len(), 2);
        // A delta edit applies as its fields say.
        let delta = VersionEdit {
            log_number: Some(9),
            deleted: vec![(0, 7)],
            compact_pointers: vec![(1, b"k".to_vec())],
            ..VersionEdit::default()
        };
        let mut m = twice;
        m.apply(&delta.encode()).unwrap();
        assert_eq!(m.log_number, Some(9));
        assert_eq!(m.tables.keys().copied().collect::<Vec<_>>(), vec![6]);
        assert_eq!(m.compact_pointers.get(&1), Some(&b"k".to_vec()));
    }
}
