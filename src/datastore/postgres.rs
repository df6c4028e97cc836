//! The PostgreSQL backend, in go-ds-sql's PostgreSQL layout: one table
//! `<table> (key TEXT NOT NULL UNIQUE, data BYTEA)` (default `blocks`) with go-ds-sql's
//! `text_pattern_ops` index, so that go-libp2p nodes on pstoreds over go-ds-sql and this crate
//! share one peerstore.
//!
//! - Connections come from a small pool; each is opened with a connect timeout and a
//!   statement timeout, and TLS when the URL's `sslmode` asks for it.
//! - A batch is one transaction; a write returns after its commit.
//! - Transient failures (connection reset, server restart, serialization failure, deadlock)
//!   are retried with a bound, then reported as [`Error::Server`] or a write error.
//! - Batch conditions ([`Batch::expect`]) lock the key's row (`SELECT ... FOR UPDATE`, or an
//!   insert that claims a key expected absent) and compare the stored value; a batch of one op
//!   with a condition on its own key is one compare-and-set statement. A change by anybody since
//!   the value was read is detected ([`Error::Conflict`]).
//! - [`PostgresOptions::read_cache`] keeps values read between reads, each for at most
//!   [`PostgresOptions::read_cache_max_age`]. A process with a cache (or
//!   [`PostgresOptions::announce_writes`]) announces the keys each write changed
//!   (`NOTIFY pstoreds_<table>`, in the same transaction, delivered at its commit), and a
//!   listener connection drops a key as soon as another process announces a change to it.
//!   Writes that are not announced (go-libp2p's, or a process without either option) are seen
//!   once the age bound has passed. While the listener is not connected nothing is served
//!   from the cache.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arc_cache::ArcCache;
use postgres::config::SslMode;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Statement};

use super::{
    Batch, DEFAULT_TABLE, Datastore, Entry, Error, Key, Op, Query, Result, SyncPolicy,
    check_table_name,
};

/// How to open a [`PostgresDatastore`].
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// The table (go-ds-sql's default `blocks`).
    pub table: String,
    /// Create the table and its index if missing. Default: true.
    pub create_table: bool,
    /// Connections kept open at most. Default: 8.
    pub pool_size: usize,
    /// How long connecting may take (and how long an operation waits for a free
    /// connection). Default: 10 s.
    pub connect_timeout: Duration,
    /// The server cancels a statement running longer. Default: 30 s.
    pub statement_timeout: Duration,
    /// How many times a transient failure is retried. Default: 5.
    pub retries: u32,
    /// The wait before the first retry; it doubles each time. Default: 50 ms.
    pub retry_delay: Duration,
    /// `Always`: a write returns after its commit reached the server's disk
    /// (`synchronous_commit = on`, PostgreSQL's default). `Never`: after the commit, without
    /// waiting for the server's WAL flush (`synchronous_commit = off`).
    pub sync: SyncPolicy,
    /// The `application_name` the server shows for our connections (`pg_stat_activity`), to
    /// tell nodes apart. Default: `pstoreds`.
    pub application_name: String,
    /// With TLS (`sslmode=require` or `prefer`), verify the server's certificate against this
    /// PEM root certificate (and its host name). Without it, TLS encrypts but does not
    /// authenticate the server, as libpq's `sslmode=require` does.
    pub tls_root_certificate: Option<PathBuf>,
    /// Values kept in memory between reads (an ARC cache of this many keys; absent keys
    /// count). Default 0: every read asks the server, so no read is ever stale.
    pub read_cache: usize,
    /// How long a cached value is served without asking the server again: the bound on how
    /// stale a read may be after a write by a process that does not announce its writes
    /// (go-libp2p, or ours without `announce_writes`). Announced writes evict at once (the
    /// announcement arrives within milliseconds of the commit). Default: 1 s.
    pub read_cache_max_age: Duration,
    /// Announce the keys each write changes (`NOTIFY`), so that caching processes drop them at
    /// once. A process with a `read_cache` always announces. Default: false, because
    /// PostgreSQL serializes the commits of announcing transactions: measured here, eight
    /// writing threads commit half as many writes per second with announcements.
    pub announce_writes: bool,
}

impl PostgresOptions {
    /// Whether writes are announced: asked for, or needed by our own cache's peers.
    fn announces(&self) -> bool {
        self.announce_writes || self.read_cache > 0
    }
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            table: DEFAULT_TABLE.to_owned(),
            create_table: true,
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
            retries: 5,
            retry_delay: Duration::from_millis(50),
            sync: SyncPolicy::Always,
            application_name: "pstoreds".to_owned(),
            tls_root_certificate: None,
            read_cache: 0,
            read_cache_max_age: Duration::from_secs(1),
            announce_writes: false,
        }
    }
}

