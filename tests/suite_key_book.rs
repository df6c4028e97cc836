//! go-libp2p's key-book suite (docs/tests.md), re-created.

mod common;

use common::Fixture;
use libp2p_identity::Keypair;
use pstoreds::codec::crypto::{KeyType, StoredKey};
use pstoreds::peerstore::RawPeerId;

fn add_and_get_private_key(f: &Fixture) {
    let kp = Keypair::generate_secp256k1();
    let id = kp.public().to_peer_id();
    assert!(f.ps.priv_key(id).unwrap().is_none());
    f.ps.add_priv_key(id, &kp).unwrap();
    let got = f.ps.priv_key(id).unwrap().unwrap();
    assert_eq!(got.keypair().unwrap().public(), kp.public());
    assert_eq!(f.ps.peers_with_keys().unwrap(), vec![RawPeerId::from(id)]);
}

fn add_and_get_public_key(f: &Fixture) {
    // A sha256 peer ID (key too long to inline): nothing to extract, so absent before the add.
    let kp = Keypair::generate_ecdsa();
    let id = kp.public().to_peer_id();
    assert!(f.ps.pub_key(id).unwrap().is_none());
    f.ps.add_pub_key(id, &kp.public()).unwrap();
    assert_eq!(
        f.ps.pub_key(id).unwrap().unwrap().public_key().unwrap(),
        kp.public()
    );
    assert_eq!(f.ps.peers_with_keys().unwrap(), vec![RawPeerId::from(id)]);
}

fn peers_with_keys_lists_pub_only_and_priv_only_peers(f: &Fixture) {
    let mut want = Vec::new();
    for _ in 0..10 {
        let kp = Keypair::generate_ecdsa();
        f.ps.add_pub_key(kp.public().to_peer_id(), &kp.public())
            .unwrap();
        want.push(RawPeerId::from(kp.public().to_peer_id()));
    }
    for _ in 0..10 {
        let kp = Keypair::generate_ed25519();
        f.ps.add_priv_key(kp.public().to_peer_id(), &kp).unwrap();
        want.push(RawPeerId::from(kp.public().to_peer_id()));
    }
    want.sort();
    assert_eq!(f.ps.peers_with_keys().unwrap(), want);
}

fn mismatched_keys_are_refused(f: &Fixture) {
    let (kp, other) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let id = kp.public().to_peer_id();
    let err = f.ps.add_pub_key(id, &other.public()).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let err = f.ps.add_priv_key(id, &other).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(f.ps.peers_with_keys().unwrap().is_empty());
    assert!(f.ps.add_pub_key_bytes(id, &[0xff, 0x01]).is_err());
}

fn public_key_is_extracted_from_identity_ids_and_written_back(f: &Fixture) {
    let kp = Keypair::generate_ed25519();
    let id = kp.public().to_peer_id();
    assert!(f.ps.peers_with_keys().unwrap().is_empty());
    let got = f.ps.pub_key(id).unwrap().unwrap();
    assert_eq!(got.public_key().unwrap(), kp.public());
    // Written back, as go-libp2p does.
    assert_eq!(f.ps.peers_with_keys().unwrap(), vec![RawPeerId::from(id)]);
}

fn remove_peer_removes_both_keys(f: &Fixture) {
    let kp = Keypair::generate_secp256k1();
    let id = kp.public().to_peer_id();
    f.ps.add_pub_key(id, &kp.public()).unwrap();
    f.ps.add_priv_key(id, &kp).unwrap();
    f.ps.remove_peer(id).unwrap();
    assert!(f.ps.priv_key(id).unwrap().is_none());
    assert!(f.ps.peers_with_keys().unwrap().is_empty());
}

fn keys_libp2p_identity_cannot_parse_are_kept(f: &Fixture) {
    // An ECDSA key on a curve libp2p-identity does not support: stored and returned as is.
    let key = StoredKey::new(KeyType::Ecdsa, vec![0x30; 120]);
    let id = RawPeerId::from_bytes(key.peer_id_bytes());
    f.ps.add_pub_key_bytes(&id, key.raw()).unwrap();
    assert_eq!(f.ps.pub_key(&id).unwrap().unwrap().raw(), key.raw());
}

suite!(
    add_and_get_private_key,
    add_and_get_public_key,
    peers_with_keys_lists_pub_only_and_priv_only_peers,
    mismatched_keys_are_refused,
    public_key_is_extracted_from_identity_ids_and_written_back,
    remove_peer_removes_both_keys,
    keys_libp2p_identity_cannot_parse_are_kept,
);

/// The RSA key pair go-libp2p wrote in the sample fixture (libp2p-identity cannot generate RSA
/// keys, nor encode RSA private keys): its public and private keys.
fn go_rsa_keys() -> (RawPeerId, Vec<u8>, Vec<u8>) {
    let dump = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/go-v0.48.0/sample.dump.jsonl"),
    )
    .unwrap();
    for line in dump.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let (Some(p), Some(k)) = (v["pub"].as_str(), v["priv"].as_str())
            && p.starts_with("0800")
        {
            let hex = |s: &str| data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap();
            let id = RawPeerId::from_base58(v["peer"].as_str().unwrap()).unwrap();
            return (id, hex(p), hex(k));
        }
    }
    panic!("no RSA peer in the sample")
}

fn rsa_keys_from_go_are_checked_and_kept_as_stored(f: &Fixture) {
    let (id, public, private) = go_rsa_keys();
    assert_eq!(
        &id.as_bytes()[..2],
        &[0x12, 0x20],
        "RSA peers have sha256 IDs"
    );
    assert!(
        f.ps.pub_key(&id).unwrap().is_none(),
        "nothing to extract from a sha256 ID"
    );
    f.ps.add_pub_key_bytes(&id, &public).unwrap();
    f.ps.add_priv_key_bytes(&id, &private).unwrap();
    assert_eq!(f.ps.pub_key(&id).unwrap().unwrap().raw(), &public[..]);
    let sk = f.ps.priv_key(&id).unwrap().unwrap();
    assert_eq!(sk.raw(), &private[..], "PKCS#1 bytes kept exactly");
    assert_eq!(sk.key_type, KeyType::Rsa);
    // Parsed on demand, it is the same key.
    assert_eq!(sk.keypair().unwrap().public().encode_protobuf(), public);
    // Another peer's RSA key is refused.
    assert!(
        f.ps.add_priv_key_bytes(Keypair::generate_ed25519().public().to_peer_id(), &private)
            .is_err()
    );
}

mod rsa {
    use super::*;
    suite!(@with |o| o; rsa_keys_from_go_are_checked_and_kept_as_stored);
}
