//! The peerstore as a [`libp2p_peer_store::Store`], so that a rust-libp2p `Swarm` keeps what it
//! learns about peers across restarts (feature `libp2p`).
//!
//! Addresses are served from memory (loaded when the store is made, kept current as the Swarm
//! learns); every write goes to a writer thread, so disk I/O never stalls the Swarm's poll loop.
//! TTLs follow go-libp2p: an address dialled on a live connection is kept with the connected
//! TTL; addresses other behaviours report get the address TTL. When the last connection to a
//! peer closes (or the node shuts down), its addresses are kept for [`StoreOptions::retention`]:
//! 7 days by default, so that a node restarted the next day finds its peers again; go-libp2p
//! keeps them 15 minutes ([`Ttl::RECENTLY_CONNECTED`], one setting away). What is stored is an
//! ordinary TTL: a Go node reading the database sees nothing unusual.
//!
//! ```no_run
//! use libp2p_peer_store::Behaviour;
//! use pstoreds::libp2p_store::PersistentStore;
//! use pstoreds::peerstore::Options;
//!
//! let store = PersistentStore::new(Options::new().open_leveldb("peerstore")?)?;
//! let behaviour = Behaviour::new(store); // put it in your NetworkBehaviour
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use libp2p_core::ConnectedPoint;
use libp2p_identity::{PeerId, PublicKey};
use libp2p_swarm::FromSwarm;
use multiaddr::Multiaddr;

use crate::peerstore::{Peerstore, Result, Ttl};

/// How a [`PersistentStore`] keeps addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long the addresses of a peer we were connected to are kept after the last connection
    /// closes or the node shuts down. Default: [`StoreOptions::DEFAULT_RETENTION`] (7 days).
    /// go-libp2p's behaviour: [`Ttl::RECENTLY_CONNECTED`] (15 minutes).
    pub retention: Ttl,
}

impl StoreOptions {
    /// 7 days: a node restarted the next day (or after a week's holiday) still knows its peers.
    pub const DEFAULT_RETENTION: Ttl = Ttl(7 * 24 * 3600 * 1_000_000_000);
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention: StoreOptions::DEFAULT_RETENTION,
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
}

enum Write {
    AddAddrs(PeerId, Vec<Multiaddr>, Ttl),
    Disconnected(PeerId),
    Info(PeerId, Box<PeerInfo>),
    Flush(Sender<()>),
}

#[derive(Default)]
struct Shared {
    events: VecDeque<Event>,
    waker: Option<Waker>,
}

/// A [`libp2p_peer_store::Store`] backed by a [`Peerstore`] (see the module docs).
pub struct PersistentStore {
    ps: Peerstore,
    addrs: HashMap<PeerId, Vec<Multiaddr>>,
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

    /// Loads the stored addresses of every peer (those with valid libp2p peer IDs) and starts
    /// the writer thread.
    pub fn with_options(ps: Peerstore, options: StoreOptions) -> Result<PersistentStore> {
        let mut addrs = HashMap::new();
        for raw in ps.peers_with_addrs()? {
            let Some(peer) = raw.to_peer_id() else {
                continue;
            };
            let a = ps.addrs(peer)?;
            if !a.is_empty() {
                addrs.insert(peer, a);
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
            addrs,
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

    /// Peers with known addresses.
    pub fn known_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.addrs.keys()
    }

    /// Records what a peer told about itself: its key, protocols, agent and protocol version
    /// (as go-libp2p's identify stores them), and its addresses (from its signed record when it
    /// sent one, else its listen addresses), with the connected TTL.
    pub fn record_peer_info(&mut self, peer: PeerId, info: PeerInfo) {
        self.remember(peer, &info.listen_addrs);
        self.send(Write::Info(peer, Box::new(info)));
    }

    /// Blocks until every write queued so far is on disk.
    pub fn flush(&self) {
        let (done_tx, done_rx) = channel();
        self.send(Write::Flush(done_tx));
        let _ = done_rx.recv();
    }

    fn remember(&mut self, peer: PeerId, new: &[Multiaddr]) {
        let known = self.addrs.entry(peer).or_default();
        for a in new {
            if !known.contains(a) {
                known.push(a.clone());
            }
        }
    }

    fn add(&mut self, peer: PeerId, addr: &Multiaddr, ttl: Ttl) {
        self.remember(peer, std::slice::from_ref(addr));
        self.send(Write::AddAddrs(peer, vec![addr.clone()], ttl));
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
        self.tx.take(); // ends the writer once it has written everything queued
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
    for w in rx {
        match w {
            Write::AddAddrs(peer, addrs, ttl) => {
                if let Err(e) = ps.add_addrs(peer, &addrs, ttl) {
                    fail(peer, &e);
                }
            }
            Write::Disconnected(peer) => {
                if let Err(e) = ps.update_addrs(peer, Ttl::CONNECTED, options.retention) {
                    fail(peer, &e);
                }
            }
            Write::Info(peer, info) => {
                if let Err(e) = store_info(&ps, peer, &info) {
                    fail(peer, &e);
                }
            }
            Write::Flush(done) => {
                let _ = done.send(());
            }
        }
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
            FromSwarm::NewExternalAddrOfPeer(e) => self.add(e.peer_id, e.addr, Ttl::ADDRESS),
            FromSwarm::ConnectionEstablished(e) => {
                self.connected.insert(e.peer_id);
                if let ConnectedPoint::Dialer { address, .. } = e.endpoint {
                    self.add(e.peer_id, address, Ttl::CONNECTED);
                }
            }
            FromSwarm::ConnectionClosed(e) if e.remaining_established == 0 => {
                self.connected.remove(&e.peer_id);
                self.send(Write::Disconnected(e.peer_id));
            }
            _ => {}
        }
    }

    fn addresses_of_peer(&self, peer: &PeerId) -> Option<impl Iterator<Item = &Multiaddr>> {
        self.addrs.get(peer).map(|a| a.iter())
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
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
