//! The peerstore as a [`libp2p_peer_store::Store`], so that a rust-libp2p `Swarm` keeps what it
//! learns about peers across restarts (feature `libp2p`).
//!
//! - **Memory and disk agree.** The Swarm is answered from memory: a bounded view of the disk,
//!   like rust-libp2p's `MemoryStore` (at most [`StoreOptions::max_peers`] peers, the least
//!   recently updated dropped first, and [`StoreOptions::max_addrs_per_peer`] addresses each,
//!   the latest-expiring kept). Every address in memory carries the expiry it has on disk and is
//!   not offered once expired; an address whose dial failed is removed from both.
//! - **Nothing the Swarm polls waits for the disk.** Writes go to a writer thread, in order;
//!   it applies everything queued, then makes it durable with one sync
//!   ([`Peerstore::sync_once`]). [`PersistentStore::flush`] returns once what was queued
//!   before it is durable; dropping the store writes and syncs what is queued.
//! - **TTLs follow go-libp2p.** An address dialled on a live connection has the connected TTL;
//!   addresses other behaviours report get the address TTL. When the last connection to a peer
//!   closes (or the node shuts down), its addresses are kept for [`StoreOptions::retention`]:
//!   7 days by default, so that a node restarted the next day finds its peers again;
//!   go-libp2p keeps them 15 minutes ([`Ttl::RECENTLY_CONNECTED`], one setting away). What is
//!   stored is an ordinary TTL: a Go node reading the database sees nothing unusual.
//! - **Identify, without glue**: [`PersistentStore::identify`] gives identify's behaviour,
//!   storing what it learns (key, protocols, agent and protocol versions, listen addresses,
//!   signed peer record, as go-libp2p's identify stores them); with an identify behaviour of
//!   your own, pass its events to [`PersistentStore::on_identify`] (one line).
//! - **Warm Kademlia**: [`PersistentStore::best_addresses`] lists the known addresses, best first,
//!   for `kad::Behaviour::add_address`.
//!
//! ```no_run
//! use pstoreds::libp2p_store::{PersistentStore, libp2p_peer_store::Behaviour};
//! use pstoreds::peerstore::Options;
//!
//! let store = PersistentStore::new(Options::new().open_leveldb("peerstore")?)?;
//! let behaviour = Behaviour::new(store); // put it in your NetworkBehaviour
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The [`Peerstore`] underneath is a blocking API (each write may wait for an fsync). From async
//! code, call it through `tokio::task::spawn_blocking` (it is cheap to clone), or through this
//! store, whose writes are queued; [`PersistentStore::flush`] blocks, so call it at shutdown or
//! from a blocking task.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use libp2p_core::ConnectedPoint;
use libp2p_identity::{PeerId, PublicKey};
use libp2p_swarm::{DialError, FromSwarm};
use multiaddr::Multiaddr;

pub use libp2p_identify;
pub use libp2p_peer_store;

use crate::codec::envelope::SignedPeerRecord;
use crate::peerstore::{Peerstore, Result, Ttl, expiry};

/// How a [`PersistentStore`] keeps addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long the addresses of a peer we were connected to are kept after the last connection
    /// closes or the node shuts down. Default: [`StoreOptions::DEFAULT_RETENTION`] (7 days).
    /// go-libp2p's behaviour: [`Ttl::RECENTLY_CONNECTED`] (15 minutes).
    pub retention: Ttl,
    /// Peers whose addresses are kept in memory; beyond it, the least recently updated peer
    /// leaves memory (not the disk). Default: 1,000, as `MemoryStore`.
    pub max_peers: usize,
    /// Addresses kept in memory per peer, the latest-expiring first. Default: 8, as
    /// `MemoryStore`. (The disk keeps up to the peerstore's `Options::max_addrs_per_peer`.)
    pub max_addrs_per_peer: usize,
    /// Remove an address from memory and disk when dialing it failed. Default: true, as
    /// `MemoryStore`.
    pub remove_addr_on_dial_error: bool,
}

impl StoreOptions {
    /// 7 days: a node restarted the next day (or after a week's holiday) still knows its peers.
    pub const DEFAULT_RETENTION: Ttl = Ttl(7 * 24 * 3600 * 1_000_000_000);
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention: StoreOptions::DEFAULT_RETENTION,
            max_peers: 1000,
            max_addrs_per_peer: 8,
            remove_addr_on_dial_error: true,
        }
    }
}

