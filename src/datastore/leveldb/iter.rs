//! Iterators over internal keys: the trait every source implements (memtables, tables, a
//! level's tables one after another), and the merging iterator that reads several sources as
//! one sorted sequence, for compactions and range queries. Twin of C++ LevelDB's
//! `table/merger.cc` and goleveldb's `leveldb/iterator/merged_iter.go`.

use super::dbformat::{self, user_key};
use super::error::DbResult;
use super::memtable::MemIter;

/// A sorted source of internal keys and values.
pub trait InternalIter {
    /// Whether the iterator is at an entry.
    fn valid(&self) -> bool;
    /// Moves to the first entry.
    fn seek_to_first(&mut self) -> DbResult<()>;
    /// Moves to the first entry at or after the internal key `target`.
    fn seek(&mut self, target: &[u8]) -> DbResult<()>;
    /// Moves to the next entry.
    fn next(&mut self) -> DbResult<()>;
    /// The current internal key.
    fn key(&self) -> &[u8];
    /// The current value.
    fn value(&self) -> &[u8];
    /// Moves past every entry of user key `user` (the current entry's or a smaller one).
    /// Tables override it to skip whole blocks of older versions unread.
    fn skip_user_key(&mut self, user: &[u8]) -> DbResult<()> {
        while self.valid() && user_key(self.key()) <= user {
            self.next()?;
        }
        Ok(())
    }
}

impl InternalIter for MemIter<'_> {
    fn valid(&self) -> bool {
        MemIter::valid(self)
    }
    fn seek_to_first(&mut self) -> DbResult<()> {
        MemIter::seek_to_first(self);
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> DbResult<()> {
        MemIter::seek(self, target);
        Ok(())
    }
    fn next(&mut self) -> DbResult<()> {
        MemIter::next(self);
        Ok(())
    }
    fn key(&self) -> &[u8] {
        MemIter::key(self)
    }
    fn value(&self) -> &[u8] {
        MemIter::value(self)
    }
}

/// Several sources read as one, in internal-key order. With the few sources a read or a
/// compaction has (memtables, level-0 tables, one per deeper level), finding the smallest
/// by a linear pass is as fast as a heap.
pub struct MergingIter<'a> {
    children: Vec<Box<dyn InternalIter + 'a>>,
    current: Option<usize>,
}

impl<'a> MergingIter<'a> {
    /// The merge of `children`.
    pub fn new(children: Vec<Box<dyn InternalIter + 'a>>) -> MergingIter<'a> {
        MergingIter {
            children,
            current: None,
        }
    }

    fn find_smallest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            match best {
                Some(b) if dbformat::compare(c.key(), self.children[b].key()).is_ge() => {}
                _ => best = Some(i),
            }
        }
        self.current = best;
    }
}

impl InternalIter for MergingIter<'_> {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) -> DbResult<()> {
        for c in &mut self.children {
            c.seek_to_first()?;
        }
        self.find_smallest();
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> DbResult<()> {
        for c in &mut self.children {
            c.seek(target)?;
        }
        self.find_smallest();
        Ok(())
    }

    fn next(&mut self) -> DbResult<()> {
        if let Some(i) = self.current {
            self.children[i].next()?;
            self.find_smallest();
        }
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.current.map_or(&[], |i| self.children[i].key())
    }

    fn value(&self) -> &[u8] {
        self.current.map_or(&[], |i| self.children[i].value())
    }

    fn skip_user_key(&mut self, user: &[u8]) -> DbResult<()> {
        for c in &mut self.children {
            if c.valid() && user_key(c.key()) <= user {
                c.skip_user_key(user)?;
            }
        }
        self.find_smallest();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::leveldb::dbformat::KIND_VALUE;
    use crate::datastore::leveldb::memtable::Memtable;

    #[test]
    fn merged_sources_come_out_in_internal_key_order() {
        let (a, b) = (Memtable::new(), Memtable::new());
        a.insert(b"k1", 1, KIND_VALUE, b"a1");
        a.insert(b"k3", 3, KIND_VALUE, b"a3");
        b.insert(b"k1", 5, KIND_VALUE, b"b5");
        b.insert(b"k2", 4, KIND_VALUE, b"b4");
        let mut m = MergingIter::new(vec![Box::new(a.iter()), Box::new(b.iter())]);
        m.seek_to_first().unwrap();
        let mut seen = Vec::new();
        while m.valid() {
            seen.push(m.value().to_vec());
            m.next().unwrap();
        }
        assert_eq!(seen, [&b"b5"[..], b"a1", b"b4", b"a3"]);
        m.seek_to_first().unwrap();
        m.skip_user_key(b"k1").unwrap();
        assert_eq!(m.value(), b"b4");
    }
}
