//! [`NativeStore`]: py-libp2p's `IPeerStore` calls, in bytes, over a [`Peerstore`].
//!
//! py-libp2p keeps one TTL per peer (every `add_addrs` gives all of the peer's addresses the new
//! TTL, counted from now); Go keeps one per address. The Go form is what is stored: `add_addrs`
//! sets every known address of the peer and the new ones to the TTL (Go's `SetAddrs`).
//! `consume_peer_record` stores the record and leaves the peer with exactly its addresses, as
//! py-libp2p does. Composite calls hold a per-peer lock of this module, so two Python threads
//! never interleave inside one.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use pstoreds::codec::crypto::{KeyType, StoredKey};
use pstoreds::codec::envelope::SignedPeerRecord;
use pstoreds::codec::peer_key;
use pstoreds::datastore::{Batch, Key, Query};
use pstoreds::location::Location;
use pstoreds::multiaddr::Multiaddr;
use pstoreds::peerstore::{Error, Peerstore, RawPeerId, Ttl};

use crate::errors::Failure;
use crate::open::{Settings, Sync};
use crate::peer_table::PeerTable;
use crate::stream::NativeAddrStream;
use crate::syncer::{Syncer, WriteCount};
use crate::{ttl, value};

const STRIPES: usize = 64;

type Res<T> = Result<T, Failure>;

/// One open store. Thread-safe: every method may be called from any Python thread.
#[pyclass(frozen, module = "pstoreds._native")]
pub struct NativeStore {
    ps: Peerstore,
    location: Location,
    stripes: Vec<Mutex<()>>,
    writes: Arc<WriteCount>,
    syncer: Option<Syncer>,
    /// Who this process named, and the objects `addrs` hands out.
    peers: PeerTable,
    /// py-libp2p's `ID` and py-multiaddr's `Multiaddr` classes, which the calls taking
    /// py-libp2p's own types check their arguments against.
    id_class: Py<PyAny>,
    multiaddr_class: Py<PyAny>,
}

fn multiaddrs<'a>(addrs: impl IntoIterator<Item = &'a Vec<u8>>) -> Res<Vec<Multiaddr>> {
    addrs
        .into_iter()
        .map(|a| {
            Multiaddr::try_from(a.clone())
                .map_err(|e| Failure::Invalid(format!("not a binary multiaddr ({e}): {a:02x?}")))
        })
        .collect()
}

fn peer_label(peer: &[u8]) -> String {
    RawPeerId::from_bytes(peer).to_string()
}

fn list_bytes<'py>(py: Python<'py>, items: Vec<Vec<u8>>) -> Vec<Bound<'py, PyBytes>> {
    items.iter().map(|b| PyBytes::new(py, b)).collect()
}

