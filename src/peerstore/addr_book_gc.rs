//! Garbage collection of expired addresses (go-libp2p's `addr_book_gc.go`), in Go's two modes:
//!
//! - **purge-store** (lookahead 0): visit every record, drop expired addresses, write back what
//!   changed (delete what emptied);
//! - **lookahead**: index records whose first expiry falls within `now + lookahead` under
//!   `/peers/gc/addrs/<ts>/<B32>`; each purge visits only index entries with `ts <= now`.
//!   Renewing the window walks every record the first time only: the walk builds an in-memory
//!   index of first expiries (`expiry_index`) that every record write keeps up to date. Over
//!   its cap the index keeps the records that expire soonest; a window reaching past them is
//!   renewed by a walk again.
//!
//! Unlike go-libp2p, writes go out in real batches (one per chunk of records), and each chunk's
//! peers are locked while it is cleaned and written, so a purge never overwrites a concurrent
//! update (go-libp2p #1712).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::addr_book::clean;
use super::clock::expiry;
use super::expiry_index::ExpiryIndex;
use super::{Peerstore, Result};
use crate::codec::peer_key::{self, PeerKey};
use crate::codec::record::AddrBookRecord;
use crate::datastore::{Batch, Key, Op, Query};

/// Records handled per batch (and per round of peer locks).
const CHUNK: usize = 256;

/// What one GC run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Address records looked at (each once per cycle).
    pub records_visited: usize,
    /// Records written back with fewer addresses.
    pub records_updated: usize,
    /// Records deleted because no address was left.
    pub records_deleted: usize,
    /// Addresses removed.
    pub addrs_removed: usize,
    /// Lookahead index entries written.
    pub index_added: usize,
    /// Lookahead index entries removed (visited, or unparseable).
    pub index_removed: usize,
    /// Records skipped because they do not decode (left as they are).
    pub records_unreadable: usize,
}

#[derive(Debug, Default)]
pub(crate) struct GcState {
    /// Held while a GC pass runs: never two at once.
    running: Mutex<()>,
    /// End of the current lookahead window (unix seconds); `i64::MIN` before the first one.
    window_end: AtomicI64,
    background: Mutex<Option<(JoinHandle<()>, Sender<()>)>>,
    /// Lookahead mode: the first expiries of the records that expire soonest (`expiry_index`).
    index: Mutex<Option<ExpiryIndex>>,
}

fn is_multihash(b: &[u8]) -> bool {
    let mut rest = b;
    let Ok(_code) = prost::encoding::decode_varint(&mut rest) else {
        return false;
    };
    let Ok(len) = prost::encoding::decode_varint(&mut rest) else {
        return false;
    };
    len as usize == rest.len()
}

impl Peerstore {
    fn gc_lock(&self) -> MutexGuard<'_, ()> {
        self.inner
            .gc
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// One GC cycle now: in lookahead mode, renew the window if it has ended, then purge.
    pub fn gc(&self) -> Result<GcReport> {
        self.check_open()?;
        let mut report = GcReport::default();
        if !self.inner.opts.gc_lookahead_interval.is_zero()
            && self.inner.gc.window_end.load(Ordering::SeqCst) <= self.inner.clock.now_unix()
        {
            report = self.gc_populate_lookahead()?;
        }
        let purge = self.gc_purge()?;
        // The purge only visits records the lookahead pass has just indexed (it visited every
        // record): each record counts once.
        report.records_visited = report.records_visited.max(purge.records_visited);
        report.records_unreadable = report.records_unreadable.max(purge.records_unreadable);
        report.records_updated += purge.records_updated;
        report.records_deleted += purge.records_deleted;
        report.addrs_removed += purge.addrs_removed;
        report.index_added += purge.index_added;
        report.index_removed += purge.index_removed;
        Ok(report)
    }

    /// One purge: over the lookahead index when lookahead is on, else over every record.
    pub fn gc_purge(&self) -> Result<GcReport> {
        self.check_open()?;
        let _running = self.gc_lock();
        let report = if self.inner.opts.gc_lookahead_interval.is_zero() {
            self.purge_store()?
        } else {
            self.purge_lookahead()?
        };
        Ok(report)
    }

