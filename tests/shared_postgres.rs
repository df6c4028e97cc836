//! Several peerstores (as several processes would: each with its own connections, locks and
//! no shared memory) on one PostgreSQL table: no update is lost, and each sees the others'
//! writes at once.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PgTable, addrs_from, peer};
use pstoreds::datastore::{Datastore, Key, PostgresDatastore, PostgresOptions};
use pstoreds::peerstore::{MockClock, Peerstore};

const HOUR: Duration = Duration::from_secs(3600);

fn open(table: &PgTable, clock: &MockClock) -> Peerstore {
    common::options(1024, clock)
        .open_datastore(Arc::new(table.open()))
        .unwrap()
}

/// Four threads, two on each store, add one address and one protocol at a time to the same
/// three peers; then each store must hold every one of them (the other store's last writes
/// may take a moment to be announced to a caching store).
fn hammer_the_same_peers(stores: &[Peerstore; 2], per_thread: usize) {
    let peers: Vec<_> = (0..3).map(|_| peer()).collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (ps, peers) = (&stores[t % 2], &peers);
            s.spawn(move || {
                for i in 0..per_thread {
                    let p = peers[i % peers.len()];
                    ps.add_addr(p, &addrs_from(t * per_thread + i, 1)[0], HOUR)
                        .unwrap();
                    ps.add_protocols(p, &[format!("/t{t}/{i}")]).unwrap();
                }
            });
        }
    });
    for (n, p) in peers.iter().enumerate() {
        let want: Vec<_> = (0..4 * per_thread)
            .filter(|k| (k % per_thread) % peers.len() == n)
            .flat_map(|k| addrs_from(k, 1))
            .collect();
        for ps in stores {
            let mut got = ps.addrs(p).unwrap();
            for _ in 0..100 {
                if got.len() == want.len() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
                got = ps.addrs(p).unwrap();
            }
            common::assert_addrs(&want, got);
            assert_eq!(ps.get_protocols(p).unwrap().len(), want.len());
        }
    }
}

#[test]
fn two_stores_hammering_the_same_peers_lose_no_update() {
    let Some(table) = PgTable::new() else { return };
    let clock = MockClock::at_unix(common::START);
    hammer_the_same_peers(&[open(&table, &clock), open(&table, &clock)], 40);
}

/// The same with a read cache in each store: a stale cached record makes the conditional
/// write fail, the key is dropped from the cache, and the retry reads the server.
#[test]
fn two_caching_stores_hammering_the_same_peers_lose_no_update() {
    let Some(table) = PgTable::new() else { return };
    let clock = MockClock::at_unix(common::START);
    let open = || {
        common::options(1024, &clock)
            .open_datastore(Arc::new(table.open_with(|o| PostgresOptions {
                read_cache: 1000,
                read_cache_max_age: Duration::from_secs(60),
                ..o
            })))
            .unwrap()
    };
    hammer_the_same_peers(&[open(), open()], 30);
}

/// The table opened with a read cache of 100 values, each served for up to `max_age`.
fn cached(table: &PgTable, max_age: Duration) -> PostgresDatastore {
    table.open_with(|o| PostgresOptions {
        read_cache: 100,
        read_cache_max_age: max_age,
        ..o
    })
}

/// Sets `/peers/addrs/K` to `value` with plain SQL, as go-libp2p would: no announcement.
fn set_unannounced(table: &PgTable, value: &str) {
    table.sql(&format!(
        "INSERT INTO {t} (key, data) VALUES ('/peers/addrs/K', '{value}'::bytea) \
         ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data",
        t = table.name
    ));
}