impl NativeStore {
    fn lock(&self, peer: &[u8]) -> MutexGuard<'_, ()> {
        let h = peer
            .iter()
            .fold(0usize, |h, &b| h.wrapping_mul(31).wrapping_add(b as usize));
        self.stripes[h % STRIPES]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The raw bytes of `value`, an instance of `class` (else `InvalidArgumentError`, its
    /// message naming `what` and the value).
    fn bytes_of(
        &self,
        value: &Bound<'_, PyAny>,
        class: &Py<PyAny>,
        what: &str,
        class_name: &str,
    ) -> PyResult<Vec<u8>> {
        let py = value.py();
        if !value.is_instance(class.bind(py))? {
            let kind = value.get_type().name()?;
            return Err(crate::errors::invalid(
                py,
                format!(
                    "{what} must be a {class_name}, not {kind}: {}",
                    value.repr()?
                ),
            ));
        }
        // py-libp2p's `ID` and py-multiaddr's `Multiaddr` return the `_bytes` they hold; read
        // it directly from exactly those classes (a Python method call costs more than the
        // rest of the check; `test_api_surface` pins that `_bytes` is what `to_bytes` returns),
        // and call `to_bytes` on a subclass or when it is not there.
        if value.get_type().is(class.bind(py))
            && let Ok(held) = value.getattr(intern!(py, "_bytes"))
            && let Ok(bytes) = held.cast::<PyBytes>()
        {
            return Ok(bytes.as_bytes().to_vec());
        }
        value.call_method0(intern!(py, "to_bytes"))?.extract()
    }

    fn peer_of(&self, peer_id: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        self.bytes_of(peer_id, &self.id_class, "peer_id", "libp2p.peer.id.ID")
    }

    /// A write was made (for the interval sync).
    fn wrote(&self) {
        self.writes.bump();
    }

    /// Runs `f` with the GIL released, turning its failure into the Python exception.
    fn run<T: Send>(&self, py: Python<'_>, f: impl FnOnce() -> Res<T> + Send) -> PyResult<T> {
        py.detach(f).map_err(|e| e.into_py(py))
    }

    fn unexpired(&self, peer: &[u8]) -> Res<Vec<pstoreds::peerstore::AddrEntryInfo>> {
        Ok(self.ps.addr_entries(RawPeerId::from_bytes(peer))?)
    }

    /// What `addrs` answers: the unexpired, parseable addresses (soonest-expiring first) and
    /// the soonest expiry in unix seconds; `None` for a peer not known.
    #[allow(clippy::type_complexity)]
    fn answer(&self, peer: &[u8]) -> Res<Option<(Vec<Vec<u8>>, Option<i64>)>> {
        let entries = self.unexpired(peer)?;
        self.answer_from(peer, entries)
    }

    /// `answer` from entries just read.
    #[allow(clippy::type_complexity)]
    fn answer_from(
        &self,
        peer: &[u8],
        entries: Vec<pstoreds::peerstore::AddrEntryInfo>,
    ) -> Res<Option<(Vec<Vec<u8>>, Option<i64>)>> {
        if entries.is_empty() && !self.knows(peer)? {
            return Ok(None);
        }
        let soonest = entries.iter().map(|e| e.expiry).min();
        let addrs = entries
            .into_iter()
            .filter(|e| e.parses())
            .map(|e| e.addr)
            .collect();
        Ok(Some((addrs, soonest)))
    }

    fn has_record(&self, peer: &[u8]) -> Res<bool> {
        Ok(self.ps.datastore().has(&peer_key::addrs_key(peer))?)
    }

    /// Whether anything is stored for the peer, or a call of this process named it.
    fn knows(&self, peer: &[u8]) -> Res<bool> {
        if self.peers.named(peer).is_some() || self.has_record(peer)? {
            return Ok(true);
        }
        let ds = self.ps.datastore();
        if ds.has(&peer_key::pub_key_key(peer))? || ds.has(&peer_key::priv_key_key(peer))? {
            return Ok(true);
        }
        let meta = Query::keys(peer_key::metadata_prefix(peer)).page(None, 1);
        Ok(!ds.query(&meta)?.is_empty())
    }

    /// py-libp2p's `is_expired`: the peer's last TTL was finite and no address is left
    /// (a peer never given addresses, or given them permanently, never expires).
    fn expired(&self, peer: &[u8]) -> Res<bool> {
        if !self.unexpired(peer)?.is_empty() {
            return Ok(false);
        }
        Ok(match self.peers.named(peer) {
            Some(k) => k.expiring,
            // Known from the store only: expired if its record has only expired addresses.
            None => self.has_record(peer)?,
        })
    }

    /// Every peer with something under the metadata prefix (protocols included).
    fn metadata_peers(&self) -> Res<Vec<Vec<u8>>> {
        let mut out = BTreeSet::new();
        let prefix = Key::new(peer_key::METADATA);
        for e in self.ps.datastore().query(&Query::keys(prefix))? {
            if let Some(seg) = peer_key::peer_segment_bytes(&e.key)
                && let Ok(peer) = peer_key::decode_segment_bytes(seg)
            {
                out.insert(peer);
            }
        }
        Ok(out.into_iter().collect())
    }

    fn all_peers(&self) -> Res<Vec<Vec<u8>>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let stored = self.ps.peers()?.into_iter().map(|p| p.as_bytes().to_vec());
        let named = self.peers.named_peers();
        for p in stored.chain(self.metadata_peers()?).chain(named) {
            if seen.insert(p.clone()) {
                out.push(p);
            }
        }
        Ok(out)
    }

    fn remove_keys(&self, peer: &[u8]) -> Res<()> {
        self.ps.datastore().write(
            Batch::new()
                .delete(peer_key::pub_key_key(peer))
                .delete(peer_key::priv_key_key(peer)),
        )?;
        Ok(())
    }

