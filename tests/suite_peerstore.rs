//! go-libp2p's peerstore suite (docs/tests.md), re-created: address streams, the
//! protocol book and its limits, the basic peerstore, metadata, metrics.

mod common;

use std::time::Duration;

use common::{Fixture, addrs, peer};
use futures::StreamExt;
use futures::executor::block_on;
use libp2p_identity::Keypair;
use pstoreds::codec::gob::Value;
use pstoreds::peerstore::{RawPeerId, Ttl};

const HOUR: Duration = Duration::from_secs(3600);

fn addr_stream_sees_current_then_new_addresses(f: &Fixture) {
    let (pid, a) = (RawPeerId::from("testpeer"), addrs(100));
    f.ps.add_addrs(&pid, &a[..10], HOUR).unwrap();
    let mut s1 = f.ps.addr_stream(&pid).unwrap();
    for addr in &a[10..20] {
        f.ps.add_addr(&pid, addr, HOUR).unwrap();
    }
    let first: Vec<_> = block_on(s1.by_ref().take(20).collect());
    common::assert_addrs(&a[..20], first);

    let mut s2 = f.ps.addr_stream(&pid).unwrap();
    let writer = {
        let ps = f.ps.clone();
        let (pid, more) = (pid.clone(), a[20..80].to_vec());
        std::thread::spawn(move || {
            for addr in &more {
                ps.add_addr(&pid, addr, HOUR).unwrap();
            }
        })
    };
    let next: Vec<_> = block_on(s1.by_ref().take(60).collect());
    writer.join().unwrap();
    common::assert_addrs(&a[20..80], next);
    drop(s1);
    let all: Vec<_> = block_on(s2.by_ref().take(80).collect());
    common::assert_addrs(&a[..80], all);
    drop(s2);
    // Adding after every subscriber is gone must not block.
    for addr in &a[80..] {
        f.ps.add_addr(&pid, addr, HOUR).unwrap();
    }
}

fn stream_made_before_the_peer_exists_gets_exactly_ten(f: &Fixture) {
    let (pid, a) = (RawPeerId::from("testpeer"), addrs(10));
    let s = f.ps.addr_stream(&pid).unwrap();
    for addr in &a {
        f.ps.add_addr(&pid, addr, HOUR).unwrap();
    }
    f.ps.close().unwrap(); // ends the stream
    let got: Vec<_> = block_on(s.collect());
    assert_eq!(got.len(), 10);
    common::assert_addrs(&a, got);
}

fn stream_deduplicates(f: &Fixture) {
    let (pid, a) = (RawPeerId::from("testpeer"), addrs(10));
    let s = f.ps.addr_stream(&pid).unwrap();
    for round in 0..3 {
        for (i, addr) in a.iter().enumerate() {
            if (i + round) % 2 == 0 {
                f.ps.add_addr(&pid, addr, HOUR).unwrap();
            }
            f.ps.add_addr(&pid, addr, HOUR).unwrap();
        }
    }
    f.ps.close().unwrap();
    let got: Vec<_> = block_on(s.collect());
    assert_eq!(got.len(), 10);
}

fn protocols_add_get_supports_set_remove(f: &Fixture) {
    let p1 = peer();
    let protos = ["a", "b", "c", "d"];
    f.ps.add_protocols(p1, &protos).unwrap();
    assert_eq!(f.ps.get_protocols(p1).unwrap(), protos);
    assert_eq!(
        f.ps.supports_protocols(p1, &["q", "w", "a", "y", "b"])
            .unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        f.ps.first_supported_protocol(p1, &["q", "w", "a", "y", "b"])
            .unwrap()
            .as_deref(),
        Some("a")
    );
    assert_eq!(
        f.ps.first_supported_protocol(p1, &["q", "x", "z"]).unwrap(),
        None
    );
    assert_eq!(
        f.ps.first_supported_protocol(p1, &["a"])
            .unwrap()
            .as_deref(),
        Some("a")
    );
    assert!(
        f.ps.first_supported_protocol(p1, &["q", "w", "y"])
            .unwrap()
            .is_none()
    );

    let protos = ["other", "yet another", "one more"];
    f.ps.set_protocols(p1, &protos).unwrap();
    let mut sorted = protos.to_vec();
    sorted.sort();
    assert_eq!(f.ps.supports_protocols(p1, &protos).unwrap(), protos);
    assert_eq!(f.ps.get_protocols(p1).unwrap(), sorted);
    f.ps.remove_protocols(p1, &protos[..2]).unwrap();
    assert_eq!(f.ps.get_protocols(p1).unwrap(), ["one more"]);
}

fn removing_a_peer_removes_its_protocols(f: &Fixture) {
    let p = peer();
    f.ps.set_protocols(p, &["a", "b"]).unwrap();
    assert_eq!(f.ps.get_protocols(p).unwrap(), ["a", "b"]);
    f.ps.remove_peer(p).unwrap();
    assert!(f.ps.get_protocols(p).unwrap().is_empty());
}

fn protocol_limits_as_go(f: &Fixture) {
    // Built with max_protocols 10 (see the tweak below).
    let p = peer();
    let protos: Vec<String> = (0..10).map(|i| format!("/proto/{i}")).collect();
    f.ps.set_protocols(p, &protos).unwrap();
    let mut more = protos.clone();
    more.push("proto".into());
    let err = f.ps.set_protocols(p, &more).unwrap_err();
    assert!(err.to_string().contains("too many protocols"), "{err}");

    let (p1, p2) = protos.split_at(5);
    f.ps.set_protocols(p, p1).unwrap();
    f.ps.add_protocols(p, p2).unwrap();
    let err = f.ps.add_protocols(p, &["proto"]).unwrap_err();
    assert!(err.to_string().contains("too many protocols"), "{err}");
    // Counted before de-duplication, as in Go.
    let err = f.ps.add_protocols(p, &[&protos[0]]).unwrap_err();
    assert!(err.to_string().contains("too many protocols"), "{err}");
}

