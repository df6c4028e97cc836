//! The address book: per-address TTLs and signed peer records, one `AddrBookRecord` per peer at
//! `/peers/addrs/<B32>` (go-libp2p's `addr_book.go`).
//!
//! Every operation on a peer's record runs under that peer's lock: load (cache, else store),
//! change, write, update the cache. The cache therefore only ever holds what the store holds,
//! and a signed record and its addresses are always stored together (go-libp2p #1701).

use std::collections::{HashMap, HashSet};

use multiaddr::{Multiaddr, Protocol};

use super::cache::{CachedAddrs, usable_addrs};
use super::clock::{expiry, unix_seconds};
use super::{Error, Peerstore, RawPeerId, Result, Ttl};
use crate::codec::envelope::SignedPeerRecord;
use crate::codec::peer_key;
use crate::codec::record::{AddrBookRecord, AddrEntry, CertifiedRecord};
use crate::datastore::Key;

/// One stored address, as the store has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrEntryInfo {
    /// Binary multiaddr (may use protocols this version cannot parse).
    pub addr: Vec<u8>,
    /// Unix seconds.
    pub expiry: i64,
    /// The TTL the address was stored with.
    pub ttl: Ttl,
}

impl AddrEntryInfo {
    /// The entry as a record holds it.
    fn of(e: &AddrEntry) -> AddrEntryInfo {
        AddrEntryInfo {
            addr: e.addr.clone(),
            expiry: e.expiry,
            ttl: Ttl(e.ttl),
        }
    }

    /// The address, if this version can parse it.
    pub fn multiaddr(&self) -> Option<Multiaddr> {
        Multiaddr::try_from(self.addr.clone()).ok()
    }

    /// Whether this version can parse the address, checked as [`AddrEntryInfo::multiaddr`]
    /// parses it, without copying it.
    pub fn parses(&self) -> bool {
        let mut rest = &self.addr[..];
        while !rest.is_empty() {
            match multiaddr::Protocol::from_bytes(rest) {
                Ok((_, after)) => rest = after,
                Err(_) => return false,
            }
        }
        true
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TtlMode {
    /// `add_addrs`: TTL and expiry only ever grow.
    Extend,
    /// `set_addrs`: TTL and expiry are replaced.
    Override,
}

/// go-libp2p's `addrsRecord.clean`: sort by expiry and drop expired addresses, when the record
/// was changed (`dirty`) or holds expired addresses. Returns whether the record must be written.
pub(crate) fn clean(rec: &mut AddrBookRecord, now_unix: i64, dirty: bool) -> bool {
    let expired = rec.addrs.iter().any(|a| a.expiry <= now_unix);
    if !dirty && !expired {
        return false;
    }
    if rec.addrs.is_empty() {
        return true; // a ghost record: writing it deletes it
    }
    let before = rec.addrs.len();
    if dirty || !rec.is_sorted() {
        rec.sort();
    }
    rec.addrs.retain(|a| a.expiry > now_unix);
    dirty || rec.addrs.len() != before
}

/// The varint of the `p2p` protocol's code (421), which an address ending in `/p2p/<id>` holds.
const P2P_CODE: [u8; 2] = [0xa5, 0x03];

/// Strips a trailing `/p2p/<id>`; drops empty addresses and those naming another peer.
pub(crate) fn clean_addrs(addrs: &[Multiaddr], peer: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let bytes: &[u8] = addr.as_ref();
        if !bytes.windows(2).any(|w| w == P2P_CODE) {
            // Cannot end in `/p2p/<id>`: not parsed to find out.
            if !bytes.is_empty() {
                out.push(bytes.to_vec());
            }
            continue;
        }
        let mut addr = addr.clone();
        if let Some(Protocol::P2p(id)) = addr.iter().last() {
            if id.to_bytes() != peer {
                tracing::warn!(%addr, "address names another peer; dropped");
                continue;
            }
            addr.pop();
        }
        if addr.is_empty() {
            continue;
        }
        out.push(addr.to_vec());
    }
    dedup_keeping_first(&mut out);
    out
}

/// Above this many addresses, membership goes through a hash set: a linear search for each of
/// them would be quadratic (100 addresses: 5,000 comparisons).
const LINEAR_SEARCH_MAX: usize = 16;

/// Drops repeated addresses, keeping the first of each in its place.
fn dedup_keeping_first(addrs: &mut Vec<Vec<u8>>) {
    if addrs.len() <= LINEAR_SEARCH_MAX {
        let mut kept = 0;
        for i in 0..addrs.len() {
            if !addrs[..kept].contains(&addrs[i]) {
                addrs.swap(kept, i);
                kept += 1;
            }
        }
        addrs.truncate(kept);
        return;
    }
    let mut seen: HashSet<&[u8], _> =
        HashSet::with_capacity_and_hasher(addrs.len(), ahash::RandomState::new());
    let keep: Vec<bool> = addrs.iter().map(|a| seen.insert(a.as_slice())).collect();
    let mut keep = keep.into_iter();
    addrs.retain(|_| keep.next().unwrap_or(false));
}

/// Where each of `incoming` is among `entries` (the first entry holding it), or `None`.
fn positions(entries: &[AddrEntry], incoming: &[Vec<u8>]) -> Vec<Option<usize>> {
    if entries.len() <= LINEAR_SEARCH_MAX || incoming.len() <= 1 {
        return incoming
            .iter()
            .map(|a| entries.iter().position(|e| &e.addr == a))
            .collect();
    }
    let mut index: HashMap<&[u8], usize, _> =
        HashMap::with_capacity_and_hasher(entries.len(), ahash::RandomState::new());
    for (i, e) in entries.iter().enumerate().rev() {
        index.insert(e.addr.as_slice(), i);
    }
    incoming
        .iter()
        .map(|a| index.get(a.as_slice()).copied())
        .collect()
}

impl Peerstore {
    /// Adds addresses with `ttl`; an address already known keeps the longer TTL and the later
    /// expiry. A TTL of zero or less does nothing.
    pub fn add_addrs(
        &self,
        peer: impl Into<RawPeerId>,
        addrs: &[Multiaddr],
        ttl: impl Into<Ttl>,
    ) -> Result<()> {
        let (peer, ttl) = (peer.into(), ttl.into());
        self.check_open()?;
        if ttl.0 <= 0 {
            return Ok(());
        }
        self.write_addrs(&peer, addrs, ttl, TtlMode::Extend)
    }