    /// Indexes every record whose first address expires within `now + lookahead`
    /// (does nothing when lookahead is off). The first renewal walks every record, as
    /// go-libp2p's do, and builds the in-memory expiry index on the way; later ones read only
    /// the records the index says expire in the window (`records_visited` stays 0). A renewal
    /// walks again (and builds the index afresh) when the window reaches past the records the
    /// index kept within `Options::gc_index_max_records`, and every renewal walks over a store
    /// shared with other processes (whose writes the index cannot see).
    pub fn gc_populate_lookahead(&self) -> Result<GcReport> {
        self.check_open()?;
        let lookahead = self.inner.opts.gc_lookahead_interval;
        let mut report = GcReport::default();
        if lookahead.is_zero() {
            return Ok(report);
        }
        let _running = self.gc_lock();
        let until = expiry(
            self.now_nanos(),
            i64::try_from(lookahead.as_nanos()).unwrap_or(i64::MAX),
        );
        let mut batch = Batch::new();
        // The due records are taken from the index (reference counts, not copies) and their
        // keys built after it is released: writes update it meanwhile.
        let due: Option<Vec<(i64, Arc<[u8]>)>> = match self.expiry_index().as_ref() {
            Some(ix) if ix.complete => {
                let due = ix
                    .due(until)
                    .map(|due| due.map(|(first, peer)| (first, peer.clone())).collect());
                if due.is_none() {
                    tracing::debug!(
                        records = ix.len(),
                        horizon = ix.horizon(),
                        "GC: the window reaches past what the expiry index kept \
                        (gc_index_max_records); renewed by walking every record"
                    );
                }
                due
            }
            _ => None,
        };
        match due {
            Some(due) => {
                for (first, peer) in due {
                    batch.push(Op::Put(peer_key::gc_key(first, &peer), Vec::new()));
                    report.index_added += 1;
                }
            }
            None => self.walk_for_lookahead(until, &mut report, &mut batch)?,
        }
        self.inner.ds.write(batch)?;
        self.inner.gc.window_end.store(until, Ordering::SeqCst);
        Ok(report)
    }

    /// go-libp2p's renewal: every record is read, those whose first expiry is at or before
    /// `until` are indexed. Builds the expiry index on the way (writes made meanwhile keep it
    /// up to date: each page is read with its peers locked).
    fn walk_for_lookahead(
        &self,
        until: i64,
        report: &mut GcReport,
        batch: &mut Batch,
    ) -> Result<()> {
        let cap = self.inner.opts.gc_index_max_records;
        let build = cap > 0 && self.inner.origins.is_none();
        *self.expiry_index() = build.then(|| ExpiryIndex::new(cap));
        let walked = self.walk_records(|records| {
            for walked in records {
                let peer = &walked.peer;
                report.records_visited += 1;
                let rec = match self.walked_record(walked) {
                    Ok(rec) => rec,
                    Err(e) => {
                        tracing::warn!(error = %e, "GC lookahead: record skipped");
                        report.records_unreadable += 1;
                        continue;
                    }
                };
                self.note_record_written(peer, rec.as_ref());
                if let Some(first) = rec.as_ref().and_then(AddrBookRecord::first_expiry)
                    && first <= until
                {
                    batch.push(Op::Put(peer_key::gc_key(first, peer), Vec::new()));
                    report.index_added += 1;
                }
            }
            Ok(())
        });
        let mut index = self.expiry_index();
        match (walked, index.as_mut()) {
            (Ok(()), Some(ix)) => ix.complete = true,
            (Ok(()), None) => {}
            (Err(e), _) => {
                *index = None;
                return Err(e);
            }
        }
        Ok(())
    }

