//! go-libp2p's GC tests (docs/tests.md), re-created, plus what GC must do beyond Go: real
//! batches, no lost concurrent updates, a report of what it removed.

mod common;

use std::time::Duration;

use common::{Fixture, addrs_from, peer};
use pstoreds::datastore::{Key, Query};
use pstoreds::peerstore::{Clock, Options};

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

/// The lookahead entries a walk of the stored records gives for a window ending at `until`:
/// each record whose first address expires by then, keyed as go-libp2p keys them.
fn due_by_walking(f: &Fixture, until: i64) -> Vec<String> {
    let mut due: Vec<String> =
        f.ps.datastore()
            .query(&Query::prefix(Key::new("/peers/addrs")))
            .unwrap()
            .into_iter()
            .filter_map(|e| {
                let rec = pstoreds::codec::record::AddrBookRecord::decode(&e.value).unwrap();
                let first = rec.addrs.first()?.expiry;
                let segment = e.key_lossy().rsplit('/').next().unwrap().to_owned();
                (first <= until).then(|| format!("/peers/gc/addrs/{first}/{segment}"))
            })
            .collect();
    due.sort();
    due
}

/// Drops every lookahead entry (raw), renews the window, and returns the entries written.
fn renew_afresh(f: &Fixture) -> (pstoreds::peerstore::GcReport, Vec<String>) {
    for e in
        f.ps.datastore()
            .query(&Query::keys(Key::new("/peers/gc/addrs")))
            .unwrap()
    {
        f.ps.datastore().delete(&e.key().unwrap()).unwrap();
    }
    let report = f.ps.gc_populate_lookahead().unwrap();
    let mut written: Vec<String> =
        f.ps.datastore()
            .query(&Query::keys(Key::new("/peers/gc/addrs")))
            .unwrap()
            .iter()
            .map(|e| e.key_lossy())
            .collect();
    written.sort();
    (report, written)
}

/// Random writes through every path that changes an address record (adds, sets, TTL updates,
/// clears, batches, purges, evictions by the record cap), with the clock moving, and a renewal
/// every ten steps from a clean slate. Each renewal must index exactly what a walk of the stored
/// records gives, and either read the expiry index only (`records_visited` 0) or walk every
/// record. Returns how many renewals did each.
fn random_writes_and_renewals(f: &Fixture) -> (usize, usize) {
    let window = 20i64;
    let now = || f.clock.now_unix();
    let peers: Vec<_> = (0..40).map(|_| peer()).collect();
    for (i, p) in peers.iter().enumerate() {
        f.ps.add_addrs(
            *p,
            &addrs_from(i, 2),
            if i % 4 == 0 { 5 * SECOND } else { HOUR },
        )
        .unwrap();
    }
    let stored = f.ps.peers_with_addrs().unwrap().len();
    let (first, written) = renew_afresh(f);
    assert_eq!(first.records_visited, stored, "the first renewal walks");
    assert_eq!(written, due_by_walking(f, now() + window));
    assert!(!written.is_empty());

    // A small deterministic generator: the same operations on every backend.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let ttls = [SECOND, 3 * SECOND, 15 * SECOND, 40 * SECOND, HOUR];
    let (mut read_index, mut walked) = (0, 0);
    for step in 0..300 {
        let p = peers[next(peers.len())];
        let ttl = ttls[next(ttls.len())];
        match next(8) {
            0 | 1 => {
                f.ps.add_addrs(p, &addrs_from(next(50), 1 + next(3)), ttl)
                    .unwrap()
            }
            2 => f.ps.set_addrs(p, &addrs_from(next(50), 1), ttl).unwrap(),
            3 => f.ps.update_addrs(p, HOUR, ttl).unwrap(),
            4 => f.ps.clear_addrs(p).unwrap(),
            5 => {
                let mut batch = f.ps.batch();
                batch.add_addrs(p, &addrs_from(next(50), 1), ttl);
                batch.clear_addrs(peers[next(peers.len())]);
                batch.commit().unwrap();
            }
            6 => {
                f.ps.gc_purge().unwrap();
            }
            _ => f.advance(Duration::from_secs(1 + next(4) as u64)),
        }
        if step % 10 == 9 {
            let stored = f.ps.peers_with_addrs().unwrap().len();
            let (report, written) = renew_afresh(f);
            match report.records_visited {
                0 => read_index += 1,
                n if n == stored => walked += 1,
                n => panic!("step {step}: {n} records visited of {stored}"),
            }
            assert_eq!(written, due_by_walking(f, now() + window), "step {step}");
            assert_eq!(report.index_added, written.len(), "step {step}");
        }
    }
    (read_index, walked)
}

