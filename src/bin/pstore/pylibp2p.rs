//! `pstore migrate --from py-libp2p-sqlite|py-libp2p-leveldb DB DST`: py-libp2p 0.8.1's own
//! persistent peerstore into a new database in go-libp2p's layout. The library's
//! `pstoreds::pylibp2p` reads and converts; this prints what became of every record. The source
//! is never written: a SQLite file is opened read-only, a LevelDB directory copied first.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pstoreds::peerstore::{Options, Ttl};
use pstoreds::pylibp2p::{self, MigrateOptions, Report};

use crate::open::{self, Location, Source};
use crate::{MigrateFrom, Result, migrate, out};

/// The records are converted into a store in memory first: the destination is created only
/// when something was converted, and is then copied and verified key by key as any migrate.
pub fn migrate_command(
    source: &Source,
    from: MigrateFrom,
    dst: &Location,
    addr_ttl: Option<Duration>,
) -> Result<ExitCode> {
    let addr_ttl = match addr_ttl {
        None => Ttl::PERMANENT,
        Some(d) if d.is_zero() => {
            return Err("--addr-ttl must be longer than 0 (leave it out for permanent)".into());
        }
        Some(d) => Ttl::from(d),
    };
    let path = PathBuf::from(&source.db);
    if let Some(p) = dst.path()
        && p.exists()
    {
        return Err(format!(
            "{} already exists; migrate writes a new database",
            p.display()
        )
        .into());
    }
    // A LevelDB directory is always read from a private copy: opening replays its journal
    // (a write), and our lock (flock) does not see the one plyvel's C++ LevelDB holds (fcntl),
    // so opening it in place could write under a running py-libp2p node.
    if from == MigrateFrom::PyLibp2pLeveldb && !path.is_dir() {
        return Err(format!(
            "py-libp2p store at {}: {}",
            path.display(),
            match path.exists() {
                true => "not a directory (py-libp2p's SQLite store? --from py-libp2p-sqlite)",
                false => "no such directory",
            }
        )
        .into());
    }
    let copy = match source.snapshot || from == MigrateFrom::PyLibp2pLeveldb {
        true => Some(tempfile::tempdir()?),
        false => None,
    };
    let read_from = match &copy {
        Some(dir) => {
            let to = dir.path().join("db");
            match from {
                #[cfg(feature = "sqlite")]
                MigrateFrom::PyLibp2pSqlite => open::sqlite_snapshot(&path, &to)?,
                _ => open::copy_database(&path, &to)?,
            }
            to
        }
        None => path.clone(),
    };
    let src = match from {
        #[cfg(feature = "sqlite")]
        MigrateFrom::PyLibp2pSqlite => pylibp2p::Source::Sqlite(read_from),
        MigrateFrom::PyLibp2pLeveldb => pylibp2p::Source::LevelDb(read_from),
        MigrateFrom::Pstoreds => return Err("not a py-libp2p source".into()),
    };
    let ps = Options::new()
        .max_addrs_per_peer(0)
        .gc_purge_interval(Duration::ZERO)
        .open_memory()?;
    let report = match pylibp2p::migrate(&src, &ps, &MigrateOptions { addr_ttl }) {
        Ok(r) => r,
        Err(mut e) => {
            // Name the store as the user did, not its private copy.
            if let pylibp2p::Error::Source { path: p, .. } = &mut e {
                *p = path;
            }
            return Err(e.into());
        }
    };
    let mut o = out();
    for note in &report.notes {
        writeln!(o, "note: {note}")?;
    }
    for s in &report.skipped {
        writeln!(o, "skipped: {s}")?;
    }
    for p in &report.problems {
        writeln!(o, "problem: {p}")?;
    }
    if report.converted == 0 {
        let what = match report.records {
            0 => format!("no py-libp2p records in {}", path.display()),
            n => format!(
                "{} read from {}, none convertible",
                plural(n, "record", "records"),
                path.display()
            ),
        };
        writeln!(o, "nothing converted: {what}; {dst} not created")?;
        o.flush()?;
        return Ok(ExitCode::from(1));
    }
    o.flush()?;
    let keys = migrate(&**ps.datastore(), dst)?;
    writeln!(o, "{}", summary(&report, dst, keys))?;
    o.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

fn summary(r: &Report, dst: &Location, keys: usize) -> String {
    let c = &r.counts;
    format!(
        "migrated {} of {} py-libp2p records into {dst}: {}, {}, {}, {}, {}, {}, {} ({} \
            written and verified); {} skipped, {}",
        r.converted,
        r.records,
        plural(r.peers, "peer", "peers"),
        plural(c.addrs, "address", "addresses"),
        plural(c.public_keys, "public key", "public keys"),
        plural(c.private_keys, "private key", "private keys"),
        plural(c.metadata, "metadata entry", "metadata entries"),
        plural(c.protocol_sets, "protocol set", "protocol sets"),
        plural(c.signed_records, "signed record", "signed records"),
        plural(keys, "key", "keys"),
        r.skipped.len(),
        plural(r.problems.len(), "problem", "problems"),
    )
}
