//! Address records between the store and the ARC cache (the twin of go-libp2p's `cache.go`):
//! every read and write of an address record goes through here, so the cache only ever holds
//! what the store holds.

use multiaddr::Multiaddr;

use super::{Peerstore, RawPeerId, Result};
use crate::codec::peer_key;
use crate::codec::record::AddrBookRecord;
use crate::datastore::{Batch, Op};

/// What the cache holds for a peer: its record as stored (`None`: known to be absent), and,
/// once a reader asked, its addresses parsed, so that a read served from the cache copies no
/// record and parses nothing.
pub(crate) struct Cached {
    rec: Option<AddrBookRecord>,
    /// `rec`'s addresses in its order; `None` where the stored bytes do not parse.
    parsed: Option<Vec<Option<Multiaddr>>>,
    /// `rec` was moved out to a write of the peer (which holds its lock) instead of copied:
    /// a miss until that write caches what it stored. A write that gives up leaves it so.
    lent: bool,
}

impl Cached {
    fn new(rec: Option<AddrBookRecord>) -> Cached {
        Cached {
            rec,
            parsed: None,
            lent: false,
        }
    }
}

/// The ARC cache of address records, by raw peer ID.
pub(crate) type RecordCache = arc_cache::ArcCache<Vec<u8>, Cached, ahash::RandomState>;

/// The cache's entry for `peer`, unless its record is lent to a write (then it is a miss).
fn entry<'a>(cache: &'a mut RecordCache, peer: &Vec<u8>) -> Option<&'a mut Cached> {
    cache.get_mut(peer).filter(|c| !c.lent)
}

/// The addresses that parsed, and how many did not (`None`), as `Peerstore::addrs` returns
/// them.
pub(crate) fn usable_addrs(
    parsed: impl Iterator<Item = Option<Multiaddr>>,
) -> (Vec<Multiaddr>, usize) {
    let mut unparsed = 0;
    let mut addrs = Vec::with_capacity(parsed.size_hint().0);
    for m in parsed {
        match m {
            Some(m) => addrs.push(m),
            None => unparsed += 1,
        }
    }
    (addrs, unparsed)
}

/// What [`Peerstore::cached_addrs`] found.
pub(crate) enum CachedAddrs {
    /// The cache holds the peer and none of its addresses has expired: these are its addresses
    /// that parse, as `Peerstore::addrs` returns them, and how many stored ones do not.
    Fresh(Vec<Multiaddr>, usize),
    /// Not cached, or an address expired (the record is to be cleaned and written).
    Load,
}

impl Peerstore {
    /// Loads a peer's record: from the cache, else from the store (and caches what the store
    /// had). Call with the peer locked.
    pub(crate) fn load_record(&self, peer: &[u8]) -> Result<Option<AddrBookRecord>> {
        if let Some(cache) = &self.inner.cache {
            let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(cached) = entry(&mut c, &peer.to_vec()) {
                return Ok(cached.rec.clone());
            }
        }
        let rec = self.read_record(peer)?;
        if self.inner.cache.is_some() {
            self.cache_put(peer, rec.clone());
        }
        Ok(rec)
    }

    /// Reads a record from the store, past the cache.
    fn read_record(&self, peer: &[u8]) -> Result<Option<AddrBookRecord>> {
        let key = peer_key::addrs_key(peer);
        if let Some(origins) = &self.inner.origins {
            // A shared store: remember what was read, for the write's condition.
            let (rec, bytes) = self
                .read_decoded_with_bytes(&key, AddrBookRecord::decode)?
                .unzip();
            origins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(peer.to_vec(), bytes);
            return Ok(rec);
        }
        self.read_decoded(&key, AddrBookRecord::decode)
    }

