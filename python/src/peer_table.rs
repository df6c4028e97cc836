//! [`PeerTable`]: what this process keeps in memory of each peer, in one hash table, so that
//! the commonest write (`add_addrs` of a peer) finds or makes the peer's slot once:
//!
//! - **that a call named it** ([`Known`]). py-libp2p's in-memory `PeerStore` knows a peer from
//!   the first call that names it until it is cleared, even when nothing about it is left (its
//!   addresses cleared, say), and its `addrs`/`get`/... raise for a peer it does not know. Go's
//!   layout has no such record, so a peer is known when something is stored for it or when a
//!   call of this process named it; the second part lives here, for as long as the process.
//! - **the `Multiaddr` objects `addrs` hands out**, kept until the soonest of the peer's
//!   expiries, so that a read of a peer this process wrote or read costs no storage work and no
//!   multiaddr parse. At most `max` peers' objects are kept; the oldest make room for new ones.
//!   py-libp2p's in-memory `PeerStore` answers from its own objects too; there is no Go twin
//!   (go-libp2p's ARC cache holds decoded records, which the crate's
//!   [`pstoreds::peerstore::Peerstore`] already has).
//!
//! Consistency of the objects: a write to a peer's addresses replaces the peer's objects with
//! the answer read under the peer's write lock (or drops them), and bumps an epoch; a read
//! that missed keeps its answer only if no write came between its start and its end (the
//! epoch is unchanged).
//!
//! No method runs Python code while it holds the table's lock (objects are built and dropped
//! outside it), so a thread holding the lock never waits for the GIL: the lock cannot deadlock
//! against it. The methods about objects take the GIL's token; those about known peers are
//! called with or without the GIL.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use hashbrown::HashTable;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// What this process remembers of a peer a call named, beyond what is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// The peer's last address TTL (py-libp2p keeps one per peer) was finite: once its
    /// addresses are gone it is expired, as py-libp2p's `is_expired`.
    pub expiring: bool,
}

type Addrs = Vec<(Vec<u8>, Py<PyAny>)>;

/// One peer's answer to `addrs`: its addresses and the unix second from which one of them has
/// expired.
struct Entry {
    /// Each address's binary form and the object handed out for it.
    addrs: Addrs,
    until: i64,
}

/// A peer's slot: there while the peer is named or its objects are kept.
struct Slot {
    peer: Vec<u8>,
    named: Option<Known>,
    /// The objects, and the stamp of the insert that put them there.
    cached: Option<(u64, Entry)>,
}

/// The slots by peer. The order in which objects make room is a queue of their inserts (the
/// peer's hash and the insert's stamp), not a list through the slots: a replace costs one
/// probe of the table, and a queue item whose objects were replaced or dropped since is
/// skipped when it comes out.
struct Inner {
    table: HashTable<Slot>,
    order: VecDeque<(u64, u64)>,
    /// Slots holding objects.
    cached: usize,
    stamp: u64,
    hasher: ahash::RandomState,
    epoch: u64,
}

impl Inner {
    fn hash(&self, peer: &[u8]) -> u64 {
        self.hasher.hash_one(peer)
    }

    fn slot(&self, peer: &[u8]) -> Option<&Slot> {
        self.table.find(self.hash(peer), |s| s.peer == peer)
    }

    /// The peer's slot, made if it has none.
    fn slot_mut(&mut self, peer: &[u8]) -> &mut Slot {
        let h = self.hash(peer);
        let hasher = &self.hasher;
        self.table
            .entry(h, |s| s.peer == peer, |s| hasher.hash_one(&s.peer))
            .or_insert_with(|| Slot {
                peer: peer.to_vec(),
                named: None,
                cached: None,
            })
            .into_mut()
    }

    /// Takes the peer's objects out (its slot goes unless the peer is named).
    fn take(&mut self, peer: &[u8]) -> Option<Entry> {
        let h = self.hash(peer);
        let mut found = self.table.find_entry(h, |s| s.peer == peer).ok()?;
        let taken = found.get_mut().cached.take().map(|(_, e)| e);
        if taken.is_some() {
            self.cached -= 1;
        }
        if found.get().named.is_none() {
            found.remove();
        }
        taken
    }

