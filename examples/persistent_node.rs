//! Two libp2p nodes on loopback TCP. The dialer keeps its peerstore on disk (pstoreds, in
//! go-libp2p's layout): the first run connects to the listener through a bootstrap address and
//! persists what identify taught it; a second run, restarted with no bootstrap address, finds
//! the listener in the store and reconnects.
//!
//! ```text
//! cargo run --example persistent_node --features libp2p -- listen
//!   listening on /ip4/127.0.0.1/tcp/41234/p2p/12D3KooW...
//! cargo run --example persistent_node --features libp2p -- dial ./dialer-db
//! /ip4/127.0.0.1/tcp/41234/p2p/12D3KooW...
//! cargo run --example persistent_node --features libp2p -- dial ./dialer-db
//!   reconnected to 12D3KooW... from the store
//! ```

#![allow(dead_code)] // the integration test uses these functions through `#[path]`

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, Swarm, SwarmEvent};
use libp2p::{Multiaddr, PeerId, SwarmBuilder, identify, noise, tcp, yamux};
use pstoreds::libp2p_store::{PersistentStore, StoredIdentify, libp2p_peer_store};
use pstoreds::peerstore::{Options, Peerstore};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub const AGENT: &str = "pstoreds-example/0.1";

#[derive(NetworkBehaviour)]
pub struct Node {
    /// identify, storing what it learns in the peer store (no code of ours).
    identify: StoredIdentify,
    peers: libp2p_peer_store::Behaviour<PersistentStore>,
}

/// A Swarm whose peer store lives in `ps`.
pub fn swarm(key: Keypair, ps: Peerstore) -> Result<Swarm<Node>, Error> {
    let store = PersistentStore::new(ps)?;
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|key| Node {
            identify: store.identify(
                identify::Config::new("/pstoreds-example/1.0.0".into(), key.public())
                    .with_agent_version(AGENT.into()),
            ),
            peers: libp2p_peer_store::Behaviour::new(store),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    Ok(swarm)
}

/// Listens on loopback; sends its full address (with `/p2p/<id>`) once, then serves forever.
pub async fn listen(ready: tokio::sync::oneshot::Sender<Multiaddr>) -> Result<(), Error> {
    let key = Keypair::generate_ed25519();
    let id = key.public().to_peer_id();
    let mut swarm = swarm(key, Options::new().open_memory()?)?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let mut ready = Some(ready);
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await
            && let Some(tx) = ready.take()
        {
            let _ = tx.send(address.with_p2p(id).map_err(|_| "bad listen address")?);
        }
    }
}

/// Dials `bootstrap`, or, without it, every peer the store at `db` knows; returns the first peer
/// that identifies itself, after persisting what it said.
pub async fn dial(db: &Path, bootstrap: Option<Multiaddr>) -> Result<PeerId, Error> {
    dial_with(Options::new(), db, bootstrap).await
}

/// [`dial`] with the peerstore opened with `options` (a test moves its clock forward).
pub async fn dial_with(
    options: Options,
    db: &Path,
    bootstrap: Option<Multiaddr>,
) -> Result<PeerId, Error> {
    let ps = options.open_leveldb(db)?;
    let mut swarm = swarm(Keypair::generate_ed25519(), ps)?;
    match bootstrap {
        Some(addr) => swarm.dial(addr)?,
        None => {
            let known: Vec<PeerId> = swarm
                .behaviour()
                .peers
                .store()
                .known_peers()
                .copied()
                .collect();
            if known.is_empty() {
                return Err(format!(
                    "no peer in the store at {}: give a bootstrap address",
                    db.display()
                )
                .into());
            }
            for peer in known {
                // The peer store behaviour supplies the stored addresses.
                swarm.dial(DialOpts::peer_id(peer).build())?;
            }
        }
    }
    loop {
        match swarm.select_next_some().await {
            // What identify learned is already stored; wait for it to be on disk, and done.
            SwarmEvent::Behaviour(NodeEvent::Identify(identify::Event::Received {
                peer_id,
                ..
            })) => {
                swarm.behaviour().peers.store().flush();
                return Ok(peer_id);
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => return Err(error.into()),
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["listen"] => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let node = tokio::spawn(listen(tx));
            println!("listening on {}", rx.await?);
            node.await??;
        }
        ["dial", db] => {
            let peer = dial(Path::new(db), None).await?;
            println!("reconnected to {peer} from the store");
        }
        ["dial", db, addr] => {
            let peer = dial(Path::new(db), Some(addr.parse()?)).await?;
            println!("connected to {peer}; what it told is in {db}");
        }
        _ => {
            eprintln!("usage: persistent_node listen | dial DB [BOOTSTRAP_ADDR]");
            std::process::exit(2);
        }
    }
    Ok(())
}
