//! The example's restart scenario: the dialer connects through a bootstrap address and persists
//! what it learned; restarted with no bootstrap address, it finds the listener in its store and
//! reconnects.

#[path = "../examples/persistent_node.rs"]
#[allow(clippy::duplicate_mod)]
mod node;

use std::time::Duration;

use pstoreds::libp2p_store::StoreOptions;
use pstoreds::peerstore::{Clock, MockClock, Options, SystemClock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_dialer_finds_its_peer_in_the_store() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let listener = tokio::spawn(node::listen(tx));
    let addr = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dialer");

    let first = tokio::time::timeout(Duration::from_secs(30), node::dial(&db, Some(addr.clone())))
        .await
        .expect("first run timed out")
        .unwrap();
    // Identify's answers are on disk, in go-libp2p's layout.
    {
        let ps = Options::new().open_leveldb(&db).unwrap();
        assert_eq!(
            ps.get(first, "AgentVersion").unwrap(),
            Some(node::AGENT.into())
        );
        assert!(
            ps.get_protocols(first)
                .unwrap()
                .contains(&"/ipfs/id/1.0.0".to_owned())
        );
        assert!(ps.pub_key(first).unwrap().is_some());
        let entries = ps.addr_entries(first).unwrap();
        assert!(!entries.is_empty());
        // The dialer shut down: connected addresses are kept for the retention period, an
        // ordinary TTL on disk.
        assert!(
            entries
                .iter()
                .all(|e| e.ttl == StoreOptions::DEFAULT_RETENTION),
            "{entries:?}"
        );
        ps.close().unwrap();
    }

    go_reads_the_same(&db);

    let again = tokio::time::timeout(Duration::from_secs(30), node::dial(&db, None))
        .await
        .expect("restarted run timed out")
        .unwrap();
    assert_eq!(again, first);

    // Restarted the next day, with no bootstrap address: the peer is still known.
    let now = SystemClock.now_unix();
    let next_day = Options::new().clock(MockClock::at_unix(now + 24 * 3600));
    let later = tokio::time::timeout(
        Duration::from_secs(30),
        node::dial_with(next_day, &db, None),
    )
    .await
    .expect("the run a day later timed out")
    .unwrap();
    assert_eq!(later, first);

    // After the retention has passed (counted from that last run), nothing is left to dial.
    let past = Options::new().clock(MockClock::at_unix(now + 9 * 24 * 3600));
    let err = tokio::time::timeout(Duration::from_secs(30), node::dial_with(past, &db, None))
        .await
        .expect("the run after the retention timed out")
        .unwrap_err();
    assert!(err.to_string().contains("no peer in the store"), "{err}");
    listener.abort();
}

/// go-libp2p (the interop harness's `dump`, on goleveldb with every checksum verified) sees the
/// same peers, addresses, keys, protocols and metadata as we do. Needs Go; without it the test
/// fails unless PSTORE_SKIP_GO=1.
fn go_reads_the_same(db: &std::path::Path) {
    use std::process::Command;
    if Command::new("go").arg("version").output().is_err() {
        assert_eq!(
            std::env::var("PSTORE_SKIP_GO").as_deref(),
            Ok("1"),
            "go is not installed (set PSTORE_SKIP_GO=1 to skip the Go check)"
        );
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let interop = work.path().join("interop");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&interop)
        .arg(".")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/interop"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let go = Command::new(&interop).arg("dump").arg(db).output().unwrap();
    assert!(
        go.status.success(),
        "{}",
        String::from_utf8_lossy(&go.stderr)
    );
    let ours = {
        let ps = Options::new().open_leveldb(db).unwrap();
        let mut out = Vec::new();
        pstoreds::dump::write_dump(&**ps.datastore(), &mut out).unwrap();
        ps.close().unwrap();
        out
    };
    assert!(!ours.is_empty());
    let (go_file, rs_file) = (work.path().join("go.jsonl"), work.path().join("rs.jsonl"));
    std::fs::write(&go_file, &go.stdout).unwrap();
    std::fs::write(&rs_file, &ours).unwrap();
    let cmp = Command::new(&interop)
        .arg("compare")
        .args([&go_file, &rs_file])
        .output()
        .unwrap();
    assert!(
        cmp.status.success(),
        "{}{}",
        String::from_utf8_lossy(&cmp.stdout),
        String::from_utf8_lossy(&cmp.stderr)
    );
}
