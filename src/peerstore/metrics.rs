//! Latency metrics, in memory only (go-libp2p's `metrics.go`): an EWMA per peer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{Peerstore, RawPeerId};

/// go-libp2p's `LatencyEWMASmoothing`.
const SMOOTHING: f64 = 0.1;

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    latency: Mutex<HashMap<Vec<u8>, Duration>>,
}

impl Metrics {
    pub(crate) fn remove_peer(&self, peer: &[u8]) {
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(peer);
    }
}

impl Peerstore {
    /// Records a latency sample: the first sample is taken as is, later ones are blended in
    /// with weight 0.1.
    pub fn record_latency(&self, peer: impl Into<RawPeerId>, sample: Duration) {
        let peer = peer.into();
        let mut map = self
            .inner
            .metrics
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let next = match map.get(peer.as_bytes()) {
            None => sample,
            Some(old) => {
                let ewma = (1.0 - SMOOTHING) * old.as_nanos() as f64
                    + SMOOTHING * sample.as_nanos() as f64;
                Duration::from_nanos(ewma as u64)
            }
        };
        map.insert(peer.as_bytes().to_vec(), next);
    }

    /// Forgets the peer's latency samples (its EWMA reads zero again), leaving everything else.
    pub fn clear_latency(&self, peer: impl Into<RawPeerId>) {
        self.inner.metrics.remove_peer(peer.into().as_bytes());
    }

    /// The peer's latency EWMA; zero if no sample was recorded.
    pub fn latency_ewma(&self, peer: impl Into<RawPeerId>) -> Duration {
        let peer = peer.into();
        self.inner
            .metrics
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(peer.as_bytes())
            .copied()
            .unwrap_or_default()
    }
}
