//! Fault injection for the LevelDB tests, through the datastore's I/O hook: a simulated
//! power cut (after LevelDB's `fault_injection_test.cc`: what was not synced is lost) and an
//! error at the N-th operation (after SQLite's `ioerr.test`).

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pstoreds::datastore::leveldb::env::{IoHook, IoOp};

/// A scratch directory, on tmpfs where there is one (the hooks model the disk; real fsyncs
/// would only slow the hundreds of runs down).
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().unwrap()
}

/// What a simulated disk keeps of one file.
#[derive(Clone, Debug, Default)]
pub struct Tracked {
    len: u64,
    synced: u64,
    /// Created since the directory was last synced: its name is not durable yet.
    new_name: bool,
}

#[derive(Default)]
pub struct Disk {
    files: HashMap<PathBuf, Tracked>,
    /// Renames since the last directory sync, with the target's content before.
    renames: Vec<(PathBuf, PathBuf, Option<Vec<u8>>)>,
}

/// LevelDB's fault-injection env, as a hook: tracks synced lengths and durable names; from op
/// number `cut_at` on, the machine is off and every operation fails.
pub struct PowerCut {
    cut_at: u64,
    pub ops: AtomicU64,
    pub off: AtomicBool,
    disk: Mutex<Disk>,
}

impl PowerCut {
    pub fn new(cut_at: u64) -> PowerCut {
        PowerCut {
            cut_at,
            ops: AtomicU64::new(0),
            off: AtomicBool::new(false),
            disk: Mutex::new(Disk::default()),
        }
    }

    /// Copies what survives the power cut of `from` into `to`: each file cut to its synced
    /// length, files whose names were never made durable left out, renames not made durable
    /// undone.
    pub fn image(&self, from: &Path, to: &Path) {
        let disk = self.disk.lock().unwrap();
        std::fs::create_dir_all(to).unwrap();
        let renamed: HashSet<&PathBuf> = disk.renames.iter().map(|(_, b, _)| b).collect();
        for entry in std::fs::read_dir(from).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            if name == "LOCK" || name.starts_with("LOG") {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let keep = match disk.files.get(&p) {
                None => bytes.len() as u64, // older than the scenario: durable
                Some(t) if t.new_name && !renamed.contains(&p) => continue,
                Some(t) => t.synced.min(bytes.len() as u64),
            };
            std::fs::write(to.join(&name), &bytes[..keep as usize]).unwrap();
        }
        for (_, target, old) in disk.renames.iter().rev() {
            let t = to.join(target.file_name().unwrap());
            match old {
                Some(content) => std::fs::write(&t, content).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&t);
                }
            }
        }
    }
}

impl IoHook for PowerCut {
    fn before(&self, op: &IoOp<'_>) -> io::Result<()> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst);
        if n >= self.cut_at || self.off.load(Ordering::SeqCst) {
            self.off.store(true, Ordering::SeqCst);
            return Err(io::Error::other("power cut"));
        }
        let mut disk = self.disk.lock().unwrap();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        match *op {
            IoOp::Create(p) => {
                disk.files.insert(
                    p.to_path_buf(),
                    Tracked {
                        new_name: !p.exists(),
                        ..Tracked::default()
                    },
                );
            }
            IoOp::Write(p, len) => {
                let t = disk
                    .files
                    .entry(p.to_path_buf())
                    .or_insert_with(|| Tracked {
                        len: size(p),
                        synced: size(p),
                        new_name: false,
                    });
                t.len += len as u64;
            }
            IoOp::Sync(p) => {
                let t = disk
                    .files
                    .entry(p.to_path_buf())
                    .or_insert_with(|| Tracked {
                        len: size(p),
                        ..Tracked::default()
                    });
                t.synced = t.len;
            }
            IoOp::SyncDir(_) => {
                for t in disk.files.values_mut() {
                    t.new_name = false;
                }
                disk.renames.clear();
            }
            IoOp::Rename(a, b) => {
                let old = std::fs::read(b).ok();
                disk.renames.push((a.to_path_buf(), b.to_path_buf(), old));
                if let Some(t) = disk.files.remove(a) {
                    disk.files.insert(b.to_path_buf(), t);
                }
            }
            IoOp::Delete(p) => {
                disk.files.remove(p);
            }
        }
        Ok(())
    }
}

/// Fails exactly one write-side operation: the `nth`, with `err`.
pub struct FailOne {
    pub nth: u64,
    pub ops: AtomicU64,
    pub kind: io::ErrorKind,
    pub fired: AtomicBool,
}

impl IoHook for FailOne {
    fn before(&self, _op: &IoOp<'_>) -> io::Result<()> {
        if self.ops.fetch_add(1, Ordering::SeqCst) == self.nth {
            self.fired.store(true, Ordering::SeqCst);
            return Err(io::Error::new(self.kind, "injected"));
        }
        Ok(())
    }
}

/// Refuses to create tables, so a flush never writes one, and notes which journals were
/// synced.
#[derive(Default)]
pub struct NoTables {
    pub synced_journals: Mutex<Vec<PathBuf>>,
}

impl IoHook for NoTables {
    fn before(&self, op: &IoOp<'_>) -> io::Result<()> {
        let is = |p: &Path, ext: &str| p.extension().is_some_and(|e| e == ext);
        match op {
            IoOp::Create(p) if is(p, "ldb") => Err(io::Error::other("no tables here")),
            IoOp::Sync(p) if is(p, "log") => {
                self.synced_journals.lock().unwrap().push(p.to_path_buf());
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
