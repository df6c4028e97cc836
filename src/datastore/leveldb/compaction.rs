//! Compactions: which tables to merge (the level that most needs it, from where the last
//! compaction of that level stopped), and the merge itself, which drops what no reader can see
//! and cuts its output into tables of about 2 MiB. Twin of C++ LevelDB's
//! `VersionSet::PickCompaction` / `SetupOtherInputs` (`db/version_set.cc`) and
//! `DBImpl::DoCompactionWork` (`db/db_impl.cc`), goleveldb's `leveldb/session_compaction.go`
//! and `leveldb/db_compaction.go`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::dbformat::{self, user_key};
use super::env::Env;
use super::error::{DbError, DbResult};
use super::iter::{InternalIter, MergingIter};
use super::manifest::VersionEdit;
use super::table_builder::{BuiltTable, TableBuilder};
use super::table_cache::{LevelIter, TableCache, table_path};
use super::version::{FileMeta, NUM_LEVELS, Version};

/// The size at which a compaction's output table is cut (LevelDB's `max_file_size`).
pub const MAX_FILE_SIZE: u64 = 2 << 20;
/// How much of the grandparent level one output table may overlap before it is cut, so that
/// a later compaction of it does not merge too much (LevelDB's `MaxGrandParentOverlapBytes`).
const MAX_GRANDPARENT_OVERLAP: u64 = 10 * MAX_FILE_SIZE;
/// How large a compaction may grow when it takes in more of its own level
/// (LevelDB's `ExpandedCompactionByteSizeLimit`).
const EXPANDED_LIMIT: u64 = 25 * MAX_FILE_SIZE;

/// One compaction: tables of `level` merged with the overlapping tables of `level + 1`.
pub struct Compaction {
    /// The level compacted.
    pub level: usize,
    /// The tables of `level`, then those of `level + 1`.
    pub inputs: [Vec<Arc<FileMeta>>; 2],
    /// The overlapping tables of `level + 2`.
    grandparents: Vec<Arc<FileMeta>>,
    /// The version the inputs were picked from.
    version: Arc<Version>,
    /// Asked for by `compact_range` (never a trivial move).
    manual: bool,
}

fn total_size(files: &[Arc<FileMeta>]) -> u64 {
    files.iter().map(|f| f.size).sum()
}

/// The smallest and largest internal keys of some tables.
fn key_range<'a>(files: impl IntoIterator<Item = &'a Arc<FileMeta>>) -> (Vec<u8>, Vec<u8>) {
    let mut range: Option<(&[u8], &[u8])> = None;
    for f in files {
        range = Some(match range {
            None => (&f.smallest, &f.largest),
            Some((s, l)) => (
                if dbformat::compare(&f.smallest, s).is_lt() {
                    &f.smallest
                } else {
                    s
                },
                if dbformat::compare(&f.largest, l).is_gt() {
                    &f.largest
                } else {
                    l
                },
            ),
        });
    }
    range.map_or((Vec::new(), Vec::new()), |(s, l)| (s.to_vec(), l.to_vec()))
}

/// Adds the tables of `level_files` whose smallest key is the user key of the largest key
/// taken, after it: versions of one user key split over two tables must be compacted together,
/// or an older version could end up above a newer one (LevelDB 1.21's `AddBoundaryInputs`).
fn add_boundary_inputs(level_files: &[Arc<FileMeta>], taken: &mut Vec<Arc<FileMeta>>) {
    let Some((_, mut largest)) = (!taken.is_empty()).then(|| key_range(taken.iter())) else {
        return;
    };
    loop {
        let next = level_files
            .iter()
            .filter(|f| {
                dbformat::compare(&f.smallest, &largest).is_gt()
                    && user_key(&f.smallest) == user_key(&largest)
            })
            .min_by(|a, b| dbformat::compare(&a.smallest, &b.smallest));
        match next {
            Some(f) if !taken.iter().any(|t| t.number == f.number) => {
                largest = f.largest.clone();
                taken.push(f.clone());
            }
            _ => return,
        }
    }
}

