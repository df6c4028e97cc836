//! Versions: the immutable set of live tables, level by level. A read pins one version (an
//! `Arc`) and the tables it names stay on disk until no pinned version names them. A version
//! edit makes the next version; the compaction score says which level most needs a compaction.
//! Twin of C++ LevelDB's `db/version_set.cc` (`Version`, `VersionSet::Builder`, `Finalize`) and
//! goleveldb's `leveldb/version.go`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::dbformat::{self, user_key};
use super::error::DbResult;
use super::filter::TableKeys;
use super::manifest::{Manifest, TableFile, VersionEdit};
use super::memtable::Lookup;
use super::table_cache::TableCache;

/// Levels of tables, as in LevelDB.
pub const NUM_LEVELS: usize = 7;
/// Level-0 tables that start a compaction (LevelDB's `kL0_CompactionTrigger`).
pub const L0_COMPACTION_TRIGGER: usize = 4;

/// A live table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// The table's file number.
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The smallest internal key.
    pub smallest: Vec<u8>,
    /// The largest internal key.
    pub largest: Vec<u8>,
    /// The filter of its user keys, for a table this process wrote (in memory only).
    pub keys: Option<Arc<TableKeys>>,
}

impl FileMeta {
    /// The table as a MANIFEST names it (no key filter: tables named there were written by an
    /// earlier process, or by another implementation).
    pub fn from_table_file(t: &TableFile) -> FileMeta {
        FileMeta {
            number: t.number,
            size: t.size,
            smallest: t.smallest.clone(),
            largest: t.largest.clone(),
            keys: None,
        }
    }

    /// Adds the table to `edit` on `level`, with its key filter.
    pub fn add_to(&self, edit: &mut VersionEdit, level: usize) {
        edit.added.push(self.to_table_file(level));
        if let Some(k) = &self.keys {
            edit.key_filters.push((self.number, k.clone()));
        }
    }

    /// False only if the table holds no entry of the key whose [`TableKeys::hash`] is `h`
    /// (its key filter says so).
    pub fn may_hold(&self, h: u32) -> bool {
        self.keys.as_ref().is_none_or(|k| k.may_hold_hash(h))
    }

    /// The table as a MANIFEST names it, on `level`.
    pub fn to_table_file(&self, level: usize) -> TableFile {
        TableFile {
            level: level as u64,
            number: self.number,
            size: self.size,
            smallest: self.smallest.clone(),
            largest: self.largest.clone(),
        }
    }

    /// Whether the table's user-key range meets `[begin, end]` (`None`: unbounded).
    pub fn overlaps(&self, begin: Option<&[u8]>, end: Option<&[u8]>) -> bool {
        !(begin.is_some_and(|b| user_key(&self.largest) < b)
            || end.is_some_and(|e| user_key(&self.smallest) > e))
    }
}

/// The most bytes a level may hold before it needs a compaction: 10 MiB for level 1, ten times
/// more for each level below (LevelDB's `MaxBytesForLevel`).
pub fn max_bytes_for_level(level: usize) -> f64 {
    let mut bytes = 10.0 * 1_048_576.0;
    for _ in 1..level.max(1) {
        bytes *= 10.0;
    }
    bytes
}

/// The live tables by level: level 0 newest (highest number) first, the others by key.
#[derive(Clone, Debug)]
pub struct Version {
    /// The tables of each level.
    pub levels: Vec<Vec<Arc<FileMeta>>>,
    /// The highest compaction score (>= 1: a compaction is due), and its level.
    pub compaction_score: f64,
    /// The level with that score.
    pub compaction_level: usize,
}

impl Version {
    /// A version without tables.
    pub fn empty() -> Version {
        let mut v = Version {
            levels: vec![Vec::new(); NUM_LEVELS],
            compaction_score: 0.0,
            compaction_level: 0,
        };
        v.finalize();
        v
    }

    /// The version a MANIFEST describes.
    pub fn from_manifest(m: &Manifest) -> Version {
        let mut v = Version::empty();
        for t in m.tables.values() {
            let level = (t.level as usize).min(NUM_LEVELS - 1);
            v.levels[level].push(Arc::new(FileMeta::from_table_file(t)));
        }
        v.sort();
        v.finalize();
        v
    }

    fn sort(&mut self) {
        for (level, files) in self.levels.iter_mut().enumerate() {
            if level == 0 {
                files.sort_by_key(|f| std::cmp::Reverse(f.number));
            } else {
                files.sort_by(|a, b| {
                    dbformat::compare(&a.smallest, &b.smallest).then(a.number.cmp(&b.number))
                });
            }
        }
    }

    /// The version after `edit`: its deletions, then its additions, as LevelDB's builder
    /// applies them (a table added twice is one table).
    pub fn apply(&self, edit: &VersionEdit) -> Version {
        let mut levels: Vec<BTreeMap<u64, Arc<FileMeta>>> = self
            .levels
            .iter()
            .map(|files| files.iter().map(|f| (f.number, f.clone())).collect())
            .collect();
        for &(level, number) in &edit.deleted {
            if let Some(files) = levels.get_mut(level as usize) {
                files.remove(&number);
            }
        }
        for t in &edit.added {
            let level = (t.level as usize).min(NUM_LEVELS - 1);
            let mut f = FileMeta::from_table_file(t);
            f.keys = edit
                .key_filters
                .iter()
                .find(|(n, _)| *n == t.number)
                .map(|(_, k)| k.clone());
            levels[level].insert(t.number, Arc::new(f));
        }
        let mut v = Version {
            levels: levels
                .into_iter()
                .map(|files| files.into_values().collect())
                .collect(),
            compaction_score: 0.0,
            compaction_level: 0,
        };
        v.sort();
        v.finalize();
        v
    }