/// What a peer told us about itself (what libp2p's identify protocol carries).
#[derive(Clone, Debug, Default)]
pub struct PeerInfo {
    /// The peer's public key.
    pub public_key: Option<PublicKey>,
    /// The protocols it supports.
    pub protocols: Vec<String>,
    /// Its agent version (`AgentVersion` metadata).
    pub agent_version: Option<String>,
    /// Its protocol version (`ProtocolVersion` metadata).
    pub protocol_version: Option<String>,
    /// The addresses it listens on.
    pub listen_addrs: Vec<Multiaddr>,
    /// A marshalled signed envelope holding the peer's record, if it sent one.
    pub signed_peer_record: Option<Vec<u8>>,
}

impl From<&libp2p_identify::Info> for PeerInfo {
    fn from(info: &libp2p_identify::Info) -> PeerInfo {
        PeerInfo {
            public_key: Some(info.public_key.clone()),
            protocols: info.protocols.iter().map(|p| p.to_string()).collect(),
            agent_version: Some(info.agent_version.clone()),
            protocol_version: Some(info.protocol_version.clone()),
            listen_addrs: info.listen_addrs.clone(),
            signed_peer_record: info
                .signed_peer_record
                .clone()
                .map(|e| e.into_protobuf_encoding()),
        }
    }
}

/// What the store reports to the Swarm: writes that failed (the Swarm goes on).
#[derive(Debug, Clone)]
pub enum Event {
    /// A write to the store failed; the Swarm carries on.
    WriteFailed {
        /// The peer whose data was being written.
        peer: PeerId,
        /// Why the write failed.
        error: String,
    },
    /// Making a run of writes durable failed: they may be lost in a crash.
    SyncFailed {
        /// Why the sync failed.
        error: String,
    },
}

enum Write {
    AddAddrs(PeerId, Vec<Multiaddr>, Ttl),
    RemoveAddrs(PeerId, Vec<Multiaddr>),
    Disconnected(PeerId),
    Info(PeerId, Box<PeerInfo>),
    Flush(Sender<()>),
    /// Ends the writer (other senders, such as [`StoredIdentify`], may outlive the store).
    Close,
}

#[derive(Default)]
struct Shared {
    events: VecDeque<Event>,
    waker: Option<Waker>,
    /// Addresses identify reported (through [`StoredIdentify`]), for memory: applied by the
    /// store's next poll (the disk write is already queued).
    identified: VecDeque<(PeerId, Vec<Multiaddr>)>,
}

/// One address in memory, with the expiry (unix seconds) and TTL it has on disk.
#[derive(Clone, Debug)]
struct Known {
    addr: Multiaddr,
    expiry: i64,
    ttl: Ttl,
}

/// The bounded in-memory view of the disk: peers by last update, addresses by expiry.
#[derive(Default)]
struct Memory {
    peers: HashMap<PeerId, (Vec<Known>, u64)>,
    by_update: BTreeMap<u64, PeerId>,
    tick: u64,
}

impl Memory {
    /// Puts `peer`'s addresses back after a change: expired ones dropped, latest-expiring first,
    /// capped; the peer marked as just updated; the least recently updated peers beyond the cap
    /// dropped.
    fn settle(&mut self, peer: PeerId, mut addrs: Vec<Known>, now: i64, options: &StoreOptions) {
        best_first(&mut addrs, now, options.max_addrs_per_peer);
        if let Some((_, tick)) = self.peers.remove(&peer) {
            self.by_update.remove(&tick);
        }
        if addrs.is_empty() {
            return;
        }
        self.tick += 1;
        self.by_update.insert(self.tick, peer);
        self.peers.insert(peer, (addrs, self.tick));
        while self.peers.len() > options.max_peers.max(1) {
            let Some((_, oldest)) = self.by_update.pop_first() else {
                break;
            };
            self.peers.remove(&oldest);
        }
    }

    fn take(&mut self, peer: &PeerId) -> Vec<Known> {
        match self.peers.remove(peer) {
            Some((addrs, tick)) => {
                self.by_update.remove(&tick);
                addrs
            }
            None => Vec::new(),
        }
    }
}