/// The compaction the version most needs, if any level's score is at least 1. `pointers` is
/// where the last compaction of each level ended: the next starts after it, so that every
/// part of a level gets its turn.
pub fn pick(version: &Arc<Version>, pointers: &[Option<Vec<u8>>]) -> Option<Compaction> {
    if version.compaction_score < 1.0 {
        return None;
    }
    let level = version.compaction_level;
    let mut files: Vec<&Arc<FileMeta>> = version.levels[level].iter().collect();
    files.sort_by(|a, b| dbformat::compare(&a.smallest, &b.smallest));
    let pointer = pointers.get(level).and_then(Option::as_ref);
    let first = files
        .iter()
        .find(|f| pointer.is_none_or(|p| dbformat::compare(&f.largest, p).is_gt()))
        .or(files.first())?;
    let mut inputs = vec![(*first).clone()];
    if level == 0 {
        let (small, large) = key_range(inputs.iter());
        inputs = version.overlapping(0, Some(user_key(&small)), Some(user_key(&large)));
    }
    Some(setup(version, level, inputs, false))
}

/// A step of a manual compaction of `level` over the user keys `[begin, end]` (`None`:
/// unbounded), at most about one output table's worth of `level` at a time above level 0.
pub fn pick_range(
    version: &Arc<Version>,
    level: usize,
    begin: Option<&[u8]>,
    end: Option<&[u8]>,
) -> Option<Compaction> {
    if level + 1 >= NUM_LEVELS {
        return None;
    }
    let mut inputs = version.overlapping(level, begin, end);
    if inputs.is_empty() {
        return None;
    }
    if level > 0 {
        let mut total = 0;
        let keep = inputs
            .iter()
            .position(|f| {
                total += f.size;
                total >= MAX_FILE_SIZE
            })
            .map_or(inputs.len(), |i| i + 1);
        inputs.truncate(keep);
    }
    Some(setup(version, level, inputs, true))
}

/// Completes a compaction's inputs: the overlapping tables of the next level, more of its own
/// level when that does not take in more of the next, and the grandparents.
fn setup(
    version: &Arc<Version>,
    level: usize,
    mut inputs0: Vec<Arc<FileMeta>>,
    manual: bool,
) -> Compaction {
    add_boundary_inputs(&version.levels[level], &mut inputs0);
    let (small, large) = key_range(inputs0.iter());
    let next = |s: &[u8], l: &[u8]| {
        let mut files = version.overlapping(level + 1, Some(user_key(s)), Some(user_key(l)));
        add_boundary_inputs(&version.levels[level + 1], &mut files);
        files
    };
    let mut inputs1 = next(&small, &large);
    let (mut all_small, mut all_large) = key_range(inputs0.iter().chain(&inputs1));
    if !inputs1.is_empty() {
        let mut grown = version.overlapping(
            level,
            Some(user_key(&all_small)),
            Some(user_key(&all_large)),
        );
        add_boundary_inputs(&version.levels[level], &mut grown);
        if grown.len() > inputs0.len() && total_size(&inputs1) + total_size(&grown) < EXPANDED_LIMIT
        {
            let (s, l) = key_range(grown.iter());
            let grown1 = next(&s, &l);
            if grown1.len() == inputs1.len() {
                inputs0 = grown;
                inputs1 = grown1;
                (all_small, all_large) = key_range(inputs0.iter().chain(&inputs1));
            }
        }
    }
    let grandparents = if level + 2 < NUM_LEVELS {
        version.overlapping(
            level + 2,
            Some(user_key(&all_small)),
            Some(user_key(&all_large)),
        )
    } else {
        Vec::new()
    };
    Compaction {
        level,
        inputs: [inputs0, inputs1],
        grandparents,
        version: version.clone(),
        manual,
    }
}

/// What a compaction needs from the database while it runs.
pub struct Context<'a> {
    /// The env its output goes through.
    pub env: &'a Arc<Env>,
    /// The tables it reads.
    pub tables: &'a Arc<TableCache>,
    /// Versions at or below this sequence number are seen by no snapshot but the newest.
    pub smallest_snapshot: u64,
    /// Whether output blocks are Snappy-compressed.
    pub compress: bool,
    /// Hands out a new file number for an output table.
    pub new_file_number: &'a dyn Fn() -> u64,
    /// Set when the database closes: the compaction stops and leaves nothing behind.
    pub abort: &'a AtomicBool,
}

