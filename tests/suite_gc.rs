//! go-libp2p's GC tests (docs/tests.md), re-created, plus what GC must do beyond Go: real
//! batches, no lost concurrent updates, a report of what it removed.

mod common;

use std::time::Duration;

use common::{Fixture, addrs_from, peer};
use pstoreds::datastore::{Key, Query};
use pstoreds::peerstore::Options;

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

fn lookahead_entries(f: &Fixture) -> usize {
    f.ps.datastore()
        .query(&Query::keys(Key::new("/peers/gc/addrs")))
        .unwrap()
        .len()
}

fn lookahead(o: Options) -> Options {
    o.gc_lookahead_interval(Duration::from_secs(20))
        .gc_purge_interval(Duration::ZERO)
}

fn lookahead_indexes_records_expiring_within_the_window(f: &Fixture) {
    let ids = [peer(), peer(), peer()];
    for (i, id) in ids.iter().enumerate() {
        f.ps.add_addrs(*id, &addrs_from(i * 10, 10), HOUR).unwrap();
    }
    f.ps.gc_populate_lookahead().unwrap();
    assert_eq!(lookahead_entries(f), 0);
    f.ps.update_addrs(ids[1], HOUR, SECOND).unwrap();
    f.ps.gc_populate_lookahead().unwrap();
    assert_eq!(lookahead_entries(f), 1);
    f.ps.update_addrs(ids[2], HOUR, 5 * SECOND).unwrap();
    f.ps.gc_populate_lookahead().unwrap();
    assert_eq!(lookahead_entries(f), 2);
}

fn lookahead_purging_with_a_mock_clock(f: &Fixture) {
    let ids: Vec<_> = (0..4).map(|_| peer()).collect();
    let a = |from, n| addrs_from(from, n);
    f.ps.add_addrs(ids[0], &a(0, 10), SECOND).unwrap();
    f.ps.add_addrs(ids[1], &a(30, 10), SECOND).unwrap();
    f.ps.add_addrs(ids[2], &a(60, 10), SECOND).unwrap();
    f.ps.add_addrs(ids[0], &a(10, 10), 4 * SECOND).unwrap();
    f.ps.add_addrs(ids[1], &a(40, 10), 4 * SECOND).unwrap();
    f.ps.add_addrs(ids[0], &a(20, 10), 10 * SECOND).unwrap();
    f.ps.add_addrs(ids[1], &a(50, 10), 10 * SECOND).unwrap();
    f.ps.add_addrs(ids[3], &a(70, 10), 15 * SECOND).unwrap();

    f.ps.gc_populate_lookahead().unwrap();
    assert_eq!(lookahead_entries(f), 4);
    f.advance(2 * SECOND);
    let report = f.ps.gc_purge().unwrap();
    assert_eq!(lookahead_entries(f), 3);
    assert_eq!(report.addrs_removed, 30);
    assert_eq!(report.records_deleted, 1);
    f.advance(5 * SECOND);
    f.ps.gc_purge().unwrap();
    assert_eq!(lookahead_entries(f), 3);
    f.advance(5 * SECOND);
    f.ps.gc_purge().unwrap();
    assert_eq!(lookahead_entries(f), 1);
    let left = f.ps.peers_with_addrs().unwrap();
    assert_eq!(left, vec![ids[3].into()]);
}

fn purge_without_lookahead_leaves_exactly_the_live_addresses(f: &Fixture) {
    let ids: Vec<_> = (0..3).map(|_| peer()).collect();
    f.ps.add_addrs(ids[0], &addrs_from(0, 10), SECOND).unwrap();
    f.ps.add_addrs(ids[0], &addrs_from(10, 5), HOUR).unwrap();
    f.ps.add_addrs(ids[1], &addrs_from(20, 10), SECOND).unwrap();
    f.ps.add_addrs(ids[2], &addrs_from(30, 10), HOUR).unwrap();
    f.advance(2 * SECOND);
    let report = f.ps.gc().unwrap();
    assert_eq!(report.addrs_removed, 20);
    assert_eq!(report.records_deleted, 1);
    assert_eq!(report.records_updated, 1);
    assert_eq!(lookahead_entries(f), 0);
    // What is stored now, read raw: no expired address left, sorted records.
    let stored =
        f.ps.datastore()
            .query(&Query::prefix(Key::new("/peers/addrs")))
            .unwrap();
    assert_eq!(stored.len(), 2);
    for e in stored {
        let rec = pstoreds::codec::record::AddrBookRecord::decode(&e.value).unwrap();
        assert!(rec.is_sorted());
        assert!(rec.addrs.iter().all(|a| a.expiry > common::START + 1));
    }
    common::assert_addrs(&addrs_from(10, 5), f.ps.addrs(ids[0]).unwrap());
    // Nothing left to do.
    assert_eq!(f.ps.gc().unwrap().addrs_removed, 0);
}

suite!(@with |o| o; purge_without_lookahead_leaves_exactly_the_live_addresses);

mod with_lookahead {
    use super::*;
    suite!(@with lookahead;
        lookahead_indexes_records_expiring_within_the_window,
        lookahead_purging_with_a_mock_clock);
}

#[test]
fn background_gc_waits_for_the_initial_delay_on_the_clock() {
    let f = common::memory(1024, |o| {
        o.gc_initial_delay(2 * SECOND)
            .gc_lookahead_interval(Duration::from_secs(60))
            .gc_purge_interval(Duration::from_secs(30))
    });
    f.ps.add_addrs(peer(), &addrs_from(0, 100), SECOND).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(lookahead_entries(&f), 0, "no GC before the delay");
    f.advance(3 * SECOND);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lookahead_entries(&f) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the GC did not run after its delay"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    f.ps.close().unwrap();
}

#[test]
fn lookahead_shorter_than_purge_interval_is_refused() {
    let err = Options::new()
        .gc_purge_interval(HOUR)
        .gc_lookahead_interval(SECOND)
        .open_memory()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("lookahead interval must be larger"),
        "{err}"
    );
}

/// GC racing writers (go-libp2p #1712): a purge never overwrites an address added while it runs.
#[test]
fn purge_never_loses_a_concurrent_update() {
    for cache in [0, 1024] {
        let f = common::leveldb(cache, |o| o);
        let peers: Vec<_> = (0..200).map(|_| peer()).collect();
        for p in &peers {
            f.ps.add_addrs(*p, &addrs_from(0, 2), SECOND).unwrap();
        }
        f.advance(2 * SECOND);
        let writer = {
            let (ps, peers) = (f.ps.clone(), peers.clone());
            std::thread::spawn(move || {
                for p in &peers {
                    ps.add_addrs(*p, &addrs_from(100, 1), HOUR).unwrap();
                }
            })
        };
        f.ps.gc().unwrap();
        writer.join().unwrap();
        f.ps.gc().unwrap();
        for p in &peers {
            common::assert_addrs(&addrs_from(100, 1), f.ps.addrs(*p).unwrap());
        }
    }
}
