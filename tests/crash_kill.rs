//! The kill -9 loop (docs/durability.md): a child process writes peers through the peerstore,
//! each write synced, and prints `ack N` after each `Ok`; the parent kills it at a random
//! moment, then checks the directory: every acknowledged peer is there when Rust reopens it,
//! our file check finds nothing goleveldb would refuse, and — with Go installed — goleveldb
//! opens it with `Strict: StrictAll` (refusing nothing but a torn last journal record, which a
//! kill inside a write across a page boundary can leave) and go-libp2p's dump lists every
//! acknowledged peer, and C++ LevelDB 1.23 (`paranoid_checks`) and goleveldb (default
//! strictness) read the same entries.
//!
//! One binary plays both parts (`harness = false`): `crash_kill --child DIR START` is the child.
//! Rounds reuse each database several times, with short kills (during open, during the first
//! writes) and long ones (journal rotations, memtable flushes, background compactions).

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p_identity::PeerId;
use multiaddr::Multiaddr;
use pstoreds::datastore::leveldb::check;
use pstoreds::datastore::{LevelDbDatastore, LevelDbOptions};

#[path = "common/foreign.rs"]
mod foreign;
#[path = "common/rng.rs"]
mod rng;
use pstoreds::peerstore::{Options, Ttl};
use rng::Rng;

const ROUNDS: usize = 36;
const ROUNDS_PER_DB: usize = 6;

fn peer(i: u64) -> PeerId {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(i.to_be_bytes());
    let mut bytes = vec![0x12, 0x20];
    bytes.extend_from_slice(&digest);
    PeerId::from_bytes(&bytes).unwrap()
}

fn addr(i: u64) -> Multiaddr {
    format!(
        "/ip4/10.{}.{}.{}/tcp/4001",
        (i >> 16) & 255,
        (i >> 8) & 255,
        i & 255
    )
    .parse()
    .unwrap()
}

fn datastore(dir: &Path) -> LevelDbDatastore {
    LevelDbDatastore::open(
        dir,
        LevelDbOptions {
            // Small: long rounds rotate the journal, flush memtables and compact.
            write_buffer_size: 128 << 10,
            ..Default::default()
        },
    )
    .unwrap()
}

fn child(dir: &Path, start: u64) {
    let ps = Options::new()
        .gc_purge_interval(Duration::ZERO)
        .open_datastore(Arc::new(datastore(dir)))
        .unwrap();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in start.. {
        ps.add_addrs(peer(i), &[addr(i)], Ttl::PERMANENT).unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

fn check_round(dir: &Path, acked: &BTreeSet<u64>, go: Option<&Path>, round: usize) {
    let report = check::check_files(dir);
    assert_eq!(report.errors(), 0, "round {round}: {:?}", report.problems);
    // Both judges read copies, before our open rewrites the journal into a table. goleveldb
    // at its default strictness (go-ds-leveldb's): a kill that lands inside a write that
    // straddles a page may leave the last journal record torn, which only StrictAll refuses.
    let judged = foreign::judges().read(dir, foreign::GoStrictness::Default);
    let mut first: Option<(&str, foreign::Entries)> = None;
    for (who, entries) in judged {
        let entries = entries.unwrap_or_else(|e| panic!("round {round}: {who} refuses: {e}"));
        if let Some((other, theirs)) = &first {
            assert!(
                *theirs == entries,
                "round {round}: {who} and {other} read different entries"
            );
        } else {
            first = Some((who, entries));
        }
    }
    if let Some(go) = go {
        // goleveldb first, before our open rewrites the journal into a table.
        // StrictAll: nothing may be wrong but a torn last record of a journal (the Linux
        // kernel ends a write early at a page boundary when SIGKILL arrives; goleveldb's
        // default and C++ LevelDB's paranoid mode drop such a tail, as we do).
        let open = Command::new(go).arg("open").arg(dir).output().unwrap();
        let said = String::from_utf8_lossy(&open.stderr);
        let torn_tail = said.contains("leveldb/journal") && said.contains("[file=");
        assert!(
            open.status.success() || torn_tail,
            "round {round}: goleveldb (StrictAll) refuses {}: {said}",
            dir.display(),
        );
        if torn_tail {
            println!(
                "round {round}: a torn journal tail (StrictAll refuses it): {}",
                said.trim()
            );
        }
        let dump = Command::new(go).arg("dump").arg(dir).output().unwrap();
        assert!(dump.status.success(), "round {round}: go dump failed");
        let text = String::from_utf8_lossy(&dump.stdout);
        let seen: BTreeSet<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["addrs"].as_array().is_some_and(|a| !a.is_empty()))
            .filter_map(|v| v["peer"].as_str().map(str::to_owned))
            .collect();
        let missing = acked
            .iter()
            .filter(|i| !seen.contains(&peer(**i).to_string()))
            .count();
        assert_eq!(
            missing, 0,
            "round {round}: go-libp2p misses {missing} acknowledged peers"
        );
    }
    let ps = Options::new()
        .gc_purge_interval(Duration::ZERO)
        .open_datastore(Arc::new(datastore(dir)))
        .unwrap();
    for i in acked {
        let addrs = ps.addrs(peer(*i)).unwrap();
        assert_eq!(
            addrs,
            vec![addr(*i)],
            "round {round}: acknowledged peer {i} lost"
        );
    }
    ps.close().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--child" {
        child(Path::new(&args[2]), args[3].parse().unwrap());
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("kill_9_loop: test");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let go = foreign::judges().go.clone();
    let seed = std::env::var("PSTORE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash_kill: seed {seed} (PSTORE_KILL_SEED reruns it)");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut total_acks = 0;
    let mut acked = BTreeSet::new();
    let mut dir = PathBuf::new();
    for round in 0..ROUNDS {
        if round % ROUNDS_PER_DB == 0 {
            dir = work.path().join(format!("db{}", round / ROUNDS_PER_DB));
            acked.clear();
        }
        let start = acked.last().map_or(0, |last| last + 1);
        // Mostly short kills; every third round long enough to rotate and compact.
        let wait_ms = if round % 3 == 2 {
            600 + rng.next() % 1400
        } else {
            rng.next() % 120
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--child")
            .arg(&dir)
            .arg(start.to_string())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(work.path().join("child.err")).unwrap())
            .spawn()
            .unwrap();
        // Acks are read as they come: a full pipe would stall the child.
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            std::io::BufReader::new(out)
                .lines()
                .map_while(|l| l.ok())
                .filter_map(|l| l.strip_prefix("ack ").map(|n| n.parse::<u64>().unwrap()))
                .collect::<Vec<u64>>()
        });
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let this_round = reader.join().unwrap();
        let acks = this_round.len();
        acked.extend(this_round);
        // A write that failed (an engine error) is a bug, not a kill.
        let err = std::fs::read_to_string(work.path().join("child.err")).unwrap_or_default();
        assert!(
            !err.contains("panicked"),
            "round {round}: the child failed:\n{err}"
        );
        total_acks += acks;
        if !dir.join("CURRENT").exists() {
            continue;
        }
        check_round(&dir, &acked, go.as_deref(), round);
        println!(
            "round {round:2}: killed after {wait_ms:4} ms, {acks:5} acks this round, {:6} in \
                the database: all present",
            acked.len()
        );
    }
    println!(
        "crash_kill: {ROUNDS} rounds, {total_acks} acknowledged writes, 0 lost ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    println!("1 passed, 0 failed");
}