impl Compaction {
    /// The largest internal key of the tables taken from `level`: where the next compaction
    /// of the level starts.
    pub fn pointer(&self) -> Vec<u8> {
        key_range(self.inputs[0].iter()).1
    }

    /// Whether `compact_range` asked for it.
    pub fn is_manual(&self) -> bool {
        self.manual
    }

    /// A compaction that only moves one table down a level (nothing overlaps it below).
    pub fn is_trivial_move(&self) -> bool {
        !self.manual
            && self.inputs[0].len() == 1
            && self.inputs[1].is_empty()
            && total_size(&self.grandparents) <= MAX_GRANDPARENT_OVERLAP
    }

    /// The edit that removes the inputs and adds `outputs` on the next level.
    pub fn edit(&self, outputs: &[FileMeta]) -> VersionEdit {
        let mut edit = VersionEdit {
            compact_pointers: vec![(self.level as u64, self.pointer())],
            ..VersionEdit::default()
        };
        for (which, files) in self.inputs.iter().enumerate() {
            for f in files {
                edit.deleted.push(((self.level + which) as u64, f.number));
            }
        }
        for f in outputs {
            f.add_to(&mut edit, self.level + 1);
        }
        edit
    }

    /// Whether no level below the output's holds `user` (so a deletion of it can go).
    fn is_base_level_for(&self, user: &[u8]) -> bool {
        self.version.levels[self.level + 2..].iter().all(|files| {
            let at = files.partition_point(|f| user_key(&f.largest) < user);
            files.get(at).is_none_or(|f| user_key(&f.smallest) > user)
        })
    }

    /// Merges the inputs into new tables on the next level, dropping every version that a
    /// newer one hides from all snapshots, and deletions with nothing below them to hide.
    /// Returns the new tables, each synced (their names too).
    pub fn run(&self, ctx: &Context<'_>) -> DbResult<Vec<FileMeta>> {
        let mut children: Vec<Box<dyn InternalIter>> = Vec::new();
        if self.level == 0 {
            for f in &self.inputs[0] {
                children.push(Box::new(ctx.tables.iter(f.number, false)?));
            }
        } else {
            children.push(Box::new(level_iter(ctx.tables, &self.inputs[0])));
        }
        children.push(Box::new(level_iter(ctx.tables, &self.inputs[1])));
        let mut input = MergingIter::new(children);
        let mut out = Output::new(ctx);
        let result = self.merge(&mut input, &mut out, ctx);
        let finished = result.and_then(|()| out.finish());
        match finished {
            Ok(tables) => {
                if !tables.is_empty() {
                    // The new names must be durable before the MANIFEST names them.
                    ctx.env.sync_dir()?;
                }
                Ok(tables)
            }
            Err(e) => {
                out.discard();
                Err(e)
            }
        }
    }

    fn merge(
        &self,
        input: &mut MergingIter<'_>,
        out: &mut Output<'_>,
        ctx: &Context<'_>,
    ) -> DbResult<()> {
        let mut gp = Grandparents::new(&self.grandparents);
        let mut current: Vec<u8> = Vec::new();
        let mut has_current = false;
        let mut last_seq_for_key = u64::MAX;
        let mut cut_pending = false;
        input.seek_to_first()?;
        let mut steps = 0u32;
        while input.valid() {
            steps = steps.wrapping_add(1);
            if steps.is_multiple_of(1024) && ctx.abort.load(Ordering::Relaxed) {
                return Err(DbError::Closed);
            }
            let key = input.key();
            cut_pending |= gp.should_stop_before(key);
            let Some((seq, is_value)) = dbformat::key_tag(key) else {
                // Not an internal key: kept as it is, as LevelDB keeps keys it cannot parse.
                out.add(key, input.value(), true, &mut cut_pending)?;
                input.next()?;
                continue;
            };
            let user = user_key(key);
            let new_user = !has_current || user != current.as_slice();
            if new_user {
                current.clear();
                current.extend_from_slice(user);
                has_current = true;
                last_seq_for_key = u64::MAX;
            }
            let drop = if last_seq_for_key <= ctx.smallest_snapshot {
                // A newer version of the key is visible to every snapshot.
                true
            } else {
                !is_value && seq <= ctx.smallest_snapshot && self.is_base_level_for(user)
            };
            last_seq_for_key = seq;
            if !drop {
                out.add(key, input.value(), new_user, &mut cut_pending)?;
            }
            input.next()?;
        }
        Ok(())
    }
}

