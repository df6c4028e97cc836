//! go-libp2p's address-book suite (docs/tests.md), re-created.

mod common;

use std::time::Duration;

use common::{Fixture, addrs, assert_addrs, peer};
use libp2p_identity::Keypair;
use multiaddr::{Multiaddr, Protocol};
use pstoreds::codec::envelope::SignedPeerRecord;
use pstoreds::peerstore::{RawPeerId, Ttl};

const HOUR: Duration = Duration::from_secs(3600);
const SECOND: Duration = Duration::from_secs(1);

fn add_single_address(f: &Fixture) {
    let (id, a) = (peer(), addrs(1));
    f.ps.add_addr(id, &a[0], HOUR).unwrap();
    assert_addrs(&a, f.ps.addrs(id).unwrap());
}

fn add_same_address_twice_is_idempotent(f: &Fixture) {
    let (id, a) = (peer(), addrs(1));
    f.ps.add_addr(id, &a[0], HOUR).unwrap();
    f.ps.add_addr(id, &a[0], HOUR).unwrap();
    assert_addrs(&a, f.ps.addrs(id).unwrap());
}

fn add_several_addresses_twice_is_idempotent(f: &Fixture) {
    let (id, a) = (peer(), addrs(3));
    f.ps.add_addrs(id, &a, HOUR).unwrap();
    assert_addrs(&a, f.ps.addrs(id).unwrap());
    f.ps.add_addrs(id, &a, HOUR).unwrap();
    assert_addrs(&a, f.ps.addrs(id).unwrap());
}

fn later_expiry_extends_the_ttl(f: &Fixture) {
    let (id, a) = (peer(), addrs(3));
    f.ps.add_addrs(id, &a, SECOND).unwrap();
    f.ps.add_addrs(id, &a[2..], HOUR).unwrap();
    f.advance(Duration::from_millis(1200));
    assert_addrs(&a[2..], f.ps.addrs(id).unwrap());
    f.ps.update_addrs(id, HOUR, Ttl(0)).unwrap();
    assert_addrs(&[], f.ps.addrs(id).unwrap());
}

fn add_addrs_never_lowers_expiry(f: &Fixture) {
    let (id, a) = (peer(), addrs(3));
    f.ps.add_addrs(id, &a, HOUR).unwrap();
    f.ps.add_addrs(id, &a[2..], SECOND).unwrap();
    f.advance(Duration::from_millis(2100));
    assert_addrs(&a, f.ps.addrs(id).unwrap());
}

fn add_addrs_never_lowers_ttl(f: &Fixture) {
    let (id, a) = (peer(), addrs(1));
    f.ps.add_addrs(id, &a, 4 * SECOND).unwrap();
    f.advance(2 * SECOND);
    f.ps.add_addrs(id, &a, 3 * SECOND).unwrap();
    f.advance(SECOND);
    assert_addrs(&a, f.ps.addrs(id).unwrap());
    // The TTL is still 4 s: updating 4 s to 0 removes it.
    f.ps.update_addrs(id, 4 * SECOND, Ttl(0)).unwrap();
    assert_addrs(&[], f.ps.addrs(id).unwrap());
}

fn the_empty_peer_id_works(f: &Fixture) {
    let a = addrs(5);
    let empty = RawPeerId::from_bytes(Vec::new());
    f.ps.add_addrs(&empty, &a, HOUR).unwrap();
    assert_addrs(&a, f.ps.addrs(&empty).unwrap());
}

fn own_p2p_suffix_is_stripped(f: &Fixture) {
    let (id, a) = (peer(), addrs(1));
    let with_suffix = a[0].clone().with(Protocol::P2p(id));
    f.ps.add_addr(id, &with_suffix, HOUR).unwrap();
    assert_addrs(&a, f.ps.addrs(id).unwrap());
}

