//! Opening a store named as the `pstore` CLI names one ([`Location`]): a LevelDB directory,
//! `sqlite:PATH` (or a path ending `.sqlite`, `.sqlite3`, `.db`) or `postgres://...`, created if
//! missing, with the peerstore options Python passes.

use std::sync::Arc;
use std::time::Duration;

use pstoreds::datastore::{
    LevelDbDatastore, LevelDbOptions, PostgresDatastore, PostgresOptions, SqliteDatastore,
    SqliteOptions, SyncPolicy,
};
use pstoreds::location::Location;
use pstoreds::peerstore::{Options, Peerstore};

use crate::errors::Failure;
use crate::syncer::Target;

/// When writes reach the disk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sync {
    /// Every write is synced before it returns (go-ds-leveldb's default).
    Always,
    /// Writes are handed to the OS; nothing forces them to the disk.
    Never,
    /// Handed to the OS at once, synced together every so often.
    Interval(Duration),
}

impl Sync {
    /// `"always"`, `"never"` or `"interval"` (with `interval` seconds).
    pub fn parse(name: &str, interval: f64) -> Result<Sync, Failure> {
        match name {
            "always" => Ok(Sync::Always),
            "never" => Ok(Sync::Never),
            "interval" => seconds("sync_interval", interval)
                .and_then(|d| {
                    if d.is_zero() {
                        Err(Failure::Invalid("sync_interval must be above 0".into()))
                    } else {
                        Ok(d)
                    }
                })
                .map(Sync::Interval),
            other => Err(Failure::Invalid(format!(
                "sync must be \"always\", \"never\" or \"interval\", not {other:?}"
            ))),
        }
    }

    fn policy(self) -> SyncPolicy {
        match self {
            Sync::Always => SyncPolicy::Always,
            Sync::Never | Sync::Interval(_) => SyncPolicy::Never,
        }
    }
}

/// A duration in seconds, as Python gives one.
pub fn seconds(what: &str, s: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| Failure::Invalid(format!("{what} must be a number of seconds >= 0, not {s}")))
}

/// What Python may set; `None`: the crate's default (go-libp2p's).
#[derive(Debug, Default)]
pub struct Settings {
    pub table: Option<String>,
    pub cache_size: Option<usize>,
    pub max_protocols: Option<usize>,
    pub max_addrs_per_peer: Option<usize>,
    pub max_peer_records: Option<usize>,
    pub gc_purge_interval: Option<f64>,
    pub gc_lookahead_interval: Option<f64>,
    pub gc_initial_delay: Option<f64>,
    pub gc_index_max_records: Option<usize>,
}

impl Settings {
    fn options(&self, sync: Sync) -> Result<Options, Failure> {
        let mut o = Options::new().sync(sync.policy());
        if let Some(n) = self.cache_size {
            o = o.cache_size(n);
        }
        if let Some(n) = self.max_protocols {
            o = o.max_protocols(n);
        }
        if let Some(n) = self.max_addrs_per_peer {
            o = o.max_addrs_per_peer(n);
        }
        o = o.max_peer_records(self.max_peer_records);
        if let Some(s) = self.gc_purge_interval {
            o = o.gc_purge_interval(seconds("gc_purge_interval", s)?);
        }
        if let Some(s) = self.gc_lookahead_interval {
            o = o.gc_lookahead_interval(seconds("gc_lookahead_interval", s)?);
        }
        if let Some(s) = self.gc_initial_delay {
            o = o.gc_initial_delay(seconds("gc_initial_delay", s)?);
        }
        if let Some(n) = self.gc_index_max_records {
            o = o.gc_index_max_records(n);
        }
        Ok(o)
    }
}

/// Opens (creating if missing) the store `name` names; with it, the files an interval sync
/// covers (`None` for a server).
pub fn open(
    name: &str,
    settings: &Settings,
    sync: Sync,
) -> Result<(Peerstore, Location, Option<Target>), Failure> {
    let location = Location::parse(name, settings.table.as_deref());
    let opts = settings.options(sync)?;
    let (ps, target) = match &location {
        Location::LevelDb(path) => {
            let ds = LevelDbDatastore::open(
                path,
                LevelDbOptions {
                    sync: sync.policy(),
                    ..Default::default()
                },
            )?;
            (
                opts.open_datastore(Arc::new(ds))?,
                Target::Dir(path.clone()),
            )
        }
        Location::Sqlite(path, table) => {
            let ds = SqliteDatastore::open(
                path,
                SqliteOptions {
                    sync: sync.policy(),
                    table: table.clone(),
                    ..Default::default()
                },
            )?;
            (
                opts.open_datastore(Arc::new(ds))?,
                Target::File(path.clone()),
            )
        }
        Location::Postgres(url, table) => {
            if matches!(sync, Sync::Interval(_)) {
                return Err(Failure::Invalid(
                    "sync=\"interval\" is for LevelDB and SQLite files; a PostgreSQL server \
                        commits every write"
                        .into(),
                ));
            }
            let ds = PostgresDatastore::open(
                url,
                PostgresOptions {
                    sync: sync.policy(),
                    table: table.clone(),
                    ..Default::default()
                },
            )?;
            return Ok((opts.open_datastore(Arc::new(ds))?, location, None));
        }
    };
    Ok((ps, location, Some(target)))
}
