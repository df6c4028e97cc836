//! Databases written by real go-libp2p v0.48.0 (`testdata/go-v0.48.0`, made by `interop write`):
//! the Rust canonical dump of each must equal the dump Go printed of it. Runs without Go.

use std::path::{Path, PathBuf};

use pstoreds::datastore::{LevelDbDatastore, LevelDbOptions};

/// `name` under testdata/go-v0.48.0, or under testdata/ when it names a version folder.
fn fixture(name: &str) -> PathBuf {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    if name.starts_with("go-v") {
        testdata.join(name)
    } else {
        testdata.join("go-v0.48.0").join(name)
    }
}

/// Opens a private copy: opening a LevelDB database writes to its directory.
fn open_copy(name: &str) -> (tempfile::TempDir, LevelDbDatastore) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let opts = LevelDbOptions {
        create_if_missing: false,
        ..Default::default()
    };
    let ds = LevelDbDatastore::open(dir.path(), opts).unwrap();
    (dir, ds)
}

fn parse_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_dump_matches_go(name: &str) {
    let (_dir, ds) = open_copy(name);
    let mut out = Vec::new();
    let lines = pstoreds::dump::write_dump(&ds, &mut out).unwrap();
    let ours = parse_lines(std::str::from_utf8(&out).unwrap());
    let go = parse_lines(&std::fs::read_to_string(fixture(&format!("{name}.dump.jsonl"))).unwrap());
    assert_eq!(lines, go.len());
    for (i, (a, b)) in ours.iter().zip(&go).enumerate() {
        assert_eq!(a, b, "{name}: line {} differs", i + 1);
    }
}

#[test]
fn sample_dump_equals_go_dump() {
    assert_dump_matches_go("sample");
}

#[test]
fn gc_index_dump_equals_go_dump() {
    assert_dump_matches_go("gc");
}

#[test]
fn bulk_dump_of_ten_thousand_peers_equals_go_dump() {
    assert_dump_matches_go("bulk");
}

/// The sample holds what the issue asks of it: every key type, metadata of every built-in gob
/// type, protocols, a signed record and a peer with no addresses left.
#[test]
fn sample_covers_the_documented_cases() {
    let go = std::fs::read_to_string(fixture("sample.dump.jsonl")).unwrap();
    let lines = parse_lines(&go);
    let pub_types: std::collections::BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l["pub"].as_str().map(|p| p[..4].to_owned()))
        .collect();
    assert_eq!(
        pub_types.into_iter().collect::<Vec<_>>(),
        ["0800", "0801", "0802", "0803"]
    );
    let types: std::collections::BTreeSet<&str> = lines
        .iter()
        .flat_map(|l| l["metadata"].as_object().unwrap().values())
        .filter_map(|v| v["type"].as_str())
        .collect();
    for t in [
        "bool", "string", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
        "uint32", "uint64", "uintptr", "float32", "float64", "[]uint8", "[]string", "nil",
    ] {
        assert!(types.contains(t), "no {t} value in the sample");
    }
    assert!(lines.iter().any(|l| l["certified"]["seq"] == 3));
    assert!(
        lines
            .iter()
            .any(|l| l["addrs"].as_array().unwrap().is_empty())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["protocols"].as_array().is_some_and(|p| p.is_empty()))
    );
}

#[test]
fn protocols_written_by_go_libp2p_v0_24_dump_as_go_dumps_them() {
    assert_dump_matches_go("go-v0.24.2/legacy-protocols");
}

#[test]
fn the_peerstore_reads_go_v0_24_protocols_and_rewrites_them_current() {
    let (_dir, ds) = open_copy("go-v0.24.2/legacy-protocols");
    let ps = pstoreds::peerstore::Options::new()
        .gc_purge_interval(std::time::Duration::ZERO)
        .open_datastore(std::sync::Arc::new(ds))
        .unwrap();
    let peer = pstoreds::peerstore::RawPeerId::from_base58(
        "12D3KooWLnZUpcaBwbz9uD1XsyyHnbXUrJRmxnsMiRnuCmvPix67",
    )
    .unwrap();
    assert_eq!(
        ps.get_protocols(&peer).unwrap(),
        ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]
    );
    assert_eq!(
        ps.get(&peer, "AgentVersion").unwrap(),
        Some("go-libp2p/0.24.2".into())
    );
    ps.add_protocols(&peer, &["/ipfs/kad/1.0.0"]).unwrap();
    let key = pstoreds::codec::peer_key::metadata_key(peer.as_bytes(), "protocols").unwrap();
    let stored = ps.datastore().get(&key).unwrap().unwrap();
    assert_eq!(
        pstoreds::codec::gob::type_name(&stored).as_deref(),
        Some(pstoreds::codec::gob::PROTOCOLS_TYPE)
    );
}

/// Point reads of tables go-libp2p wrote (no Bloom filters, goleveldb's block layout): every
/// key a query lists reads back the same value, and keys just before and after each are
/// absent.
#[test]
fn point_reads_of_go_written_tables_match_a_query() {
    use pstoreds::datastore::{Datastore, Key, Query};
    for name in ["sample", "gc", "bulk", "go-v0.24.2/legacy-protocols"] {
        let (_dir, ds) = open_copy(name);
        let entries = ds.query(&Query::prefix(Key::new("/"))).unwrap();
        assert!(!entries.is_empty(), "{name}: no keys");
        for e in &entries {
            let key = Key::new(std::str::from_utf8(&e.key).unwrap());
            assert_eq!(
                ds.get(&key).unwrap().as_ref(),
                Some(&e.value),
                "{name}: {key}"
            );
            let text = std::str::from_utf8(&e.key).unwrap();
            for absent in [format!("{text}~"), text[..text.len() - 1].to_owned()] {
                let absent = Key::new(&absent);
                if entries.iter().any(|e| e.key == absent.as_bytes()) {
                    continue;
                }
                assert_eq!(ds.get(&absent).unwrap(), None, "{name}: {absent}");
            }
        }
    }
}