fn another_peers_p2p_address_is_dropped(f: &Fixture) {
    let (id1, id2, a) = (peer(), peer(), addrs(1));
    let with_suffix = a[0].clone().with(Protocol::P2p(id1));
    f.ps.add_addr(id2, &with_suffix, HOUR).unwrap();
    assert_addrs(&[], f.ps.addrs(id2).unwrap());
}

fn clear_addrs_leaves_other_peers_intact(f: &Fixture) {
    let (ids, a) = ([peer(), peer()], addrs(5));
    f.ps.add_addrs(ids[0], &a[..3], HOUR).unwrap();
    f.ps.add_addrs(ids[1], &a[3..], HOUR).unwrap();
    assert_addrs(&a[..3], f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a[3..], f.ps.addrs(ids[1]).unwrap());
    f.ps.clear_addrs(ids[0]).unwrap();
    assert_addrs(&[], f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a[3..], f.ps.addrs(ids[1]).unwrap());
    f.ps.clear_addrs(ids[1]).unwrap();
    assert_addrs(&[], f.ps.addrs(ids[1]).unwrap());
}

fn negative_ttl_removes_exactly_those_addresses(f: &Fixture) {
    let (id, a) = (peer(), addrs(100));
    f.ps.set_addrs(id, &a, HOUR).unwrap();
    assert_addrs(&a, f.ps.addrs(id).unwrap());
    f.ps.set_addr(id, &a[50], Ttl::REMOVE).unwrap();
    f.ps.set_addr(id, &a[75], Ttl::REMOVE).unwrap();
    let survivors: Vec<Multiaddr> = a
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 50 && *i != 75)
        .map(|(_, a)| a.clone())
        .collect();
    assert_addrs(&survivors, f.ps.addrs(id).unwrap());
    f.ps.set_addrs(id, &survivors, Ttl::REMOVE).unwrap();
    assert!(f.ps.addrs(id).unwrap().is_empty());
    // Removing more than was added.
    f.ps.set_addrs(id, &a[..50], HOUR).unwrap();
    f.ps.set_addrs(id, &a, Ttl::REMOVE).unwrap();
    assert!(f.ps.addrs(id).unwrap().is_empty());
    // The same address ten times in one call.
    f.ps.set_addrs(id, &a[..5], HOUR).unwrap();
    f.ps.set_addrs(id, &vec![a[0].clone(); 10], Ttl::REMOVE)
        .unwrap();
    assert_addrs(&a[1..5], f.ps.addrs(id).unwrap());
}

/// go-libp2p's swap-while-iterating bug: deleting [A, C] from [A, B, C] left [C]. Not here.
fn removing_several_addresses_removes_the_right_ones(f: &Fixture) {
    let (id, a) = (peer(), addrs(3));
    f.ps.set_addrs(id, &a, HOUR).unwrap();
    f.ps.set_addrs(id, &[a[0].clone(), a[2].clone()], Ttl::REMOVE)
        .unwrap();
    assert_addrs(&a[1..2], f.ps.addrs(id).unwrap());
}

fn update_ttls_of_a_peer_without_addresses_does_nothing(f: &Fixture) {
    f.ps.update_addrs(peer(), HOUR, Duration::from_secs(60))
        .unwrap();
}

fn update_ttl_to_zero_clears(f: &Fixture) {
    let (id, a) = (peer(), addrs(1));
    f.ps.set_addrs(id, &a, HOUR).unwrap();
    f.ps.update_addrs(id, HOUR, Ttl(0)).unwrap();
    assert!(f.ps.addrs(id).unwrap().is_empty());
}