/// After the first renewal (a walk, building the expiry index), renewals read only what the
/// index says expires in the window, and index what a walk would, whatever ran in between.
/// Over a shared store other processes' writes are unseen: every renewal walks.
fn lookahead_renewals_read_only_what_expires_and_match_a_walk(f: &Fixture) {
    let (read_index, walked) = random_writes_and_renewals(f);
    if f.ps.datastore().is_shared() {
        assert_eq!((read_index, walked), (0, 30));
    } else {
        assert_eq!((read_index, walked), (30, 0));
    }
}

/// With an index too small for every record, renewals whose window ends before the records
/// it had to forget read the index, the others walk (and build it afresh); all of them index
/// what a walk would.
fn a_small_index_serves_the_windows_it_covers_and_walks_the_rest(f: &Fixture) {
    let (read_index, walked) = random_writes_and_renewals(f);
    if f.ps.datastore().is_shared() {
        assert_eq!((read_index, walked), (0, 30));
    } else {
        assert!(
            read_index > 0 && walked > 0,
            "{read_index} read, {walked} walked"
        );
    }
}

/// Over `gc_index_max_records` the index keeps the records that expire soonest: renewals
/// whose window ends before the first record it forgot read only the index; once the window
/// reaches that far, renewals walk again, and index the same entries as a walk.
fn an_index_over_its_cap_keeps_the_soonest_and_walks_past_them(f: &Fixture) {
    for i in 0..10 {
        let ttl = if i < 3 { SECOND } else { HOUR };
        f.ps.add_addrs(peer(), &addrs_from(i, 1), ttl).unwrap();
    }
    let walked = if f.ps.datastore().is_shared() { 10 } else { 0 };
    for visited in [10, walked, walked] {
        let (report, written) = renew_afresh(f);
        assert_eq!(report.records_visited, visited);
        assert_eq!(written, due_by_walking(f, f.clock.now_unix() + 20));
        assert_eq!(written.len(), 3);
    }
    // The hour-long records come within the 20 s window.
    f.advance(HOUR - 10 * SECOND);
    for _ in 0..2 {
        let (report, written) = renew_afresh(f);
        assert_eq!(report.records_visited, 10);
        assert_eq!(written, due_by_walking(f, f.clock.now_unix() + 20));
        assert_eq!(written.len(), 10);
    }
}

mod with_expiry_index {
    use super::*;
    fn capped(o: Options) -> Options {
        lookahead(o).max_peer_records(Some(36))
    }
    suite!(@with capped; lookahead_renewals_read_only_what_expires_and_match_a_walk);
}

mod with_a_tiny_expiry_index {
    use super::*;
    fn tiny_index(o: Options) -> Options {
        lookahead(o).gc_index_max_records(5)
    }
    suite!(@with tiny_index; an_index_over_its_cap_keeps_the_soonest_and_walks_past_them);
}

mod with_a_small_expiry_index {
    use super::*;
    fn small_index(o: Options) -> Options {
        lookahead(o)
            .max_peer_records(Some(36))
            .gc_index_max_records(12)
    }
    suite!(@with small_index; a_small_index_serves_the_windows_it_covers_and_walks_the_rest);
}