/// Polls `ds.get(key)` for up to 2 s until it returns `want`; the last value read.
fn eventually(ds: &PostgresDatastore, key: &Key, want: &[u8]) -> Option<Vec<u8>> {
    let mut got = ds.get(key).unwrap();
    for _ in 0..100 {
        if got.as_deref() == Some(want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        got = ds.get(key).unwrap();
    }
    got
}

/// A value cached by one store is dropped when another store of ours, announcing its writes,
/// writes the key, long before the cache's age bound; a write that is not announced (as
/// go-libp2p's) is not seen until then: reads come from memory.
#[test]
fn a_cached_value_goes_when_another_store_announces_a_write() {
    let Some(table) = PgTable::new() else { return };
    let cached = cached(&table, Duration::from_secs(60));
    assert!(cached.read_cache_live());
    let writer = table.open_with(|o| PostgresOptions {
        announce_writes: true,
        ..o
    });
    let key = Key::new("/peers/addrs/K");
    assert_eq!(cached.get(&key).unwrap(), None, "absent, and cached so");
    writer.put(&key, b"v1").unwrap();
    assert_eq!(
        eventually(&cached, &key, b"v1").as_deref(),
        Some(&b"v1"[..])
    );
    writer.put(&key, b"v2").unwrap();
    assert_eq!(
        eventually(&cached, &key, b"v2").as_deref(),
        Some(&b"v2"[..])
    );
    // Unannounced: the cache keeps serving v2.
    set_unannounced(&table, "v3");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(cached.get(&key).unwrap().as_deref(), Some(&b"v2"[..]));
}

/// An unannounced write is seen once the cached value is older than the age bound.
#[test]
fn a_cached_value_is_read_again_after_its_max_age() {
    const MAX_AGE: Duration = Duration::from_secs(2);
    let Some(table) = PgTable::new() else { return };
    let cached = cached(&table, MAX_AGE);
    let key = Key::new("/peers/addrs/K");
    cached.put(&key, b"v1").unwrap();
    let read = std::time::Instant::now();
    assert_eq!(cached.get(&key).unwrap().as_deref(), Some(&b"v1"[..]));
    set_unannounced(&table, "v2");
    let stale = cached.get(&key).unwrap();
    // Served from memory while younger than the bound (a loaded machine may take longer).
    if read.elapsed() < MAX_AGE {
        assert_eq!(stale.as_deref(), Some(&b"v1"[..]));
    }
    std::thread::sleep(MAX_AGE.saturating_sub(read.elapsed()) + Duration::from_millis(100));
    assert_eq!(cached.get(&key).unwrap().as_deref(), Some(&b"v2"[..]));
}

/// The listener's connection killed by the server and no new one allowed (the role's
/// connection limit reached): nothing is served from the cache while it cannot listen (an
/// announcement may be missed), though reads still work; once it listens again, the cache
/// serves again.
#[test]
fn the_cache_is_bypassed_while_its_listener_is_disconnected() {
    let Some(table) = PgTable::new() else { return };
    // A role of its own, whose connection limit keeps the listener out.
    let role = format!("{}_role", table.name);
    table.sql(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'pw' CONNECTION LIMIT 2; \
         CREATE TABLE {t} (key TEXT NOT NULL UNIQUE, data BYTEA); \
         GRANT ALL ON {t} TO {role}",
        t = table.name
    ));
    let (scheme, rest) = table.url.split_once("://").unwrap();
    let url = format!("{scheme}://{role}:pw@{}", rest.split_once('@').unwrap().1);
    let cached = PostgresDatastore::open(
        &url,
        PostgresOptions {
            table: table.name.clone(),
            create_table: false,
            pool_size: 1,
            read_cache: 100,
            read_cache_max_age: Duration::from_secs(60),
            ..Default::default()
        },
    )
    .unwrap();
    let key = Key::new("/peers/addrs/K");
    let set = |v: &str| set_unannounced(&table, v);
    set("v1");
    assert_eq!(cached.get(&key).unwrap().as_deref(), Some(&b"v1"[..]));
    table.sql(&format!("ALTER ROLE {role} CONNECTION LIMIT 1"));
    let mut c = postgres::Client::connect(&table.url, postgres::NoTls).unwrap();
    let killed = c
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename = $1 AND query LIKE 'LISTEN%'",
            &[&role],
        )
        .unwrap()
        .len();
    assert_eq!(killed, 1, "the listener's connection");
    for _ in 0..250 {
        if !cached.read_cache_live() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    set("v2");
    assert_eq!(
        cached.get(&key).unwrap().as_deref(),
        Some(&b"v2"[..]),
        "read from the server while the listener is out"
    );
    assert!(!cached.read_cache_live());
    // Let it back in: it listens again, and caches again.
    table.sql(&format!("ALTER ROLE {role} CONNECTION LIMIT 2"));
    for _ in 0..300 {
        if cached.read_cache_live() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cached.read_cache_live(), "the listener reconnected");
    assert_eq!(cached.get(&key).unwrap().as_deref(), Some(&b"v2"[..]));
    set("v3");
    assert_eq!(cached.get(&key).unwrap().as_deref(), Some(&b"v2"[..]));
    cached.close().unwrap();
    drop(cached);
    table.sql(&format!("DROP TABLE {t}; DROP ROLE {role}", t = table.name));
}