fn update_ttls_per_peer(f: &Fixture) {
    let ids = [peer(), peer()];
    let (a1, a2) = (addrs(2), common::addrs_from(2, 2));
    let minute = Duration::from_secs(60);
    f.ps.set_addr(ids[0], &a1[0], HOUR).unwrap();
    f.ps.set_addr(ids[0], &a1[1], minute).unwrap();
    f.ps.set_addr(ids[1], &a2[0], HOUR).unwrap();
    f.ps.set_addr(ids[1], &a2[1], minute).unwrap();
    assert_addrs(&a1, f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a2, f.ps.addrs(ids[1]).unwrap());

    f.ps.update_addrs(ids[0], HOUR, SECOND).unwrap();
    assert_addrs(&a1, f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a2, f.ps.addrs(ids[1]).unwrap());
    f.advance(2 * SECOND);
    assert_addrs(&a1[1..], f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a2, f.ps.addrs(ids[1]).unwrap());

    f.ps.update_addrs(ids[1], HOUR, SECOND).unwrap();
    assert_addrs(&a1[1..], f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a2, f.ps.addrs(ids[1]).unwrap());
    f.advance(2 * SECOND);
    assert_addrs(&a1[1..], f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a2[1..], f.ps.addrs(ids[1]).unwrap());
}

fn empty_addresses_do_not_break_anything(f: &Fixture) {
    let id = peer();
    f.ps.set_addr(id, &Multiaddr::empty(), HOUR).unwrap();
    f.ps.add_addr(id, &Multiaddr::empty(), HOUR).unwrap();
    assert!(f.ps.addrs(id).unwrap().is_empty());
    assert!(f.ps.peers_with_addrs().unwrap().is_empty());
}

fn addresses_expire_one_by_one(f: &Fixture) {
    let ids = [peer(), peer()];
    let (a1, a2) = (addrs(3), common::addrs_from(3, 2));
    let tiny = Duration::from_micros(100);
    let step = Duration::from_millis(100);
    f.ps.add_addrs(ids[0], &a1, HOUR).unwrap();
    f.ps.add_addrs(ids[1], &a2, HOUR).unwrap();
    f.ps.add_addrs(ids[0], &a1, 2 * HOUR).unwrap();
    f.ps.add_addrs(ids[1], &a2, 2 * HOUR).unwrap();
    assert_addrs(&a1, f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a2, f.ps.addrs(ids[1]).unwrap());

    f.ps.set_addr(ids[0], &a1[0], tiny).unwrap();
    f.advance(step);
    assert_addrs(&a1[1..3], f.ps.addrs(ids[0]).unwrap());
    assert_addrs(&a2, f.ps.addrs(ids[1]).unwrap());

    f.ps.set_addr(ids[0], &a1[2], tiny).unwrap();
    f.advance(step);
    assert_addrs(&a1[1..2], f.ps.addrs(ids[0]).unwrap());

    f.ps.set_addr(ids[1], &a2[0], tiny).unwrap();
    f.advance(step);
    assert_addrs(&a2[1..], f.ps.addrs(ids[1]).unwrap());

    f.ps.set_addr(ids[1], &a2[1], tiny).unwrap();
    f.advance(step);
    assert_addrs(&[], f.ps.addrs(ids[1]).unwrap());

    f.ps.set_addr(ids[0], &a1[1], tiny).unwrap();
    f.advance(step);
    assert_addrs(&[], f.ps.addrs(ids[0]).unwrap());
}

fn clear_with_iterator(f: &Fixture) {
    let (ids, a) = ([peer(), peer()], addrs(100));
    f.ps.add_addrs(ids[0], &a[..50], Ttl::PERMANENT).unwrap();
    f.ps.add_addrs(ids[1], &a[50..], Ttl::PERMANENT).unwrap();
    let count = |f: &Fixture| f.ps.addrs(ids[0]).unwrap().len() + f.ps.addrs(ids[1]).unwrap().len();
    assert_eq!(count(f), 100);
    f.ps.clear_addrs(ids[0]).unwrap();
    assert_eq!(count(f), 50);
    f.ps.clear_addrs(ids[1]).unwrap();
    assert_eq!(count(f), 0);
}