/// A [`Datastore`] in a PostgreSQL table, shared with other processes (ours and Go's).
pub struct PostgresDatastore {
    server: String,
    table: String,
    sql: Statements,
    config: postgres::Config,
    tls: Option<postgres_native_tls::MakeTlsConnector>,
    options: PostgresOptions,
    pool: Mutex<PoolState>,
    returned: Condvar,
    closed: AtomicBool,
    /// This open's name in announcements (its own are not news to it).
    instance: String,
    cache: Option<Arc<ReadCache>>,
    listener: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for PostgresDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDatastore")
            .field("server", &self.server)
            .field("table", &self.table)
            .finish()
    }
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

/// A connection and the statements prepared on it.
struct Conn {
    client: Client,
    prepared: Vec<Option<Statement>>,
}

/// The statements, with the table name filled in; `Conn::prepared` is indexed by `Sql`.
struct Statements([String; SQL_COUNT]);

const SQL_COUNT: usize = 13;

#[derive(Clone, Copy)]
enum Sql {
    Get = 0,
    Put = 1,
    Delete = 2,
    LockRow = 3,
    Scan = 4,
    PutOne = 5,
    DeleteOne = 6,
    PutIfUnchanged = 7,
    PutIfAbsent = 8,
    DeleteIfUnchanged = 9,
    Announce = 10,
    Claim = 11,
    ScanPage = 12,
}

/// The channel a table's writes are announced on.
fn channel(table: &str) -> String {
    let mut c = format!("pstoreds_{table}");
    c.truncate(63);
    c
}

impl Statements {
    /// The statements on table `t`. With `announce`, a one-statement write also announces its
    /// key when it changed a row (its last parameter is the announcement).
    fn new(t: &str, announce: bool) -> Statements {
        let c = channel(t);
        let one = |sql: String, payload: usize| {
            if announce {
                format!("WITH w AS ({sql} RETURNING 1) SELECT pg_notify('{c}', ${payload}) FROM w")
            } else {
                sql
            }
        };
        Statements([
            format!("SELECT data FROM {t} WHERE key = $1"),
            // Several puts in one statement; go-ds-sql's put is the one-row form of this.
            format!(
                "INSERT INTO {t} (key, data) SELECT * FROM unnest($1::text[], $2::bytea[]) \
                    ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data"
            ),
            format!("DELETE FROM {t} WHERE key = ANY($1::text[])"),
            // A condition's row, locked until the commit: a conditional write of another
            // process waits, then sees our value.
            format!("SELECT data FROM {t} WHERE key = $1 FOR UPDATE"),
            // The range form of go-ds-sql's `LIKE 'prefix%'` (which a parameter would keep off
            // the index), in byte order whatever the database's collation.
            format!(
                "SELECT key, data FROM {t} WHERE key LIKE $1 ESCAPE '\\' \
                    ORDER BY key COLLATE \"C\""
            ),
            // go-ds-sql's put and delete, for a batch of one.
            one(
                format!(
                    "INSERT INTO {t} (key, data) VALUES ($1, $2) \
                        ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data"
                ),
                3,
            ),
            one(format!("DELETE FROM {t} WHERE key = $1"), 2),
            // A batch of one with a condition on its own key, in one statement: the row is
            // locked and the condition re-checked on its latest version (compare-and-set).
            one(
                format!(
                    "UPDATE {t} SET data = $2 WHERE key = $1 AND coalesce(data, ''::bytea) = $3"
                ),
                4,
            ),
            // Also: a key expected absent is claimed (an uncommitted row others wait on) by
            // inserting it. (The claim inside a transaction does not announce: the
            // transaction announces its keys before it commits.)
            one(
                format!("INSERT INTO {t} (key, data) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"),
                3,
            ),
            one(
                format!("DELETE FROM {t} WHERE key = $1 AND coalesce(data, ''::bytea) = $2"),
                3,
            ),
            format!("SELECT pg_notify('{c}', $1)"),
            format!("INSERT INTO {t} (key, data) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"),
            // One page of a scan, in the byte order of go-ds-sql's text_pattern_ops index
            // (which serves both the range and the order).
            format!(
                "SELECT key, data FROM {t} WHERE key LIKE $1 ESCAPE '\\' AND key ~>~ $2 \
                    ORDER BY key USING ~<~ LIMIT $3"
            ),
        ])
    }
}

