//! `pstore`: look inside, dump and check a go-libp2p (pstoreds) peerstore database.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::json;

use pstoreds::codec::gob::{self, Value};
use pstoreds::codec::peer_key::{self, PeerKey};
use pstoreds::codec::record::AddrBookRecord;
use pstoreds::datastore::{Datastore, Key, LevelDbDatastore, LevelDbOptions, Query};
use pstoreds::dump;

#[derive(Parser)]
#[command(
    name = "pstore",
    version,
    about = "Inspect and check go-libp2p peerstore databases (pstoreds layout)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Source {
    /// The database: a LevelDB directory (go-ds-leveldb layout) or a SQLite file.
    db: PathBuf,
    /// Read a private copy of the database, leaving the original untouched (works while a
    /// running node holds it).
    #[arg(long)]
    snapshot: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Summary of the database and a table of its peers.
    Inspect {
        #[command(flatten)]
        source: Source,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The canonical dump (JSON Lines, see INTEROP.md): everything stored, one peer a line.
    Dump {
        #[command(flatten)]
        source: Source,
    },
    /// Copy every key to a new database (LevelDB directory, or SQLite with --to sqlite), then
    /// read the copy back and compare it entry by entry.
    Migrate {
        #[command(flatten)]
        source: Source,
        /// The new database; must not exist yet.
        dst: PathBuf,
        #[arg(long, value_enum, default_value = "leveldb")]
        to: Backend,
    },
    /// Apply an op script (JSON Lines, INTEROP.md) through the peerstore API, on a mock clock
    /// starting at unix 1750000000 s; prints one line per op that failed.
    Apply {
        /// The LevelDB directory (created if missing).
        db: PathBuf,
        /// The script.
        ops: PathBuf,
        /// GC lookahead window in nanoseconds (0: purge-store mode).
        #[arg(long, default_value_t = 0)]
        gc_lookahead: u64,
    },
    /// Compact a LevelDB database: rewrite its log and tables into sorted tables.
    Compact {
        /// The LevelDB directory.
        db: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Backend {
    Leveldb,
    #[cfg(feature = "sqlite")]
    Sqlite,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pstore: {e}");
            ExitCode::from(2)
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Dump { source } => {
            let (ds, _copy) = open(&source)?;
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            dump::write_dump(&*ds, &mut out)?;
            out.flush()?;
        }
        Command::Inspect { source, json } => {
            let (ds, _copy) = open(&source)?;
            inspect(&*ds, &source.db, json)?;
        }
        Command::Migrate { source, dst, to } => {
            let (src, _copy) = open(&source)?;
            let n = migrate(&*src, &dst, to)?;
            eprintln!("copied and verified {n} entries into {}", dst.display());
        }
        Command::Apply {
            db,
            ops,
            gc_lookahead,
        } => {
            let clock = pstoreds::peerstore::MockClock::at_nanos(pstoreds::ops::START_NANOS);
            let ps = pstoreds::ops::replay_options(
                &clock,
                std::time::Duration::from_nanos(gc_lookahead),
            )
            .open_leveldb(&db)?;
            let script = std::io::BufReader::new(
                std::fs::File::open(&ops).map_err(|e| format!("{}: {e}", ops.display()))?,
            );
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            pstoreds::ops::apply_script(&ps, &clock, script, &mut out)?;
            ps.close()?;
        }
        Command::Compact { db } => {
            let ds = LevelDbDatastore::open(
                &db,
                LevelDbOptions {
                    create_if_missing: false,
                    ..Default::default()
                },
            )?;
            ds.compact()?;
            ds.close()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the database read-only in spirit: nothing is created if it is missing. With
/// `--snapshot`, a copy in a temporary directory is opened instead (dropped with the guard).
fn open(source: &Source) -> Result<(Box<dyn Datastore>, Option<tempfile::TempDir>)> {
    let mut path = source.db.clone();
    let mut guard = None;
    if source.snapshot {
        let dir = tempfile::tempdir()?;
        let copy = dir.path().join("db");
        copy_database(&path, &copy)?;
        path = copy;
        guard = Some(dir);
    }
    #[cfg(feature = "sqlite")]
    if path.is_file() {
        let ds = pstoreds::datastore::SqliteDatastore::open(
            &path,
            pstoreds::datastore::SqliteOptions {
                create_if_missing: false,
                ..Default::default()
            },
        )?;
        return Ok((Box::new(ds), guard));
    }
    let opts = LevelDbOptions {
        create_if_missing: false,
        ..Default::default()
    };
    match LevelDbDatastore::open(&path, opts) {
        Ok(ds) => Ok((Box::new(ds), guard)),
        Err(e @ pstoreds::datastore::Error::Locked { .. }) => {
            Err(format!("{e}\nhint: add --snapshot to read a copy while it stays in use").into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Copies every entry of `src` into a new database at `dst`, in batches, then checks that the
/// copy holds exactly the same entries.
fn migrate(src: &dyn Datastore, dst: &Path, to: Backend) -> Result<usize> {
    if dst.exists() {
        return Err(format!(
            "{} already exists; migrate writes a new database",
            dst.display()
        )
        .into());
    }
    let out: Box<dyn Datastore> = match to {
        Backend::Leveldb => Box::new(LevelDbDatastore::open(dst, LevelDbOptions::default())?),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Box::new(pstoreds::datastore::SqliteDatastore::open(
            dst,
            Default::default(),
        )?),
    };
    let entries = src.query(&Query::prefix(Key::root()))?;
    for chunk in entries.chunks(1024) {
        let mut batch = pstoreds::datastore::Batch::new();
        for e in chunk {
            batch.push(pstoreds::datastore::Op::Put(e.key()?, e.value.clone()));
        }
        out.write(batch)?;
    }
    let copied = out.query(&Query::prefix(Key::root()))?;
    if copied != entries {
        return Err(format!(
            "verification failed: {} entries read back from {}, {} expected",
            copied.len(),
            dst.display(),
            entries.len()
        )
        .into());
    }
    out.close()?;
    Ok(entries.len())
}

/// Copies a database (a directory of LevelDB files, or one SQLite file), without its LOCK.
fn copy_database(from: &Path, to: &Path) -> Result<()> {
    if from.is_file() {
        std::fs::copy(from, to)?;
        return Ok(());
    }
    if !from.is_dir() {
        return Err(format!("no database at {}", from.display()).into());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() != "LOCK" && entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

#[derive(Default)]
struct PeerRow {
    peer: String,
    addrs: usize,
    expired: usize,
    certified: Option<u64>,
    protocols: Option<usize>,
    agent: Option<String>,
    keys: String,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn inspect(ds: &dyn Datastore, path: &Path, as_json: bool) -> Result<()> {
    let now = now_unix();
    let mut rows: std::collections::BTreeMap<Vec<u8>, PeerRow> = Default::default();
    let (mut gc_entries, mut other, mut problems) = (0usize, 0usize, Vec::new());
    for entry in ds.query(&Query::prefix(Key::new("/peers")))? {
        let key = entry.key_lossy();
        let Some(kind) = PeerKey::parse(&key) else {
            other += 1;
            continue;
        };
        let peer = match &kind {
            PeerKey::Addrs { peer }
            | PeerKey::GcIndex { peer, .. }
            | PeerKey::PubKey { peer }
            | PeerKey::PrivKey { peer }
            | PeerKey::Metadata { peer, .. } => peer.clone(),
        };
        if let PeerKey::GcIndex { .. } = kind {
            gc_entries += 1;
            continue;
        }
        let row = rows.entry(peer.clone()).or_insert_with(|| PeerRow {
            peer: dump::peer_id_text(&peer),
            ..Default::default()
        });
        match kind {
            PeerKey::Addrs { .. } => match AddrBookRecord::decode(&entry.value) {
                Ok(rec) => {
                    row.addrs = rec.addrs.len();
                    row.expired = rec.addrs.iter().filter(|a| a.expiry <= now).count();
                    row.certified = rec.certified_record.map(|c| c.seq);
                }
                Err(e) => problems.push(format!("{key}: {e}")),
            },
            PeerKey::PubKey { .. } => row.keys.push_str("pub "),
            PeerKey::PrivKey { .. } => row.keys.push_str("priv "),
            PeerKey::Metadata { name, .. } if name == peer_key::PROTOCOLS => {
                match gob::decode_protocols(&entry.value) {
                    Ok(p) => row.protocols = Some(p.protocols.len()),
                    Err(e) => problems.push(format!("{key}: {e}")),
                }
            }
            PeerKey::Metadata { name, .. } if name == "AgentVersion" => {
                match Value::decode(&entry.value) {
                    Ok(Value::String(s)) => row.agent = Some(s),
                    Ok(v) => row.agent = Some(format!("<{}>", v.type_name())),
                    Err(e) => problems.push(format!("{key}: {e}")),
                }
            }
            _ => {}
        }
    }
    let addrs: usize = rows.values().map(|r| r.addrs).sum();
    let expired: usize = rows.values().map(|r| r.expired).sum();
    let with_addrs = rows.values().filter(|r| r.addrs > 0).count();
    let with_keys = rows.values().filter(|r| !r.keys.is_empty()).count();
    let signed = rows.values().filter(|r| r.certified.is_some()).count();
    if as_json {
        let peers: Vec<_> = rows
            .values()
            .map(|r| {
                json!({"peer": r.peer, "addrs": r.addrs, "expired": r.expired, "certified_seq": r.certified,
                       "protocols": r.protocols, "agent": r.agent, "keys": r.keys.trim()})
            })
            .collect();
        let summary = json!({"path": path, "peers": rows.len(), "peers_with_addrs": with_addrs,
            "peers_with_keys": with_keys, "addrs": addrs, "expired_addrs": expired,
            "signed_records": signed, "gc_index_entries": gc_entries, "other_keys": other,
            "problems": problems, "peer_list": peers});
        println!("{summary}");
        return Ok(());
    }
    println!("database   {}", path.display());
    println!(
        "peers      {} ({} with addresses, {} with keys, {} with signed records)",
        rows.len(),
        with_addrs,
        with_keys,
        signed
    );
    println!("addresses  {addrs} ({expired} expired, not yet collected)");
    println!("gc index   {gc_entries} entries");
    if other > 0 {
        println!("other keys {other} (not written by pstoreds)");
    }
    println!();
    println!(
        "{:<54} {:>5} {:>7} {:>6} {:>9}  {:<9} AGENT",
        "PEER", "ADDRS", "EXPIRED", "SIGNED", "PROTOCOLS", "KEYS"
    );
    for r in rows.values() {
        println!(
            "{:<54} {:>5} {:>7} {:>6} {:>9}  {:<9} {}",
            r.peer,
            r.addrs,
            r.expired,
            r.certified
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            r.protocols
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            r.keys.trim(),
            r.agent.as_deref().unwrap_or("-")
        );
    }
    for p in &problems {
        eprintln!("problem: {p}");
    }
    Ok(())
}