    /// Deletes the peer's metadata; `keep_protocols`: all of it but the protocols.
    fn remove_metadata(&self, peer: &[u8], keep_protocols: bool) -> Res<()> {
        let ds = self.ps.datastore();
        let protocols = peer_key::metadata_key(peer, peer_key::PROTOCOLS)
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        let mut batch = Batch::new();
        for e in ds.query(&Query::keys(peer_key::metadata_prefix(peer)))? {
            let key = e.key()?;
            if !(keep_protocols && key == protocols) {
                batch = batch.delete(key);
            }
        }
        ds.write(batch)?;
        Ok(())
    }
}

#[pymethods]
impl NativeStore {
    #[new]
    #[pyo3(signature = (name, *, table=None, cache_size=None, max_protocols=None,
        max_addrs_per_peer=None, max_peer_records=None, gc_purge_interval=None,
        gc_lookahead_interval=None, gc_initial_delay=None, gc_index_max_records=None,
        sync="always", sync_interval=1.0, addrs_cache=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: &str,
        table: Option<String>,
        cache_size: Option<usize>,
        max_protocols: Option<usize>,
        max_addrs_per_peer: Option<usize>,
        max_peer_records: Option<usize>,
        gc_purge_interval: Option<f64>,
        gc_lookahead_interval: Option<f64>,
        gc_initial_delay: Option<f64>,
        gc_index_max_records: Option<usize>,
        sync: &str,
        sync_interval: f64,
        addrs_cache: usize,
    ) -> PyResult<NativeStore> {
        let id_class = py.import("libp2p.peer.id")?.getattr("ID")?.unbind();
        let multiaddr_class = py.import("multiaddr")?.getattr("Multiaddr")?.unbind();
        let settings = Settings {
            table,
            cache_size,
            max_protocols,
            max_addrs_per_peer,
            max_peer_records,
            gc_purge_interval,
            gc_lookahead_interval,
            gc_initial_delay,
            gc_index_max_records,
        };
        let sync = Sync::parse(sync, sync_interval).map_err(|e| e.into_py(py))?;
        let (ps, location, target) = py
            .detach(|| crate::open::open(name, &settings, sync))
            .map_err(|e| e.into_py(py))?;
        let writes = Arc::new(WriteCount::default());
        let syncer = match (sync, target) {
            (Sync::Interval(every), Some(target)) => Some(
                Syncer::start(target, writes.clone(), every)
                    .map_err(|e| crate::errors::to_py(py, Error::WriterThread(e)))?,
            ),
            _ => None,
        };
        // Caching what `addrs` answers needs a store only this process writes, and no record
        // cap evicting other peers' records behind the cache's back.
        let cacheable = !ps.datastore().is_shared() && ps.options().max_peer_records.is_none();
        let peers = PeerTable::new(
            if cacheable { addrs_cache } else { 0 },
            multiaddr_class.clone_ref(py),
        );
        Ok(NativeStore {
            ps,
            location,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            writes,
            syncer,
            peers,
            id_class,
            multiaddr_class,
        })
    }

    /// The store, as messages name it (never with a password).
    #[getter]
    fn location(&self) -> String {
        self.location.to_string()
    }

    /// Whether other processes may write the same store (PostgreSQL): nothing read may be
    /// cached then.
    #[getter]
    fn is_shared(&self) -> bool {
        self.ps.datastore().is_shared()
    }

    // ---- address book ----

    /// py-libp2p's `add_addrs` with its own types (an `ID`, `Multiaddr`s, a TTL in seconds):
    /// the peer's addresses, old and new, all with `ttl` from now. The addresses cache then
    /// holds what `addrs` answers right after it, read under the peer's write lock.
    fn add_addrs_of(
        &self,
        py: Python<'_>,
        peer_id: &Bound<'_, PyAny>,
        addrs: &Bound<'_, PyAny>,
        ttl: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let peer = self.peer_of(peer_id)?;
        let mut given = Vec::new();
        for a in addrs.try_iter()? {
            let a = a?;
            let b = self.bytes_of(
                &a,
                &self.multiaddr_class,
                "an address",
                "multiaddr.Multiaddr",
            )?;
            given.push((b, a.unbind()));
        }
        let ttl = ttl::from_seconds(ttl).map_err(|m| crate::errors::invalid(py, m))?;
        let cache = self.peers.enabled();
        self.run(py, || {
            let addrs = multiaddrs(given.iter().map(|(b, _)| b))?;
            let _g = self.lock(&peer);
            let expiring = ttl != Ttl::PERMANENT;
            let written = self
                .ps
                .renew_and_add_addrs(RawPeerId::from_bytes(peer.as_slice()), &addrs, ttl)
                .map_err(Failure::from)
                .and_then(|entries| {
                    self.wrote();
                    match cache {
                        true => self.answer_from(&peer, entries),
                        false => {
                            self.peers.note_ttl(&peer, expiring);
                            Ok(None)
                        }
                    }
                });
            // Still under the peer's lock, so two writes to it update the cache in order;
            // after a failure the entry is dropped. The peer's TTL kind is noted in the same
            // visit of its slot. No cache: no GIL to take again (the caller's objects are
            // released after the call, with the GIL held).
            if cache {
                let answer = written.as_ref().ok().cloned().flatten();
                let named = written.is_ok().then_some(expiring);
                Python::attach(|py| self.peers.replace(py, &peer, answer, &given, named))
                    .map_err(Failure::Python)?;
            }
            written.map(|_| ())
        })
    }

    /// py-libp2p's `addrs` with its own types: a new list of the peer's unexpired
    /// `Multiaddr`s (the cache's objects when it holds the peer); `PeerNotFoundError` for a
    /// peer not known.
    fn addrs_of<'py>(
        &self,
        py: Python<'py>,
        peer_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let peer = self.peer_of(peer_id)?;
        if let Some(hit) = self.peers.get(py, &peer) {
            return PyList::new(py, hit);
        }
        let epoch = self.peers.epoch(py);
        let Some((raw, soonest)) = self.run(py, || self.answer(&peer))? else {
            let msg = format!("peer {}: peer ID not found", peer_id.str()?);
            return Err(crate::errors::raise(py, "PeerNotFoundError", msg));
        };
        let objects = raw
            .iter()
            .map(|b| self.peers.build(py, b))
            .collect::<PyResult<Vec<_>>>()?;
        if let Some(until) = soonest {
            self.peers.put_if(py, &peer, epoch, raw, &objects, until);
        }
        PyList::new(py, objects)
    }

    /// A write to the peer's addresses was made: the cache forgets the peer.
    fn forget_addrs(&self, py: Python<'_>, peer: &[u8]) {
        self.peers.forget(py, peer);
    }

    /// Writes to many peers were made (GC, cleanup): the cache forgets every peer.
    fn forget_all_addrs(&self, py: Python<'_>) {
        self.peers.forget_all(py);
    }

    /// py-libp2p's `maybe_delete_peer_record`: a known peer with no unexpired address left
    /// loses its addresses record (and with it its signed record), under the peer's lock.
    fn clear_addrs_if_none_left(&self, py: Python<'_>, peer: &[u8]) -> PyResult<bool> {
        let cleared = self.run(py, || {
            let _g = self.lock(peer);
            if !self.knows(peer)? || !self.unexpired(peer)?.is_empty() {
                return Ok(false);
            }
            self.ps.clear_addrs(RawPeerId::from_bytes(peer))?;
            self.wrote();
            Ok(true)
        })?;
        self.peers.forget(py, peer);
        Ok(cleared)
    }

    /// `(addr, ttl_nanos, expiry_unix_seconds)` for each unexpired address, as stored.
    fn addr_entries<'py>(
        &self,
        py: Python<'py>,
        peer: &[u8],
    ) -> PyResult<Vec<(Bound<'py, PyBytes>, i64, i64)>> {
        let entries = self.run(py, || self.unexpired(peer))?;
        Ok(entries
            .into_iter()
            .map(|e| (PyBytes::new(py, &e.addr), e.ttl.nanos(), e.expiry))
            .collect())
    }

    /// Deletes the peer's addresses and signed record.
    fn clear_addrs(&self, py: Python<'_>, peer: &[u8]) -> PyResult<()> {
        self.run(py, || {
            let _g = self.lock(peer);
            self.ps.clear_addrs(RawPeerId::from_bytes(peer))?;
            self.wrote();
            Ok(())
        })
    }

    /// Peers with at least one unexpired address.
    fn peers_with_addrs<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let peers = self.run(py, || {
            let mut out = Vec::new();
            for p in self.ps.peers_with_addrs()? {
                if !self.unexpired(p.as_bytes())?.is_empty() {
                    out.push(p.as_bytes().to_vec());
                }
            }
            Ok(out)
        })?;
        Ok(list_bytes(py, peers))
    }

    /// py-libp2p's `consume_peer_record`: `False` if a record with a higher seq is stored;
    /// else the record is stored and the peer's addresses become exactly its addresses, with
    /// `ttl`.
    fn consume_peer_record(
        &self,
        py: Python<'_>,
        envelope: &[u8],
        ttl: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let ttl = ttl::from_seconds(ttl).map_err(|m| crate::errors::invalid(py, m))?;
        self.run(py, || {
            let signed = SignedPeerRecord::open(envelope).map_err(|source| Error::PeerRecord {
                peer: "?".into(),
                source,
            })?;
            let peer = signed.record.peer_id.clone();
            let addrs = multiaddrs(&signed.record.addrs)?;
            let _g = self.lock(&peer);
            let raw = RawPeerId::from_bytes(peer.clone());
            if !self.ps.consume_peer_record(envelope, ttl)? {
                return Ok(false);
            }
            let others: Vec<Multiaddr> = self
                .unexpired(&peer)?
                .iter()
                .filter_map(|e| e.multiaddr())
                .filter(|a| !addrs.contains(a))
                .collect();
            if !others.is_empty() {
                self.ps.set_addrs(raw.clone(), &others, Ttl::REMOVE)?;
            }
            if !addrs.is_empty() {
                self.ps.set_addrs(raw, &addrs, ttl)?;
            }
            self.peers.note_ttl(&peer, ttl != Ttl::PERMANENT);
            self.wrote();
            Ok(true)
        })
    }

    /// The peer's signed record (a marshalled envelope), while it has addresses.
    fn get_peer_record<'py>(
        &self,
        py: Python<'py>,
        peer: &[u8],
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let raw = self.run(py, || {
            Ok(self
                .ps
                .peer_record(RawPeerId::from_bytes(peer))?
                .map(|r| r.envelope.raw().to_vec()))
        })?;
        Ok(raw.map(|r| PyBytes::new(py, &r)))
    }

    /// The peer's addresses now, then each new one.
    fn addr_stream(&self, py: Python<'_>, peer: &[u8]) -> PyResult<NativeAddrStream> {
        let s = self.run(py, || {
            Ok(self.ps.addr_stream(RawPeerId::from_bytes(peer))?)
        })?;
        Ok(NativeAddrStream::new(s))
    }

    // ---- peers ----

    /// Every known peer: stored (addresses, keys, metadata or protocols) or named by a call.
    fn peer_ids<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let peers = self.run(py, || self.all_peers())?;
        Ok(list_bytes(py, peers))
    }

    /// Known peers that are not expired (py-libp2p's `valid_peer_ids`).
    fn valid_peer_ids<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let peers = self.run(py, || {
            let mut out = Vec::new();
            for p in self.all_peers()? {
                if !self.expired(&p)? {
                    out.push(p);
                }
            }
            Ok(out)
        })?;
        Ok(list_bytes(py, peers))
    }

    /// Whether the peer is known.
    fn has_peer(&self, py: Python<'_>, peer: &[u8]) -> PyResult<bool> {
        self.run(py, || self.knows(peer))
    }

    /// Deletes everything about the peer; `False` if it was not known.
    fn clear_peerdata(&self, py: Python<'_>, peer: &[u8]) -> PyResult<bool> {
        self.run(py, || {
            let _g = self.lock(peer);
            if !self.knows(peer)? {
                return Ok(false);
            }
            let raw = RawPeerId::from_bytes(peer);
            self.ps.clear_addrs(raw.clone())?;
            self.ps.remove_peer(raw)?;
            self.peers.unname(peer);
            self.wrote();
            Ok(true)
        })
    }

    /// One GC pass (expired addresses purged, as go-libp2p's GC), then forgets the named peers
    /// left expired with nothing stored. Returns `(addresses removed, peers forgotten)`.
    fn cleanup(&self, py: Python<'_>) -> PyResult<(usize, usize)> {
        self.run(py, || {
            let report = self.ps.gc()?;
            let mut forgotten = 0;
            for p in self.peers.named_peers() {
                if self.peers.named(&p).is_some_and(|k| k.expiring)
                    && self.unexpired(&p)?.is_empty()
                {
                    self.peers.unname(&p);
                    if !self.knows(&p)? {
                        forgotten += 1;
                    }
                }
            }
            self.wrote();
            Ok((report.addrs_removed, forgotten))
        })
    }

    // ---- protocols ----

    /// The peer's protocols (sorted); `None` for a peer not known.
    fn get_protocols(&self, py: Python<'_>, peer: &[u8]) -> PyResult<Option<Vec<String>>> {
        self.run(py, || {
            let p = self.ps.get_protocols(RawPeerId::from_bytes(peer))?;
            if p.is_empty() && !self.knows(peer)? {
                return Ok(None);
            }
            Ok(Some(p))
        })
    }

    fn add_protocols(&self, py: Python<'_>, peer: &[u8], protocols: Vec<String>) -> PyResult<()> {
        self.run(py, || {
            self.ps
                .add_protocols(RawPeerId::from_bytes(peer), &protocols)?;
            self.peers.note(peer);
            self.wrote();
            Ok(())
        })
    }

    fn set_protocols(&self, py: Python<'_>, peer: &[u8], protocols: Vec<String>) -> PyResult<()> {
        self.run(py, || {
            self.ps
                .set_protocols(RawPeerId::from_bytes(peer), &protocols)?;
            self.peers.note(peer);
            self.wrote();
            Ok(())
        })
    }

    fn remove_protocols(
        &self,
        py: Python<'_>,
        peer: &[u8],
        protocols: Vec<String>,
    ) -> PyResult<()> {
        self.run(py, || {
            self.ps
                .remove_protocols(RawPeerId::from_bytes(peer), &protocols)?;
            self.wrote();
            Ok(())
        })
    }

    fn supports_protocols(
        &self,
        py: Python<'_>,
        peer: &[u8],
        protocols: Vec<String>,
    ) -> PyResult<Vec<String>> {
        self.run(py, || {
            let have: HashSet<String> = self
                .ps
                .get_protocols(RawPeerId::from_bytes(peer))?
                .into_iter()
                .collect();
            // In the order asked, as py-libp2p answers.
            Ok(protocols.into_iter().filter(|p| have.contains(p)).collect())
        })
    }

    fn first_supported_protocol(
        &self,
        py: Python<'_>,
        peer: &[u8],
        protocols: Vec<String>,
    ) -> PyResult<String> {
        self.run(py, || {
            Ok(self
                .ps
                .first_supported_protocol(RawPeerId::from_bytes(peer), &protocols)?
                .unwrap_or_default())
        })
    }

    /// Forgets the peer's protocols.
    fn clear_protocol_data(&self, py: Python<'_>, peer: &[u8]) -> PyResult<()> {
        self.run(py, || {
            let key = peer_key::metadata_key(peer, peer_key::PROTOCOLS)
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            self.ps.datastore().delete(&key)?;
            self.wrote();
            Ok(())
        })
    }

    // ---- metadata ----

    /// `(True, value)`, or `(False, None)` when nothing is stored under `key`.
    fn get(&self, py: Python<'_>, peer: &[u8], key: &str) -> PyResult<(bool, Py<PyAny>)> {
        let got = self.run(py, || Ok(self.ps.get(RawPeerId::from_bytes(peer), key)?))?;
        match got {
            Some(v) => Ok((true, value::to_py(py, v)?)),
            None => Ok((false, py.None())),
        }
    }

    fn put(&self, py: Python<'_>, peer: &[u8], key: &str, val: &Bound<'_, PyAny>) -> PyResult<()> {
        if key == peer_key::PROTOCOLS {
            return Err(crate::errors::raise(
                py,
                "BadMetadataError",
                format!(
                    "peer {}: metadata {key:?} is where go-libp2p keeps the protocols; use \
                        add_protocols/set_protocols",
                    peer_label(peer)
                ),
            ));
        }
        let v = value::to_gob(val).map_err(|m| crate::errors::invalid(py, m))?;
        self.run(py, || {
            self.ps.put(RawPeerId::from_bytes(peer), key, &v)?;
            self.peers.note(peer);
            self.wrote();
            Ok(())
        })
    }

    /// Deletes the peer's metadata (not its protocols).
    fn clear_metadata(&self, py: Python<'_>, peer: &[u8]) -> PyResult<()> {
        self.run(py, || {
            self.remove_metadata(peer, true)?;
            self.wrote();
            Ok(())
        })
    }

    // ---- keys ----

    /// Stores the peer's public key (its protobuf bytes); refused unless it is the peer's key.
    fn add_pubkey(&self, py: Python<'_>, peer: &[u8], key: &[u8]) -> PyResult<()> {
        self.run(py, || {
            self.ps
                .add_pub_key_bytes(RawPeerId::from_bytes(peer), key)?;
            self.peers.note(peer);
            self.wrote();
            Ok(())
        })
    }

    /// The peer's public key (protobuf bytes); for an identity peer ID, the key it embeds.
    fn pubkey<'py>(&self, py: Python<'py>, peer: &[u8]) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let k = self.run(py, || Ok(self.ps.pub_key(RawPeerId::from_bytes(peer))?))?;
        Ok(k.map(|k| PyBytes::new(py, k.raw())))
    }

    /// Stores the peer's private key (protobuf bytes), refused unless it is the peer's. RSA
    /// private keys, which this crate cannot parse, are checked by the caller
    /// (`owner_checked`: py-libp2p derived the peer from the key) and stored as given.
    fn add_privkey(
        &self,
        py: Python<'_>,
        peer: &[u8],
        key: &[u8],
        owner_checked: bool,
    ) -> PyResult<()> {
        self.run(py, || {
            let raw = RawPeerId::from_bytes(peer);
            match self.ps.add_priv_key_bytes(raw, key) {
                Ok(()) => {}
                Err(Error::BadKey { .. })
                    if owner_checked
                        && StoredKey::decode(key).is_ok_and(|k| k.key_type == KeyType::Rsa) =>
                {
                    self.ps
                        .datastore()
                        .put(&peer_key::priv_key_key(peer), key)?;
                }
                Err(e) => return Err(e.into()),
            }
            self.peers.note(peer);
            self.wrote();
            Ok(())
        })
    }

    fn privkey<'py>(&self, py: Python<'py>, peer: &[u8]) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let k = self.run(py, || Ok(self.ps.priv_key(RawPeerId::from_bytes(peer))?))?;
        Ok(k.map(|k| PyBytes::new(py, k.raw())))
    }

    /// Peers with a public or private key stored.
    fn peers_with_keys<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let peers = self.run(py, || {
            Ok(self
                .ps
                .peers_with_keys()?
                .into_iter()
                .map(|p| p.as_bytes().to_vec())
                .collect())
        })?;
        Ok(list_bytes(py, peers))
    }

    /// Deletes the peer's keys.
    fn clear_keydata(&self, py: Python<'_>, peer: &[u8]) -> PyResult<()> {
        self.run(py, || {
            self.remove_keys(peer)?;
            self.wrote();
            Ok(())
        })
    }

    // ---- metrics (in memory, as in go-libp2p) ----

    /// A latency sample in seconds.
    fn record_latency(&self, py: Python<'_>, peer: &[u8], seconds: f64) -> PyResult<()> {
        let d = crate::open::seconds("a latency", seconds).map_err(|e| e.into_py(py))?;
        self.ps.record_latency(RawPeerId::from_bytes(peer), d);
        self.peers.note(peer);
        Ok(())
    }

    /// The latency EWMA in seconds (0.0 without samples).
    fn latency_ewma(&self, peer: &[u8]) -> f64 {
        self.ps
            .latency_ewma(RawPeerId::from_bytes(peer))
            .as_secs_f64()
    }

    fn clear_metrics(&self, peer: &[u8]) {
        self.ps.clear_latency(RawPeerId::from_bytes(peer));
    }

    // ---- maintenance ----

    /// One GC pass now; `(records visited, updated, deleted, addresses removed)`.
    fn gc(&self, py: Python<'_>) -> PyResult<(usize, usize, usize, usize)> {
        self.run(py, || {
            let r = self.ps.gc()?;
            Ok((
                r.records_visited,
                r.records_updated,
                r.records_deleted,
                r.addrs_removed,
            ))
        })
    }

    /// Closes the store (after a last interval sync). Closing twice is fine.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, || {
            if let Some(s) = &self.syncer {
                s.stop();
            }
            self.ps.close()?;
            Ok(())
        })?;
        self.peers.forget_all(py);
        Ok(())
    }
}