    /// Computes the compaction score: level 0 by its number of tables (a compaction at 4),
    /// the others by their bytes against their limit.
    fn finalize(&mut self) {
        let mut best = (0.0, 0);
        for level in 0..NUM_LEVELS - 1 {
            let score = if level == 0 {
                self.levels[0].len() as f64 / L0_COMPACTION_TRIGGER as f64
            } else {
                self.level_bytes(level) as f64 / max_bytes_for_level(level)
            };
            if score > best.0 {
                best = (score, level);
            }
        }
        (self.compaction_score, self.compaction_level) = best;
    }

    /// The bytes the tables of a level hold.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|f| f.size).sum()
    }

    /// Every table of the version, with its level.
    pub fn tables(&self) -> impl Iterator<Item = (usize, &Arc<FileMeta>)> {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(l, files)| files.iter().map(move |f| (l, f)))
    }

    /// Whether the version names table `number`.
    pub fn contains(&self, number: u64) -> bool {
        self.tables().any(|(_, f)| f.number == number)
    }

    /// The tables of `level` whose user keys meet `[begin, end]` (`None`: unbounded). On
    /// level 0, whose tables overlap each other, the range grows to take in every table that
    /// meets a table already taken (LevelDB's `GetOverlappingInputs`).
    pub fn overlapping(
        &self,
        level: usize,
        begin: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Vec<Arc<FileMeta>> {
        let (mut begin, mut end) = (begin.map(<[u8]>::to_vec), end.map(<[u8]>::to_vec));
        'again: loop {
            let mut out = Vec::new();
            for f in &self.levels[level] {
                if !f.overlaps(begin.as_deref(), end.as_deref()) {
                    continue;
                }
                if level == 0 {
                    let (small, large) = (user_key(&f.smallest), user_key(&f.largest));
                    if begin.as_deref().is_some_and(|b| small < b) {
                        begin = Some(small.to_vec());
                        continue 'again;
                    }
                    if end.as_deref().is_some_and(|e| large > e) {
                        end = Some(large.to_vec());
                        continue 'again;
                    }
                }
                out.push(f.clone());
            }
            if level == 0 {
                out.sort_by_key(|f| f.number);
            }
            return out;
        }
    }

    /// The newest entry of `user` with a sequence number up to `seq` in the tables: level-0
    /// tables newest first, then in each deeper level the one table whose range holds the
    /// key; the first that holds any entry of it answers (LevelDB's `Version::Get`).
    pub fn get(&self, cache: &TableCache, user: &[u8], seq: u64) -> DbResult<Option<Lookup>> {
        let h = TableKeys::hash(user);
        for f in &self.levels[0] {
            if user_key(&f.smallest) <= user
                && user <= user_key(&f.largest)
                && f.may_hold(h)
                && let Some(found) = cache.get(f.number, user, seq)?
            {
                return Ok(Some(found));
            }
        }
        let target = dbformat::seek_key(user, seq);
        for files in &self.levels[1..] {
            let at = files.partition_point(|f| dbformat::compare(&f.largest, &target).is_lt());
            if let Some(f) = files.get(at)
                && user_key(&f.smallest) <= user
                && f.may_hold(h)
                && let Some(found) = cache.get(f.number, user, seq)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::leveldb::dbformat::{KIND_VALUE, internal_key};

    fn table(level: u64, number: u64, from: &str, to: &str) -> TableFile {
        TableFile {
            level,
            number,
            size: 1 << 20,
            smallest: internal_key(from.as_bytes(), 5, KIND_VALUE),
            largest: internal_key(to.as_bytes(), 5, KIND_VALUE),
        }
    }

    #[test]
    fn edits_make_new_versions_and_scores_follow() {
        let mut edit = VersionEdit::default();
        for n in 1..=4 {
            edit.added.push(table(0, n, "a", "z"));
        }
        edit.added.push(table(1, 10, "a", "f"));
        edit.added.push(table(1, 11, "g", "m"));
        let v = Version::empty().apply(&edit);
        assert_eq!(
            v.levels[0].iter().map(|f| f.number).collect::<Vec<_>>(),
            [4, 3, 2, 1]
        );
        assert_eq!(v.compaction_level, 0);
        assert!(v.compaction_score >= 1.0);
        let overlap = v.overlapping(1, Some(b"h"), Some(b"i"));
        assert_eq!(overlap.iter().map(|f| f.number).collect::<Vec<_>>(), [11]);
        let next = v.apply(&VersionEdit {
            deleted: vec![(0, 1), (0, 2)],
            ..Default::default()
        });
        assert_eq!(next.levels[0].len(), 2);
        assert!(next.compaction_score < 1.0);
        assert!(v.contains(1) && !next.contains(1));
    }

    #[test]
    fn level_zero_overlaps_grow_to_every_table_they_meet() {
        let mut edit = VersionEdit::default();
        edit.added.push(table(0, 1, "a", "c"));
        edit.added.push(table(0, 2, "b", "e"));
        edit.added.push(table(0, 3, "d", "f"));
        edit.added.push(table(0, 4, "x", "z"));
        let v = Version::empty().apply(&edit);
        let got = v.overlapping(0, Some(b"a"), Some(b"a"));
        assert_eq!(got.iter().map(|f| f.number).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