/// The addresses a peer's identify answer gives it: those of its signed record when it sent
/// one (for this peer), else its listen addresses; as the writer stores them.
fn info_addrs(peer: PeerId, info: &PeerInfo) -> Vec<Multiaddr> {
    let from_record: Option<Vec<Multiaddr>> = info
        .signed_peer_record
        .as_ref()
        .and_then(|raw| SignedPeerRecord::open(raw).ok())
        .filter(|r| r.record.peer_id == peer.to_bytes())
        .map(|r| {
            r.record
                .addrs
                .iter()
                .filter_map(|a| Multiaddr::try_from(a.clone()).ok())
                .collect()
        });
    from_record.unwrap_or_else(|| info.listen_addrs.clone())
}

/// Drops expired addresses, sorts the rest latest-expiring first and keeps `cap` of them.
fn best_first(addrs: &mut Vec<Known>, now: i64, cap: usize) {
    addrs.retain(|k| k.expiry > now);
    addrs.sort_by_key(|k| std::cmp::Reverse(k.expiry));
    addrs.truncate(cap);
}

/// A [`libp2p_peer_store::Store`] backed by a [`Peerstore`] (see the module docs).
pub struct PersistentStore {
    ps: Peerstore,
    options: StoreOptions,
    memory: Memory,
    /// Peers with a live connection: their connected-TTL addresses are downgraded when the last
    /// connection closes, or when the store is dropped with them still connected.
    connected: std::collections::HashSet<PeerId>,
    tx: Option<Sender<Write>>,
    shared: Arc<Mutex<Shared>>,
    writer: Option<JoinHandle<()>>,
}

impl PersistentStore {
    /// [`PersistentStore::with_options`] with the default [`StoreOptions`].
    pub fn new(ps: Peerstore) -> Result<PersistentStore> {
        PersistentStore::with_options(ps, StoreOptions::default())
    }

    /// Loads the stored addresses (of peers with valid libp2p peer IDs): the
    /// `options.max_peers` peers whose addresses last longest, `options.max_addrs_per_peer`
    /// addresses each; then starts the writer thread. Memory stays within those bounds
    /// whatever the size of the database.
    pub fn with_options(ps: Peerstore, options: StoreOptions) -> Result<PersistentStore> {
        let now = ps.now_nanos().div_euclid(1_000_000_000);
        // The best max_peers peers, by their longest-lasting address: a min-heap of the kept.
        let mut best: std::collections::BinaryHeap<std::cmp::Reverse<(i64, PeerId)>> =
            Default::default();
        let mut loaded: HashMap<PeerId, Vec<Known>> = HashMap::new();
        for raw in ps.peers_with_addrs()? {
            let Some(peer) = raw.to_peer_id() else {
                continue;
            };
            let mut known: Vec<Known> = ps
                .addr_entries(peer)?
                .into_iter()
                .filter_map(|e| {
                    Some(Known {
                        addr: e.multiaddr()?,
                        expiry: e.expiry,
                        ttl: e.ttl,
                    })
                })
                .collect();
            best_first(&mut known, now, options.max_addrs_per_peer);
            let Some(top) = known.first().map(|k| k.expiry) else {
                continue;
            };
            best.push(std::cmp::Reverse((top, peer)));
            loaded.insert(peer, known);
            if best.len() > options.max_peers.max(1)
                && let Some(std::cmp::Reverse((_, dropped))) = best.pop()
            {
                loaded.remove(&dropped);
            }
        }
        let mut memory = Memory::default();
        // Oldest first, so that the best peers count as the most recently updated.
        for std::cmp::Reverse((_, peer)) in best.into_sorted_vec().into_iter().rev() {
            if let Some(known) = loaded.remove(&peer) {
                memory.settle(peer, known, now, &options);
            }
        }
        let (tx, rx) = channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let writer = {
            let (ps, shared) = (ps.clone(), shared.clone());
            std::thread::Builder::new()
                .name("pstoreds-writer".into())
                .spawn(move || writer(ps, options, rx, shared))
                .map_err(crate::peerstore::Error::WriterThread)?
        };
        Ok(PersistentStore {
            ps,
            options,
            memory,
            connected: Default::default(),
            tx: Some(tx),
            shared,
            writer: Some(writer),
        })
    }

    /// The peerstore underneath (reads go straight to it; for writes prefer the store's
    /// methods, which keep the in-memory addresses current).
    pub fn peerstore(&self) -> &Peerstore {
        &self.ps
    }

