//! The `pstore` binary, end to end, on Go-written fixtures.

use std::path::Path;
use std::process::Command;

fn pstore(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pstore"))
        .args(args)
        .output()
        .unwrap()
}

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/go-v0.48.0/sample")
        .display()
        .to_string()
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
            "{{\"op\":\"add_addrs\",\"peer\":\"{peer}\",\"addrs\":[\"/ip4/1.2.3.4/tcp/1\"],\"ttl\":3600000000000}}\n\
             this is not json\n\
             {{\"op\":\"teleport\",\"peer\":\"{peer}\"}}\n\
             {{\"op\":\"add_addrs\",\"peer\":\"not-a-peer\",\"addrs\":[],\"ttl\":1}}\n\
             {{\"op\":\"add_addrs\",\"peer\":\"{peer}\",\"addrs\":[\"/ip4/1.2.3.5/tcp/1\"],\"ttl\":3600000000000}}\n"
        ),
    )
    .unwrap();
    let db = dir.path().join("db");
    let out = pstore(&["apply", db.to_str().unwrap(), script.to_str().unwrap()]);
    assert!(out.status.success());
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
