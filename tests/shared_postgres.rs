//! Several peerstores (as several processes would: each with its own connections, locks and
//! no shared memory) on one PostgreSQL table: no update is lost, and each sees the others'
//! writes at once.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PgTable, addrs_from, peer};
use pstoreds::peerstore::{MockClock, Peerstore};

const HOUR: Duration = Duration::from_secs(3600);

fn open(table: &PgTable, clock: &MockClock) -> Peerstore {
    common::options(1024, clock)
        .open_datastore(Arc::new(table.open()))
        .unwrap()
}

#[test]
fn two_stores_hammering_the_same_peers_lose_no_update() {
    let Some(table) = PgTable::new() else { return };
    let clock = MockClock::at_unix(common::START);
    let stores = [open(&table, &clock), open(&table, &clock)];
    let peers: Vec<_> = (0..3).map(|_| peer()).collect();
    const PER_THREAD: usize = 40;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let ps = stores[t % 2].clone();
            let peers = peers.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let p = peers[i % peers.len()];
                    let addr = &addrs_from(t * PER_THREAD + i, 1)[0];
                    ps.add_addr(p, addr, HOUR).unwrap();
                    ps.add_protocols(p, &[format!("/t{t}/{i}")]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for (n, p) in peers.iter().enumerate() {
        let want: Vec<_> = (0..4 * PER_THREAD)
            .filter(|k| (k % PER_THREAD) % peers.len() == n)
            .flat_map(|k| addrs_from(k, 1))
            .collect();
        for ps in &stores {
            common::assert_addrs(&want, ps.addrs(p).unwrap());
            assert_eq!(ps.get_protocols(p).unwrap().len(), want.len());
        }
    }
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
    use pstoreds::datastore::{Datastore, Key};
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
