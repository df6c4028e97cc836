//! `PersistentStore` as rust-libp2p's Swarm sees it: memory bounded like `MemoryStore` whatever
//! the database holds, addresses that expire in memory as on disk, failed dials forgotten in
//! both, identify stored with no glue, Kademlia warmed best first.

use std::time::Duration;

use libp2p::core::transport::TransportError;
use libp2p::core::{ConnectedPoint, Endpoint};
use libp2p::swarm::behaviour::{ConnectionClosed, ConnectionEstablished, DialFailure};
use libp2p::swarm::{ConnectionId, DialError, FromSwarm};
use libp2p_identity::{Keypair, PeerId};
use multiaddr::Multiaddr;
use pstoreds::datastore::SyncPolicy;
use pstoreds::libp2p_store::libp2p_peer_store::Store;
use pstoreds::libp2p_store::{PersistentStore, StoreOptions};
use pstoreds::peerstore::{MockClock, Options, Ttl};

fn peer() -> PeerId {
    Keypair::generate_ed25519().public().to_peer_id()
}

fn addr(i: usize) -> Multiaddr {
    format!(
        "/ip4/10.{}.{}.{}/tcp/4001",
        i / 65536 % 256,
        i / 256 % 256,
        i % 256
    )
    .parse()
    .unwrap()
}

fn served(store: &PersistentStore, p: &PeerId) -> Vec<Multiaddr> {
    store
        .addresses_of_peer(p)
        .map(|a| a.cloned().collect())
        .unwrap_or_default()
}

#[test]
fn memory_stays_bounded_with_100000_peers_while_the_disk_keeps_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let open = || {
        Options::new()
            .sync(SyncPolicy::Never)
            .open_leveldb(&db)
            .unwrap()
    };
    let peers: Vec<PeerId> = (0..100_000).map(|_| PeerId::random()).collect();
    {
        let mut store = PersistentStore::new(open()).unwrap();
        for (i, p) in peers.iter().enumerate() {
            store.add_address(*p, &addr(i), Ttl::ADDRESS);
            if i % 1000 == 0 {
                // More addresses than the per-peer cap for some.
                for j in 0..12 {
                    store.add_address(*p, &addr(200_000 + j), Ttl::ADDRESS);
                }
            }
        }
        assert_eq!(
            store.known_peers().count(),
            1000,
            "MemoryStore's 1,000 peers"
        );
        // The most recently updated are the ones kept.
        assert!(!served(&store, &peers[99_999]).is_empty());
        assert!(served(&store, &peers[0]).is_empty());
        assert!(store.known_peers().all(|p| served(&store, p).len() <= 8));
        store.flush();
        assert_eq!(store.peerstore().peers_with_addrs().unwrap().len(), 100_000);
    }
    // Reopened over the 100,000: memory loads within the same bounds.
    let store = PersistentStore::new(open()).unwrap();
    assert_eq!(store.known_peers().count(), 1000);
    assert!(store.known_peers().all(|p| served(&store, p).len() <= 8));
    assert_eq!(
        served(&store, &peers[1000]).len(),
        0,
        "not among the best 1,000"
    );
}

#[test]
fn addresses_expire_in_memory_when_they_expire_on_disk() {
    let clock = MockClock::at_unix(1_750_000_000);
    let mut store =
        PersistentStore::new(Options::new().clock(clock.clone()).open_memory().unwrap()).unwrap();
    let (p, a, b) = (peer(), addr(1), addr(2));
    store.add_address(p, &a, Ttl::from(Duration::from_secs(600)));
    store.add_address(p, &b, Ttl::from(Duration::from_secs(7200)));
    assert_eq!(served(&store, &p).len(), 2);
    // Written (the disk's expiry counts from the write; the queue is milliseconds long).
    store.flush();
    clock.advance(Duration::from_secs(3600));
    assert_eq!(served(&store, &p), vec![b.clone()]);
    assert_eq!(store.peerstore().addrs(p).unwrap(), vec![b]);
    clock.advance(Duration::from_secs(7200));
    assert!(served(&store, &p).is_empty());
    assert!(store.best_addresses().is_empty());
}