fn peers_with_addresses(f: &Fixture) {
    assert!(f.ps.peers_with_addrs().unwrap().is_empty());
    let (ids, a) = ([peer(), peer()], addrs(10));
    f.ps.add_addrs(ids[0], &a[..5], Ttl::PERMANENT).unwrap();
    f.ps.add_addrs(ids[1], &a[5..], Ttl::PERMANENT).unwrap();
    assert_eq!(f.ps.peers_with_addrs().unwrap().len(), 2);
}

fn certified_addresses(f: &Fixture) {
    let kp = Keypair::generate_ed25519();
    let id = kp.public().to_peer_id();
    let all = addrs(10);
    let (certified, uncertified) = (all[..5].to_vec(), all[5..].to_vec());
    let seal = |kp: &Keypair, seq: u64, addrs: &[Multiaddr]| {
        SignedPeerRecord::seal(kp, seq, addrs.iter().map(|a| a.to_vec()).collect())
            .unwrap()
            .envelope
            .raw()
            .to_vec()
    };
    let (rec1, rec2) = (seal(&kp, 1, &certified), seal(&kp, 2, &certified));

    f.ps.add_addrs(id, &uncertified, HOUR).unwrap();
    assert_addrs(&uncertified, f.ps.addrs(id).unwrap());
    assert!(f.ps.consume_peer_record(&rec2, HOUR).unwrap());
    assert_addrs(&all, f.ps.addrs(id).unwrap());
    assert_eq!(f.ps.peers_with_addrs().unwrap().len(), 1);

    // An older seq is refused, without an error.
    assert!(!f.ps.consume_peer_record(&rec1, HOUR).unwrap());
    f.ps.add_addrs(id, &uncertified, HOUR).unwrap();
    assert_addrs(&all, f.ps.addrs(id).unwrap());
    assert_eq!(
        f.ps.peer_record(id).unwrap().unwrap().envelope.raw(),
        &rec2[..]
    );

    // v0.48.0: a newer record with fewer addresses leaves the others in place.
    let fewer = certified[..3].to_vec();
    let rec4 = seal(&kp, 4, &fewer);
    assert!(f.ps.consume_peer_record(&rec4, HOUR).unwrap());
    assert_addrs(&all, f.ps.addrs(id).unwrap());

    f.ps.set_addrs(id, &all, Ttl::REMOVE).unwrap();
    assert!(f.ps.addrs(id).unwrap().is_empty());
    assert!(
        f.ps.peer_record(id).unwrap().is_none(),
        "the record goes with the addresses"
    );

    assert!(f.ps.consume_peer_record(&rec4, SECOND).unwrap());
    assert_addrs(&fewer, f.ps.addrs(id).unwrap());
    f.advance(2 * SECOND);
    assert!(f.ps.peer_record(id).unwrap().is_none());

    // Signed by the wrong key.
    let other = Keypair::generate_ed25519();
    let record = pstoreds::codec::envelope::PeerRecord {
        peer_id: id.to_bytes(),
        seq: 5,
        addrs: fewer.iter().map(|a| a.to_vec()).collect(),
    };
    let forged = pstoreds::codec::envelope::Envelope::seal(
        &other,
        pstoreds::codec::envelope::PEER_RECORD_DOMAIN,
        &pstoreds::codec::envelope::PEER_RECORD_PAYLOAD_TYPE,
        record.encode(),
    )
    .unwrap();
    assert!(f.ps.consume_peer_record(forged.raw(), SECOND).is_err());
}

fn addr_entries_are_sorted_by_expiry_with_ttls(f: &Fixture) {
    let (id, a) = (peer(), addrs(3));
    f.ps.add_addr(id, &a[0], HOUR).unwrap();
    f.ps.add_addr(id, &a[1], SECOND).unwrap();
    f.ps.add_addr(id, &a[2], Ttl::PERMANENT).unwrap();
    let entries = f.ps.addr_entries(id).unwrap();
    let ttls: Vec<Ttl> = entries.iter().map(|e| e.ttl).collect();
    assert_eq!(ttls, [Ttl::from(SECOND), Ttl::from(HOUR), Ttl::PERMANENT]);
    assert!(entries.windows(2).all(|w| w[0].expiry <= w[1].expiry));
    assert_eq!(entries[1].expiry, common::START + 3600);
}

