//! The `pstore` binary, end to end, on Go-written fixtures.

use std::path::Path;
use std::process::Command;

fn pstore(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pstore"))
        .args(args)
        .output()
        .unwrap()
}

/// A path under testdata/, as text.
fn testdata(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
        .display()
        .to_string()
}

fn sample() -> String {
    testdata("go-v0.48.0/sample")
}

#[test]
fn inspect_with_snapshot_reads_the_go_sample_and_leaves_it_untouched() {
    let before: Vec<_> = std::fs::read_dir(sample())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = pstore(&["inspect", "--snapshot", &sample()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("peers      5"), "{text}");
    assert!(text.contains("go-libp2p/0.48.0"), "{text}");
    let after: Vec<_> = std::fs::read_dir(sample())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before.len(), after.len());

    let out = pstore(&["inspect", "--snapshot", "--json", &sample()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["peers"], 5);
    assert_eq!(v["signed_records"], 1);
}

#[test]
fn apply_reports_bad_lines_by_number_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ops.jsonl");
    let peer = "12D3KooWLnZUpcaBwbz9uD1XsyyHnbXUrJRmxnsMiRnuCmvPix67";
    std::fs::write(
        &script,
        format!(
            "{{\"op\":\"add_addrs\",\"peer\":\"{peer}\",\"addrs\":[\"/ip4/1.2.3.4/tcp/1\"],\
             \"ttl\":3600000000000}}\n\
             this is not json\n\
             {{\"op\":\"teleport\",\"peer\":\"{peer}\"}}\n\
             {{\"op\":\"add_addrs\",\"peer\":\"not-a-peer\",\"addrs\":[],\"ttl\":1}}\n\
             {{\"op\":\"add_addrs\",\"peer\":\"{peer}\",\"addrs\":[\"/ip4/1.2.3.5/tcp/1\"],\
             \"ttl\":3600000000000}}\n"
        ),
    )
    .unwrap();
    let db = dir.path().join("db");
    let out = pstore(&["apply", db.to_str().unwrap(), script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "ops failed: exit 1");
    let errors: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lines: Vec<i64> = errors.iter().map(|e| e["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, [2, 3, 4]);
    let dump = pstore(&["dump", db.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&dump.stdout).unwrap();
    assert_eq!(
        v["addrs"].as_array().unwrap().len(),
        2,
        "lines 1 and 5 were applied"
    );
}

#[test]
fn a_path_that_is_not_a_database_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = pstore(&["dump", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no LevelDB database"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_locked_database_says_so_with_a_way_forward() {
    let dir = tempfile::tempdir().unwrap();
    let _held =
        pstoreds::datastore::LevelDbDatastore::open(dir.path(), Default::default()).unwrap();
    let out = pstore(&["dump", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked by another process"), "{err}");
    assert!(err.contains("--snapshot"), "{err}");
    // --snapshot reads a copy while it stays locked.
    let out = pstore(&["dump", "--snapshot", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_of(fixture: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("db");
    std::fs::create_dir(&to).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(fixture);
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    (dir, to.display().to_string())
}

/// The key segment of the first peer in a `peers --json` listing whose `field` is `value`.
fn b32_where(peers: &[serde_json::Value], field: &str, value: u64) -> String {
    let peer = peers.iter().find(|p| p[field] == value);
    peer.and_then(|p| p["b32"].as_str())
        .unwrap_or_else(|| panic!("no peer with {field} = {value}"))
        .to_owned()
}

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn peers_lists_every_peer_of_the_go_sample() {
    let out = pstore(&["peers", "--snapshot", "--json", &sample()]);
    assert!(out.status.success());
    let peers = json_lines(&out);
    assert_eq!(peers.len(), 5);
    let ed = peers
        .iter()
        .find(|p| p["agent"] == "go-libp2p/0.48.0")
        .unwrap();
    assert_eq!(ed["addrs"], 4);
    assert_eq!(ed["protocols"], 3);
    assert_eq!(ed["pub_key"], true);
    assert_eq!(ed["priv_key"], true);
    let gone = peers.iter().find(|p| p["agent"] == "gone/1.0").unwrap();
    assert_eq!(gone["pub_key"], false);
    // In text, a peer without keys shows "-", so the columns stay put.
    let out = pstore(&["peers", "--snapshot", &sample()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.ends_with("gone/1.0")).unwrap();
    assert_eq!(row.split_whitespace().count(), 7, "{row}");
}

#[test]
fn show_gives_everything_about_one_peer_by_base58_or_base32() {
    let peers = json_lines(&pstore(&["peers", "--snapshot", "--json", &sample()]));
    let signed = peers.iter().find(|p| p["signed_seq"] == 3).unwrap();
    for name in [
        signed["peer"].as_str().unwrap(),
        signed["b32"].as_str().unwrap(),
    ] {
        let out = pstore(&["show", "--snapshot", "--json", &sample(), name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["signed_record"]["valid"], true);
        assert_eq!(v["pub"]["type"], "ECDSA");
        assert!(
            v["addrs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["expired"] == true)
        );
    }
    let out = pstore(&["show", "--snapshot", &sample(), "nonsense"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a peer ID"));
}

#[test]
fn stats_counts_the_go_bulk_database() {
    let bulk = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/go-v0.48.0/bulk");
    let out = pstore(&["stats", "--snapshot", "--json", bulk.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["peers"], 10_000);
    assert_eq!(v["addrs"], 20_000);
    assert_eq!(v["metadata_entries"], 10_000);
    assert!(v["disk_bytes"].as_u64().unwrap() > 100_000);
}

#[test]
fn verify_passes_go_databases_and_names_a_planted_corruption() {
    for fixture in ["go-v0.48.0/sample", "go-v0.48.0/gc", "go-v0.48.0/bulk"] {
        let (_dir, db) = copy_of(fixture);
        let out = pstore(&["verify", &db]);
        assert!(
            out.status.success(),
            "{fixture}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let (_dir, db) = copy_of("go-v0.48.0/sample");
    // Plant: a record whose addresses are out of order, and a public key of another peer.
    let peers = json_lines(&pstore(&["peers", "--json", &db]));
    let victim = b32_where(&peers, "addrs", 4);
    let other = b32_where(&peers, "signed_seq", 3);
    {
        use pstoreds::codec::record::AddrBookRecord;
        use pstoreds::datastore::{Datastore, Key, LevelDbDatastore};
        let ds = LevelDbDatastore::open(&db, Default::default()).unwrap();
        let rec_key = Key::new(&format!("/peers/addrs/{victim}"));
        let mut rec = AddrBookRecord::decode(&ds.get(&rec_key).unwrap().unwrap()).unwrap();
        rec.addrs.reverse();
        ds.put(&rec_key, &rec.encode()).unwrap();
        let other_pub = ds
            .get(&Key::new(&format!("/peers/keys/{other}/pub")))
            .unwrap()
            .unwrap();
        ds.put(&Key::new(&format!("/peers/keys/{victim}/pub")), &other_pub)
            .unwrap();
        ds.close().unwrap();
    }
    let out = pstore(&["verify", "--json", &db]);
    assert_eq!(out.status.code(), Some(1));
    let problems = json_lines(&out);
    assert!(
        problems
            .iter()
            .any(|p| p["key"] == format!("/peers/addrs/{victim}")
                && p["message"].as_str().unwrap().contains("not sorted")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p["key"] == format!("/peers/keys/{victim}/pub")
                && p["message"].as_str().unwrap().contains("does not belong")),
        "{problems:?}"
    );
}

#[test]
fn a_dump_loads_back_into_the_same_database() {
    for fixture in ["go-v0.48.0/sample", "go-v0.48.0/gc"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(fixture);
        let dump = pstore(&["dump", "--snapshot", path.to_str().unwrap()]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.jsonl");
        std::fs::write(&file, &dump.stdout).unwrap();
        let targets: &[&str] = if cfg!(feature = "sqlite") {
            &["db", "db.sqlite"]
        } else {
            &["db"]
        };
        for target in targets {
            let db = dir.path().join(target);
            let out = pstore(&["load", db.to_str().unwrap(), file.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let again = pstore(&["dump", db.to_str().unwrap()]);
            assert_eq!(
                json_lines(&again),
                json_lines(&dump),
                "{fixture} via {target}"
            );
        }
    }
}

#[test]
fn load_refuses_a_bad_dump_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.jsonl");
    std::fs::write(
        &file,
        "{\"gc\":{\"ts\":1,\"b32\":\"MZXW6\"}}\n\
         {\"b32\":\"MZXW6\",\"addrs\":[{\"addr\":\"/nope\",\"expiry\":1,\"ttl\":1}]}\n",
    )
    .unwrap();
    let db = dir.path().join("db");
    let out = pstore(&["load", db.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dump line 2"), "{err}");
    assert!(!db.exists(), "nothing written");
}

#[test]
fn gc_purges_the_expired_addresses_of_a_go_database() {
    let (_dir, db) = copy_of("go-v0.48.0/sample");
    let out = pstore(&["gc", "--json", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every address in the sample but the permanent and connected ones has expired by now.
    assert_eq!(r["addrs_removed"], 6);
    let stats: serde_json::Value =
        serde_json::from_slice(&pstore(&["stats", "--json", &db]).stdout).unwrap();
    assert_eq!(stats["addrs"], 3);
    assert_eq!(stats["expired_addrs"], 0);
    assert!(pstore(&["verify", &db]).status.success());
}

#[cfg(feature = "sqlite")]
#[test]
fn migrate_to_sqlite_keeps_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("copy.sqlite");
    let out = pstore(&[
        "migrate",
        "--snapshot",
        &sample(),
        dst.to_str().unwrap(),
        "--to",
        "sqlite",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = pstore(&["dump", "--snapshot", &sample()]);
    let b = pstore(&["dump", dst.to_str().unwrap()]);
    assert_eq!(json_lines(&a), json_lines(&b));
    let out = pstore(&["migrate", "--snapshot", &sample(), dst.to_str().unwrap()]);
    assert!(!out.status.success(), "an existing destination is refused");
}

#[test]
fn verify_names_a_lower_case_peer_segment_and_an_empty_multiaddr() {
    let (_dir, db) = copy_of("go-v0.48.0/sample");
    let peers = json_lines(&pstore(&["peers", "--json", &db]));
    let victim = b32_where(&peers, "addrs", 4);
    let moved = b32_where(&peers, "addrs", 2);
    let lower = format!("/peers/addrs/{}", moved.to_lowercase());
    {
        use pstoreds::codec::record::AddrBookRecord;
        use pstoreds::datastore::{Datastore, Key, LevelDbDatastore};
        let ds = LevelDbDatastore::open(&db, Default::default()).unwrap();
        // An address entry with no multiaddr bytes: Go then returns no address for the peer.
        let rec_key = Key::new(&format!("/peers/addrs/{victim}"));
        let mut rec = AddrBookRecord::decode(&ds.get(&rec_key).unwrap().unwrap()).unwrap();
        rec.addrs[0].addr.clear();
        ds.put(&rec_key, &rec.encode()).unwrap();
        // A record under a lower-case key: Go cannot decode the segment, the peer is invisible.
        let old = Key::new(&format!("/peers/addrs/{moved}"));
        let value = ds.get(&old).unwrap().unwrap();
        ds.delete(&old).unwrap();
        ds.put(&Key::new(&lower), &value).unwrap();
        ds.close().unwrap();
    }
    let out = pstore(&["verify", "--json", &db]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    let problem = |key: &str, text: &str| {
        lines.iter().any(|p| {
            p["key"] == key
                && p["severity"] == "error"
                && p["message"].as_str().unwrap().contains(text)
        })
    };
    assert!(
        problem(&format!("/peers/addrs/{victim}"), "empty multiaddr"),
        "{lines:?}"
    );
    assert!(problem(&lower, "not canonical base32"), "{lines:?}");
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["errors"], 2, "{lines:?}");
}

#[test]
fn verify_json_always_ends_with_a_summary() {
    let (_dir, db) = copy_of("go-v0.48.0/gc");
    let out = pstore(&["verify", "--json", &db]);
    assert!(out.status.success());
    let lines = json_lines(&out);
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["keys_checked"], true);
    assert!(summary["tables"].as_u64().unwrap() >= 1);
}

/// Flips a byte in the middle of the (only) table of a copy of the bulk fixture.
fn damaged_bulk() -> (tempfile::TempDir, String) {
    let (dir, db) = copy_of("go-v0.48.0/bulk");
    let table = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "ldb"))
        .unwrap();
    let mut bytes = std::fs::read(&table).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x40;
    std::fs::write(&table, bytes).unwrap();
    (dir, db)
}

#[test]
fn a_damaged_table_is_named_by_verify_refused_by_reads_and_salvaged_with_the_loss_listed() {
    let (dir, db) = damaged_bulk();
    let out = pstore(&["verify", "--json", &db]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    let block = lines
        .iter()
        .find(|p| p["file"] == "000002.ldb")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(block["severity"], "error");
    assert!(block["message"].as_str().unwrap().contains("checksum"));
    assert!(block["offset"].as_u64().is_some() && block["key_range"].is_object());

    // Reading through the damage is an error naming the file, not fewer peers.
    let out = pstore(&["dump", &db]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("000002.ldb") && err.contains("damaged"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let salvaged = dir.path().join("salvaged").display().to_string();
    let out = pstore(&["salvage", &db, &salvaged]);
    assert_eq!(out.status.code(), Some(1), "something was lost");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("lost: 000002.ldb at offset"), "{text}");
    let keys: usize = text
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(keys > 19_000 && keys < 20_000, "{text}");
    let out = pstore(&["verify", &salvaged]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_directory_without_current_is_refused_by_every_command_and_nothing_is_deleted() {
    let (_dir, db) = copy_of("go-v0.48.0/bulk");
    std::fs::remove_file(Path::new(&db).join("CURRENT")).unwrap();
    let before: Vec<_> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let dump = dump_of_sample();
    for args in [
        vec!["inspect", db.as_str()],
        vec!["dump", db.as_str()],
        vec!["gc", db.as_str()],
        vec!["compact", db.as_str()],
        vec!["load", db.as_str(), dump.as_str()],
    ] {
        let out = pstore(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("damaged") && err.contains("CURRENT"),
            "{args:?}: {err}"
        );
    }
    let after: Vec<_> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before.len(), after.len());
    assert!(
        std::fs::metadata(Path::new(&db).join("000002.ldb"))
            .unwrap()
            .len()
            > 1_000_000
    );
}

fn dump_of_sample() -> String {
    testdata("go-v0.48.0/sample.dump.jsonl")
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    use std::io::Read;
    let (_dir, db) = copy_of("go-v0.48.0/bulk");
    for args in [vec!["peers", db.as_str()], vec!["dump", db.as_str()]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pstore"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Read one line, then close the pipe, as `| head -1` does.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

#[test]
fn compact_says_what_it_did_and_refuses_a_sqlite_file() {
    let (dir, db) = copy_of("go-v0.48.0/sample");
    let out = pstore(&["compact", &db]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("compacted") && err.contains("bytes"), "{err}");
    let sqlite = dir.path().join("x.sqlite");
    std::fs::write(&sqlite, b"").unwrap();
    let out = pstore(&["compact", sqlite.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a LevelDB directory"), "{err}");
}

#[test]
fn dump_can_leave_the_private_keys_out() {
    let out = pstore(&["dump", "--snapshot", "--no-private-keys", &sample()]);
    assert!(out.status.success());
    let peers: Vec<serde_json::Value> = json_lines(&out)
        .into_iter()
        .filter(|l| l.get("peer").is_some())
        .collect();
    assert!(peers.iter().all(|p| p["priv"].is_null()));
    assert!(peers.iter().filter(|p| !p["pub"].is_null()).count() >= 4);
}

#[test]
fn migrate_does_not_create_missing_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("no/such/dir/db");
    let out = pstore(&["migrate", "--snapshot", &sample(), dst.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!dir.path().join("no").exists());
}

#[test]
fn load_checks_peer_against_b32_and_the_keys_of_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let dump = std::fs::read_to_string(dump_of_sample()).unwrap();
    let first: serde_json::Value = serde_json::from_str(dump.lines().nth(1).unwrap()).unwrap();
    let other: serde_json::Value = serde_json::from_str(dump.lines().nth(2).unwrap()).unwrap();
    let cases = [
        ("b32 of another peer", {
            let mut l = first.clone();
            l["b32"] = other["b32"].clone();
            l
        }),
        ("a private key that does not decode", {
            let mut l = first.clone();
            l["priv"] = serde_json::json!("0801120400000000");
            l
        }),
        ("a public key of another peer", {
            let mut l = first.clone();
            l["pub"] = other["pub"].clone();
            l
        }),
    ];
    for (what, line) in cases {
        let file = dir.path().join("bad.jsonl");
        std::fs::write(&file, format!("{line}\n")).unwrap();
        let db = dir.path().join("db");
        let out = pstore(&["load", db.to_str().unwrap(), file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("line 1"), "{what}: {err}");
        assert!(
            !db.join("CURRENT").exists(),
            "{what}: something was written"
        );
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn load_into_a_new_sqlite_name_makes_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let out = pstore(&["load", db.to_str().unwrap(), &dump_of_sample()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.is_file());
}

#[test]
fn gc_with_lookahead_takes_a_duration_and_counts_each_record_once() {
    let (_dir, db) = copy_of("go-v0.48.0/bulk");
    let stats = pstore(&["stats", "--json", &db]);
    let records =
        serde_json::from_slice::<serde_json::Value>(&stats.stdout).unwrap()["peers_with_addrs"]
            .as_u64()
            .unwrap();
    let out = pstore(&["gc", "--lookahead", "1h", "--json", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let visited = r["records_visited"].as_u64().unwrap();
    assert!(
        visited > 0 && visited <= records,
        "{visited} visited of {records}"
    );
    let out = pstore(&["gc", "--lookahead", "an hour", &db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
}

#[test]
fn gc_gives_the_space_back_and_counts_in_words() {
    let (_dir, db) = copy_of("go-v0.48.0/bulk");
    let out = pstore(&["gc", &db]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("expired addresses") && text.contains("records"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("compacted"), "{err}");
}

#[cfg(feature = "sqlite")]
#[test]
fn load_to_picks_the_backend_of_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("peers.store");
    let out = pstore(&[
        "load",
        "--to",
        "sqlite",
        db.to_str().unwrap(),
        &dump_of_sample(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.is_file(), "a SQLite file, not a LevelDB directory");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loaded 5 peers"), "{err}");
}

#[test]
fn every_json_flag_says_what_it_does() {
    for command in [
        "inspect", "peers", "show", "stats", "verify", "gc", "salvage",
    ] {
        let out = pstore(&[command, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with("--json"))
            .unwrap_or_else(|| panic!("{command}: no --json in {help}"));
        assert!(line.contains("JSON"), "{command}: {line}");
    }
}

/// The SQLite file a go-libp2p node on pstoreds over go-ds-sql opens: table `blocks`
/// (`key TEXT PRIMARY KEY, data BLOB`), readable by its owner only.
#[cfg(all(feature = "sqlite", unix))]
#[test]
fn a_new_sqlite_store_has_go_ds_sqls_layout_and_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("peers.db");
    let out = pstore(&["migrate", "--snapshot", &sample(), dst.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&dst).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let conn = rusqlite::Connection::open(&dst).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'blocks'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sql.contains("key TEXT PRIMARY KEY, data BLOB") && sql.contains("WITHOUT ROWID"));
    let kind: String = conn
        .query_row("SELECT typeof(key) FROM blocks LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kind, "text", "go-ds-sql stores keys as TEXT");
    // Another table name, as go-waku's `peerstore`.
    let waku = dir.path().join("waku.db");
    let out = pstore(&[
        "migrate",
        "--snapshot",
        &sample(),
        waku.to_str().unwrap(),
        "--to-table",
        "peerstore",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pstore(&["inspect", waku.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such table (tables here: peerstore)") && err.contains("--table"));
    let out = pstore(&["--table", "peerstore", "dump", waku.to_str().unwrap()]);
    let want = pstore(&["dump", "--snapshot", &sample()]);
    assert_eq!(json_lines(&out), json_lines(&want));
}

/// Files of earlier versions (table `kv` of blobs) still open, and migrate converts them.
#[cfg(feature = "sqlite")]
#[test]
fn an_old_kv_sqlite_file_opens_and_migrates_to_go_ds_sqls_layout() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.sqlite");
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute_batch(
        "CREATE TABLE kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID",
    )
    .unwrap();
    drop(conn);
    // pstore writes a file in the layout it finds there.
    let dump = pstore(&["dump", "--snapshot", &sample()]);
    let file = dir.path().join("dump.jsonl");
    std::fs::write(&file, &dump.stdout).unwrap();
    let out = pstore(&["load", old.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = rusqlite::Connection::open(&old).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM kv", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 36, "written in the layout found");
    let new = dir.path().join("new.db");
    let out = pstore(&["migrate", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = rusqlite::Connection::open(&new).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM blocks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 36);
    assert_eq!(
        json_lines(&pstore(&["dump", new.to_str().unwrap()])),
        json_lines(&dump)
    );
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    fn url() -> Option<String> {
        match std::env::var("PSTORE_TEST_POSTGRES") {
            Ok(u) if !u.is_empty() => Some(u),
            _ if std::env::var("PSTORE_SKIP_POSTGRES").as_deref() == Ok("1") => None,
            _ => panic!(
                "needs PostgreSQL: run `bash .ci/test`, or set PSTORE_TEST_POSTGRES (or \
                 PSTORE_SKIP_POSTGRES=1 to skip)"
            ),
        }
    }

    fn table(tag: &str) -> String {
        format!("cli_{tag}_{}", std::process::id())
    }

    fn sql(url: &str, q: &str) {
        let mut c = ::postgres::Client::connect(url, ::postgres::NoTls).unwrap();
        c.batch_execute(q).unwrap();
    }

    /// LevelDB -> PostgreSQL -> SQLite -> PostgreSQL -> LevelDB: every copy verified, every
    /// dump the same; the read commands, verify and gc work on the table.
    #[test]
    fn migrate_goes_every_direction_and_every_command_reads_the_table() {
        let Some(url) = url() else { return };
        let (t1, t2) = (table("a"), table("b"));
        let dir = tempfile::tempdir().unwrap();
        let lite = dir.path().join("x.db");
        let back = dir.path().join("back");
        let go = sample();
        let steps: [Vec<&str>; 4] = [
            vec!["migrate", "--snapshot", &go, &url, "--to-table", &t1],
            vec![
                "--table",
                &t1,
                "migrate",
                &url,
                lite.to_str().unwrap(),
                "--to-table",
                "blocks",
            ],
            vec!["migrate", lite.to_str().unwrap(), &url, "--to-table", &t2],
            vec!["--table", &t2, "migrate", &url, back.to_str().unwrap()],
        ];
        for args in &steps {
            let out = pstore(args);
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let want = json_lines(&pstore(&["dump", "--snapshot", &sample()]));
        assert_eq!(json_lines(&pstore(&["dump", back.to_str().unwrap()])), want);
        assert_eq!(json_lines(&pstore(&["--table", &t2, "dump", &url])), want);
        let out = pstore(&["--table", &t2, "inspect", &url]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("peers      5"));
        let out = pstore(&["--table", &t2, "verify", &url]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let out = pstore(&["--table", &t2, "gc", "--json", &url]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json_lines(&out)[0]["addrs_removed"], 6);
        // A table that is not empty is not a new database.
        let out = pstore(&["migrate", "--snapshot", &sample(), &url, "--to-table", &t2]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
        sql(&url, &format!("DROP TABLE {t1}; DROP TABLE {t2}"));
    }

    /// Two `pstore apply` processes at once on one table, each adding 150 addresses and
    /// protocols of its own to the same three peers: every one of the 300 is there.
    #[test]
    fn two_processes_hammering_the_same_peers_lose_no_update() {
        let Some(url) = url() else { return };
        let t = table("hammer");
        let peers = [
            "12D3KooWLnZUpcaBwbz9uD1XsyyHnbXUrJRmxnsMiRnuCmvPix67",
            "12D3KooWJu9uvzBJ8ZdC749JNoTZWbLMSgaugF92HKhyWr7qwgDu",
            "12D3KooWM4yJB31d4hF2F9Vdwuj9WFo1qonoySyw4bVAQ9a9d21o",
        ];
        let dir = tempfile::tempdir().unwrap();
        let scripts: Vec<_> = (0..2)
            .map(|w| {
                let script = dir.path().join(format!("{w}.jsonl"));
                let ops: String = (0..150)
                    .map(|i| {
                        let peer = peers[i % 3];
                        format!(
                            "{{\"op\":\"add_addrs\",\"peer\":\"{peer}\",\
                             \"addrs\":[\"/ip4/10.{w}.0.{i}/tcp/1\"],\"ttl\":3600000000000}}\n\
                             {{\"op\":\"add_protocols\",\"peer\":\"{peer}\",\
                             \"protocols\":[\"/p/{w}/{i}\"]}}\n"
                        )
                    })
                    .collect();
                std::fs::write(&script, ops).unwrap();
                script
            })
            .collect();
        // The table first, so that neither process races to create it.
        let ok = pstore(&["--table", &t, "stats", &url]);
        assert_eq!(ok.status.code(), Some(2), "no table yet");
        sql(
            &url,
            &format!("CREATE TABLE {t} (key TEXT NOT NULL UNIQUE, data BYTEA)"),
        );
        let children: Vec<_> = scripts
            .iter()
            .map(|s| {
                Command::new(env!("CARGO_BIN_EXE_pstore"))
                    .args(["--table", &t, "apply", &url, s.to_str().unwrap()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let dump = json_lines(&pstore(&["--table", &t, "dump", &url]));
        assert_eq!(dump.len(), 3);
        for line in &dump {
            assert_eq!(line["addrs"].as_array().unwrap().len(), 100, "{line}");
            assert_eq!(line["protocols"].as_array().unwrap().len(), 100, "{line}");
        }
        // And the other commands on the table.
        let out = pstore(&["--table", &t, "peers", &url]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4);
        let out = pstore(&["--table", &t, "show", &url, peers[0]]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("addresses  100"));
        sql(&url, &format!("DROP TABLE {t}"));
    }

    #[test]
    fn a_table_with_other_columns_is_named_and_left_alone() {
        let Some(url) = url() else { return };
        let t = table("wrong");
        sql(&url, &format!("CREATE TABLE {t} (k TEXT, v BYTEA)"));
        let dump = dir_with_dump();
        let out = pstore(&["--table", &t, "load", &url, dump.1.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("table {t}")) && err.contains("k text, v bytea"),
            "{err}"
        );
        assert!(err.contains("nothing was written"), "{err}");
        let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {t}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
        sql(&url, &format!("DROP TABLE {t}"));
    }

    fn dir_with_dump() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.jsonl");
        std::fs::write(&file, pstore(&["dump", "--snapshot", &sample()]).stdout).unwrap();
        (dir, file)
    }

    #[test]
    fn wrong_credentials_are_one_line_without_the_password() {
        let Some(url) = url() else { return };
        let at = url.find('@').unwrap();
        let user_end = url[..at].rfind(':').unwrap();
        let bad = format!("{}:Hunter2Secret{}", &url[..user_end], &url[at..]);
        let out = pstore(&["inspect", &bad]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("password authentication failed"), "{err}");
        assert!(
            !err.contains("Hunter2Secret"),
            "the password is echoed: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }

    #[test]
    fn an_unreachable_server_is_one_line_within_the_connect_timeout() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = std::time::Instant::now();
        let out = pstore(&["inspect", &format!("postgres://u:pw@127.0.0.1:{port}/db")]);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Connection refused") && err.contains(&format!(":{port}/db")));
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// `--snapshot` of a SQLite file a running node holds open: what is still in its write-ahead
/// log is in the copy too (SQLite makes the copy), and the node's file is left alone.
#[cfg(feature = "sqlite")]
#[test]
fn a_snapshot_of_a_sqlite_file_in_use_includes_its_write_ahead_log() {
    use pstoreds::datastore::{Datastore, SqliteDatastore};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.db");
    let dump_file = dir.path().join("dump.jsonl");
    std::fs::write(
        &dump_file,
        pstore(&["dump", "--snapshot", &sample()]).stdout,
    )
    .unwrap();
    let reader = std::io::BufReader::new(std::fs::File::open(&dump_file).unwrap());
    let loaded = pstoreds::dump::load_dump(reader).unwrap();
    let node = SqliteDatastore::open(&file, Default::default()).unwrap();
    node.write(loaded.batch).unwrap();
    let wal = dir.path().join("node.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the writes are in the WAL"
    );
    let out = pstore(&["inspect", "--snapshot", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("peers      5"));
    node.put(&pstoreds::datastore::Key::new("/still/writing"), b"1")
        .unwrap();
    node.close().unwrap();
}

/// `migrate --from py-libp2p-sqlite`: py-libp2p 0.8.1's SQLite layout (a sample made by hand;
/// python/tests/test_migrate_pylibp2p.py has py-libp2p write it) into a new LevelDB database:
/// each record skipped or not converted printed with its key, a summary; exit 1 and nothing
/// created when nothing converts, and the source is never written.
#[cfg(feature = "sqlite")]
#[test]
fn migrate_from_py_libp2p_sqlite_converts_and_names_what_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("py.db");
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute_batch("CREATE TABLE datastore (key BLOB PRIMARY KEY, value BLOB NOT NULL)")
        .unwrap();
    let peer = libp2p_identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    let key = |prefix: &str| [prefix.as_bytes(), &peer.to_bytes()].concat();
    // PeerAddresses {/ip4/1.2.3.4/tcp/4001}; PeerLatency {25 ms}; a damaged PeerMetadata.
    let rows: [(Vec<u8>, &[u8]); 3] = [
        (key("addr:"), b"\x0a\x08\x04\x01\x02\x03\x04\x06\x0f\xa1"),
        (key("latency:"), b"\x08\xc0\xf0\xf5\x0b"),
        (key("metadata:"), b"\xff\xff"),
    ];
    for (k, v) in &rows {
        conn.execute("INSERT INTO datastore VALUES (?1, ?2)", (k, v))
            .unwrap();
    }
    drop(conn);
    let before = std::fs::read(&src).unwrap();
    let dst = dir.path().join("go");
    let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
    let out = pstore(&["migrate", "--from", "py-libp2p-sqlite", s, d]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!(
        "skipped: latency:{peer}: the latency EWMA (25ms): go-libp2p keeps latencies in memory"
    )));
    assert!(text.contains(&format!(
        "problem: metadata:{peer}: not a PeerMetadata protobuf"
    )));
    assert!(
        text.contains("migrated 1 of 3 py-libp2p records into"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&src).unwrap(),
        before,
        "the source is only read"
    );
    let dump = pstore(&["dump", d]);
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains(&format!("\"peer\":\"{peer}\"")), "{dump}");
    assert!(
        dump.contains("\"addr\":\"/ip4/1.2.3.4/tcp/4001\""),
        "{dump}"
    );
    assert!(dump.contains("\"ttl\":9223372036854775807"), "{dump}");

    // Only the damaged record: nothing to convert, exit 1, no destination.
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute("DELETE FROM datastore WHERE key != ?1", [key("metadata:")])
        .unwrap();
    drop(conn);
    let dst = dir.path().join("go2");
    let out = pstore(&[
        "migrate",
        "--from",
        "py-libp2p-sqlite",
        s,
        dst.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing converted"));
    assert!(!dst.exists());
}
