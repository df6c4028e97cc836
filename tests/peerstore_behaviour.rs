//! Behaviour beyond go-libp2p's suite: batches, the peer-record cap, persistence across
//! reopening, concurrency (many threads on shared peers, then the stored state is checked),
//! atomic signed records (go-libp2p #1701), and bad stored bytes reported by key.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{addrs_from, peer};
use libp2p_identity::Keypair;
use multiaddr::Multiaddr;
use pstoreds::codec::envelope::SignedPeerRecord;
use pstoreds::codec::gob::Value;
use pstoreds::codec::record::AddrBookRecord;
use pstoreds::datastore::{Key, Query};
use pstoreds::peerstore::{MockClock, Options, Peerstore, RawPeerId, Ttl};

const HOUR: Duration = Duration::from_secs(3600);

/// Every stored record: sorted by expiry, not empty, its id equal to its key's peer; and what a
/// read returns (through the cache, when on) equal to what the store holds.
fn assert_store_consistent(ps: &Peerstore) {
    for e in ps
        .datastore()
        .query(&Query::prefix(Key::new("/peers/addrs")))
        .unwrap()
    {
        let key = e.key_lossy();
        let rec = AddrBookRecord::decode(&e.value).unwrap();
        let peer =
            pstoreds::codec::peer_key::decode_segment(key.rsplit('/').next().unwrap()).unwrap();
        assert!(rec.is_sorted(), "{key}: not sorted");
        assert!(!rec.addrs.is_empty(), "{key}: empty record stored");
        assert_eq!(rec.id, peer, "{key}: id differs from key");
        let read: Vec<Vec<u8>> = ps
            .addr_entries(RawPeerId::from_bytes(peer))
            .unwrap()
            .into_iter()
            .map(|e| e.addr)
            .collect();
        let stored: Vec<Vec<u8>> = rec.addrs.iter().map(|a| a.addr.clone()).collect();
        assert_eq!(read, stored, "{key}: cache and store disagree");
    }
}