suite!(
    add_single_address,
    add_same_address_twice_is_idempotent,
    add_several_addresses_twice_is_idempotent,
    later_expiry_extends_the_ttl,
    add_addrs_never_lowers_expiry,
    add_addrs_never_lowers_ttl,
    the_empty_peer_id_works,
    own_p2p_suffix_is_stripped,
    another_peers_p2p_address_is_dropped,
    clear_addrs_leaves_other_peers_intact,
    negative_ttl_removes_exactly_those_addresses,
    removing_several_addresses_removes_the_right_ones,
    update_ttls_of_a_peer_without_addresses_does_nothing,
    update_ttl_to_zero_clears,
    update_ttls_per_peer,
    empty_addresses_do_not_break_anything,
    addresses_expire_one_by_one,
    clear_with_iterator,
    peers_with_addresses,
    certified_addresses,
    addr_entries_are_sorted_by_expiry_with_ttls,
);

/// master's MaxAddrsPerPeer: the cap evicts the soonest-expiring unconnected address.
mod per_peer_cap {
    use super::*;

    fn capped(cap: usize) -> Fixture {
        common::memory(1024, |o| o.max_addrs_per_peer(cap))
    }

    #[test]
    fn add_addrs_evicts_the_nearest_expiry() {
        let f = capped(3);
        let (id, a) = (peer(), addrs(4));
        f.ps.add_addr(id, &a[0], 2 * HOUR).unwrap();
        f.ps.add_addr(id, &a[1], SECOND * 10).unwrap();
        f.ps.add_addr(id, &a[2], 3 * HOUR).unwrap();
        f.ps.add_addr(id, &a[3], 4 * HOUR).unwrap();
        assert_addrs(
            &[a[0].clone(), a[2].clone(), a[3].clone()],
            f.ps.addrs(id).unwrap(),
        );
    }

    #[test]
    fn set_addrs_evicts_too() {
        let f = capped(2);
        let (id, a) = (peer(), addrs(3));
        f.ps.set_addrs(id, &a[..2], HOUR).unwrap();
        f.ps.set_addr(id, &a[2], 2 * HOUR).unwrap();
        assert_eq!(f.ps.addrs(id).unwrap().len(), 2);
        assert!(f.ps.addrs(id).unwrap().contains(&a[2]));
    }

    #[test]
    fn cap_zero_disables_it() {
        let f = capped(0);
        let (id, a) = (peer(), addrs(200));
        f.ps.add_addrs(id, &a, HOUR).unwrap();
        assert_eq!(f.ps.addrs(id).unwrap().len(), 200);
    }

    #[test]
    fn connected_and_permanent_addresses_are_neither_evicted_nor_counted() {
        let f = capped(1);
        let (id, a) = (peer(), addrs(4));
        f.ps.add_addr(id, &a[0], Ttl::CONNECTED).unwrap();
        f.ps.add_addr(id, &a[1], Ttl::PERMANENT).unwrap();
        f.ps.add_addr(id, &a[2], HOUR).unwrap();
        assert_eq!(f.ps.addrs(id).unwrap().len(), 3);
        f.ps.add_addr(id, &a[3], 2 * HOUR).unwrap();
        assert_addrs(
            &[a[0].clone(), a[1].clone(), a[3].clone()],
            f.ps.addrs(id).unwrap(),
        );
    }

    #[test]
    fn the_default_cap_is_64() {
        let f = common::memory(1024, |o| {
            o.max_addrs_per_peer(pstoreds::peerstore::Options::default().max_addrs_per_peer)
        });
        let (id, a) = (peer(), addrs(100));
        f.ps.add_addrs(id, &a, HOUR).unwrap();
        assert_eq!(f.ps.addrs(id).unwrap().len(), 64);
    }
}