/// Why an attempt failed: the server's or the connection's error (maybe worth a retry), or one
/// of ours (never retried).
enum Fail {
    Pg(postgres::Error),
    Ds(Error),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Pg(e)
    }
}

/// Whether retrying could help: the connection broke, the server is restarting or shutting
/// down, or the transaction lost a race the server resolved by aborting it.
fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        return [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::CONNECTION_DOES_NOT_EXIST,
            SqlState::CONNECTION_FAILURE,
            SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
        ]
        .contains(code);
    }
    // No SQLSTATE: an I/O error talking to the server.
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = next {
        if err.is::<std::io::Error>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// A client error as one line: the server's message (with its detail), or the client's.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => {
            let mut text = e.to_string();
            let mut next = std::error::Error::source(e);
            while let Some(err) = next {
                text.push_str(&format!(": {err}"));
                next = err.source();
            }
            text
        }
    }
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let redacted = match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!("{}:***{}", &authority[..colon], &authority[at..]),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let mut out = format!(
        "{}{redacted}{}",
        &url[..scheme_end + 3],
        &rest[authority_end..]
    );
    // A password given as a query parameter.
    if let Some(at) = out.find("password=") {
        let end = out[at..].find('&').map_or(out.len(), |e| at + e);
        out.replace_range(at + "password=".len()..end, "***");
    }
    out
}

/// `prefix` as a LIKE pattern matching every key that starts with it.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A cached value (`None`: the key is absent) and when it was read.
type Cached = (Option<Vec<u8>>, Instant);

/// The read cache ([`PostgresOptions::read_cache`]) and what its listener thread shares.
struct ReadCache {
    entries: Mutex<ArcCache<String, Cached>>,
    max_age: Duration,
    /// Bumped by every eviction: a value read from the server is cached only if nothing was
    /// evicted while it was read (the eviction may have been of that very key, for a change
    /// committed after the read).
    epoch: AtomicU64,
    /// The listener is connected and listening: only then is anything served or cached.
    listening: AtomicBool,
    stop: AtomicBool,
}

impl ReadCache {
    /// A fresh cached value, if any: `Some(None)` is a key known absent.
    fn get(&self, key: &str) -> Option<Option<Vec<u8>>> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get_mut(&key.to_owned()) {
            Some((value, at)) if at.elapsed() < self.max_age => Some(value.clone()),
            Some(_) => {
                entries.remove(&key.to_owned());
                None
            }
            None => None,
        }
    }

    /// Caches what the server said, unless something was evicted since `epoch`.
    fn fill(&self, key: &str, value: &Option<Vec<u8>>, epoch: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.listening.load(Ordering::SeqCst) && self.epoch.load(Ordering::SeqCst) == epoch {
            entries.insert(key.to_owned(), (value.clone(), Instant::now()));
        }
    }

    fn evict<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for key in keys {
            entries.remove(&key.to_owned());
        }
    }

    fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

/// The listener thread: a connection of its own that `LISTEN`s on the table's channel and
/// evicts what other processes announce. Whenever it is not connected, the cache is emptied
/// and bypassed (an announcement may have been missed); it reconnects with a growing delay.
fn listen(
    cache: Arc<ReadCache>,
    connect: impl Fn() -> std::result::Result<Client, postgres::Error>,
    channel: String,
    instance: String,
    server: String,
) {
    let mut delay = Duration::from_millis(50);
    let sleep = |d: Duration| {
        let until = Instant::now() + d;
        while Instant::now() < until && !cache.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20).min(d));
        }
    };
    while !cache.stop.load(Ordering::SeqCst) {
        let mut client = match connect().and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {channel}"))?;
            Ok(c)
        }) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(%server, error = %describe(&e),
                    "the read cache's listener cannot connect; reads go to the server");
                sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        delay = Duration::from_millis(50);
        // What was cached before the LISTEN may have changed unannounced to us.
        cache.clear();
        cache.listening.store(true, Ordering::SeqCst);
        while !cache.stop.load(Ordering::SeqCst) {
            let next = client
                .notifications()
                .timeout_iter(Duration::from_millis(100))
                .next();
            match next {
                Ok(Some(note)) => {
                    let mut lines = note.payload().split('\n');
                    if lines.next() != Some(instance.as_str()) {
                        let keys: Vec<&str> = lines.collect();
                        if keys.contains(&"") {
                            cache.clear();
                        } else {
                            cache.evict(keys);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%server, error = %describe(&e),
                        "the read cache's listener lost its connection; reconnecting");
                    break;
                }
                Ok(None) if client.is_closed() => break,
                Ok(None) => {}
            }
        }
        cache.listening.store(false, Ordering::SeqCst);
        cache.clear();
    }
}

