//! Address streams: a peer's addresses now, then each new one as it is added.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures_core::Stream;
use multiaddr::Multiaddr;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::{Peerstore, RawPeerId, Result};

/// Subscribers by peer. Senders are unbounded, so a slow subscriber never blocks a writer; a
/// dropped one is forgotten at the next broadcast.
#[derive(Debug, Default)]
pub(crate) struct AddrSubs {
    subs: Mutex<HashMap<Vec<u8>, Vec<UnboundedSender<Multiaddr>>>>,
}

impl AddrSubs {
    pub(crate) fn broadcast(&self, peer: &[u8], added: &[Vec<u8>]) {
        if added.is_empty() {
            return;
        }
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = subs.get_mut(peer) else {
            return;
        };
        let addrs: Vec<Multiaddr> = added
            .iter()
            .filter_map(|a| Multiaddr::try_from(a.clone()).ok())
            .collect();
        list.retain(|tx| addrs.iter().all(|a| tx.send(a.clone()).is_ok()));
        if list.is_empty() {
            subs.remove(peer);
        }
    }

    fn subscribe(&self, peer: &[u8]) -> UnboundedReceiver<Multiaddr> {
        let (tx, rx) = unbounded_channel();
        self.subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(peer.to_vec())
            .or_default()
            .push(tx);
        rx
    }

    pub(crate) fn close_all(&self) {
        self.subs.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A stream of one peer's addresses: those known when it was made, then every new one, each
/// address once. It ends when the peerstore closes; dropping it unsubscribes.
#[derive(Debug)]
pub struct AddrStream {
    initial: VecDeque<Multiaddr>,
    rx: UnboundedReceiver<Multiaddr>,
    seen: HashSet<Multiaddr>,
}

impl Stream for AddrStream {
    type Item = Multiaddr;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Multiaddr>> {
        let this = self.get_mut();
        while let Some(a) = this.initial.pop_front() {
            if this.seen.insert(a.clone()) {
                return Poll::Ready(Some(a));
            }
        }
        loop {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(a)) => {
                    if this.seen.insert(a.clone()) {
                        return Poll::Ready(Some(a));
                    }
                }
                other => return other,
            }
        }
    }
}

impl Peerstore {
    /// A stream of the peer's addresses (see [`AddrStream`]).
    pub fn addr_stream(&self, peer: impl Into<RawPeerId>) -> Result<AddrStream> {
        let peer = peer.into();
        self.check_open()?;
        // Subscribe first, then read: an address added in between is seen (once) either way.
        let rx = self.inner.subs.subscribe(peer.as_bytes());
        let initial = self.addrs(&peer)?.into();
        Ok(AddrStream {
            initial,
            rx,
            seen: HashSet::new(),
        })
    }
}