    /// Forgets that the peer was named (its slot goes unless its objects are kept).
    fn unname(&mut self, peer: &[u8]) {
        let h = self.hash(peer);
        if let Ok(mut found) = self.table.find_entry(h, |s| s.peer == peer) {
            found.get_mut().named = None;
            if found.get().cached.is_none() {
                found.remove();
            }
        }
    }

    /// Keeps the peer's objects (replacing any); the oldest objects beyond `max` make room.
    /// What it drops is returned, to be dropped once the lock is released.
    fn insert(&mut self, max: usize, peer: &[u8], entry: Entry) -> Vec<Entry> {
        self.stamp += 1;
        let stamp = self.stamp;
        let h = self.hash(peer);
        let slot = self.slot_mut(peer);
        let was = slot.cached.replace((stamp, entry));
        let mut dropped: Vec<Entry> = was.map(|(_, e)| e).into_iter().collect();
        if dropped.is_empty() {
            self.cached += 1;
        }
        self.order.push_back((h, stamp));
        while self.cached > max {
            let Some((h, stamp)) = self.order.pop_front() else {
                break;
            };
            let Ok(mut oldest) = self
                .table
                .find_entry(h, |s| s.cached.as_ref().is_some_and(|c| c.0 == stamp))
            else {
                continue; // replaced or dropped since
            };
            let slot = oldest.get_mut();
            dropped.extend(slot.cached.take().map(|(_, e)| e));
            self.cached -= 1;
            if slot.named.is_none() {
                oldest.remove();
            }
        }
        // Items of objects replaced or dropped since outnumber the kept ones: drop them,
        // keeping the order.
        if self.order.len() >= 2 * self.cached + 1024 {
            let table = &self.table;
            self.order.retain(|&(h, stamp)| {
                table
                    .find(h, |s| s.cached.as_ref().is_some_and(|c| c.0 == stamp))
                    .is_some()
            });
        }
        dropped
    }

    /// Takes every peer's objects out; named peers stay.
    fn take_all(&mut self) -> Vec<Entry> {
        self.order.clear();
        self.cached = 0;
        let mut out = Vec::new();
        self.table.retain(|s| {
            out.extend(s.cached.take().map(|(_, e)| e));
            s.named.is_some()
        });
        out
    }
}

/// The table; a `max` of 0 keeps no objects.
pub struct PeerTable {
    max: usize,
    inner: Mutex<Inner>,
    /// py-multiaddr's `Multiaddr` class, to build the objects handed out.
    multiaddr: Py<PyAny>,
}