    /// Adds one address; see [`Peerstore::add_addrs`].
    pub fn add_addr(
        &self,
        peer: impl Into<RawPeerId>,
        addr: &Multiaddr,
        ttl: impl Into<Ttl>,
    ) -> Result<()> {
        self.add_addrs(peer, std::slice::from_ref(addr), ttl)
    }

    /// Sets the TTL of addresses, adding those not known; a TTL of zero or less removes them.
    pub fn set_addrs(
        &self,
        peer: impl Into<RawPeerId>,
        addrs: &[Multiaddr],
        ttl: impl Into<Ttl>,
    ) -> Result<()> {
        let (peer, ttl) = (peer.into(), ttl.into());
        self.check_open()?;
        self.write_addrs(&peer, addrs, ttl, TtlMode::Override)
    }

    /// py-libp2p's `add_addrs` (one TTL a peer) in Go's per-address form, in one
    /// read-modify-write: the peer's unexpired addresses and `addrs` all end with `ttl` from
    /// now. Returns the peer's unexpired addresses after the write. A `ttl` of zero or less
    /// removes `addrs`, as [`Peerstore::set_addrs`] does.
    pub fn renew_and_add_addrs(
        &self,
        peer: impl Into<RawPeerId>,
        addrs: &[Multiaddr],
        ttl: impl Into<Ttl>,
    ) -> Result<Vec<AddrEntryInfo>> {
        let (peer, ttl) = (peer.into(), ttl.into());
        self.check_open()?;
        if ttl.0 <= 0 {
            self.write_addrs(&peer, addrs, ttl, TtlMode::Override)?;
            return self.addr_entries(peer);
        }
        let addrs = clean_addrs(addrs, peer.as_bytes());
        let entries = {
            let _lock = self.lock_peer(peer.as_bytes());
            self.retry_conflicts(|| {
                let (mut rec, created) = self.load_or_new(peer.as_bytes())?;
                clean(&mut rec, self.inner.clock.now_unix(), false);
                let mut all: Vec<Vec<u8>> = rec.addrs.iter().map(|e| e.addr.clone()).collect();
                for a in &addrs {
                    if !all.contains(a) {
                        all.push(a.clone());
                    }
                }
                if all.is_empty() {
                    return Ok(Vec::new());
                }
                self.apply_addrs(
                    peer.as_bytes(),
                    &mut rec,
                    created,
                    &all,
                    ttl,
                    TtlMode::Override,
                );
                let entries = rec.addrs.iter().map(AddrEntryInfo::of).collect();
                self.store_record(peer.as_bytes(), rec)?;
                Ok(entries)
            })?
        };
        self.enforce_record_cap()?;
        Ok(entries)
    }