#[test]
fn a_failed_dial_removes_the_address_from_memory_and_disk() {
    let mut store = PersistentStore::new(Options::new().open_memory().unwrap()).unwrap();
    let (p, good, bad) = (peer(), addr(1), addr(2));
    store.add_address(p, &good, Ttl::ADDRESS);
    store.add_address(p, &bad, Ttl::ADDRESS);
    let error = DialError::Transport(vec![(
        bad.clone(),
        TransportError::Other(std::io::Error::other("connection refused")),
    )]);
    store.on_swarm_event(&FromSwarm::DialFailure(DialFailure {
        peer_id: Some(p),
        error: &error,
        connection_id: ConnectionId::new_unchecked(1),
    }));
    assert_eq!(served(&store, &p), vec![good.clone()]);
    store.flush();
    assert_eq!(store.peerstore().addrs(p).unwrap(), vec![good]);
}

#[test]
fn a_closed_connection_keeps_addresses_for_the_retention_in_memory_and_on_disk() {
    let clock = MockClock::at_unix(1_750_000_000);
    let options = StoreOptions {
        retention: Ttl::from(Duration::from_secs(3600)),
        ..Default::default()
    };
    let ps = Options::new().clock(clock.clone()).open_memory().unwrap();
    let mut store = PersistentStore::with_options(ps, options).unwrap();
    let (p, a) = (peer(), addr(7));
    let endpoint = ConnectedPoint::Dialer {
        address: a.clone(),
        role_override: Endpoint::Dialer,
        port_use: libp2p::core::transport::PortUse::New,
    };
    store.on_swarm_event(&FromSwarm::ConnectionEstablished(ConnectionEstablished {
        peer_id: p,
        connection_id: ConnectionId::new_unchecked(1),
        endpoint: &endpoint,
        failed_addresses: &[],
        other_established: 0,
    }));
    assert_eq!(store.best_addresses(), vec![(p, a.clone())]);
    store.on_swarm_event(&FromSwarm::ConnectionClosed(ConnectionClosed {
        peer_id: p,
        connection_id: ConnectionId::new_unchecked(1),
        endpoint: &endpoint,
        cause: None,
        remaining_established: 0,
    }));
    store.flush();
    let on_disk = store.peerstore().addr_entries(p).unwrap();
    assert_eq!(on_disk.len(), 1);
    assert_eq!(on_disk[0].ttl, options.retention);
    clock.advance(Duration::from_secs(3599));
    assert_eq!(served(&store, &p), vec![a]);
    clock.advance(Duration::from_secs(2));
    assert!(
        served(&store, &p).is_empty(),
        "gone from memory when gone from disk"
    );
    assert!(store.peerstore().addrs(p).unwrap().is_empty());
}

#[test]
fn best_addresses_puts_longer_lasting_first_for_warming_kademlia() {
    let mut store = PersistentStore::new(Options::new().open_memory().unwrap()).unwrap();
    let (p, q) = (peer(), peer());
    store.add_address(p, &addr(1), Ttl::from(Duration::from_secs(60)));
    store.add_address(q, &addr(2), Ttl::PERMANENT);
    store.add_address(p, &addr(3), Ttl::from(Duration::from_secs(3600)));
    assert_eq!(
        store.best_addresses(),
        vec![(q, addr(2)), (p, addr(3)), (p, addr(1))]
    );
}

/// With an identify behaviour of one's own: one call per event stores what go-libp2p's
/// identify stores.
#[test]
fn on_identify_stores_the_key_protocols_versions_and_addresses() {
    let mut store = PersistentStore::new(Options::new().open_memory().unwrap()).unwrap();
    let key = Keypair::generate_ed25519();
    let p = key.public().to_peer_id();
    let info = libp2p::identify::Info {
        public_key: key.public(),
        protocol_version: "/my-app/1.0.0".into(),
        agent_version: "my-node/2.0".into(),
        listen_addrs: vec![addr(5)],
        protocols: vec![libp2p::StreamProtocol::new("/ipfs/ping/1.0.0")],
        observed_addr: addr(6),
        signed_peer_record: None,
    };
    store.on_identify(&libp2p::identify::Event::Received {
        connection_id: ConnectionId::new_unchecked(3),
        peer_id: p,
        info,
    });
    assert_eq!(served(&store, &p), vec![addr(5)]);
    store.flush();
    let ps = store.peerstore();
    assert_eq!(
        ps.get(p, "AgentVersion").unwrap(),
        Some("my-node/2.0".into())
    );
    assert_eq!(
        ps.get(p, "ProtocolVersion").unwrap(),
        Some("/my-app/1.0.0".into())
    );
    assert_eq!(ps.get_protocols(p).unwrap(), ["/ipfs/ping/1.0.0"]);
    assert!(ps.pub_key(p).unwrap().is_some());
    assert_eq!(ps.addrs(p).unwrap(), vec![addr(5)]);
}
