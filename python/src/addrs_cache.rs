//! [`AddrsCache`]: the `Multiaddr` objects `addrs` hands out, per peer, kept until the
//! soonest of the peer's expiries, so that a read of a peer this process wrote or read costs no
//! storage work and no multiaddr parse. py-libp2p's in-memory `PeerStore` answers from its own
//! objects too; there is no Go twin (go-libp2p's ARC cache holds decoded records, which the
//! crate's [`pstoreds::peerstore::Peerstore`] already has).
//!
//! Consistency: a write to a peer's addresses replaces the peer's entry with the answer read
//! under the peer's write lock (or drops it), and bumps an epoch; a read that missed caches its
//! answer only if no write came between its start and its end (the epoch is unchanged).
//!
//! Every method is called with the GIL held, and no method runs Python code while it holds the
//! cache's lock (objects are built and dropped outside it), so a thread holding the lock never
//! waits for the GIL: the lock cannot deadlock against it.

use hashlink::LinkedHashMap;
use std::sync::{Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

type Addrs = Vec<(Vec<u8>, Py<PyAny>)>;

/// One peer's answer: its addresses and the unix second from which one of them has expired.
struct Entry {
    /// Each address's binary form and the object handed out for it.
    addrs: Addrs,
    until: i64,
}

#[derive(Default)]
struct Inner {
    /// Oldest first: the oldest entry makes room for a new one.
    map: LinkedHashMap<Vec<u8>, Entry>,
    epoch: u64,
}

impl Inner {
    /// Inserts, evicting the oldest entries beyond `max`; what it drops is returned, to be
    /// dropped once the lock is released.
    fn insert(&mut self, max: usize, peer: Vec<u8>, addrs: Addrs, until: i64) -> Vec<Entry> {
        let mut dropped: Vec<Entry> = self.map.remove(&peer).into_iter().collect();
        while self.map.len() >= max {
            match self.map.pop_front() {
                Some((_, oldest)) => dropped.push(oldest),
                None => break,
            }
        }
        self.map.insert(peer, Entry { addrs, until });
        dropped
    }
}

/// The cache; `max` of 0 caches nothing.
pub struct AddrsCache {
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

impl AddrsCache {
    pub fn new(max: usize, multiaddr: Py<PyAny>) -> AddrsCache {
        AddrsCache {
            max,
            inner: Mutex::new(Inner::default()),
            multiaddr,
        }
    }

    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    fn inner(&self, _py: Python<'_>) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The peer's cached addresses (new references), if cached and none has expired.
    pub fn get(&self, py: Python<'_>, peer: &[u8]) -> Option<Vec<Py<PyAny>>> {
        if !self.enabled() {
            return None;
        }
        let inner = self.inner(py);
        let e = inner.map.get(peer)?;
        if now_unix() >= e.until as f64 {
            return None;
        }
        Some(e.addrs.iter().map(|(_, a)| a.clone_ref(py)).collect())
    }

    /// Where a read starts: its answer is cached only if no write comes before it ends.
    pub fn epoch(&self, py: Python<'_>) -> u64 {
        self.inner(py).epoch
    }

    /// Caches a read's answer (each address's binary form and its object) unless a write came
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
        let refs = raw
            .into_iter()
            .zip(objects.iter().map(|a| a.clone_ref(py)))
            .collect();
        let dropped = {
            let mut inner = self.inner(py);
            if inner.epoch != epoch {
                return;
            }
            inner.insert(self.max, peer.to_vec(), refs, until)
        };
        drop(dropped);
    }

    /// A write to the peer's addresses was made: the epoch moves on (no read that started
    /// before it caches its answer) and the peer's entry is taken out, to be dropped or reused
    /// once the lock is released.
    fn take(&self, py: Python<'_>, peer: &[u8]) -> Option<Entry> {
        let mut inner = self.inner(py);
        inner.epoch += 1;
        inner.map.remove(peer)
    }

    /// A write to the peer's addresses was made: its entry is dropped.
    pub fn forget(&self, py: Python<'_>, peer: &[u8]) {
        drop(self.take(py, peer));
    }

    /// Writes to any peer were made (GC, cleanup, close): every entry is dropped.
    pub fn forget_all(&self, py: Python<'_>) {
        let dropped = {
            let mut inner = self.inner(py);
            inner.epoch += 1;
            std::mem::take(&mut inner.map)
        };
        drop(dropped);
    }

    /// A write to the peer's addresses was made, still under its write lock: its entry becomes
    /// `answer` (the raw addresses and soonest expiry read after the write; `None`, or no
    /// expiry, drops it). The objects are the caller's own (`given`) or the old entry's where
    /// the bytes match, else new. When no object is to be built (no Python code to run), the
    /// entry is replaced in one hold of the lock.
    pub fn replace(
        &self,
        py: Python<'_>,
        peer: &[u8],
        answer: Option<(Vec<Vec<u8>>, Option<i64>)>,
        given: &[(Vec<u8>, Py<PyAny>)],
    ) -> PyResult<()> {
        let answer = answer.filter(|_| self.enabled());
        let mut inner = self.inner(py);
        inner.epoch += 1;
        let old = inner.map.remove(peer).map(|e| e.addrs).unwrap_or_default();
        let Some((raw, Some(until))) = answer else {
            drop(inner);
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
        let mut dropped = Vec::new();
        if found.iter().all(|(_, o)| o.is_some()) {
            let addrs = found
                .into_iter()
                .filter_map(|(b, o)| Some((b, o?)))
                .collect();
            dropped = inner.insert(self.max, peer.to_vec(), addrs, until);
            drop(inner);
        } else {
            drop(inner);
            for (b, o) in &mut found {
                if o.is_none() {
                    *o = Some(self.build(py, b)?);
                }
            }
            let addrs = found
                .into_iter()
                .filter_map(|(b, o)| Some((b, o?)))
                .collect();
            dropped.extend(self.inner(py).insert(self.max, peer.to_vec(), addrs, until));
        }
        // Out of the lock: dropping the objects may run Python code.
        drop((old, dropped));
        Ok(())
    }

    /// A new `Multiaddr` of binary form `raw`.
    pub fn build(&self, py: Python<'_>, raw: &[u8]) -> PyResult<Py<PyAny>> {
        self.multiaddr.call1(py, (PyBytes::new(py, raw),))
    }
}