#[test]
fn a_store_sees_what_another_wrote_without_delay() {
    let Some(table) = PgTable::new() else { return };
    let clock = MockClock::at_unix(common::START);
    let (a, b) = (open(&table, &clock), open(&table, &clock));
    let p = peer();
    let addrs = addrs_from(0, 3);
    assert!(
        b.addrs(p).unwrap().is_empty(),
        "read once, so a cache would hold 'absent'"
    );
    a.add_addrs(p, &addrs[..2], HOUR).unwrap();
    common::assert_addrs(&addrs[..2], b.addrs(p).unwrap());
    b.add_addr(p, &addrs[2], HOUR).unwrap();
    common::assert_addrs(&addrs, a.addrs(p).unwrap());
    a.clear_addrs(p).unwrap();
    assert!(b.addrs(p).unwrap().is_empty());
}

/// Every connection of ours killed by the server (as a restart does) between operations and in
/// the middle of a stream of writes: the operations are retried on new connections, and every
/// acknowledged write is there.
#[test]
fn connections_killed_by_the_server_are_replaced_and_nothing_acknowledged_is_lost() {
    let Some(table) = PgTable::new() else { return };
    // A name of its own: only this test's connections are killed.
    let ds = Arc::new(
        pstoreds::datastore::PostgresDatastore::open(
            &table.url,
            pstoreds::datastore::PostgresOptions {
                table: table.name.clone(),
                application_name: table.name.clone(),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let kill = || {
        let mut c = postgres::Client::connect(&table.url, postgres::NoTls).unwrap();
        c.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&table.name],
        )
        .unwrap()
        .len()
    };
    ds.put(&Key::new("/before"), b"1").unwrap();
    assert!(kill() >= 1, "our connection was found and killed");
    assert_eq!(
        ds.get(&Key::new("/before")).unwrap().as_deref(),
        Some(&b"1"[..])
    );
    let writer = {
        let ds = ds.clone();
        std::thread::spawn(move || {
            for i in 0..300 {
                ds.put(&Key::new(&format!("/w/{i:03}")), b"x").unwrap();
            }
        })
    };
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(20));
        kill();
    }
    writer
        .join()
        .expect("every write succeeded despite the killed connections");
    let keys = ds
        .query(&pstoreds::datastore::Query::keys(Key::new("/w")))
        .unwrap();
    assert_eq!(keys.len(), 300);
}

/// `sslmode=require`: the connection is encrypted (the server says so); with the server's
/// certificate as root, it is verified too; a certificate that does not match is refused with
/// one clear error. Needs the TLS-enabled server `.ci/test` starts (PSTORE_TEST_POSTGRES_CA).
#[test]
fn tls_when_the_url_asks_for_it_verified_against_a_given_root() {
    use pstoreds::datastore::{Datastore, Key, PostgresDatastore, PostgresOptions};
    let Some(table) = PgTable::new() else { return };
    let Ok(ca) = std::env::var("PSTORE_TEST_POSTGRES_CA") else {
        assert!(
            std::env::var("PSTORE_SKIP_POSTGRES_TLS").as_deref() == Ok("1"),
            "the test server has no TLS (PSTORE_TEST_POSTGRES_CA unset): run `bash .ci/test`, \
             or set PSTORE_SKIP_POSTGRES_TLS=1"
        );
        return;
    };
    let url = table.url.replace("sslmode=disable", "sslmode=require");
    assert!(url.contains("sslmode=require"), "{url}");
    let open = |root: Option<std::path::PathBuf>| {
        PostgresDatastore::open(
            &url,
            PostgresOptions {
                table: table.name.clone(),
                tls_root_certificate: root,
                application_name: table.name.clone(),
                ..Default::default()
            },
        )
    };
    let encrypted = |ds: &PostgresDatastore| {
        ds.put(&Key::new("/tls"), b"1").unwrap();
        let mut c = postgres::Client::connect(&table.url, postgres::NoTls).unwrap();
        c.query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.application_name = $1",
            &[&table.name],
        )
        .unwrap()
        .get::<_, Option<bool>>(0)
    };
    let ds = open(None).unwrap();
    assert_eq!(encrypted(&ds), Some(true));
    ds.close().unwrap();
    let ds = open(Some(ca.into())).unwrap();
    assert_eq!(encrypted(&ds), Some(true));
    ds.close().unwrap();
    // A root that did not sign the server's certificate: refused, in one line.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "1",
            "-nodes",
            "-subj",
            "/CN=other",
        ])
        .arg("-keyout")
        .arg(dir.path().join("other.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success());
    let err = open(Some(other)).unwrap_err().to_string();
    assert!(err.contains("certificate"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}
