//! `sync="interval"`: writes are handed to the OS at once (`SyncPolicy::Never`, so a killed
//! process loses nothing) and made durable together once per interval, the promise py-libp2p's
//! own persistent store makes (`sync_interval=1.0`). A background thread, when anything was
//! written since its last pass, fsyncs the store's files (LevelDB: every file in the directory,
//! then the directory; SQLite: the database, its write-ahead log and their directory): what the
//! store handed to the OS before the pass is then on disk.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Counts writes, so that a pass with nothing new to sync does nothing.
#[derive(Debug, Default)]
pub struct WriteCount(AtomicU64);

impl WriteCount {
    /// A write was made.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The files a pass syncs.
#[derive(Clone, Debug)]
pub enum Target {
    /// A LevelDB directory: every file in it, then the directory.
    Dir(PathBuf),
    /// A SQLite file: it, its `-wal`, then its directory.
    File(PathBuf),
}

fn sync_path(path: &Path) -> std::io::Result<()> {
    match File::open(path) {
        Ok(f) => f.sync_all(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Target {
    /// Syncs every file of the store, then the directory holding their names.
    fn sync(&self) -> std::io::Result<()> {
        match self {
            Target::Dir(dir) => {
                for entry in std::fs::read_dir(dir)? {
                    let entry = entry?;
                    if entry.file_type()?.is_file() {
                        sync_path(&entry.path())?;
                    }
                }
                sync_path(dir)
            }
            Target::File(file) => {
                sync_path(file)?;
                let mut wal = file.clone().into_os_string();
                wal.push("-wal");
                sync_path(Path::new(&wal))?;
                sync_path(&parent(file))
            }
        }
    }
}

/// The background thread; stopped (after a last pass) by [`Syncer::stop`] or when dropped.
pub struct Syncer {
    stop: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

fn run(target: Target, writes: Arc<WriteCount>, every: Duration, stop: Receiver<()>) {
    let mut synced = 0;
    let mut reported = false;
    loop {
        let last = !matches!(stop.recv_timeout(every), Err(RecvTimeoutError::Timeout));
        let now = writes.get();
        if now != synced {
            match target.sync() {
                Ok(()) => synced = now,
                // Said once; the store's own next write reports a failing disk to its caller.
                Err(e) if !reported => {
                    reported = true;
                    eprintln!("pstoreds: the interval sync of {target:?} failed: {e}");
                }
                Err(_) => {}
            }
        }
        if last {
            return;
        }
    }
}

impl Syncer {
    /// Syncs `target` every `every` while anything is written.
    pub fn start(
        target: Target,
        writes: Arc<WriteCount>,
        every: Duration,
    ) -> std::io::Result<Syncer> {
        let (tx, rx) = channel();
        let handle = std::thread::Builder::new()
            .name("pstoreds-sync".into())
            .spawn(move || run(target, writes, every, rx))?;
        Ok(Syncer {
            stop: Mutex::new(Some((tx, handle))),
        })
    }

    /// Runs a last pass and stops the thread.
    pub fn stop(&self) {
        let taken = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((tx, handle)) = taken {
            let _ = tx.send(());
            let _ = handle.join();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop();
    }
}