    fn expiry_index(&self) -> MutexGuard<'_, Option<ExpiryIndex>> {
        self.inner
            .gc
            .index
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the lookahead GC's expiry index, if there is one, what `peer`'s address record is
    /// now (`None`: none): after a write succeeded, or as a walk read it, with the peer locked.
    pub(crate) fn note_record_written(&self, peer: &[u8], rec: Option<&AddrBookRecord>) {
        if self.inner.opts.gc_lookahead_interval.is_zero() {
            return;
        }
        if let Some(ix) = self.expiry_index().as_mut() {
            ix.set(peer, rec.and_then(AddrBookRecord::first_expiry));
        }
    }

    /// Cleans one record under its lock, as loaded; adds its write to the batch if it changed.
    fn purge_record(
        &self,
        peer: &[u8],
        loaded: Result<Option<AddrBookRecord>>,
        now_unix: i64,
        report: &mut GcReport,
        batch: &mut Batch,
        written: &mut Vec<(Vec<u8>, AddrBookRecord)>,
    ) -> Option<AddrBookRecord> {
        report.records_visited += 1;
        let mut rec = match loaded {
            Ok(Some(rec)) => rec,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "GC purge: record skipped");
                report.records_unreadable += 1;
                return None;
            }
        };
        let before = rec.addrs.len();
        if clean(&mut rec, now_unix, false) {
            report.addrs_removed += before - rec.addrs.len();
            if rec.addrs.is_empty() {
                report.records_deleted += 1;
            } else {
                report.records_updated += 1;
            }
            batch.push(Self::record_op(peer, &rec));
            written.push((peer.to_vec(), rec.clone()));
        }
        Some(rec)
    }

    fn purge_store(&self) -> Result<GcReport> {
        let now_unix = self.inner.clock.now_unix();
        let mut report = GcReport::default();
        self.walk_records(|records| {
            let (mut batch, mut written) = (Batch::new(), Vec::new());
            for walked in records {
                let loaded = self.walked_record(walked);
                let (report, batch, written) = (&mut report, &mut batch, &mut written);
                self.purge_record(&walked.peer, loaded, now_unix, report, batch, written);
            }
            self.write_gc_chunk(batch, written)
        })?;
        Ok(report)
    }

    fn purge_lookahead(&self) -> Result<GcReport> {
        let now_unix = self.inner.clock.now_unix();
        let window_end = self.inner.gc.window_end.load(Ordering::SeqCst);
        let mut report = GcReport::default();
        // Index keys: /peers/gc/addrs/<ts>/<B32>, visited in timestamp order.
        let mut due: Vec<(i64, Vec<u8>, Key)> = Vec::new();
        let mut batch = Batch::new();
        for e in self
            .inner
            .ds
            .query(&Query::keys(Key::new(peer_key::GC_ADDRS)))?
        {
            let Ok(key) = e.key() else { continue };
            match PeerKey::parse(key.as_str()) {
                Some(PeerKey::GcIndex { expiry, peer }) if is_multihash(&peer) => {
                    if expiry <= now_unix {
                        due.push((expiry, peer, key));
                    }
                }
                _ => {
                    // An entry this version cannot read: dropped, as go-libp2p does.
                    batch.push(Op::Delete(key));
                    report.index_removed += 1;
                }
            }
        }
        due.sort();
        let mut written = Vec::new();
        for chunk in due.chunks(CHUNK) {
            let _locks = self.lock_peers(chunk.iter().map(|(_, p, _)| p.as_slice()));
            for (_, peer, key) in chunk {
                batch.push(Op::Delete(key.clone()));
                report.index_removed += 1;
                let loaded = self.load_record(peer);
                let rec = self.purge_record(
                    peer,
                    loaded,
                    now_unix,
                    &mut report,
                    &mut batch,
                    &mut written,
                );
                if let Some(first) = rec.as_ref().and_then(AddrBookRecord::first_expiry)
                    && first <= window_end
                {
                    batch.push(Op::Put(peer_key::gc_key(first, peer), Vec::new()));
                    report.index_added += 1;
                }
            }
            self.write_gc_chunk(std::mem::take(&mut batch), std::mem::take(&mut written))?;
        }
        self.write_gc_chunk(batch, written)?;
        Ok(report)
    }

    /// Writes one chunk of a GC pass. Over a shared store, a chunk in which another process
    /// changed a record since we read it is left for the next pass (nothing of it is written;
    /// the other process's write stands).
    fn write_gc_chunk(&self, batch: Batch, written: Vec<(Vec<u8>, AddrBookRecord)>) -> Result<()> {
        match self.write_records(batch, written) {
            Err(super::Error::Datastore(crate::datastore::Error::Conflict { key })) => {
                tracing::info!(
                    key,
                    "GC: a record changed under us; its chunk waits for the next \
                    pass"
                );
                Ok(())
            }
            other => other,
        }
    }

    /// Starts the background GC thread if the purge interval is set.
    pub(crate) fn start_background_gc(&self) {
        let opts = &self.inner.opts;
        if opts.gc_purge_interval.is_zero() {
            return;
        }
        let (stop_tx, stop_rx) = channel();
        // The thread holds only a weak handle: dropping every Peerstore clone ends it.
        let weak = std::sync::Arc::downgrade(&self.inner);
        let clock = self.inner.clock.clone();
        let (delay, purge_every, lookahead_every) = (
            opts.gc_initial_delay,
            opts.gc_purge_interval,
            opts.gc_lookahead_interval,
        );
        let handle = std::thread::Builder::new()
            .name("pstoreds-gc".into())
            .spawn(move || background(weak, clock, stop_rx, delay, purge_every, lookahead_every));
        match handle {
            Ok(h) => {
                *self
                    .inner
                    .gc
                    .background
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some((h, stop_tx))
            }
            Err(e) => tracing::error!(error = %e, "could not start the GC thread"),
        }
    }

    pub(crate) fn stop_background_gc(&self) {
        let taken = self
            .inner
            .gc
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((handle, stop)) = taken {
            let _ = stop.send(());
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

/// The GC loop: wait the initial delay (on the peerstore's clock, as go-libp2p does), renew the
/// lookahead window, then purge every `purge_every` and renew the window every
/// `lookahead_every` (real time, as go-libp2p's tickers), until told to stop.
fn background(
    inner: std::sync::Weak<super::Inner>,
    clock: std::sync::Arc<dyn super::Clock>,
    stop: Receiver<()>,
    delay: Duration,
    purge_every: Duration,
    lookahead_every: Duration,
) {
    let wait = |d: Duration| !matches!(stop.recv_timeout(d), Err(RecvTimeoutError::Timeout));
    let start = clock.now_nanos();
    let delay_nanos = i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX);
    // Poll the clock, so that a mock clock moved past the delay starts the GC promptly.
    loop {
        let left = delay_nanos.saturating_sub(clock.now_nanos().saturating_sub(start));
        if left <= 0 {
            break;
        }
        let step = Duration::from_nanos(left as u64).min(Duration::from_millis(50));
        if wait(step) {
            return;
        }
    }
    let run = |f: &dyn Fn(&Peerstore) -> Result<GcReport>| -> bool {
        let Some(inner) = inner.upgrade() else {
            return false;
        };
        let ps = Peerstore { inner };
        match f(&ps) {
            Ok(r) => tracing::debug!(?r, "GC pass"),
            Err(super::Error::Closed) => return false,
            Err(e) => tracing::warn!(error = %e, "GC pass failed"),
        }
        true
    };
    let lookahead = !lookahead_every.is_zero();
    if lookahead && !run(&|ps| ps.gc_populate_lookahead()) {
        return;
    }
    let mut next_purge = Instant::now() + purge_every;
    let mut next_window = Instant::now() + lookahead_every;
    loop {
        let next = if lookahead {
            next_purge.min(next_window)
        } else {
            next_purge
        };
        if wait(next.saturating_duration_since(Instant::now())) {
            return;
        }
        let now = Instant::now();
        if lookahead && now >= next_window {
            if !run(&|ps| ps.gc_populate_lookahead()) {
                return;
            }
            next_window = now + lookahead_every;
        }
        if now >= next_purge {
            if !run(&|ps| ps.gc_purge()) {
                return;
            }
            next_purge = now + purge_every;
        }
    }
}