    /// The options this store was made with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Peers with addresses in memory (expired ones included until they are next touched).
    pub fn known_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.memory.peers.keys()
    }

    /// Every unexpired address in memory, best first: those of connected peers, then by how
    /// long they last. For warming a DHT at startup:
    /// `for (peer, addr) in store.best_addresses() { kad.add_address(&peer, addr); }`.
    pub fn best_addresses(&self) -> Vec<(PeerId, Multiaddr)> {
        let now = self.now();
        let mut all: Vec<(bool, i64, PeerId, Multiaddr)> = self
            .memory
            .peers
            .iter()
            .flat_map(|(peer, (addrs, _))| {
                let connected = self.connected.contains(peer);
                addrs
                    .iter()
                    .filter(move |k| k.expiry > now)
                    .map(move |k| (connected, k.expiry, *peer, k.addr.clone()))
            })
            .collect();
        all.sort_by_key(|(connected, expiry, ..)| std::cmp::Reverse((*connected, *expiry)));
        all.into_iter().map(|(_, _, p, a)| (p, a)).collect()
    }

    /// Adds an address with `ttl` (extend semantics: a known address keeps the longer expiry),
    /// in memory and on disk.
    pub fn add_address(&mut self, peer: PeerId, addr: &Multiaddr, ttl: Ttl) {
        self.remember(peer, std::slice::from_ref(addr), ttl);
        self.send(Write::AddAddrs(peer, vec![addr.clone()], ttl));
    }

    /// Removes addresses, from memory and disk.
    pub fn remove_addresses(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        if addrs.is_empty() {
            return;
        }
        let now = self.now();
        let mut known = self.memory.take(&peer);
        known.retain(|k| !addrs.contains(&k.addr));
        self.memory.settle(peer, known, now, &self.options);
        self.send(Write::RemoveAddrs(peer, addrs.to_vec()));
    }

    /// Records what a peer told about itself: its key, protocols, agent and protocol version
    /// (as go-libp2p's identify stores them), and its addresses (from its signed record when it
    /// sent one, else its listen addresses), with the connected TTL.
    pub fn record_peer_info(&mut self, peer: PeerId, info: PeerInfo) {
        self.remember(peer, &info_addrs(peer, &info), Ttl::CONNECTED);
        self.send(Write::Info(peer, Box::new(info)));
    }

    /// identify's behaviour (made from `config`), storing what it learns in this store with no
    /// code of yours: put it in your `NetworkBehaviour` in place of `identify::Behaviour`. Its
    /// events are identify's, unchanged.
    pub fn identify(&self, config: libp2p_identify::Config) -> StoredIdentify {
        StoredIdentify {
            inner: libp2p_identify::Behaviour::new(config),
            tx: self.tx.clone(),
            shared: self.shared.clone(),
        }
    }

    /// identify's event, stored: call it with every `identify::Event` the Swarm yields (one
    /// line in the Swarm loop). `Received` is stored as [`PersistentStore::record_peer_info`]
    /// says; the other events carry nothing to store.
    pub fn on_identify(&mut self, event: &libp2p_identify::Event) {
        if let libp2p_identify::Event::Received { peer_id, info, .. } = event {
            self.record_peer_info(*peer_id, PeerInfo::from(info));
        }
    }

    /// Blocks until every write queued so far is on disk.
    pub fn flush(&self) {
        let (done_tx, done_rx) = channel();
        self.send(Write::Flush(done_tx));
        let _ = done_rx.recv();
    }

    fn now(&self) -> i64 {
        self.ps.now_nanos().div_euclid(1_000_000_000)
    }

    /// Merges addresses into memory as the disk will (extend semantics).
    fn remember(&mut self, peer: PeerId, new: &[Multiaddr], ttl: Ttl) {
        if new.is_empty() || ttl.0 <= 0 {
            return;
        }
        let now_nanos = self.ps.now_nanos();
        let exp = expiry(now_nanos, ttl.0);
        let mut known = self.memory.take(&peer);
        for a in new {
            match known.iter_mut().find(|k| &k.addr == a) {
                Some(k) => {
                    k.expiry = k.expiry.max(exp);
                    k.ttl = Ttl(k.ttl.0.max(ttl.0));
                }
                None => known.push(Known {
                    addr: a.clone(),
                    expiry: exp,
                    ttl,
                }),
            }
        }
        self.memory.settle(
            peer,
            known,
            now_nanos.div_euclid(1_000_000_000),
            &self.options,
        );
    }

    /// The last connection to `peer` closed: connected addresses now last the retention, in
    /// memory as on disk.
    fn disconnected(&mut self, peer: PeerId) {
        self.connected.remove(&peer);
        let now_nanos = self.ps.now_nanos();
        let exp = expiry(now_nanos, self.options.retention.0);
        let mut known = self.memory.take(&peer);
        for k in known.iter_mut().filter(|k| k.ttl == Ttl::CONNECTED) {
            k.ttl = self.options.retention;
            k.expiry = exp;
        }
        self.memory.settle(
            peer,
            known,
            now_nanos.div_euclid(1_000_000_000),
            &self.options,
        );
        self.send(Write::Disconnected(peer));
    }

    fn send(&self, w: Write) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(w);
        }
    }
}