    /// Sets one address; see [`Peerstore::set_addrs`].
    pub fn set_addr(
        &self,
        peer: impl Into<RawPeerId>,
        addr: &Multiaddr,
        ttl: impl Into<Ttl>,
    ) -> Result<()> {
        self.set_addrs(peer, std::slice::from_ref(addr), ttl)
    }

    /// The one write path of `add_addrs` and `set_addrs`: clean the addresses, then under the
    /// peer's lock merge them in (or, for `set` with a TTL of zero or less, remove them) and
    /// write the record; then apply the record cap.
    fn write_addrs(
        &self,
        peer: &RawPeerId,
        addrs: &[Multiaddr],
        ttl: Ttl,
        mode: TtlMode,
    ) -> Result<()> {
        let addrs = clean_addrs(addrs, peer.as_bytes());
        {
            let _lock = self.lock_peer(peer.as_bytes());
            if ttl.0 <= 0 {
                return self.retry_conflicts(|| self.delete_addrs(peer.as_bytes(), &addrs));
            }
            if addrs.is_empty() {
                return Ok(());
            }
            self.retry_conflicts(|| {
                let (mut rec, created) = self.load_or_new(peer.as_bytes())?;
                self.apply_addrs(peer.as_bytes(), &mut rec, created, &addrs, ttl, mode);
                self.store_record(peer.as_bytes(), rec)
            })?;
        }
        self.enforce_record_cap()
    }

    /// Merges `addrs` into a loaded record and tells address subscribers about the new ones.
    /// Call with the peer locked.
    fn apply_addrs(
        &self,
        peer: &[u8],
        rec: &mut AddrBookRecord,
        created: bool,
        addrs: &[Vec<u8>],
        ttl: Ttl,
        mode: TtlMode,
    ) {
        let added = self.merge_addrs(rec, addrs, ttl, mode);
        self.inner.subs.broadcast(peer, &added);
        if created {
            self.note_record_created();
        }
    }

    /// go-libp2p's `setAddrs` on a loaded record: clean it, extend or override the known
    /// addresses, append the new ones, clean again, apply the per-peer cap. Returns the
    /// addresses that were new.
    pub(crate) fn merge_addrs(
        &self,
        rec: &mut AddrBookRecord,
        addrs: &[Vec<u8>],
        ttl: Ttl,
        mode: TtlMode,
    ) -> Vec<Vec<u8>> {
        let now = self.now_nanos();
        let now_unix = unix_seconds(now);
        clean(rec, now_unix, false);
        let new_exp = expiry(now, ttl.0);
        let mut added = Vec::new();
        // `addrs` come from `clean_addrs`: no address is there twice, so one added here is
        // never met again in this loop.
        let found = positions(&rec.addrs, addrs);
        for (incoming, found) in addrs.iter().zip(found) {
            match found.map(|i| &mut rec.addrs[i]) {
                Some(e) => match mode {
                    TtlMode::Override => {
                        e.ttl = ttl.0;
                        e.expiry = new_exp;
                    }
                    TtlMode::Extend => {
                        e.ttl = e.ttl.max(ttl.0);
                        e.expiry = e.expiry.max(new_exp);
                    }
                },
                None => {
                    rec.addrs.push(AddrEntry {
                        addr: incoming.clone(),
                        expiry: new_exp,
                        ttl: ttl.0,
                        unknown_fields: Vec::new(),
                    });
                    added.push(incoming.clone());
                }
            }
        }
        clean(rec, now_unix, true);
        self.enforce_addr_cap(rec);
        added
    }

    /// Removes exactly the given addresses from a loaded record (not go-libp2p's
    /// swap-while-iterating bug).
    pub(crate) fn remove_addrs(&self, rec: &mut AddrBookRecord, addrs: &[Vec<u8>]) {
        let now_unix = self.inner.clock.now_unix();
        clean(rec, now_unix, false);
        if addrs.len() <= LINEAR_SEARCH_MAX {
            rec.addrs.retain(|e| !addrs.contains(&e.addr));
        } else {
            let gone: ahash::HashSet<&[u8]> = addrs.iter().map(Vec::as_slice).collect();
            rec.addrs.retain(|e| !gone.contains(e.addr.as_slice()));
        }
        clean(rec, now_unix, true);
    }