#[test]
fn many_threads_on_shared_peers_leave_a_consistent_store() {
    for cache in [0, 1024] {
        let f = common::leveldb(cache, |o| o);
        let peers: Arc<Vec<Keypair>> =
            Arc::new((0..4).map(|_| Keypair::generate_ed25519()).collect());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (ps, peers, clock) = (f.ps.clone(), peers.clone(), f.clock.clone());
                std::thread::spawn(move || {
                    for i in 0..150usize {
                        let kp = &peers[(t + i) % peers.len()];
                        let id = kp.public().to_peer_id();
                        let a = addrs_from((t * 7 + i) % 20, 1 + i % 3);
                        match i % 9 {
                            0 | 1 => ps
                                .add_addrs(id, &a, Duration::from_secs(1 + (i % 5) as u64))
                                .unwrap(),
                            2 => ps.set_addrs(id, &a, HOUR).unwrap(),
                            3 => ps.set_addrs(id, &a[..1], Ttl::REMOVE).unwrap(),
                            4 => ps.update_addrs(id, Duration::from_secs(2), HOUR).unwrap(),
                            5 => drop(ps.addrs(id).unwrap()),
                            6 => {
                                let rec = SignedPeerRecord::seal(
                                    kp,
                                    i as u64,
                                    a.iter().map(|m| m.to_vec()).collect(),
                                )
                                .unwrap();
                                ps.consume_peer_record(rec.envelope.raw(), HOUR).unwrap();
                            }
                            7 => {
                                ps.gc().unwrap();
                            }
                            _ => {
                                if t == 0 {
                                    clock.advance(Duration::from_millis(700));
                                }
                                ps.put(id, "AgentVersion", &Value::String(format!("{t}/{i}")))
                                    .unwrap();
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_store_consistent(&f.ps);
    }
}

/// GC passes rewrite records (each holds an expired address) while writers add addresses to
/// them: a pass reads each record with its peer locked, so no address added meanwhile is lost
/// (a walk that read records before locking them would write stale ones back).
#[test]
fn gc_passes_lose_no_address_added_while_they_run() {
    for cache in [0, 1024] {
        let f = common::leveldb(cache, |o| o);
        let peers: Vec<_> = (0..300).map(|_| peer()).collect();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let gc = s.spawn(|| {
                let mut passes = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    f.ps.gc().unwrap();
                    passes += 1;
                }
                passes
            });
            let writers: Vec<_> = (0..3)
                .map(|t| {
                    let (ps, clock, peers) = (&f.ps, &f.clock, &peers);
                    s.spawn(move || {
                        for i in 0..600 {
                            let p = peers[(t * 101 + i * 7) % peers.len()];
                            ps.add_addrs(p, &addrs_from(t * 1000 + i, 1), HOUR).unwrap();
                            // Expires at the next tick: the GC has work in every record.
                            ps.add_addrs(p, &addrs_from(5000 + i, 1), Duration::from_secs(1))
                                .unwrap();
                            if t == 0 && i % 20 == 0 {
                                clock.advance(Duration::from_secs(2));
                            }
                        }
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(gc.join().unwrap() > 0);
        });
        for (n, p) in peers.iter().enumerate() {
            let want: Vec<_> = (0..3)
                .flat_map(|t| {
                    (0..600)
                        .filter(move |i| (t * 101 + i * 7) % 300 == n)
                        .flat_map(move |i| addrs_from(t * 1000 + i, 1))
                })
                .collect();
            let got = f.ps.addrs(*p).unwrap();
            for a in &want {
                assert!(got.contains(a), "peer {n} lost {a} (cache {cache})");
            }
        }
        assert_store_consistent(&f.ps);
    }
}

/// go-libp2p #1701: concurrent ConsumePeerRecord calls could store one record's envelope with
/// another's addresses. Here the highest seq wins, with its own addresses.
#[test]
fn concurrent_signed_records_store_the_highest_seq_with_its_addresses() {
    let f = common::leveldb(1024, |o| o);
    let kp = Arc::new(Keypair::generate_ed25519());
    let id = kp.public().to_peer_id();
    let threads: Vec<_> = (1..=16u64)
        .map(|seq| {
            let (ps, kp) = (f.ps.clone(), kp.clone());
            std::thread::spawn(move || {
                let addr = addrs_from(seq as usize, 1)[0].to_vec();
                let rec = SignedPeerRecord::seal(&kp, seq, vec![addr]).unwrap();
                ps.consume_peer_record(rec.envelope.raw(), HOUR).unwrap()
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stored = f.ps.peer_record(id).unwrap().unwrap();
    assert_eq!(stored.record.seq, 16);
    assert!(f.ps.addrs(id).unwrap().contains(&addrs_from(16, 1)[0]));
}

#[test]
fn a_batch_applies_everything_in_one_write() {
    let f = common::leveldb(1024, |o| o);
    let kp = Keypair::generate_ed25519();
    let id = kp.public().to_peer_id();
    let other = peer();
    f.ps.add_addrs(other, &addrs_from(50, 2), HOUR).unwrap();
    let mut batch = f.ps.batch();
    batch.add_addrs(id, &addrs_from(0, 3), HOUR);
    batch.set_addrs(id, &addrs_from(0, 1), Ttl::REMOVE);
    batch.clear_addrs(other);
    batch
        .add_pub_key_bytes(id, &kp.public().encode_protobuf())
        .unwrap();
    batch.put(id, "AgentVersion", &"batched".into()).unwrap();
    batch.set_protocols(id, &["/a/1", "/b/1"]).unwrap();
    assert_eq!(batch.len(), 6);
    batch.commit().unwrap();
    common::assert_addrs(&addrs_from(1, 2), f.ps.addrs(id).unwrap());
    assert!(f.ps.addrs(other).unwrap().is_empty());
    assert_eq!(
        f.ps.get(id, "AgentVersion").unwrap(),
        Some("batched".into())
    );
    assert_eq!(f.ps.get_protocols(id).unwrap(), ["/a/1", "/b/1"]);
    assert!(f.ps.peers_with_keys().unwrap().contains(&id.into()));
    assert_store_consistent(&f.ps);
}

#[test]
fn a_batch_with_a_bad_update_fails_before_writing() {
    let f = common::memory(1024, |o| o.max_protocols(2));
    let id = peer();
    let mut batch = f.ps.batch();
    batch.add_addrs(id, &addrs_from(0, 1), HOUR);
    assert!(batch.put(id, "a/b", &Value::Bool(true)).is_err());
    assert!(batch.set_protocols(id, &["1", "2", "3"]).is_err());
    assert!(
        batch
            .add_pub_key_bytes(id, &Keypair::generate_ed25519().public().encode_protobuf())
            .is_err()
    );
    drop(batch); // never committed
    assert!(f.ps.addrs(id).unwrap().is_empty());
}

#[test]
fn the_record_cap_evicts_the_records_expiring_soonest() {
    let f = common::memory(1024, |o| o.max_peer_records(Some(3)));
    let ids: Vec<_> = (0..5).map(|_| peer()).collect();
    f.ps.add_addrs(ids[0], &addrs_from(0, 1), Ttl::PERMANENT)
        .unwrap();
    f.ps.add_addrs(ids[1], &addrs_from(1, 1), Duration::from_secs(10))
        .unwrap();
    f.ps.add_addrs(ids[2], &addrs_from(2, 1), 3 * HOUR).unwrap();
    f.ps.add_addrs(ids[3], &addrs_from(3, 1), Duration::from_secs(20))
        .unwrap();
    f.ps.add_addrs(ids[4], &addrs_from(4, 1), 2 * HOUR).unwrap();
    let mut left = f.ps.peers_with_addrs().unwrap();
    left.sort();
    let mut want: Vec<RawPeerId> = [ids[0], ids[2], ids[4]]
        .iter()
        .map(RawPeerId::from)
        .collect();
    want.sort();
    assert_eq!(left, want);
}

/// Listings read keys a page at a time: over several pages, every peer is listed once,
/// peers with only keys too, in byte order, as one unpaged read of the store finds them.
#[test]
fn listings_over_many_pages_list_every_peer_once() {
    let f = common::leveldb(0, |o| o.sync(pstoreds::datastore::SyncPolicy::Never));
    let keys: Vec<Keypair> = (0..5000).map(|_| Keypair::generate_ed25519()).collect();
    f.ps.sync_once(|| {
        for (i, kp) in keys.iter().enumerate() {
            let id = kp.public().to_peer_id();
            if i % 10 != 0 {
                f.ps.add_addrs(id, &addrs_from(i, 1), HOUR)?;
            }
            if i % 10 < 3 {
                f.ps.add_pub_key(id, &kp.public())?;
            }
        }
        Ok(())
    })
    .unwrap();
    let mut want: Vec<RawPeerId> = keys
        .iter()
        .map(|kp| RawPeerId::from(kp.public().to_peer_id()))
        .collect();
    want.sort();
    assert_eq!(f.ps.peers().unwrap(), want);
    let with_addrs = f.ps.peers_with_addrs().unwrap();
    assert_eq!(with_addrs.len(), 4500);
    let unpaged =
        f.ps.datastore()
            .query(&Query::keys(Key::new("/peers/addrs")))
            .unwrap();
    assert_eq!(unpaged.len(), with_addrs.len());
    assert_eq!(f.ps.peers_with_keys().unwrap().len(), 1500);
}

#[test]
fn everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::at_unix(common::START);
    let kp = Keypair::generate_secp256k1();
    let id = kp.public().to_peer_id();
    let rec = SignedPeerRecord::seal(&kp, 9, vec![addrs_from(9, 1)[0].to_vec()]).unwrap();
    {
        let ps = common::options(1024, &clock)
            .open_leveldb(dir.path())
            .unwrap();
        ps.add_addrs(id, &addrs_from(0, 2), HOUR).unwrap();
        ps.consume_peer_record(rec.envelope.raw(), HOUR).unwrap();
        ps.add_priv_key(id, &kp).unwrap();
        ps.put(id, "ProtocolVersion", &"ipfs/0.1.0".into()).unwrap();
        ps.set_protocols(id, &["/p/1"]).unwrap();
        ps.close().unwrap();
    }
    let ps = common::options(0, &clock).open_leveldb(dir.path()).unwrap();
    assert_eq!(ps.addrs(id).unwrap().len(), 3);
    assert_eq!(ps.peer_record(id).unwrap().unwrap().record.seq, 9);
    assert_eq!(
        ps.priv_key(id)
            .unwrap()
            .unwrap()
            .keypair()
            .unwrap()
            .public(),
        kp.public()
    );
    assert_eq!(
        ps.get(id, "ProtocolVersion").unwrap(),
        Some("ipfs/0.1.0".into())
    );
    assert_eq!(ps.get_protocols(id).unwrap(), ["/p/1"]);
}

#[test]
fn a_record_that_does_not_decode_is_an_error_naming_its_key_and_is_kept() {
    let f = common::memory(0, |o| o);
    let id = peer();
    let key = pstoreds::codec::peer_key::addrs_key(&id.to_bytes());
    f.ps.datastore().put(&key, &[0x0a, 0x05, 0x01]).unwrap();
    let err = f.ps.addrs(id).unwrap_err();
    assert!(err.to_string().contains(key.as_str()), "{err}");
    assert!(f.ps.add_addrs(id, &addrs_from(0, 1), HOUR).is_err());
    // GC leaves it alone, and it is still there, unchanged.
    assert_eq!(f.ps.gc().unwrap().records_unreadable, 1);
    assert_eq!(
        f.ps.datastore().get(&key).unwrap().unwrap(),
        [0x0a, 0x05, 0x01]
    );
    // Bad metadata too.
    let mkey = pstoreds::codec::peer_key::metadata_key(&id.to_bytes(), "AgentVersion").unwrap();
    f.ps.datastore().put(&mkey, b"\xff\xff").unwrap();
    let err = f.ps.get(id, "AgentVersion").unwrap_err();
    assert!(err.to_string().contains(mkey.as_str()), "{err}");
}

#[test]
fn addresses_that_do_not_parse_are_skipped_in_reads_and_kept_in_the_store() {
    for cache in [0, 1024] {
        let f = common::memory(cache, |o| o);
        let id = peer();
        let key = pstoreds::codec::peer_key::addrs_key(&id.to_bytes());
        let good = addrs_from(0, 1);
        // A protocol code no multiaddr table knows, then the valid address: what a newer node
        // could have written.
        let unknown = vec![0xf9, 0xff, 0x03, 0x01, 0x02];
        let expiry = common::START + 3600;
        let entry = |addr: Vec<u8>| pstoreds::codec::record::AddrEntry {
            addr,
            expiry,
            ttl: HOUR.as_nanos() as i64,
            unknown_fields: Vec::new(),
        };
        let rec = AddrBookRecord {
            id: id.to_bytes(),
            addrs: vec![entry(unknown.clone()), entry(good[0].to_vec())],
            ..Default::default()
        };
        f.ps.datastore().put(&key, &rec.encode()).unwrap();
        // Read twice: from the store, then (with a cache) from the cache.
        for _ in 0..2 {
            assert_eq!(f.ps.addrs(id).unwrap(), good, "cache {cache}");
        }
        // A write keeps the address it cannot parse, byte for byte.
        f.ps.add_addrs(id, &addrs_from(1, 1), HOUR).unwrap();
        let stored = AddrBookRecord::decode(&f.ps.datastore().get(&key).unwrap().unwrap()).unwrap();
        assert!(
            stored.addrs.iter().any(|a| a.addr == unknown),
            "cache {cache}"
        );
        let mut want = addrs_from(0, 2);
        let mut read = f.ps.addrs(id).unwrap();
        want.sort();
        read.sort();
        assert_eq!(read, want, "cache {cache}");
    }
}

#[test]
fn protocols_written_by_old_go_libp2p_are_read_and_rewritten_current() {
    // map[string]struct {} holding "a", framed as go-libp2p before v0.25.0 wrote it
    // (docs/format.md:
    // the same messages as the current map, under the old type name).
    let name = b"map[string]struct {}";
    let mut header = vec![0x10, 0x00, name.len() as u8];
    header.extend_from_slice(name);
    header.extend([
        0xff, 0x83, 0x04, 0x01, 0x02, 0xff, 0x84, 0x00, 0x01, 0x0c, 0x01, 0xff, 0x82, 0x00, 0x00,
    ]);
    let mut legacy = vec![header.len() as u8];
    legacy.extend(header);
    legacy.extend([
        0x0a, 0xff, 0x81, 0x03, 0x01, 0x02, 0xff, 0x82, 0x00, 0x00, 0x00,
    ]);
    legacy.extend([0x08, 0xff, 0x84, 0x05, 0x00, 0x01, 0x01, 0x61, 0x00]);
    let f = common::memory(0, |o| o);
    let id = peer();
    let key = pstoreds::codec::peer_key::metadata_key(&id.to_bytes(), "protocols").unwrap();
    f.ps.datastore().put(&key, &legacy).unwrap();
    assert_eq!(f.ps.get_protocols(id).unwrap(), ["a"]);
    f.ps.add_protocols(id, &["b"]).unwrap();
    let stored = f.ps.datastore().get(&key).unwrap().unwrap();
    let decoded = pstoreds::codec::gob::decode_protocols(&stored).unwrap();
    assert_eq!(decoded.type_name, pstoreds::codec::gob::PROTOCOLS_TYPE);
    assert_eq!(decoded.protocols, ["a", "b"]);
}

#[test]
fn options_reject_what_go_rejects() {
    assert!(
        Options::new()
            .gc_purge_interval(HOUR)
            .gc_lookahead_interval(Duration::from_secs(60))
            .open_memory()
            .is_err()
    );
    assert!(
        Options::new()
            .gc_purge_interval(HOUR)
            .gc_lookahead_interval(2 * HOUR)
            .open_memory()
            .is_ok()
    );
}

/// Two peerstores, each with its own connection, on one SQLite file opened as shared (as two
/// processes would): four threads adding addresses and protocols to the same peers lose no
/// update.
#[cfg(feature = "sqlite")]
#[test]
fn a_shared_sqlite_file_loses_no_update_between_two_writers() {
    use pstoreds::datastore::{SqliteDatastore, SqliteOptions};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.db");
    let clock = MockClock::at_unix(common::START);
    let open = || {
        let ds = SqliteDatastore::open(
            &file,
            SqliteOptions {
                shared: true,
                ..Default::default()
            },
        )
        .unwrap();
        common::options(1024, &clock)
            .open_datastore(Arc::new(ds))
            .unwrap()
    };
    let stores = [open(), open()];
    let peers: Vec<_> = (0..3).map(|_| peer()).collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (ps, peers) = (stores[t % 2].clone(), peers.clone());
            std::thread::spawn(move || {
                for i in 0..30 {
                    let p = peers[i % 3];
                    ps.add_addrs(p, &addrs_from(t * 30 + i, 1), HOUR).unwrap();
                    ps.add_protocols(p, &[format!("/t{t}/{i}")]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for p in &peers {
        for ps in &stores {
            assert_eq!(ps.addrs(p).unwrap().len(), 40);
            assert_eq!(ps.get_protocols(p).unwrap().len(), 40);
        }
    }
}

/// Large address lists take the hash-set paths of deduplication, merging and removal (16 or
/// fewer take a linear search); both must give what go-libp2p's loops give.
#[test]
fn many_addresses_at_once_are_deduplicated_merged_and_removed_exactly() {
    for cache in [0, 1024] {
        let f = common::memory(cache, |o| o);
        let id = peer();
        let own: Multiaddr = format!("/ip4/9.9.9.9/tcp/1/p2p/{id}").parse().unwrap();
        let stranger: Multiaddr = format!("/ip4/8.8.8.8/tcp/1/p2p/{}", peer())
            .parse()
            .unwrap();
        // 40 addresses, each given twice, plus one naming this peer and one naming another.
        let first = addrs_from(0, 40);
        let mut given: Vec<Multiaddr> = first.iter().chain(&first).cloned().collect();
        given.extend([own, stranger]);
        f.ps.add_addrs(id, &given, HOUR).unwrap();
        let mut want = first.clone();
        want.push("/ip4/9.9.9.9/tcp/1".parse().unwrap());
        // Equal expiries keep the order they were given in.
        assert_eq!(f.ps.addrs(id).unwrap(), want, "cache {cache}");

        // 20 known and 20 new, with a longer TTL: the known ones are extended, in place.
        f.clock.advance(Duration::from_secs(60));
        f.ps.add_addrs(id, &addrs_from(20, 40), 2 * HOUR).unwrap();
        let entries = f.ps.addr_entries(id).unwrap();
        assert_eq!(entries.len(), 61, "cache {cache}");
        let ttl_of = |a: &Multiaddr| {
            entries
                .iter()
                .find(|e| e.addr == a.to_vec())
                .map(|e| e.ttl)
                .unwrap()
        };
        for (i, a) in addrs_from(0, 60).iter().enumerate() {
            let want = if i < 20 { HOUR } else { 2 * HOUR };
            assert_eq!(ttl_of(a), want.into(), "address {i}, cache {cache}");
        }

        // Removing 30 of them at once leaves exactly the other 31.
        f.ps.set_addrs(id, &addrs_from(10, 30), Ttl::REMOVE)
            .unwrap();
        let mut left = addrs_from(0, 10);
        left.extend(addrs_from(40, 20));
        left.push("/ip4/9.9.9.9/tcp/1".parse().unwrap());
        common::assert_addrs(&left, f.ps.addrs(id).unwrap());
        assert_store_consistent(&f.ps);
    }
}

/// A write moves the cached record out instead of copying it; a batch that fails after loading
/// one peer's record (another's does not decode) must leave that peer's stored addresses in
/// place and readable, not an empty record in the cache.
#[test]
fn a_batch_that_fails_after_loading_a_record_leaves_it_readable_and_whole() {
    let f = common::memory(1024, |o| o);
    let (good, bad) = (peer(), peer());
    f.ps.add_addrs(good, &addrs_from(0, 3), HOUR).unwrap();
    assert_eq!(f.ps.addrs(good).unwrap().len(), 3); // now cached
    let bad_key = pstoreds::codec::peer_key::addrs_key(&bad.to_bytes());
    f.ps.datastore().put(&bad_key, b"not a record").unwrap();

    let mut batch = f.ps.batch();
    batch.add_addrs(good, &addrs_from(3, 1), HOUR);
    batch.add_addrs(bad, &addrs_from(4, 1), HOUR);
    let err = batch.commit().unwrap_err().to_string();
    assert!(err.contains(&bad_key.to_string()), "{err}");

    common::assert_addrs(&addrs_from(0, 3), f.ps.addrs(good).unwrap());
    f.ps.add_addrs(good, &addrs_from(5, 1), HOUR).unwrap();
    let mut want = addrs_from(0, 3);
    want.extend(addrs_from(5, 1));
    common::assert_addrs(&want, f.ps.addrs(good).unwrap());
}

/// `renew_and_add_addrs` (py-libp2p's one TTL a peer): the unexpired addresses and the new
/// ones all end with the new TTL from now, an expired one is not brought back, and what it
/// returns is what `addr_entries` reads.
#[test]
fn renew_and_add_gives_every_live_address_the_new_ttl() {
    for f in [common::memory(1024, |o| o), common::leveldb(0, |o| o)] {
        let id = peer();
        let a = addrs_from(0, 3);
        f.ps.add_addr(id, &a[0], Duration::from_secs(3600)).unwrap();
        f.ps.add_addr(id, &a[1], Duration::from_secs(1)).unwrap();
        f.advance(Duration::from_secs(2));
        let got =
            f.ps.renew_and_add_addrs(id, &a[2..], Duration::from_secs(60))
                .unwrap();
        assert_eq!(got, f.ps.addr_entries(id).unwrap());
        let now = common::START + 2;
        let mut seen: Vec<(Vec<u8>, i64, Ttl)> =
            got.into_iter().map(|e| (e.addr, e.expiry, e.ttl)).collect();
        seen.sort();
        let mut want: Vec<(Vec<u8>, i64, Ttl)> = [&a[0], &a[2]]
            .into_iter()
            .map(|m| (m.to_vec(), now + 60, Ttl::from(Duration::from_secs(60))))
            .collect();
        want.sort();
        assert_eq!(seen, want);
    }
}
