//! `pstore`: look inside, check, repair and move go-libp2p (pstoreds) peerstore databases.

mod open;
mod pylibp2p;
mod view;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;

use open::{
    Location, Source, Spinner, disk_size, location, open, open_location, open_readable, progress,
    readable_location,
};
use pstoreds::datastore::leveldb::check::{self, FileProblem, Severity as FileSeverity};
use pstoreds::datastore::{Batch, Key, Op, Query};
use pstoreds::peerstore::{Clock, MockClock, Options, SystemClock};
use pstoreds::{dump, ops, verify};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Parser)]
#[command(
    name = "pstore",
    version,
    about = "Inspect, check and move go-libp2p peerstore databases (pstoreds layout)"
)]
struct Cli {
    /// The table of a SQLite or PostgreSQL store (go-ds-sql's default `blocks`; go-waku's
    /// peerstore is in `peerstore`).
    #[arg(long, global = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summary of the database and a table of its peers.
    Inspect {
        #[command(flatten)]
        source: Source,
        /// Print JSON (one object per line) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One line per peer: addresses, signed record, protocols, keys, agent version.
    Peers {
        #[command(flatten)]
        source: Source,
        /// Print JSON (one object per line) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Everything stored about one peer (expired addresses marked).
    Show {
        #[command(flatten)]
        source: Source,
        /// The peer: as Go prints it (12D3KooW..., Qm...) or its base32 key segment.
        peer: String,
        /// Print JSON (one object per line) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Counts: peers, addresses, keys, expired entries, size on disk.
    Stats {
        #[command(flatten)]
        source: Source,
        /// Print JSON (one object per line) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The canonical dump (JSON Lines, see docs/dump-and-ops.md): everything stored, one peer a
    /// line.
    Dump {
        #[command(flatten)]
        source: Source,
        /// Leave the private keys out (`"priv": null`), to share the dump.
        #[arg(long)]
        no_private_keys: bool,
    },
    /// Write a canonical dump into a database (created if missing). Every line is checked first:
    /// a bad line writes nothing.
    Load {
        /// The database to write into: a LevelDB directory, a SQLite file (`sqlite:PATH`) or
        /// a PostgreSQL table (`postgres://...`).
        db: String,
        /// The dump (JSON Lines); `-` for standard input.
        dump: PathBuf,
        /// The backend of a new database (default: SQLite for a new name ending in `.sqlite`,
        /// `.sqlite3` or `.db`, else LevelDB).
        #[arg(long, value_enum)]
        to: Option<Backend>,
    },
    /// Check the files (LevelDB: every table block, journal record and the MANIFEST, and
    /// whether goleveldb would replay the journals in full), then every key and value against
    /// go-libp2p's invariants; exit 1 if any error is found.
    Verify {
        #[command(flatten)]
        source: Source,
        /// Print JSON (one object per line) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Purge expired addresses now (one GC pass), then compact (LevelDB) to give the space
    /// back.
    Gc {
        /// The database: a LevelDB directory, a SQLite file (`sqlite:PATH`) or a PostgreSQL
        /// table (`postgres://...`).
        db: String,
        /// Run in lookahead mode with this window: a duration such as `1h`, `90m`, `20s` (a bare
        /// number is seconds). Default: purge every record.
        #[arg(long, value_parser = parse_duration)]
        lookahead: Option<Duration>,
        /// Print JSON (one object per line) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Copy every key into a new database (LevelDB, SQLite or PostgreSQL, in any direction),
    /// then read the copy back and compare. With `--from py-libp2p-sqlite` or `--from
    /// py-libp2p-leveldb`, DB is py-libp2p 0.8.1's own persistent peerstore: every record it
    /// holds is converted into go-libp2p's layout, and every one that cannot be is printed
    /// with its key and the reason; exit 1 if nothing could be converted.
    Migrate {
        #[command(flatten)]
        source: Source,
        /// The new database; must not exist yet (PostgreSQL: the table must be absent or
        /// empty).
        dst: String,
        /// The backend of a new path (default: SQLite for `sqlite:PATH` or a name ending in
        /// `.sqlite`, `.sqlite3` or `.db`, else LevelDB).
        #[arg(long, value_enum)]
        to: Option<Backend>,
        /// The destination's table, when it differs from `--table`.
        #[arg(long)]
        to_table: Option<String>,
        /// What DB is: a pstoreds database (default), or py-libp2p 0.8.1's persistent
        /// peerstore, its SQLite file (`py-libp2p-sqlite`) or its LevelDB directory
        /// (`py-libp2p-leveldb`).
        #[arg(long, value_enum, default_value = "pstoreds")]
        from: MigrateFrom,
        /// py-libp2p sources: the TTL of the converted addresses, a duration such as `1h`
        /// (default: permanent; py-libp2p keeps no TTL on disk and never expires what it
        /// reloads).
        #[arg(long, value_parser = parse_duration)]
        addr_ttl: Option<Duration>,
    },
    /// Apply an op script (JSON Lines, docs/dump-and-ops.md) through the peerstore API, on a mock
    /// clock starting at unix 1750000000 s; prints one line per op that failed, and exits 1 if
    /// any did.
    Apply {
        /// The database (created if missing): a LevelDB directory, a SQLite file
        /// (`sqlite:PATH`) or a PostgreSQL table (`postgres://...`).
        db: String,
        /// The script.
        ops: PathBuf,
        /// GC lookahead window for the script's `gc` ops: a duration such as `20s` or `1h` (a bare
        /// number is seconds). Default 0: purge-store mode.
        #[arg(long, value_parser = parse_duration, default_value = "0")]
        gc_lookahead: Duration,
    },
    /// Copy every readable record of a (damaged) LevelDB database into a new database, reading
    /// the files directly, and report exactly what could not be read. Exit 1 if anything was
    /// lost (the copy is made all the same).
    Salvage {
        /// The damaged LevelDB directory (only read).
        src: PathBuf,
        /// The new database; must not exist yet.
        dst: String,
        /// The backend of a new path (default: from its name, as for migrate).
        #[arg(long, value_enum)]
        to: Option<Backend>,
        /// Print JSON (one object per line) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Compact a LevelDB database: drop overwritten versions and deletion markers.
    Compact {
        /// The LevelDB directory.
        db: String,
    },
}

/// What `pstore migrate` reads.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MigrateFrom {
    /// A pstoreds database (go-libp2p's layout).
    Pstoreds,
    /// py-libp2p 0.8.1's persistent peerstore, SQLite backend.
    #[cfg(feature = "sqlite")]
    #[value(name = "py-libp2p-sqlite")]
    PyLibp2pSqlite,
    /// py-libp2p 0.8.1's persistent peerstore, LevelDB backend.
    #[value(name = "py-libp2p-leveldb")]
    PyLibp2pLeveldb,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Backend {
    Leveldb,
    #[cfg(feature = "sqlite")]
    Sqlite,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    open::TABLE.get_or_init(|| cli.table.clone());
    match run(cli) {
        Ok(code) => code,
        // A reader that went away (`pstore peers DB | head -1`) is not a failure.
        Err(e) if is_broken_pipe(&*e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pstore: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether an error, or any error behind it, is a closed pipe.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        next = err.source();
    }
    false
}

fn out() -> BufWriter<std::io::StdoutLock<'static>> {
    BufWriter::new(std::io::stdout().lock())
}

fn run(cli: Cli) -> Result<ExitCode> {
    let now = SystemClock.now_unix();
    match cli.command {
        Command::Inspect { source, json } => {
            let db = open(&source)?;
            let v = view::load(&*db.ds, None)?;
            stats(&v, &db.location, now, json, true)?;
        }
        Command::Peers { source, json } => {
            let db = open(&source)?;
            let v = view::load(&*db.ds, None)?;
            print_peers(&v, now, json)?;
        }
        Command::Stats { source, json } => {
            let db = open(&source)?;
            let v = view::load(&*db.ds, None)?;
            stats(&v, &db.location, now, json, false)?;
        }
        Command::Show { source, peer, json } => show_command(&source, &peer, now, json)?,
        Command::Dump {
            source,
            no_private_keys,
        } => dump_command(&source, !no_private_keys)?,
        Command::Load { db, dump, to } => load_command(&db, &dump, to)?,
        Command::Verify { source, json } => return verify_command(&source, json),
        Command::Salvage { src, dst, to, json } => return salvage_command(&src, &dst, to, json),
        Command::Gc {
            db,
            lookahead,
            json,
        } => gc_command(&db, lookahead.unwrap_or(Duration::ZERO), json)?,
        Command::Migrate {
            source,
            dst,
            to,
            to_table,
            from,
            addr_ttl,
        } => {
            let mut dst = destination(&dst, to);
            if let (Some(t), Location::Sqlite(_, table) | Location::Postgres(_, table)) =
                (to_table, &mut dst)
            {
                *table = t;
            }
            if from != MigrateFrom::Pstoreds {
                return pylibp2p::migrate_command(&source, from, &dst, addr_ttl);
            }
            if addr_ttl.is_some() {
                return Err("--addr-ttl is for py-libp2p sources (--from py-libp2p-...)".into());
            }
            let db = open(&source)?;
            let n = migrate(&*db.ds, &dst)?;
            eprintln!("copied and verified {n} entries into {dst}");
        }
        Command::Apply {
            db,
            ops,
            gc_lookahead,
        } => return apply_command(&db, &ops, gc_lookahead),
        Command::Compact { db } => compact_command(&db)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn show_command(source: &Source, peer: &str, now: i64, json: bool) -> Result<()> {
    let peer = view::parse_peer(peer)?;
    let db = open(source)?;
    let v = view::load(&*db.ds, Some(peer.as_bytes()))?;
    let Some(pv) = v.peers.get(peer.as_bytes()) else {
        return Err(format!("peer {peer} has nothing stored in {}", db.location).into());
    };
    show(peer.as_bytes(), pv, now, json)
}

fn dump_command(source: &Source, private_keys: bool) -> Result<()> {
    let db = open(source)?;
    let _spinner = Spinner::start("dumping");
    let mut o = out();
    dump::write_dump_with(&*db.ds, &mut o, private_keys)?;
    Ok(o.flush()?)
}

fn load_command(db: &str, file: &Path, to: Option<Backend>) -> Result<()> {
    let reader: Box<dyn std::io::BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?,
        ))
    };
    let loaded = dump::load_dump(reader)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let db = destination(db, to);
    let ds = open_location(&db, true)?;
    let n = loaded.batch.len();
    let spinner = Spinner::start(&format!("writing {}", count(n, "key")));
    ds.write(loaded.batch)?;
    drop(spinner);
    ds.close()?;
    eprintln!(
        "loaded {} ({}) into {db}",
        count(loaded.peers, "peer"),
        count(n, "key"),
    );
    Ok(())
}

fn gc_command(db: &str, lookahead: Duration, json: bool) -> Result<()> {
    let db = location(db);
    let ds = open_location(&db, false)?;
    let ps = Options::new()
        .gc_purge_interval(Duration::ZERO)
        .gc_lookahead_interval(lookahead)
        .open_datastore(std::sync::Arc::from(ds))?;
    let spinner = Spinner::start("collecting expired addresses");
    let r = ps.gc()?;
    ps.close()?;
    drop(spinner);
    // The pass is written; now give the space back (LevelDB keeps what was overwritten until
    // a compaction).
    if let Location::LevelDb(path) = &db {
        compact_leveldb(path)?;
    }
    let mut o = out();
    if json {
        writeln!(
            o,
            "{}",
            json!({"records_visited": r.records_visited, "records_updated": r.records_updated,
                   "records_deleted": r.records_deleted, "addrs_removed": r.addrs_removed,
                   "index_added": r.index_added, "index_removed": r.index_removed,
                   "records_unreadable": r.records_unreadable})
        )?;
    } else {
        writeln!(
            o,
            "visited {}: removed {}, rewrote {}, deleted {} left empty",
            count(r.records_visited, "record"),
            count(r.addrs_removed, "expired address"),
            count(r.records_updated, "record"),
            count(r.records_deleted, "record")
        )?;
        if r.records_unreadable > 0 {
            writeln!(
                o,
                "{} do not decode and were left as they are (see pstore verify)",
                count(r.records_unreadable, "record")
            )?;
        }
    }
    Ok(o.flush()?)
}

fn apply_command(db: &str, script: &Path, gc_lookahead: Duration) -> Result<ExitCode> {
    let clock = MockClock::at_nanos(ops::START_NANOS);
    let ds = open_location(&location(db), true)?;
    let ps = ops::replay_options(&clock, gc_lookahead).open_datastore(std::sync::Arc::from(ds))?;
    let reader = std::io::BufReader::new(
        std::fs::File::open(script).map_err(|e| format!("{}: {e}", script.display()))?,
    );
    let mut o = out();
    let failed = ops::apply_script(&ps, &clock, reader, &mut o)?;
    o.flush()?;
    ps.close()?;
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn compact_command(db: &str) -> Result<()> {
    match location(db) {
        Location::LevelDb(path) => compact_leveldb(&path),
        other => Err(format!(
            "{other} is not a LevelDB directory: compact is for LevelDB (SQLite and PostgreSQL \
                reclaim space on their own: VACUUM, autovacuum)"
        )
        .into()),
    }
}

fn compact_leveldb(db: &Path) -> Result<()> {
    let before = open::path_size(db);
    let ds = pstoreds::datastore::LevelDbDatastore::open(
        db,
        pstoreds::datastore::LevelDbOptions {
            create_if_missing: false,
            ..Default::default()
        },
    )?;
    for warning in ds.open_warnings() {
        eprintln!("warning: {warning}");
    }
    let spinner = Spinner::start("compacting");
    ds.compact()?;
    pstoreds::datastore::Datastore::close(&ds)?;
    drop(spinner);
    eprintln!(
        "compacted {}: {before} bytes before, {} after",
        db.display(),
        open::path_size(db)
    );
    Ok(())
}

fn print_peers(v: &view::DbView, now: i64, json: bool) -> Result<()> {
    let mut o = out();
    if json {
        for (peer, pv) in &v.peers {
            writeln!(o, "{}", pv.summary_json(peer, now))?;
        }
        return Ok(o.flush()?);
    }
    writeln!(
        o,
        "{:<54} {:>5} {:>7} {:>6} {:>9}  {:<9} AGENT",
        "PEER", "ADDRS", "EXPIRED", "SIGNED", "PROTOCOLS", "KEYS"
    )?;
    for (peer, pv) in &v.peers {
        writeln!(
            o,
            "{:<54} {:>5} {:>7} {:>6} {:>9}  {:<9} {}",
            pstoreds::peerstore::RawPeerId::from_bytes(peer.as_slice()).to_string(),
            pv.addrs(),
            pv.expired(now),
            pv.signed_seq()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            pv.protocols
                .as_ref()
                .map(|p| p.len().to_string())
                .unwrap_or_else(|| "-".into()),
            pv.keys(),
            pv.agent().unwrap_or_else(|| "-".into())
        )?;
    }
    Ok(o.flush()?)
}

fn stats(v: &view::DbView, path: &Location, now: i64, json: bool, with_peers: bool) -> Result<()> {
    let peers = v.peers.len();
    let with_addrs = v.peers.values().filter(|p| p.addrs() > 0).count();
    let with_keys = v
        .peers
        .values()
        .filter(|p| p.pub_key.is_some() || p.priv_key.is_some())
        .count();
    let pubs = v.peers.values().filter(|p| p.pub_key.is_some()).count();
    let privs = v.peers.values().filter(|p| p.priv_key.is_some()).count();
    let signed = v
        .peers
        .values()
        .filter(|p| p.signed_seq().is_some())
        .count();
    let addrs: usize = v.peers.values().map(|p| p.addrs()).sum();
    let expired: usize = v.peers.values().map(|p| p.expired(now)).sum();
    let metadata: usize = v.peers.values().map(|p| p.metadata.len()).sum();
    let problems: Vec<&String> = v.peers.values().flat_map(|p| &p.problems).collect();
    let size = disk_size(path);
    let path_text = path.to_string();
    let mut o = out();
    if json {
        let mut s = json!({"path": path_text, "peers": peers, "peers_with_addrs": with_addrs,
            "peers_with_keys": with_keys, "public_keys": pubs, "private_keys": privs,
            "signed_records": signed, "addrs": addrs,
            "expired_addrs": expired, "metadata_entries": metadata,
            "gc_index_entries": v.gc_entries,
            "other_keys": v.other_keys, "disk_bytes": size, "problems": problems});
        if with_peers {
            s["peer_list"] = v
                .peers
                .iter()
                .map(|(p, pv)| pv.summary_json(p, now))
                .collect();
        }
        writeln!(o, "{s}")?;
        return Ok(o.flush()?);
    }
    writeln!(o, "database   {path}")?;
    writeln!(
        o,
        "peers      {peers} ({with_addrs} with addresses, {with_keys} with keys, {signed} with \
            signed records)"
    )?;
    writeln!(
        o,
        "addresses  {addrs} ({expired} expired, not yet collected)"
    )?;
    writeln!(o, "keys       {pubs} public, {privs} private")?;
    writeln!(o, "metadata   {metadata} entries")?;
    writeln!(o, "gc index   {} entries", v.gc_entries)?;
    if v.other_keys > 0 {
        writeln!(o, "other keys {} (not written by pstoreds)", v.other_keys)?;
    }
    match size {
        Some(size) => writeln!(o, "on disk    {size} bytes")?,
        None => writeln!(o, "on disk    - (a server's table)")?,
    }
    for p in &problems {
        eprintln!("problem: {p}");
    }
    if with_peers {
        writeln!(o)?;
        o.flush()?;
        print_peers(v, now, false)?;
    }
    Ok(o.flush()?)
}

fn show(peer: &[u8], pv: &view::PeerView, now: i64, json: bool) -> Result<()> {
    let j = view::peer_json(peer, pv, now);
    let mut o = out();
    if json {
        writeln!(o, "{j}")?;
        return Ok(o.flush()?);
    }
    writeln!(o, "peer       {}", j["peer"].as_str().unwrap_or_default())?;
    writeln!(o, "key        /peers/.../{}", pv.b32)?;
    let addrs = j["addrs"].as_array().cloned().unwrap_or_default();
    writeln!(
        o,
        "addresses  {} ({} expired)",
        addrs.len(),
        pv.expired(now)
    )?;
    for a in &addrs {
        let text = a["addr"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| a["addr"].to_string());
        writeln!(
            o,
            "  {text:<50} {}",
            a["state"].as_str().unwrap_or_default()
        )?;
    }
    match &j["signed_record"] {
        serde_json::Value::Null => writeln!(o, "signed     -")?,
        s => writeln!(
            o,
            "signed     seq {}, {}",
            s["seq"],
            if s["valid"] == true {
                "signature and peer check out".to_owned()
            } else {
                format!("INVALID {}", s["error"])
            }
        )?,
    }
    for (label, k) in [("pub key", &j["pub"]), ("priv key", &j["priv"])] {
        match k {
            serde_json::Value::Null => writeln!(o, "{label:<10} -")?,
            k => writeln!(
                o,
                "{label:<10} {}",
                k["type"].as_str().unwrap_or("undecodable")
            )?,
        }
    }
    match &pv.protocols {
        None => writeln!(o, "protocols  -")?,
        Some(p) => writeln!(o, "protocols  {}", p.join(", "))?,
    }
    if let Some(m) = j["metadata"].as_object() {
        for (name, v) in m {
            let value = v
                .get("value")
                .map(|x| x.to_string())
                .unwrap_or_else(|| "(kept as stored)".into());
            writeln!(
                o,
                "metadata   {name} = {value} ({})",
                v["type"].as_str().unwrap_or("?")
            )?;
        }
    }
    for p in &pv.problems {
        writeln!(o, "PROBLEM    {p}")?;
    }
    Ok(o.flush()?)
}

/// Copies every entry into a new database at `dst`, in batches, then checks the copy holds
/// exactly the same entries.
fn migrate(src: &dyn pstoreds::datastore::Datastore, dst: &Location) -> Result<usize> {
    let out = create_new(dst, "migrate")?;
    let entries = src.query(&Query::prefix(Key::root()))?;
    let bar = progress(entries.len() as u64, "copying");
    for chunk in entries.chunks(1024) {
        let mut batch = Batch::new();
        for e in chunk {
            batch.push(Op::Put(e.key()?, e.value.clone()));
        }
        out.write(batch)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let copied = out.query(&Query::prefix(Key::root()))?;
    if copied != entries {
        return Err(format!(
            "verification failed: {} entries read back from {dst}, {} expected",
            copied.len(),
            entries.len()
        )
        .into());
    }
    out.close()?;
    Ok(entries.len())
}

/// Where a command writes: the name as given, with `--to` deciding the backend of a new plain
/// path.
fn destination(name: &str, to: Option<Backend>) -> Location {
    let parsed = location(name);
    match (to, &parsed) {
        (Some(Backend::Leveldb), Location::Sqlite(path, _)) if !path.exists() => {
            Location::LevelDb(path.clone())
        }
        #[cfg(feature = "sqlite")]
        (Some(Backend::Sqlite), Location::LevelDb(path)) if !path.exists() => {
            location(&format!("sqlite:{}", path.display()))
        }
        _ => parsed,
    }
}

/// A new, empty database at `dst`, which must not exist yet (a SQL table: must be absent or
/// empty).
fn create_new(dst: &Location, command: &str) -> Result<Box<dyn pstoreds::datastore::Datastore>> {
    if let Some(path) = dst.path() {
        if path.exists() {
            return Err(format!(
                "{} already exists; {command} writes a new database",
                path.display()
            )
            .into());
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(format!(
                "{} does not exist; create it first ({command} creates only the database \
                    itself)",
                parent.display()
            )
            .into());
        }
    }
    let ds = open_location(dst, true)?;
    if !ds.query(&Query::keys(Key::root()))?.is_empty() {
        return Err(format!("{dst} is not empty; {command} writes a new database").into());
    }
    Ok(ds)
}

/// A duration as Go writes one (`1h30m`, `20s`, `500ms`, `250us`, `10ns`), or a bare number of
/// seconds.
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (examples: 1h, 90m, 20s, 500ms, or seconds)");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += Duration::from_nanos((number * nanos_per).round() as u64);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// "1 error", "2 errors", "2 addresses".
fn count(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        _ if what.ends_with('s') => format!("{n} {what}es"),
        _ => format!("{n} {what}s"),
    }
}

fn severity_name(s: FileSeverity) -> &'static str {
    match s {
        FileSeverity::Error => "error",
        FileSeverity::Warning => "warning",
    }
}

/// A file finding as one line of text, or as JSON.
fn file_problem_text(p: &FileProblem) -> String {
    let mut at = if p.file.is_empty() {
        "database".to_owned()
    } else {
        p.file.clone()
    };
    if let Some(o) = p.offset {
        at.push_str(&format!(" at offset {o}"));
    }
    if let Some(l) = p.len {
        at.push_str(&format!(" ({l} bytes)"));
    }
    let keys = p
        .key_range
        .as_ref()
        .map(|(a, b)| format!(" [keys after {a:?} up to {b:?}]"))
        .unwrap_or_default();
    format!("{at}: {}{keys}", p.message)
}

fn file_problem_json(p: &FileProblem) -> serde_json::Value {
    json!({"file": p.file, "offset": p.offset, "len": p.len, "severity": severity_name(p.severity),
           "message": p.message,
           "key_range": p.key_range.as_ref().map(|(a, b)| json!({"after": a, "up_to": b}))})
}

fn verify_command(source: &Source, json: bool) -> Result<ExitCode> {
    let mut o = out();
    let mut errors = 0;
    let mut warnings = 0;
    let mut summary = serde_json::Map::new();
    // The files first, read directly (LevelDB), before anything opens the database; with
    // --snapshot, those of the private copy, which a running node does not change under us.
    let (location, copy) = readable_location(source)?;
    let mut files_ok = true;
    if let Location::LevelDb(path) = &location {
        let report = check::check_files(path);
        for p in &report.problems {
            match p.severity {
                FileSeverity::Error => errors += 1,
                FileSeverity::Warning => warnings += 1,
            }
            if json {
                writeln!(o, "{}", file_problem_json(p))?;
            } else {
                writeln!(o, "{}: {}", severity_name(p.severity), file_problem_text(p))?;
            }
        }
        files_ok = report.errors() == 0;
        summary.insert("tables".into(), report.tables.into());
        summary.insert("blocks".into(), report.blocks.into());
        summary.insert("journals".into(), report.journals.into());
        summary.insert("batches".into(), report.batches.into());
    }
    let mut keys = 0;
    if files_ok {
        let db = open_readable(source, &location, copy)?;
        let mut bar: Option<indicatif::ProgressBar> = None;
        let problems = verify::verify(&*db.ds, &mut |i, n| {
            bar.get_or_insert_with(|| progress(n, "verifying"))
                .set_position(i);
            keys = n;
        })?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        for p in &problems {
            let sev = match p.severity {
                verify::Severity::Error => {
                    errors += 1;
                    "error"
                }
                verify::Severity::Warning => {
                    warnings += 1;
                    "warning"
                }
            };
            if json {
                writeln!(
                    o,
                    "{}",
                    json!({"key": p.key, "severity": sev, "message": p.message})
                )?;
            } else {
                writeln!(o, "{sev}: {}: {}", p.key, p.message)?;
            }
        }
    } else if !json {
        writeln!(
            o,
            "note: the keys were not checked, since the files are damaged; `pstore salvage` \
                copies what is readable into a new database"
        )?;
    }
    summary.insert("keys".into(), keys.into());
    summary.insert("keys_checked".into(), files_ok.into());
    summary.insert("errors".into(), errors.into());
    summary.insert("warnings".into(), warnings.into());
    if json {
        writeln!(o, "{}", json!({ "summary": summary }))?;
    } else {
        let files = match (summary.get("tables"), summary.get("journals")) {
            (Some(t), Some(j)) => format!(
                ", {} and {} read",
                count(t.as_u64().unwrap_or(0) as usize, "table"),
                count(j.as_u64().unwrap_or(0) as usize, "journal")
            ),
            _ => String::new(),
        };
        writeln!(
            o,
            "{}, {} ({} checked{files})",
            count(errors, "error"),
            count(warnings, "warning"),
            count(keys as usize, "key")
        )?;
    }
    o.flush()?;
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn salvage_command(
    src: &std::path::Path,
    dst: &str,
    to: Option<Backend>,
    json: bool,
) -> Result<ExitCode> {
    if !src.is_dir() {
        return Err(format!("{} is not a LevelDB directory", src.display()).into());
    }
    let dst = destination(dst, to);
    let out_ds = create_new(&dst, "salvage")?;
    let report = check::salvage(src, &*out_ds)?;
    out_ds.close()?;
    let mut o = out();
    for p in &report.lost {
        if json {
            writeln!(o, "{}", file_problem_json(p))?;
        } else {
            writeln!(o, "lost: {}", file_problem_text(p))?;
        }
    }
    for note in &report.notes {
        if json {
            writeln!(o, "{}", json!({ "note": note }))?;
        } else {
            writeln!(o, "note: {note}")?;
        }
    }
    if json {
        writeln!(
            o,
            "{}",
            json!({"summary": {"keys": report.keys, "tables": report.tables,
                    "journals": report.journals, "lost_ranges": report.lost.len(),
                    "destination": dst.to_string()}})
        )?;
    } else {
        writeln!(
            o,
            "salvaged {} from {} and {} into {dst}; {} could not be read",
            count(report.keys, "key"),
            count(report.tables, "table"),
            count(report.journals, "journal"),
            count(report.lost.len(), "damaged range")
        )?;
    }
    o.flush()?;
    Ok(if report.lost.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