/// Announcements of `keys` by `instance`, one key a line, each within PostgreSQL's 8000-byte
/// payload limit. A key that cannot stand on a line of its own (a line break in it, or too
/// long) is announced as an empty line: drop everything.
fn announcements<'a>(instance: &str, keys: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in keys {
        let key = if key.contains('\n') || key.len() > 7000 {
            ""
        } else {
            key
        };
        match out.last_mut() {
            Some(last) if last.len() + 1 + key.len() <= 7900 => {
                last.push('\n');
                last.push_str(key);
            }
            _ => out.push(format!("{instance}\n{key}")),
        }
    }
    out
}

impl PostgresDatastore {
    /// Connects to the server named by `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    /// [?sslmode=disable|prefer|require]`; `postgresql://` too), checks the table (creating it
    /// if missing and allowed) and keeps the connection for the pool.
    pub fn open(url: &str, options: PostgresOptions) -> Result<PostgresDatastore> {
        let server = redact_url(url);
        let server_err = |reason: String| Error::Server {
            server: server.clone(),
            reason,
        };
        // The client's parse errors never quote the URL, so the password stays out of them.
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| server_err(format!("not a PostgreSQL URL: {e}")))?;
        check_table_name(&options.table).map_err(|problem| Error::Schema {
            table: format!("table {} on {server}", options.table),
            problem,
        })?;
        if options.pool_size == 0 {
            return Err(server_err("the pool size must be at least 1".to_owned()));
        }
        config
            .connect_timeout(options.connect_timeout)
            .application_name(&options.application_name)
            .keepalives(true)
            .options(&format!(
                "-c statement_timeout={} -c synchronous_commit={}",
                options.statement_timeout.as_millis(),
                match options.sync {
                    SyncPolicy::Always => "on",
                    SyncPolicy::Never => "off",
                }
            ));
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => None,
            _ => Some(tls_connector(&options).map_err(server_err)?),
        };
        let table = options.table.to_ascii_lowercase();
        let cache = match options.read_cache {
            0 => None,
            n => Some(Arc::new(ReadCache {
                entries: Mutex::new(ArcCache::new(n).map_err(|e| server_err(e.to_owned()))?),
                max_age: options.read_cache_max_age,
                epoch: AtomicU64::new(0),
                listening: AtomicBool::new(false),
                stop: AtomicBool::new(false),
            })),
        };
        static OPENS: AtomicU64 = AtomicU64::new(0);
        let instance = format!(
            "{}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            OPENS.fetch_add(1, Ordering::SeqCst)
        );
        let ds = PostgresDatastore {
            sql: Statements::new(&table, options.announces()),
            server,
            table,
            config,
            tls,
            options,
            pool: Mutex::new(PoolState::default()),
            returned: Condvar::new(),
            closed: AtomicBool::new(false),
            instance,
            cache,
            listener: Mutex::new(None),
        };
        ds.prepare_table()?;
        ds.start_listener()?;
        Ok(ds)
    }

    /// Starts the read cache's listener and waits (up to the connect timeout) until it
    /// listens, so that the cache serves from the first read.
    fn start_listener(&self) -> Result<()> {
        let Some(cache) = self.cache.clone() else {
            return Ok(());
        };
        let (config, tls) = (self.config.clone(), self.tls.clone());
        let connect = move || match &tls {
            None => config.connect(NoTls),
            Some(tls) => config.connect(tls.clone()),
        };
        let (channel, instance, server) = (
            channel(&self.table),
            self.instance.clone(),
            self.server.clone(),
        );
        let shared = cache.clone();
        let handle = std::thread::Builder::new()
            .name("pstoreds-pg-listen".into())
            .spawn(move || listen(shared, connect, channel, instance, server))
            .map_err(|e| Error::Server {
                server: self.server.clone(),
                reason: format!("cannot start the read cache's listener thread: {e}"),
            })?;
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        let deadline = Instant::now() + self.options.connect_timeout;
        while !cache.listening.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Stops the listener thread.
    fn stop_listener(&self) {
        if let Some(cache) = &self.cache {
            cache.stop.store(true, Ordering::SeqCst);
            cache.listening.store(false, Ordering::SeqCst);
        }
        let handle = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// After a write (or a failed one): the batch's keys are evicted from our cache.
    fn evict_batch(&self, batch: &Batch) {
        if let Some(cache) = &self.cache {
            let written = batch.ops().iter().map(|op| match op {
                Op::Put(k, _) | Op::Delete(k) => k.as_str(),
            });
            cache.evict(written.chain(batch.expected().iter().map(|(k, _)| k.as_str())));
        }
    }

    /// Whether the read cache serves reads now: its listener is connected (false without a
    /// cache). A health check for operators; reads are correct either way.
    pub fn read_cache_live(&self) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|c| c.listening.load(Ordering::SeqCst))
    }

    /// The server, as a URL without the password.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Checks the table has go-ds-sql's layout, creating it (and its index) if missing.
    fn prepare_table(&self) -> Result<()> {
        let table = self.table.clone();
        let where_ = format!("table {} on {}", self.table, self.server);
        let schema = |problem: String| Error::Schema {
            table: where_.clone(),
            problem,
        };
        let columns = self.run(
            || format!("checking {where_}"),
            |e| schema(format!("reading its columns failed: {e}")),
            |conn| {
                let rows = conn.client.query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns \
                        WHERE table_schema = current_schema() AND table_name = $1",
                    &[&table],
                )?;
                Ok(rows
                    .iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                    .collect::<Vec<_>>())
            },
        )?;
        if columns.is_empty() {
            if !self.options.create_table {
                return Err(schema("there is no such table".to_owned()));
            }
            let t = &self.table;
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {t} (key TEXT NOT NULL UNIQUE, data BYTEA); \
                 CREATE INDEX IF NOT EXISTS {t}_key_text_pattern_ops_idx \
                    ON {t} (key text_pattern_ops);"
            );
            return self.run(
                || format!("creating {where_}"),
                |e| schema(format!("creating it failed: {e}")),
                |conn| {
                    match conn.client.batch_execute(&create) {
                        Ok(()) => Ok(()),
                        // Another process created it at the same moment.
                        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(()),
                        Err(e) => Err(e.into()),
                    }
                },
            );
        }
        let has = |name: &str, types: &[&str]| {
            columns
                .iter()
                .any(|(n, t)| n == name && types.contains(&t.as_str()))
        };
        if !has("key", &["text", "character varying"]) || !has("data", &["bytea"]) {
            let found: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
            return Err(schema(format!(
                "its columns are ({}), not go-ds-sql's (key TEXT NOT NULL UNIQUE, data BYTEA)",
                found.join(", ")
            )));
        }
        let unique = self.run(
            || format!("checking {where_}"),
            |e| schema(format!("reading its indexes failed: {e}")),
            |conn| {
                let row = conn.client.query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a \
                        ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                        WHERE i.indrelid = to_regclass($1) AND i.indisunique \
                        AND i.indnatts = 1 AND a.attname = 'key')",
                    &[&table],
                )?;
                Ok(row.get::<_, bool>(0))
            },
        )?;
        if !unique {
            return Err(schema(
                "its key column is not UNIQUE, which go-ds-sql's put (INSERT ... ON CONFLICT \
                    (key)) needs"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// A connection from the pool, or a new one; waits for a free one up to the connect
    /// timeout when all are busy.
    fn checkout(&self) -> std::result::Result<Conn, Fail> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Fail::Ds(Error::Closed));
        }
        let deadline = Instant::now() + self.options.connect_timeout;
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(conn) = pool.idle.pop() {
                if conn.client.is_closed() {
                    pool.open -= 1;
                    continue;
                }
                return Ok(conn);
            }
            if pool.open < self.options.pool_size {
                pool.open += 1;
                drop(pool);
                let connected = match &self.tls {
                    None => self.config.connect(NoTls),
                    Some(tls) => self.config.connect(tls.clone()),
                };
                return match connected {
                    Ok(client) => Ok(Conn {
                        client,
                        prepared: vec![None; SQL_COUNT],
                    }),
                    Err(e) => {
                        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                        pool.open -= 1;
                        self.returned.notify_one();
                        Err(Fail::Pg(e))
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Fail::Ds(Error::Server {
                    server: self.server.clone(),
                    reason: format!(
                        "all {} connections stayed busy for {:?}",
                        self.options.pool_size, self.options.connect_timeout
                    ),
                }));
            }
            pool = self
                .returned
                .wait_timeout(pool, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Gives a connection back (a broken one is dropped).
    fn checkin(&self, conn: Conn) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if conn.client.is_closed() || self.closed.load(Ordering::SeqCst) {
            pool.open -= 1;
        } else {
            pool.idle.push(conn);
        }
        self.returned.notify_one();
    }

    /// Runs `f` on a pooled connection, retrying transient failures with a doubling delay up to
    /// `options.retries` times (connection failures only within the connect timeout).
    /// `what` names the operation in a server error; `failed` makes the error for any other
    /// failure (a read error naming the key, a write error naming the batch, ...).
    fn run<T>(
        &self,
        what: impl Fn() -> String,
        failed: impl FnOnce(super::Cause) -> Error,
        mut f: impl FnMut(&mut Conn) -> std::result::Result<T, Fail>,
    ) -> Result<T> {
        let started = Instant::now();
        let mut delay = self.options.retry_delay;
        let mut attempt = 0;
        loop {
            let (failure, connecting) = match self.checkout() {
                Ok(mut conn) => {
                    let result = f(&mut conn);
                    self.checkin(conn);
                    match result {
                        Ok(v) => return Ok(v),
                        Err(Fail::Ds(e)) => return Err(e),
                        Err(Fail::Pg(e)) => (e, false),
                    }
                }
                Err(Fail::Ds(e)) => return Err(e),
                Err(Fail::Pg(e)) => (e, true),
            };
            let retry = is_transient(&failure)
                && attempt < self.options.retries
                && !(connecting && started.elapsed() + delay >= self.options.connect_timeout);
            if !retry {
                let reason = describe(&failure);
                return Err(if connecting || failure.is_closed() {
                    Error::Server {
                        server: self.server.clone(),
                        reason: format!("{reason} ({})", what()),
                    }
                } else {
                    failed(reason.into())
                });
            }
            tracing::warn!(server = %self.server, error = %describe(&failure), attempt,
                "transient PostgreSQL failure; retrying");
            std::thread::sleep(delay);
            delay *= 2;
            attempt += 1;
        }
    }
}

impl Conn {
    /// The statement, prepared on this connection the first time.
    fn statement(&mut self, sql: &Statements, which: Sql) -> std::result::Result<Statement, Fail> {
        let slot = &mut self.prepared[which as usize];
        if let Some(s) = slot {
            return Ok(s.clone());
        }
        let s = self.client.prepare(&sql.0[which as usize])?;
        *slot = Some(s.clone());
        Ok(s)
    }
}

fn get_on(
    conn: &mut Conn,
    sql: &Statements,
    key: &Key,
) -> std::result::Result<Option<Vec<u8>>, Fail> {
    let stmt = conn.statement(sql, Sql::Get)?;
    let row = conn.client.query_opt(&stmt, &[&key.as_str()])?;
    Ok(row.map(|r| r.get::<_, Option<Vec<u8>>>(0).unwrap_or_default()))
}

/// The batch's net effect, key by key (a later op on a key replaces an earlier one): the puts
/// and the deletes, which one statement each can then apply.
fn net_effect(batch: &Batch) -> (Vec<String>, Vec<Vec<u8>>, Vec<String>) {
    let mut last: std::collections::BTreeMap<&str, Option<&Vec<u8>>> = Default::default();
    for op in batch.ops() {
        match op {
            Op::Put(k, v) => last.insert(k.as_str(), Some(v)),
            Op::Delete(k) => last.insert(k.as_str(), None),
        };
    }
    let (mut keys, mut values, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    for (k, v) in last {
        match v {
            Some(v) => {
                keys.push(k.to_owned());
                values.push(v.clone());
            }
            None => deleted.push(k.to_owned()),
        }
    }
    (keys, values, deleted)
}

/// A batch of one op (with at most a condition on its own key), as one statement in
/// autocommit: one round trip instead of a transaction's four or more.
struct OneStatement<'a> {
    sql: Sql,
    key: &'a str,
    value: Option<&'a Vec<u8>>,
    expected: Option<&'a Vec<u8>>,
    /// No row changed means the condition did not hold.
    conditional: bool,
}

impl<'a> OneStatement<'a> {
    fn of(batch: &'a Batch) -> Option<OneStatement<'a>> {
        let [op] = batch.ops() else { return None };
        let (key, value) = match op {
            Op::Put(k, v) => (k, Some(v)),
            Op::Delete(k) => (k, None),
        };
        let one = |sql, expected, conditional| OneStatement {
            sql,
            key: key.as_str(),
            value,
            expected,
            conditional,
        };
        match (batch.expected(), value) {
            ([], Some(_)) => Some(one(Sql::PutOne, None, false)),
            ([], None) => Some(one(Sql::DeleteOne, None, false)),
            ([(k, Some(old))], Some(_)) if k == key => {
                Some(one(Sql::PutIfUnchanged, Some(old), true))
            }
            ([(k, None)], Some(_)) if k == key => Some(one(Sql::PutIfAbsent, None, true)),
            ([(k, Some(old))], None) if k == key => {
                Some(one(Sql::DeleteIfUnchanged, Some(old), true))
            }
            _ => None,
        }
    }
}

impl Datastore for PostgresDatastore {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let epoch = match &self.cache {
            Some(cache) => {
                if let Some(value) = cache.get(key.as_str()) {
                    return Ok(value);
                }
                Some(cache.epoch.load(Ordering::SeqCst))
            }
            None => None,
        };
        let value = self.run(
            || format!("reading key {key}"),
            |source| Error::Read {
                key: key.to_string(),
                source,
            },
            |conn| get_on(conn, &self.sql, key),
        )?;
        if let (Some(cache), Some(epoch)) = (&self.cache, epoch) {
            cache.fill(key.as_str(), &value, epoch);
        }
        Ok(value)
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>> {
        let pattern = like_prefix(&query.prefix.query_prefix());
        self.run(
            || format!("querying the keys below {}", query.prefix),
            |source| Error::Query {
                prefix: query.prefix.to_string(),
                source,
            },
            |conn| {
                let rows = if query.after.is_some() || query.limit.is_some() {
                    let stmt = conn.statement(&self.sql, Sql::ScanPage)?;
                    let after = String::from_utf8_lossy(query.after.as_deref().unwrap_or(b""));
                    let limit = query.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
                    conn.client
                        .query(&stmt, &[&pattern, &after.as_ref(), &limit])?
                } else {
                    let stmt = conn.statement(&self.sql, Sql::Scan)?;
                    conn.client.query(&stmt, &[&pattern])?
                };
                Ok(rows
                    .iter()
                    .map(|r| Entry {
                        key: r.get::<_, String>(0).into_bytes(),
                        value: if query.keys_only {
                            Vec::new()
                        } else {
                            r.get::<_, Option<Vec<u8>>>(1).unwrap_or_default()
                        },
                    })
                    .collect())
            },
        )
    }

    fn write(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let written = self.write_announced(&batch);
        // Whatever happened (a conflict means our cached value was stale), our cache drops
        // the keys; the next read asks the server.
        self.evict_batch(&batch);
        written
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn close(&self) -> Result<()> {
        self.stop_listener();
        self.closed.store(true, Ordering::SeqCst);
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let idle = std::mem::take(&mut pool.idle);
        pool.open -= idle.len();
        drop(pool);
        for conn in idle {
            // Closing tells the server; an error here changes nothing stored.
            let _ = conn.client.close();
        }
        Ok(())
    }
}

impl Drop for PostgresDatastore {
    fn drop(&mut self) {
        self.stop_listener();
    }
}

impl PostgresDatastore {
    /// Writes a batch, announcing its keys in the same transaction when
    /// [`PostgresOptions::announce_writes`] is on.
    fn write_announced(&self, batch: &Batch) -> Result<()> {
        let announce = self.options.announces();
        if let Some(one) = OneStatement::of(batch) {
            let payload = match announce {
                true => announcements(&self.instance, [one.key]).remove(0),
                false => String::new(),
            };
            return self.run(
                || batch.describe(),
                |source| Error::Write {
                    what: batch.describe(),
                    source,
                },
                |conn| {
                    let stmt = conn.statement(&self.sql, one.sql)?;
                    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&one.key];
                    if let Some(v) = one.value {
                        params.push(v);
                    }
                    if let Some(v) = one.expected {
                        params.push(v);
                    }
                    if announce {
                        params.push(&payload);
                    }
                    let rows = conn.client.execute(&stmt, &params)?;
                    if one.conditional && rows == 0 {
                        return Err(Fail::Ds(Error::Conflict {
                            key: one.key.to_owned(),
                        }));
                    }
                    Ok(())
                },
            );
        }
        let (keys, values, deleted) = net_effect(batch);
        // The conditions' rows, locked in one order for every process (two batches locking
        // the same keys cannot deadlock); a key expected absent is claimed by inserting it.
        let mut conditions: Vec<&(Key, Option<Vec<u8>>)> = batch.expected().iter().collect();
        conditions.sort_by(|a, b| a.0.cmp(&b.0));
        self.run(
            || batch.describe(),
            |source| Error::Write {
                what: batch.describe(),
                source,
            },
            |conn| {
                let lock_row = conn.statement(&self.sql, Sql::LockRow)?;
                let claim = conn.statement(&self.sql, Sql::Claim)?;
                let put = conn.statement(&self.sql, Sql::Put)?;
                let delete = conn.statement(&self.sql, Sql::Delete)?;
                let announce_stmt = conn.statement(&self.sql, Sql::Announce)?;
                let mut tx = conn.client.transaction()?;
                let mut claimed: Vec<String> = Vec::new();
                for (key, expected) in &conditions {
                    let conflict = || {
                        Fail::Ds(Error::Conflict {
                            key: key.to_string(),
                        })
                    };
                    match expected {
                        Some(want) => {
                            let row = tx.query_opt(&lock_row, &[&key.as_str()])?;
                            let have =
                                row.map(|r| r.get::<_, Option<Vec<u8>>>(0).unwrap_or_default());
                            if have.as_ref() != Some(want) {
                                return Err(conflict());
                            }
                        }
                        None if claimed.iter().any(|c| c == key.as_str()) => {}
                        None => {
                            let none: Option<&[u8]> = None;
                            if tx.execute(&claim, &[&key.as_str(), &none])? == 0 {
                                return Err(conflict());
                            }
                            claimed.push(key.to_string());
                        }
                    }
                }
                // A claimed key the batch does not put goes again.
                let mut deleted = deleted.clone();
                deleted.extend(claimed.into_iter().filter(|c| !keys.contains(c)));
                if !deleted.is_empty() {
                    tx.execute(&delete, &[&deleted])?;
                }
                if !keys.is_empty() {
                    tx.execute(&put, &[&keys, &values])?;
                }
                if announce {
                    let changed = keys.iter().chain(deleted.iter()).map(String::as_str);
                    for payload in announcements(&self.instance, changed) {
                        tx.execute(&announce_stmt, &[&payload])?;
                    }
                }
                tx.commit()?;
                Ok(())
            },
        )
    }
}

/// The TLS connector for `sslmode=prefer|require`.
fn tls_connector(
    options: &PostgresOptions,
) -> std::result::Result<postgres_native_tls::MakeTlsConnector, String> {
    let mut builder = native_tls::TlsConnector::builder();
    match &options.tls_root_certificate {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("reading the root certificate {}: {e}", path.display()))?;
            let cert = native_tls::Certificate::from_pem(&pem)
                .map_err(|e| format!("the root certificate {}: {e}", path.display()))?;
            builder.add_root_certificate(cert);
        }
        None => {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
    }
    let connector = builder
        .build()
        .map_err(|e| format!("setting up TLS: {e}"))?;
    Ok(postgres_native_tls::MakeTlsConnector::new(connector))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_in_messages() {
        assert_eq!(
            redact_url("postgres://alice:s3cret@db.example:5432/peers?sslmode=require"),
            "postgres://alice:***@db.example:5432/peers?sslmode=require"
        );
        assert_eq!(
            redact_url("postgresql://alice@db/peers"),
            "postgresql://alice@db/peers"
        );
        assert_eq!(
            redact_url("postgres://db/peers?user=a&password=s3cret&sslmode=disable"),
            "postgres://db/peers?user=a&password=***&sslmode=disable"
        );
    }

    #[test]
    fn like_patterns_match_the_prefix_literally() {
        assert_eq!(like_prefix("/peers/addrs/"), "/peers/addrs/%");
        assert_eq!(like_prefix("/a_b%c\\/"), "/a\\_b\\%c\\\\/%");
    }

    #[test]
    fn announcements_carry_one_key_a_line_within_the_payload_limit() {
        let keys: Vec<String> = (0..300).map(|i| format!("/peers/addrs/{i:060}")).collect();
        let out = announcements("me", keys.iter().map(String::as_str));
        assert!(
            out.len() > 1,
            "{} bytes of keys take more than one",
            300 * 74
        );
        let mut seen = Vec::new();
        for payload in &out {
            assert!(payload.len() <= 8000);
            let mut lines = payload.split('\n');
            assert_eq!(lines.next(), Some("me"));
            seen.extend(lines.map(str::to_owned));
        }
        assert_eq!(seen, keys);
        // A key that cannot be a line of its own becomes an empty line: drop everything.
        let long = "/k".repeat(4000);
        for odd in ["/a\nb", long.as_str()] {
            assert_eq!(announcements("me", ["/x", odd]), ["me\n/x\n"]);
        }
    }

    #[test]
    fn a_batch_is_applied_as_its_net_effect() {
        let b = Batch::new()
            .put(Key::new("/a"), b"1".to_vec())
            .delete(Key::new("/a"))
            .put(Key::new("/b"), b"2".to_vec())
            .delete(Key::new("/c"))
            .put(Key::new("/c"), b"3".to_vec());
        let (keys, values, deleted) = net_effect(&b);
        assert_eq!(keys, ["/b", "/c"]);
        assert_eq!(values, [b"2".to_vec(), b"3".to_vec()]);
        assert_eq!(deleted, ["/a"]);
    }
}