fn level_iter(tables: &Arc<TableCache>, files: &[Arc<FileMeta>]) -> LevelIter {
    let mut files: Vec<(u64, Vec<u8>)> = files
        .iter()
        .map(|f| (f.number, f.largest.clone()))
        .collect();
    files.sort_by(|a, b| dbformat::compare(&a.1, &b.1));
    LevelIter::new(tables.clone(), files, false)
}

/// Tracks how much of the grandparent level the output table being written overlaps.
struct Grandparents<'a> {
    files: &'a [Arc<FileMeta>],
    index: usize,
    seen_key: bool,
    overlapped: u64,
}

impl<'a> Grandparents<'a> {
    fn new(files: &'a [Arc<FileMeta>]) -> Grandparents<'a> {
        Grandparents {
            files,
            index: 0,
            seen_key: false,
            overlapped: 0,
        }
    }

    /// Whether the output should be cut before `key` (LevelDB's `ShouldStopBefore`).
    fn should_stop_before(&mut self, key: &[u8]) -> bool {
        while self.index < self.files.len()
            && dbformat::compare(key, &self.files[self.index].largest).is_gt()
        {
            if self.seen_key {
                self.overlapped += self.files[self.index].size;
            }
            self.index += 1;
        }
        self.seen_key = true;
        if self.overlapped > MAX_GRANDPARENT_OVERLAP {
            self.overlapped = 0;
            true
        } else {
            false
        }
    }
}

/// The output tables of a compaction (or of a memtable flush).
pub struct Output<'a> {
    env: &'a Arc<Env>,
    compress: bool,
    new_file_number: &'a dyn Fn() -> u64,
    builder: Option<(u64, TableBuilder)>,
    done: Vec<FileMeta>,
    /// Every file started, to delete if the output is discarded.
    started: Vec<u64>,
}