    /// Loads a record about to be changed and written: moved out of the cache rather than
    /// copied (the write caches what it stores), else read from the store. Call with the peer
    /// locked.
    fn lend_record(&self, peer: &[u8]) -> Result<Option<AddrBookRecord>> {
        if let Some(cache) = &self.inner.cache {
            let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(cached) = entry(&mut c, &peer.to_vec()) {
                cached.lent = true;
                cached.parsed = None;
                return Ok(cached.rec.take());
            }
        }
        // Missed (the peer is locked: no reader fills the cache meanwhile).
        self.read_record(peer)
    }
    /// The write of a record (a delete when it holds no addresses). Go never stores an empty
    /// record.
    pub(crate) fn record_op(peer: &[u8], rec: &AddrBookRecord) -> Op {
        let key = peer_key::addrs_key(peer);
        if rec.addrs.is_empty() {
            Op::Delete(key)
        } else {
            Op::Put(key, rec.encode())
        }
    }
    /// Writes a record and updates the cache. Call with the peer locked.
    pub(crate) fn store_record(&self, peer: &[u8], rec: AddrBookRecord) -> Result<()> {
        let mut batch = Batch::new();
        batch.push(Self::record_op(peer, &rec));
        self.write_records(batch, vec![(peer.to_vec(), rec)])
    }
    /// Applies a batch holding record writes, then updates the cache to match.
    pub(crate) fn write_records(
        &self,
        mut batch: Batch,
        recs: Vec<(Vec<u8>, AddrBookRecord)>,
    ) -> Result<()> {
        if let Some(origins) = &self.inner.origins {
            let origins = origins.lock().unwrap_or_else(|e| e.into_inner());
            for (peer, _) in &recs {
                // A record not loaded first (cleared outright) is written whatever it holds.
                if let Some(was) = origins.get(peer) {
                    batch.expect(peer_key::addrs_key(peer), was.clone());
                }
            }
        }
        if let Err(e) = self.inner.ds.write(batch) {
            for (peer, _) in &recs {
                self.cache_remove(peer);
            }
            return Err(e.into());
        }
        if let Some(origins) = &self.inner.origins {
            // What the store holds now is what a further write under the same lock expects.
            let mut origins = origins.lock().unwrap_or_else(|e| e.into_inner());
            for (peer, rec) in &recs {
                if let Some(was) = origins.get_mut(peer) {
                    *was = (!rec.addrs.is_empty()).then(|| rec.encode());
                }
            }
        }
        for (peer, rec) in recs {
            self.record_stored(&peer, (!rec.addrs.is_empty()).then_some(rec));
        }
        Ok(())
    }

    /// What the store now holds for `peer` (`None`: no record), after a write of it succeeded,
    /// with the peer locked: for the lookahead GC's expiry index and the cache.
    pub(crate) fn record_stored(&self, peer: &[u8], rec: Option<AddrBookRecord>) {
        self.note_record_written(peer, rec.as_ref());
        self.cache_put(peer, rec);
    }
    fn cache_put(&self, peer: &[u8], rec: Option<AddrBookRecord>) {
        if let Some(cache) = &self.inner.cache {
            cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(peer.to_vec(), Cached::new(rec));
        }
    }
    /// A peer's addresses served from the cache, when it holds the peer and nothing has
    /// expired at `now_unix` (what `clean` would change). Call with the peer locked.
    pub(crate) fn cached_addrs(&self, peer: &RawPeerId, now_unix: i64) -> CachedAddrs {
        let Some(cache) = &self.inner.cache else {
            return CachedAddrs::Load;
        };
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        let Some(cached) = entry(&mut c, peer.as_vec()) else {
            return CachedAddrs::Load;
        };
        let Some(rec) = &cached.rec else {
            return CachedAddrs::Fresh(Vec::new(), 0);
        };
        if rec.addrs.iter().any(|a| a.expiry <= now_unix) {
            return CachedAddrs::Load;
        }
        let parsed = cached.parsed.get_or_insert_with(|| {
            rec.addrs
                .iter()
                .map(|e| Multiaddr::try_from(e.addr.clone()).ok())
                .collect()
        });
        let (addrs, unparsed) = usable_addrs(parsed.iter().cloned());
        CachedAddrs::Fresh(addrs, unparsed)
    }
    pub(crate) fn cache_remove(&self, peer: &[u8]) {
        if let Some(cache) = &self.inner.cache {
            cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&peer.to_vec());
        }
    }
    /// The peer's record, or a new empty one, to be written; the flag says it is new. Call with
    /// the peer locked.
    pub(crate) fn load_or_new(&self, peer: &[u8]) -> Result<(AddrBookRecord, bool)> {
        Ok(match self.lend_record(peer)? {
            Some(rec) => (rec, false),
            None => (
                AddrBookRecord {
                    id: peer.to_vec(),
                    ..Default::default()
                },
                true,
            ),
        })
    }
}