/// The clock of expiries: unix seconds, fractional.
fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl PeerTable {
    pub fn new(max: usize, multiaddr: Py<PyAny>) -> PeerTable {
        PeerTable {
            max,
            inner: Mutex::new(Inner {
                table: HashTable::new(),
                order: VecDeque::new(),
                cached: 0,
                stamp: 0,
                hasher: ahash::RandomState::new(),
                epoch: 0,
            }),
            multiaddr,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    // Known peers.

    /// A call named the peer.
    pub fn note(&self, peer: &[u8]) {
        let mut inner = self.inner();
        let slot = inner.slot_mut(peer);
        slot.named.get_or_insert_with(Known::default);
    }

    /// The peer's addresses were given a TTL (finite: `expiring`).
    pub fn note_ttl(&self, peer: &[u8], expiring: bool) {
        self.inner().slot_mut(peer).named = Some(Known { expiring });
    }

    /// What is remembered of the peer, if a call named it.
    pub fn named(&self, peer: &[u8]) -> Option<Known> {
        self.inner().slot(peer).and_then(|s| s.named)
    }

    /// Forgets that the peer was named (`clear_peerdata`, or its addresses expired and were
    /// collected).
    pub fn unname(&self, peer: &[u8]) {
        self.inner().unname(peer);
    }

    /// Every peer named, in no order.
    pub fn named_peers(&self) -> Vec<Vec<u8>> {
        let inner = self.inner();
        inner
            .table
            .iter()
            .filter(|s| s.named.is_some())
            .map(|s| s.peer.clone())
            .collect()
    }

    // Objects handed out.

    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// The peer's kept objects (new references), if kept and none has expired.
    pub fn get(&self, py: Python<'_>, peer: &[u8]) -> Option<Vec<Py<PyAny>>> {
        if !self.enabled() {
            return None;
        }
        let inner = self.inner();
        let (_, e) = inner.slot(peer)?.cached.as_ref()?;
        if now_unix() >= e.until as f64 {
            return None;
        }
        Some(e.addrs.iter().map(|(_, a)| a.clone_ref(py)).collect())
    }

    /// Where a read starts: its answer is kept only if no write comes before it ends.
    pub fn epoch(&self, _py: Python<'_>) -> u64 {
        self.inner().epoch
    }

    /// Keeps a read's answer (each address's binary form and its object) unless a write came
    /// after `epoch`.
    pub fn put_if(
        &self,
        py: Python<'_>,
        peer: &[u8],
        epoch: u64,
        raw: Vec<Vec<u8>>,
        objects: &[Py<PyAny>],
        until: i64,
    ) {
        if !self.enabled() {
            return;
        }
        let addrs = raw
            .into_iter()
            .zip(objects.iter().map(|a| a.clone_ref(py)))
            .collect();
        let dropped = {
            let mut inner = self.inner();
            if inner.epoch != epoch {
                return;
            }
            inner.insert(self.max, peer, Entry { addrs, until })
        };
        drop(dropped);
    }

    /// A write to the peer's addresses was made: its objects are dropped, and no read that
    /// started before keeps its answer.
    pub fn forget(&self, _py: Python<'_>, peer: &[u8]) {
        let taken = {
            let mut inner = self.inner();
            inner.epoch += 1;
            inner.take(peer)
        };
        drop(taken);
    }

    /// Writes to any peer were made (GC, cleanup, close): every peer's objects are dropped.
    pub fn forget_all(&self, _py: Python<'_>) {
        let dropped = {
            let mut inner = self.inner();
            inner.epoch += 1;
            inner.take_all()
        };
        drop(dropped);
    }

    /// A write to the peer's addresses was made, still under its write lock: its objects
    /// become `answer` (the raw addresses and soonest expiry read after the write; `None`, or
    /// no expiry, drops them), and, when `named` is given, the peer's TTL kind is noted in the
    /// same visit. The objects are the caller's own (`given`) or the old ones where the bytes
    /// match, else new. When no object is to be built (no Python code to run), all of it
    /// happens in one hold of the lock.
    pub fn replace(
        &self,
        py: Python<'_>,
        peer: &[u8],
        answer: Option<(Vec<Vec<u8>>, Option<i64>)>,
        given: &[(Vec<u8>, Py<PyAny>)],
        named: Option<bool>,
    ) -> PyResult<()> {
        let answer = answer.filter(|_| self.enabled());
        let mut inner = self.inner();
        inner.epoch += 1;
        let old = inner.take(peer).map(|e| e.addrs).unwrap_or_default();
        if let Some(expiring) = named {
            inner.slot_mut(peer).named = Some(Known { expiring });
        }
        let Some((raw, Some(until))) = answer else {
            drop(inner);
            drop(old);
            return Ok(());
        };
        // Linear: a peer has a handful of addresses. Taking a reference runs no Python code.
        let mut found: Vec<(Vec<u8>, Option<Py<PyAny>>)> = raw
            .into_iter()
            .map(|b| {
                let known = given.iter().chain(&old).find(|(g, _)| *g == b);
                let object = known.map(|(_, a)| a.clone_ref(py));
                (b, object)
            })
            .collect();
        if found.iter().any(|(_, o)| o.is_none()) {
            drop(inner);
            for (b, o) in &mut found {
                if o.is_none() {
                    *o = Some(self.build(py, b)?);
                }
            }
            inner = self.inner();
        }
        let addrs = found
            .into_iter()
            .filter_map(|(b, o)| Some((b, o?)))
            .collect();
        let dropped = inner.insert(self.max, peer, Entry { addrs, until });
        drop(inner);
        // Out of the lock: dropping the objects may run Python code.
        drop((old, dropped));
        Ok(())
    }

    /// A new `Multiaddr` of binary form `raw`.
    pub fn build(&self, py: Python<'_>, raw: &[u8]) -> PyResult<Py<PyAny>> {
        self.multiaddr.call1(py, (PyBytes::new(py, raw),))
    }
}