    /// Evicts the addresses that expire soonest while the peer has more than the cap, never
    /// touching (nor counting) connected and permanent ones.
    fn enforce_addr_cap(&self, rec: &mut AddrBookRecord) {
        let cap = self.inner.opts.max_addrs_per_peer;
        if cap == 0 {
            return;
        }
        let counted = |e: &AddrEntry| !Ttl(e.ttl).is_connected_or_permanent();
        let mut over = rec
            .addrs
            .iter()
            .filter(|e| counted(e))
            .count()
            .saturating_sub(cap);
        // Sorted by expiry: the first counted entries are the ones that expire soonest.
        rec.addrs.retain(|e| {
            if over > 0 && counted(e) {
                over -= 1;
                false
            } else {
                true
            }
        });
    }

    fn delete_addrs(&self, peer: &[u8], addrs: &[Vec<u8>]) -> Result<()> {
        let Some(mut rec) = self.load_record(peer)? else {
            return Ok(());
        };
        self.remove_addrs(&mut rec, addrs);
        self.store_record(peer, rec)
    }

    /// Gives every address whose TTL is exactly `old_ttl` the TTL `new_ttl` (expiring
    /// `new_ttl` from now); a `new_ttl` of zero removes them.
    pub fn update_addrs(
        &self,
        peer: impl Into<RawPeerId>,
        old_ttl: impl Into<Ttl>,
        new_ttl: impl Into<Ttl>,
    ) -> Result<()> {
        let (peer, old_ttl, new_ttl) = (peer.into(), old_ttl.into(), new_ttl.into());
        self.check_open()?;
        let _lock = self.lock_peer(peer.as_bytes());
        self.retry_conflicts(|| self.update_locked(peer.as_bytes(), old_ttl, new_ttl))
    }

    fn update_locked(&self, peer: &[u8], old_ttl: Ttl, new_ttl: Ttl) -> Result<()> {
        let Some(mut rec) = self.load_record(peer)? else {
            return Ok(());
        };
        let now = self.now_nanos();
        let now_unix = unix_seconds(now);
        clean(&mut rec, now_unix, false);
        let new_exp = expiry(now, new_ttl.0);
        let mut dirty = false;
        for e in rec.addrs.iter_mut().filter(|e| e.ttl == old_ttl.0) {
            e.ttl = new_ttl.0;
            e.expiry = new_exp;
            dirty = true;
        }
        if clean(&mut rec, now_unix, dirty) {
            self.store_record(peer, rec)?;
        }
        Ok(())
    }

    /// The peer's unexpired addresses, soonest-expiring first. As in go-libp2p, a record that
    /// held expired addresses is written back without them. Addresses this version cannot parse
    /// are left out here (they stay stored; see [`Peerstore::addr_entries`]).
    pub fn addrs(&self, peer: impl Into<RawPeerId>) -> Result<Vec<Multiaddr>> {
        let peer = peer.into();
        self.check_open()?;
        let _lock = self.lock_peer(peer.as_bytes());
        let now = self.inner.clock.now_unix();
        let (addrs, unparsed) = match self.cached_addrs(&peer, now) {
            CachedAddrs::Fresh(addrs, unparsed) => (addrs, unparsed),
            CachedAddrs::Load => {
                let rec = self.retry_conflicts(|| {
                    let Some(mut rec) = self.load_record(peer.as_bytes())? else {
                        return Ok(None);
                    };
                    if clean(&mut rec, now, false) {
                        self.store_record(peer.as_bytes(), rec.clone())?;
                    }
                    Ok(Some(rec))
                })?;
                usable_addrs(
                    rec.map(|r| r.addrs)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| Multiaddr::try_from(e.addr).ok()),
                )
            }
        };
        if unparsed > 0 {
            tracing::warn!(peer = %peer, unparsed, "stored addresses that do not parse; skipped");
        }
        Ok(addrs)
    }

    /// The peer's unexpired address entries with expiry and TTL, without writing anything.
    pub fn addr_entries(&self, peer: impl Into<RawPeerId>) -> Result<Vec<AddrEntryInfo>> {
        let peer = peer.into();
        self.check_open()?;
        let _lock = self.lock_peer(peer.as_bytes());
        let Some(mut rec) = self.load_record(peer.as_bytes())? else {
            return Ok(Vec::new());
        };
        clean(&mut rec, self.inner.clock.now_unix(), false);
        Ok(rec.addrs.iter().map(AddrEntryInfo::of).collect())
    }