impl<'a> Output<'a> {
    /// Output tables written through `ctx`.
    pub fn new(ctx: &Context<'a>) -> Output<'a> {
        Output {
            env: ctx.env,
            compress: ctx.compress,
            new_file_number: ctx.new_file_number,
            builder: None,
            done: Vec::new(),
            started: Vec::new(),
        }
    }

    /// Adds an entry. A new table is started first when one is due (`cut`, or the current
    /// one is full), but only between user keys (`new_user`), so that every version of a key
    /// stays in one table.
    fn add(&mut self, key: &[u8], value: &[u8], new_user: bool, cut: &mut bool) -> DbResult<()> {
        if new_user
            && let Some((_, b)) = &self.builder
            && (*cut || b.file_size() >= MAX_FILE_SIZE)
        {
            self.finish_one()?;
        }
        if new_user {
            *cut = false;
        }
        if self.builder.is_none() {
            let number = (self.new_file_number)();
            self.started.push(number);
            let file = self.env.create(&table_path(self.env.dir(), number))?;
            self.builder = Some((number, TableBuilder::new(file, self.compress)));
        }
        let (_, b) = self.builder.as_mut().expect("started above");
        b.add(key, value)
    }

    fn finish_one(&mut self) -> DbResult<()> {
        if let Some((number, b)) = self.builder.take() {
            let BuiltTable {
                size,
                smallest,
                largest,
                keys,
                ..
            } = b.finish()?;
            self.done.push(FileMeta {
                number,
                size,
                smallest,
                largest,
                keys: Some(Arc::new(keys)),
            });
        }
        Ok(())
    }

    /// Finishes the last table; returns them all.
    fn finish(&mut self) -> DbResult<Vec<FileMeta>> {
        self.finish_one()?;
        Ok(std::mem::take(&mut self.done))
    }

    /// Deletes every table started (a failed or aborted compaction).
    fn discard(&mut self) {
        self.builder = None;
        for &n in &self.started {
            self.env.delete(&table_path(self.env.dir(), n));
        }
    }
}

/// Writes the entries of `input` (a memtable's, from its first) into level-0 table `number`:
/// one table, whatever its size, as LevelDB flushes a memtable. The table is synced, its name
/// too. `input` must not be empty.
pub fn write_level0(
    env: &Arc<Env>,
    compress: bool,
    number: u64,
    input: &mut dyn InternalIter,
) -> DbResult<FileMeta> {
    let path = table_path(env.dir(), number);
    let built = (|| {
        input.seek_to_first()?;
        let mut b = TableBuilder::new(env.create(&path)?, compress);
        while input.valid() {
            b.add(input.key(), input.value())?;
            input.next()?;
        }
        let built = b.finish()?;
        env.sync_dir()?;
        Ok(built)
    })();
    match built {
        Ok(t) => Ok(FileMeta {
            number,
            size: t.size,
            smallest: t.smallest,
            largest: t.largest,
            keys: Some(Arc::new(t.keys)),
        }),
        Err(e) => {
            env.delete(&path);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::leveldb::dbformat::{
        KIND_DELETION as DELETION, KIND_VALUE, internal_key,
    };
    use crate::datastore::leveldb::manifest::TableFile;

    fn table(level: u64, number: u64, from: &str, to: &str, size: u64) -> TableFile {
        TableFile {
            level,
            number,
            size,
            smallest: internal_key(from.as_bytes(), 5, KIND_VALUE),
            largest: internal_key(to.as_bytes(), 5, DELETION),
        }
    }

    #[test]
    fn level_zero_compactions_take_every_overlapping_table_and_the_next_level() {
        let mut edit = VersionEdit::default();
        for n in 1..=4 {
            edit.added.push(table(0, n, "c", "m", 1 << 20));
        }
        edit.added.push(table(1, 10, "a", "d", 1 << 20));
        edit.added.push(table(1, 11, "e", "k", 1 << 20));
        edit.added.push(table(1, 12, "x", "z", 1 << 20));
        let v = Arc::new(Version::empty().apply(&edit));
        let c = pick(&v, &[]).expect("level 0 is full");
        assert_eq!(c.level, 0);
        let numbers = |files: &[Arc<FileMeta>]| files.iter().map(|f| f.number).collect::<Vec<_>>();
        assert_eq!(numbers(&c.inputs[0]), [1, 2, 3, 4]);
        assert_eq!(numbers(&c.inputs[1]), [10, 11]);
        assert!(!c.is_trivial_move());
        let e = c.edit(&[]);
        assert_eq!(e.deleted.len(), 6);
    }

    #[test]
    fn compactions_of_a_level_take_turns_after_the_pointer() {
        let mut edit = VersionEdit::default();
        // Level 1 over its 10 MiB limit.
        for (n, (a, b)) in [("a", "b"), ("c", "d"), ("e", "f")].iter().enumerate() {
            edit.added.push(table(1, n as u64 + 1, a, b, 4 << 20));
        }
        let v = Arc::new(Version::empty().apply(&edit));
        let first = pick(&v, &[]).unwrap();
        assert_eq!(first.inputs[0][0].number, 1);
        assert!(first.is_trivial_move());
        let mut pointers = vec![None; NUM_LEVELS];
        pointers[1] = Some(first.pointer());
        let second = pick(&v, &pointers).unwrap();
        assert_eq!(second.inputs[0][0].number, 2);
    }

    #[test]
    fn a_user_key_split_over_two_tables_is_compacted_whole() {
        let mut edit = VersionEdit::default();
        edit.added.push(TableFile {
            level: 1,
            number: 1,
            size: 100,
            smallest: internal_key(b"a", 9, KIND_VALUE),
            largest: internal_key(b"k", 9, KIND_VALUE),
        });
        edit.added.push(TableFile {
            level: 1,
            number: 2,
            size: 100,
            smallest: internal_key(b"k", 4, KIND_VALUE),
            largest: internal_key(b"p", 4, KIND_VALUE),
        });
        let v = Arc::new(Version::empty().apply(&edit));
        let c = pick_range(&v, 1, Some(b"a"), Some(b"b")).unwrap();
        let numbers: Vec<u64> = c.inputs[0].iter().map(|f| f.number).collect();
        assert_eq!(numbers, [1, 2]);
    }
}