impl Drop for PersistentStore {
    fn drop(&mut self) {
        // Shutting down ends every connection: connected addresses are kept for the retention
        // period, as when a connection closes.
        for peer in std::mem::take(&mut self.connected) {
            self.send(Write::Disconnected(peer));
        }
        // Ends the writer once it has written everything queued before.
        self.send(Write::Close);
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn writer(ps: Peerstore, options: StoreOptions, rx: Receiver<Write>, shared: Arc<Mutex<Shared>>) {
    let fail = |peer: PeerId, e: &dyn std::fmt::Display| {
        tracing::warn!(%peer, error = %e, "persisting peer data failed");
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        s.events.push_back(Event::WriteFailed {
            peer,
            error: e.to_string(),
        });
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    };
    // Everything queued is applied, then synced once (Peerstore::sync_once): a flush is
    // answered after that sync.
    while let Ok(first) = rx.recv() {
        let mut queued = vec![first];
        while queued.len() < 1024
            && let Ok(w) = rx.try_recv()
        {
            queued.push(w);
        }
        let mut flushes = Vec::new();
        let mut close = false;
        let synced = ps.sync_once(|| {
            for w in queued {
                apply(&ps, &options, w, &fail, &mut flushes, &mut close);
            }
            Ok(())
        });
        if let Err(e) = synced {
            tracing::warn!(error = %e, "syncing peer data failed");
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            s.events.push_back(Event::SyncFailed {
                error: e.to_string(),
            });
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
        if close {
            break;
        }
    }
}

/// Applies one queued write; a flush or close is noted for after the sync.
fn apply(
    ps: &Peerstore,
    options: &StoreOptions,
    w: Write,
    fail: &dyn Fn(PeerId, &dyn std::fmt::Display),
    flushes: &mut Vec<Sender<()>>,
    close: &mut bool,
) {
    if *close {
        return;
    }
    let (peer, result) = match w {
        Write::AddAddrs(peer, addrs, ttl) => (peer, ps.add_addrs(peer, &addrs, ttl)),
        // A TTL of zero removes them, as go-libp2p's SetAddrs.
        Write::RemoveAddrs(peer, addrs) => (peer, ps.set_addrs(peer, &addrs, Ttl(0))),
        Write::Disconnected(peer) => (
            peer,
            ps.update_addrs(peer, Ttl::CONNECTED, options.retention),
        ),
        Write::Info(peer, info) => (peer, store_info(ps, peer, &info)),
        Write::Flush(done) => {
            flushes.push(done);
            return;
        }
        Write::Close => {
            *close = true;
            return;
        }
    };
    if let Err(e) = result {
        fail(peer, &e);
    }
}

fn store_info(ps: &Peerstore, peer: PeerId, info: &PeerInfo) -> Result<()> {
    if let Some(k) = &info.public_key {
        ps.add_pub_key(peer, k)?;
    }
    if !info.protocols.is_empty() {
        ps.set_protocols(peer, &info.protocols)?;
    }
    if let Some(v) = &info.agent_version {
        ps.put(peer, "AgentVersion", &v.as_str().into())?;
    }
    if let Some(v) = &info.protocol_version {
        ps.put(peer, "ProtocolVersion", &v.as_str().into())?;
    }
    let consumed = match &info.signed_peer_record {
        Some(raw) => ps.consume_peer_record(raw, Ttl::CONNECTED).is_ok(),
        None => false,
    };
    if !consumed {
        ps.add_addrs(peer, &info.listen_addrs, Ttl::CONNECTED)?;
    }
    Ok(())
}

impl libp2p_peer_store::Store for PersistentStore {
    type Event = Event;

    fn on_swarm_event(&mut self, event: &FromSwarm<'_>) {
        match event {
            FromSwarm::NewExternalAddrOfPeer(e) => {
                self.add_address(e.peer_id, e.addr, Ttl::ADDRESS)
            }
            FromSwarm::ConnectionEstablished(e) => {
                self.connected.insert(e.peer_id);
                if let ConnectedPoint::Dialer { address, .. } = e.endpoint {
                    if self.options.remove_addr_on_dial_error {
                        self.remove_addresses(e.peer_id, e.failed_addresses);
                    }
                    self.add_address(e.peer_id, address, Ttl::CONNECTED);
                }
            }
            FromSwarm::ConnectionClosed(e) if e.remaining_established == 0 => {
                self.disconnected(e.peer_id);
            }
            FromSwarm::DialFailure(e) if self.options.remove_addr_on_dial_error => {
                let Some(peer) = e.peer_id else { return };
                match e.error {
                    DialError::Transport(errors) => {
                        let failed: Vec<Multiaddr> =
                            errors.iter().map(|(a, _)| a.clone()).collect();
                        self.remove_addresses(peer, &failed);
                    }
                    DialError::WrongPeerId { obtained, address } => {
                        self.remove_addresses(peer, std::slice::from_ref(address));
                        self.add_address(*obtained, address, Ttl::ADDRESS);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn addresses_of_peer(&self, peer: &PeerId) -> Option<impl Iterator<Item = &Multiaddr>> {
        let now = self.now();
        self.memory.peers.get(peer).map(move |(addrs, _)| {
            addrs
                .iter()
                .filter(move |k| k.expiry > now)
                .map(|k| &k.addr)
        })
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        let identified = {
            let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut s.identified)
        };
        for (peer, addrs) in identified {
            self.remember(peer, &addrs, Ttl::CONNECTED);
        }
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match s.events.pop_front() {
            Some(e) => Poll::Ready(e),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// identify's behaviour, storing what it learns in a [`PersistentStore`]
/// ([`PersistentStore::identify`]): the key, protocols, agent and protocol versions, listen
/// addresses and signed peer record of every peer that identifies itself, as go-libp2p's
/// identify stores them. Everything else is identify's, unchanged.
pub struct StoredIdentify {
    inner: libp2p_identify::Behaviour,
    tx: Option<Sender<Write>>,
    shared: Arc<Mutex<Shared>>,
}

impl StoredIdentify {
    /// The identify behaviour inside (to push info, or read its configuration).
    pub fn inner(&mut self) -> &mut libp2p_identify::Behaviour {
        &mut self.inner
    }

    fn store(&self, peer: PeerId, info: &libp2p_identify::Info) {
        let info = PeerInfo::from(info);
        let addrs = info_addrs(peer, &info);
        if let Some(tx) = &self.tx {
            let _ = tx.send(Write::Info(peer, Box::new(info)));
        }
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.identified.push_back((peer, addrs));
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl libp2p_swarm::NetworkBehaviour for StoredIdentify {
    type ConnectionHandler =
        <libp2p_identify::Behaviour as libp2p_swarm::NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = libp2p_identify::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: libp2p_swarm::ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> std::result::Result<(), libp2p_swarm::ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: libp2p_swarm::ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> std::result::Result<libp2p_swarm::THandler<Self>, libp2p_swarm::ConnectionDenied> {
        self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: libp2p_swarm::ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: libp2p_core::Endpoint,
    ) -> std::result::Result<Vec<Multiaddr>, libp2p_swarm::ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: libp2p_swarm::ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: libp2p_core::Endpoint,
        port_use: libp2p_core::transport::PortUse,
    ) -> std::result::Result<libp2p_swarm::THandler<Self>, libp2p_swarm::ConnectionDenied> {
        self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        self.inner.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: libp2p_swarm::ConnectionId,
        event: libp2p_swarm::THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event)
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<libp2p_swarm::ToSwarm<Self::ToSwarm, libp2p_swarm::THandlerInEvent<Self>>> {
        let polled = self.inner.poll(cx);
        if let Poll::Ready(libp2p_swarm::ToSwarm::GenerateEvent(
            libp2p_identify::Event::Received { peer_id, info, .. },
        )) = &polled
        {
            self.store(*peer_id, info);
        }
        polled
    }
}
