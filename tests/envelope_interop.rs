//! Signed peer records cross-checked against rust-libp2p's own implementation (libp2p-core's
//! `PeerRecord::new_interop`, the Go-compatible domain and payload type) and against envelopes
//! written by go-libp2p v0.48.0 in the sample fixture.

use libp2p_core::{Multiaddr, PeerRecord as CorePeerRecord, SignedEnvelope};
use libp2p_identity::Keypair;
use pstoreds::codec::envelope::SignedPeerRecord;

fn keypairs() -> Vec<Keypair> {
    vec![
        Keypair::generate_ed25519(),
        Keypair::generate_secp256k1(),
        Keypair::generate_ecdsa(),
    ]
}

#[test]
fn records_sealed_by_libp2p_core_open_here() {
    for kp in keypairs() {
        let addrs: Vec<Multiaddr> = vec![
            "/ip4/127.0.0.1/tcp/4001".parse().unwrap(),
            "/ip6/::1/udp/4001/quic-v1".parse().unwrap(),
        ];
        let core = CorePeerRecord::new_interop(&kp, addrs.clone()).unwrap();
        let raw = core.to_signed_envelope().into_protobuf_encoding();
        let ours = SignedPeerRecord::open(&raw).unwrap();
        assert_eq!(ours.record.seq, core.seq());
        assert_eq!(ours.record.peer_id, kp.public().to_peer_id().to_bytes());
        let ours_addrs: Vec<Vec<u8>> = addrs.iter().map(|a| a.to_vec()).collect();
        assert_eq!(ours.record.addrs, ours_addrs);
        assert_eq!(ours.envelope.raw(), &raw[..]);
    }
}

#[test]
fn records_sealed_here_open_in_libp2p_core() {
    for kp in keypairs() {
        let addr: Multiaddr = "/ip4/10.0.0.1/tcp/1".parse().unwrap();
        let ours = SignedPeerRecord::seal(&kp, 42, vec![addr.to_vec()]).unwrap();
        let envelope = SignedEnvelope::from_protobuf_encoding(ours.envelope.raw()).unwrap();
        let core = CorePeerRecord::from_signed_envelope_interop(envelope).unwrap();
        assert_eq!(core.seq(), 42);
        assert_eq!(core.peer_id(), kp.public().to_peer_id());
        assert_eq!(core.addresses(), &[addr]);
    }
}

#[test]
fn envelopes_written_by_go_libp2p_verify() {
    let dump = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/go-v0.48.0/sample.dump.jsonl"),
    )
    .unwrap();
    let mut seen = 0;
    for line in dump.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(raw) = v["certified"]["raw"].as_str() else {
            continue;
        };
        let raw = data_encoding::HEXLOWER.decode(raw.as_bytes()).unwrap();
        let opened = SignedPeerRecord::open(&raw).unwrap();
        assert_eq!(Some(opened.record.seq), v["certified"]["seq"].as_u64());
        assert_eq!(
            pstoreds::peerstore::RawPeerId::from_bytes(opened.record.peer_id.clone()).to_string(),
            v["peer"]
        );
        seen += 1;
    }
    assert!(seen > 0, "the sample holds no signed record");
}
