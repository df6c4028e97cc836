//! Many peer updates applied in one atomic datastore write.

use std::collections::HashMap;

use multiaddr::Multiaddr;

use super::addr_book::{TtlMode, clean_addrs};
use super::{Peerstore, RawPeerId, Result, Ttl};
use crate::codec::gob::{self, Value};
use crate::codec::record::AddrBookRecord;
use crate::datastore::{Batch, Op};

enum BatchOp {
    Addrs(RawPeerId, Vec<Vec<u8>>, Ttl, TtlMode),
    ClearAddrs(RawPeerId),
    Raw(RawPeerId, Op),
}

/// A set of updates that [`PeerstoreBatch::commit`] applies all together or not at all, in one
/// write (one fsync), with every peer involved locked meanwhile.
///
/// ```
/// use pstoreds::peerstore::{Options, Ttl};
/// use libp2p_identity::Keypair;
///
/// let ps = Options::new().open_memory()?;
/// let mut batch = ps.batch();
/// for i in 0..100u8 {
///     let peer = Keypair::generate_ed25519().public().to_peer_id();
///     let addr: multiaddr::Multiaddr = format!("/ip4/10.0.0.{i}/tcp/4001").parse()?;
///     batch.add_addrs(peer, &[addr], Ttl::ADDRESS);
///     batch.put(peer, "AgentVersion", &"bulk/1".into())?;
/// }
/// batch.commit()?;
/// assert_eq!(ps.peers_with_addrs()?.len(), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PeerstoreBatch<'a> {
    ps: &'a Peerstore,
    ops: Vec<BatchOp>,
}

impl Peerstore {
    /// Starts a batch of updates (see [`PeerstoreBatch`]).
    pub fn batch(&self) -> PeerstoreBatch<'_> {
        PeerstoreBatch {
            ps: self,
            ops: Vec::new(),
        }
    }
}

impl PeerstoreBatch<'_> {
    /// As [`Peerstore::add_addrs`].
    pub fn add_addrs(
        &mut self,
        peer: impl Into<RawPeerId>,
        addrs: &[Multiaddr],
        ttl: impl Into<Ttl>,
    ) -> &mut Self {
        let (peer, ttl) = (peer.into(), ttl.into());
        if ttl.0 > 0 {
            let addrs = clean_addrs(addrs, peer.as_bytes());
            self.ops
                .push(BatchOp::Addrs(peer, addrs, ttl, TtlMode::Extend));
        }
        self
    }

    /// As [`Peerstore::set_addrs`] (a TTL of zero or less removes).
    pub fn set_addrs(
        &mut self,
        peer: impl Into<RawPeerId>,
        addrs: &[Multiaddr],
        ttl: impl Into<Ttl>,
    ) -> &mut Self {
        let (peer, ttl) = (peer.into(), ttl.into());
        let addrs = clean_addrs(addrs, peer.as_bytes());
        self.ops
            .push(BatchOp::Addrs(peer, addrs, ttl, TtlMode::Override));
        self
    }

    /// As [`Peerstore::clear_addrs`].
    pub fn clear_addrs(&mut self, peer: impl Into<RawPeerId>) -> &mut Self {
        self.ops.push(BatchOp::ClearAddrs(peer.into()));
        self
    }

    /// As [`Peerstore::put`]; a bad name or value fails here, before anything is written.
    pub fn put(
        &mut self,
        peer: impl Into<RawPeerId>,
        name: &str,
        value: &Value,
    ) -> Result<&mut Self> {
        let peer = peer.into();
        let (key, bytes) = super::metadata::metadata_entry(&peer, name, value)?;
        self.ops.push(BatchOp::Raw(peer, Op::Put(key, bytes)));
        Ok(self)
    }

    /// As [`Peerstore::add_pub_key_bytes`].
    pub fn add_pub_key_bytes(
        &mut self,
        peer: impl Into<RawPeerId>,
        raw: &[u8],
    ) -> Result<&mut Self> {
        let peer = peer.into();
        let (key, value) = super::key_book::pub_key_entry(&peer, raw)?;
        self.ops.push(BatchOp::Raw(peer, Op::Put(key, value)));
        Ok(self)
    }

    /// As [`Peerstore::set_protocols`].
    pub fn set_protocols<S: AsRef<str>>(
        &mut self,
        peer: impl Into<RawPeerId>,
        protocols: &[S],
    ) -> Result<&mut Self> {
        let peer = peer.into();
        self.ps.too_many(&peer, protocols.len())?;
        let key = self.ps.protocols_key(&peer);
        let bytes = gob::encode_protocols(protocols.iter().map(|p| p.as_ref()));
        self.ops.push(BatchOp::Raw(peer, Op::Put(key, bytes)));
        Ok(self)
    }

    /// How many writes the batch holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Applies every update in one atomic write.
    pub fn commit(self) -> Result<()> {
        let ps = self.ps;
        ps.check_open()?;
        {
            let mut peers: Vec<&[u8]> = self
                .ops
                .iter()
                .map(|op| match op {
                    BatchOp::Addrs(p, ..) | BatchOp::ClearAddrs(p) | BatchOp::Raw(p, _) => {
                        p.as_bytes()
                    }
                })
                .collect();
            peers.sort_unstable();
            peers.dedup();
            let _locks = ps.lock_peers(peers.into_iter());
            // The address records the batch touches, loaded once, changed in memory; over a
            // shared store, loaded again if another process changed one before our write.
            let added = ps.retry_conflicts(|| {
                let mut records: HashMap<Vec<u8>, AddrBookRecord> = HashMap::new();
                let mut added: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
                let mut batch = Batch::new();
                for op in &self.ops {
                    match op {
                        BatchOp::Addrs(peer, addrs, ttl, mode) => {
                            let peer = peer.as_bytes().to_vec();
                            if !records.contains_key(&peer) {
                                let (rec, _) = ps.load_or_new(&peer)?;
                                records.insert(peer.clone(), rec);
                            }
                            let rec = records.get_mut(&peer).expect("inserted above");
                            if ttl.0 <= 0 {
                                ps.remove_addrs(rec, addrs);
                            } else if !addrs.is_empty() {
                                added.push((peer.clone(), ps.merge_addrs(rec, addrs, *ttl, *mode)));
                            }
                        }
                        BatchOp::ClearAddrs(peer) => {
                            let peer = peer.as_bytes().to_vec();
                            records.insert(
                                peer.clone(),
                                AddrBookRecord {
                                    id: peer,
                                    ..Default::default()
                                },
                            );
                        }
                        BatchOp::Raw(_, op) => batch.push(op.clone()),
                    }
                }
                let mut written = Vec::with_capacity(records.len());
                for (peer, rec) in records {
                    batch.push(Peerstore::record_op(&peer, &rec));
                    written.push((peer, rec));
                }
                ps.write_records(batch, written)?;
                Ok(added)
            })?;
            for (peer, addrs) in added {
                ps.inner.subs.broadcast(&peer, &addrs);
            }
            ps.note_record_created();
        }
        ps.enforce_record_cap()
    }
}