    /// Deletes the peer's address record (and with it its signed record).
    pub fn clear_addrs(&self, peer: impl Into<RawPeerId>) -> Result<()> {
        let peer = peer.into();
        self.check_open()?;
        let _lock = self.lock_peer(peer.as_bytes());
        self.cache_remove(peer.as_bytes());
        self.inner
            .ds
            .delete(&peer_key::addrs_key(peer.as_bytes()))?;
        self.record_stored(peer.as_bytes(), None);
        Ok(())
    }

    /// Every peer with an address record (expired but not yet collected ones included).
    pub fn peers_with_addrs(&self) -> Result<Vec<RawPeerId>> {
        self.check_open()?;
        self.peers_under(&Key::new(peer_key::ADDRS))
    }

    /// Stores a signed peer record (a marshalled envelope) and adds its addresses with `ttl`
    /// (extend semantics), atomically. Returns `false` when a record with a higher seq is
    /// already stored; an equal seq refreshes the TTLs.
    pub fn consume_peer_record(&self, envelope: &[u8], ttl: impl Into<Ttl>) -> Result<bool> {
        let ttl = ttl.into();
        self.check_open()?;
        let signed = SignedPeerRecord::open(envelope).map_err(|source| Error::PeerRecord {
            peer: crate::codec::envelope::Envelope::decode(envelope)
                .map(|e| RawPeerId::from_bytes(e.public_key.peer_id_bytes()).to_string())
                .unwrap_or_else(|_| "?".into()),
            source,
        })?;
        let peer = signed.record.peer_id.clone();
        let mut addrs = Vec::with_capacity(signed.record.addrs.len());
        for a in &signed.record.addrs {
            addrs.push(
                Multiaddr::try_from(a.clone()).map_err(|e| Error::PeerRecord {
                    peer: RawPeerId::from_bytes(peer.clone()).to_string(),
                    source: crate::codec::Error::Multiaddr(e.to_string()),
                })?,
            );
        }
        let addrs = clean_addrs(&addrs, &peer);
        let accepted = {
            let _lock = self.lock_peer(&peer);
            self.retry_conflicts(|| self.consume_locked(&peer, &signed, &addrs, ttl))?
        };
        self.enforce_record_cap()?;
        Ok(accepted)
    }

    fn consume_locked(
        &self,
        peer: &[u8],
        signed: &SignedPeerRecord,
        addrs: &[Vec<u8>],
        ttl: Ttl,
    ) -> Result<bool> {
        let (mut rec, created) = self.load_or_new(peer)?;
        clean(&mut rec, self.inner.clock.now_unix(), false);
        let latest = match &rec.certified_record {
            Some(c) if !rec.addrs.is_empty() && !c.raw.is_empty() => c.seq,
            _ => 0,
        };
        if latest > signed.record.seq {
            return Ok(false);
        }
        if !addrs.is_empty() {
            self.apply_addrs(peer, &mut rec, created, addrs, ttl, TtlMode::Extend);
        }
        rec.certified_record = Some(CertifiedRecord {
            seq: signed.record.seq,
            raw: signed.envelope.canonical_bytes(),
            unknown_fields: Vec::new(),
        });
        self.store_record(peer, rec)?;
        Ok(true)
    }

    /// The peer's stored signed record, if it has one and still has addresses.
    pub fn peer_record(&self, peer: impl Into<RawPeerId>) -> Result<Option<SignedPeerRecord>> {
        let peer = peer.into();
        self.check_open()?;
        let _lock = self.lock_peer(peer.as_bytes());
        let Some(mut rec) = self.load_record(peer.as_bytes())? else {
            return Ok(None);
        };
        clean(&mut rec, self.inner.clock.now_unix(), false);
        match rec.certified_record {
            Some(c) if !c.raw.is_empty() && !rec.addrs.is_empty() => SignedPeerRecord::open(&c.raw)
                .map(Some)
                .map_err(|source| Error::corrupt(&peer_key::addrs_key(peer.as_bytes()), source)),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_parses_exactly_when_its_multiaddr_does() {
        let good: Multiaddr = "/ip4/10.0.0.1/udp/4001/quic-v1".parse().unwrap();
        let cases = [
            good.to_vec(),
            Vec::new(),
            // An unknown protocol code, a truncated address, a bad length.
            vec![0xe0, 0xff, 0x03, 1, 2],
            good.to_vec()[..5].to_vec(),
            vec![0x04, 10, 0, 0],
        ];
        for addr in cases {
            let e = AddrEntryInfo {
                addr: addr.clone(),
                expiry: 0,
                ttl: Ttl(1),
            };
            assert_eq!(e.parses(), e.multiaddr().is_some(), "{addr:?}");
        }
    }
}