fn basic_peerstore_with_rsa_peers(f: &Fixture) {
    // RSA peers (sha256 IDs); libp2p-identity cannot generate RSA keys, so the IDs are
    // derived from go-libp2p-shaped public keys of the right kind.
    let a = addrs(10);
    let mut ids = Vec::new();
    for (i, addr) in a.iter().enumerate() {
        let key = pstoreds::codec::crypto::StoredKey::new(
            pstoreds::codec::crypto::KeyType::Rsa,
            vec![i as u8; 270],
        );
        let id = RawPeerId::from_bytes(key.peer_id_bytes());
        assert_eq!(&id.as_bytes()[..2], &[0x12, 0x20]);
        f.ps.add_addr(&id, addr, Ttl::PERMANENT).unwrap();
        ids.push(id);
    }
    assert_eq!(f.ps.peers().unwrap().len(), 10);
    let (pid, info) = f.ps.peer_info(&ids[0]).unwrap();
    assert_eq!(pid, ids[0]);
    assert_eq!(info, vec![a[0].clone()]);
}

fn metadata_keeps_types(f: &Fixture) {
    let peers: Vec<_> = (0..10).map(|_| peer()).collect();
    for p in &peers {
        f.ps.put(*p, "AgentVersion", &"string".into()).unwrap();
        f.ps.put(*p, "bar", &Value::Int(1)).unwrap();
    }
    for p in &peers {
        assert_eq!(
            f.ps.get(*p, "AgentVersion").unwrap(),
            Some(Value::String("string".into()))
        );
        assert_eq!(f.ps.get(*p, "bar").unwrap(), Some(Value::Int(1)));
    }
    assert_eq!(f.ps.get(peers[0], "missing").unwrap(), None);
    assert!(f.ps.put(peers[0], "../escape", &Value::Bool(true)).is_err());
}

fn removing_peer_foo_leaves_peer_foobar(f: &Fixture) {
    let (short, long) = (RawPeerId::from("foo"), RawPeerId::from("foobar"));
    f.ps.put(&long, "AgentVersion", &"v1".into()).unwrap();
    f.ps.put(&short, "AgentVersion", &"v1".into()).unwrap();
    f.ps.put(&short, "bar", &Value::Int(1)).unwrap();
    f.ps.remove_peer(&short).unwrap();
    assert_eq!(f.ps.get(&short, "AgentVersion").unwrap(), None);
    assert_eq!(f.ps.get(&short, "bar").unwrap(), None);
    assert_eq!(f.ps.get(&long, "AgentVersion").unwrap(), Some("v1".into()));
}

fn remove_peer_keeps_addresses(f: &Fixture) {
    let kp = Keypair::generate_ed25519();
    let p = kp.public().to_peer_id();
    f.ps.add_addrs(p, &addrs(2), HOUR).unwrap();
    f.ps.add_pub_key(p, &kp.public()).unwrap();
    f.ps.record_latency(p, Duration::from_millis(10));
    f.ps.remove_peer(p).unwrap();
    assert_eq!(f.ps.addrs(p).unwrap().len(), 2);
    assert!(f.ps.peers_with_keys().unwrap().is_empty());
    assert_eq!(f.ps.latency_ewma(p), Duration::ZERO);
}

fn latency_is_an_ewma(f: &Fixture) {
    let p = peer();
    assert_eq!(f.ps.latency_ewma(p), Duration::ZERO);
    f.ps.record_latency(p, Duration::from_millis(100));
    assert_eq!(f.ps.latency_ewma(p), Duration::from_millis(100));
    f.ps.record_latency(p, Duration::from_millis(200));
    assert_eq!(f.ps.latency_ewma(p), Duration::from_millis(110));
}

fn clear_latency_forgets_only_the_samples(f: &Fixture) {
    let p = peer();
    f.ps.add_addrs(p, &addrs(1), HOUR).unwrap();
    f.ps.record_latency(p, Duration::from_millis(100));
    f.ps.clear_latency(p);
    assert_eq!(f.ps.latency_ewma(p), Duration::ZERO);
    assert_eq!(f.ps.addrs(p).unwrap().len(), 1);
    f.ps.record_latency(p, Duration::from_millis(30));
    assert_eq!(f.ps.latency_ewma(p), Duration::from_millis(30));
}

fn closed_peerstore_refuses_work(f: &Fixture) {
    f.ps.close().unwrap();
    assert!(matches!(
        f.ps.addrs(peer()),
        Err(pstoreds::peerstore::Error::Closed)
    ));
    f.ps.close().unwrap();
}

suite!(
    addr_stream_sees_current_then_new_addresses,
    stream_made_before_the_peer_exists_gets_exactly_ten,
    stream_deduplicates,
    protocols_add_get_supports_set_remove,
    removing_a_peer_removes_its_protocols,
    basic_peerstore_with_rsa_peers,
    metadata_keeps_types,
    removing_peer_foo_leaves_peer_foobar,
    remove_peer_keeps_addresses,
    latency_is_an_ewma,
    clear_latency_forgets_only_the_samples,
    closed_peerstore_refuses_work,
);

mod limits {
    use super::*;
    suite!(@with |o| o.max_protocols(10); protocol_limits_as_go);
}
