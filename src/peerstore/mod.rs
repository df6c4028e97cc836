//! The persistent peerstore: go-libp2p's `pstoreds` in Rust, over any [`Datastore`].
//!
//! One [`Peerstore`] holds the four books of go-libp2p, each in its own file as in Go:
//! the address book with signed peer records (`addr_book.rs`, GC in `addr_book_gc.rs`), the key
//! book (`key_book.rs`), peer metadata (`metadata.rs`) and the protocol book (`proto_book.rs`),
//! plus latency metrics (`metrics.rs`). It stores exactly what go-libp2p v0.48.0 stores.
//!
//! ```
//! use pstoreds::peerstore::{Peerstore, Options, Ttl};
//! use libp2p_identity::Keypair;
//!
//! let dir = tempfile::tempdir()?;
//! let peer = Keypair::generate_ed25519().public().to_peer_id();
//! let addr: multiaddr::Multiaddr = "/ip4/10.0.0.1/tcp/4001".parse()?;
//! {
//!     let ps = Options::new().open_leveldb(dir.path())?;
//!     ps.add_addrs(peer, &[addr.clone()], Ttl::PERMANENT)?;
//!     ps.put(peer, "AgentVersion", &"my-node/1.0".into())?;
//!     ps.close()?;
//! }
//! let ps = Options::new().open_leveldb(dir.path())?;
//! assert_eq!(ps.addrs(peer)?, vec![addr]);
//! assert_eq!(ps.get(peer, "AgentVersion")?, Some("my-node/1.0".into()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod addr_book;
mod addr_book_gc;
mod batch;
mod cache;
mod clock;
mod expiry_index;
mod key_book;
mod metadata;
mod metrics;
mod options;
mod peer;
mod proto_book;
mod record_cap;
mod streams;
mod ttl;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_cache::ArcCache;

pub use addr_book::AddrEntryInfo;
pub use addr_book_gc::GcReport;
pub use batch::PeerstoreBatch;
#[cfg(feature = "libp2p")]
pub(crate) use clock::expiry;
pub use clock::{Clock, MockClock, SystemClock};
pub use options::Options;
pub use peer::RawPeerId;
pub use streams::AddrStream;
pub use ttl::Ttl;

use crate::codec::peer_key;
use crate::codec::{self, record::AddrBookRecord};
use crate::datastore::{self, Datastore, Key, Query};

/// What a peerstore operation can fail with. Every variant names the peer or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage underneath failed (see [`datastore::Error`]: damage, a failed write, a lock).
    #[error(transparent)]
    Datastore(#[from] datastore::Error),
    /// A stored value does not decode; it is left as it is (`pstore verify` lists such values).
    #[error("stored value at {key} does not decode: {source}")]
    Corrupt {
        /// The datastore key of the value.
        key: String,
        /// Why it does not decode.
        #[source]
        source: codec::Error,
    },
    /// A key given to the key book does not decode, or (a `Keypair`) cannot be encoded.
    #[error("peer {peer}: the {which} key is unusable: {source}")]
    BadKey {
        /// The peer the key was given for.
        peer: String,
        /// `"public"` or `"private"`.
        which: &'static str,
        /// Why the key cannot be used.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A key given for a peer whose ID it does not match (go-libp2p: "ID does not match").
    #[error("peer {peer}: ID does not match the {which} key")]
    KeyMismatch {
        /// The peer the key was given for.
        peer: String,
        /// `"public"` or `"private"`.
        which: &'static str,
    },
    /// A metadata name that would leave the peer's folder (`a/b`, `..`), or a value that
    /// cannot be gob-encoded.
    #[error("peer {peer}: metadata {name:?}: {source}")]
    BadMetadata {
        /// The peer.
        peer: String,
        /// The metadata name.
        name: String,
        /// What is wrong with the name or the value.
        #[source]
        source: codec::Error,
    },
    /// A signed peer record that does not verify, or is for another peer.
    #[error("peer {peer}: the signed peer record is refused: {source}")]
    PeerRecord {
        /// The peer the record was offered for.
        peer: String,
        /// Why it is refused.
        #[source]
        source: codec::Error,
    },
    /// More protocols than `Options::max_protocols` allows (counted before de-duplication, as
    /// go-libp2p counts).
    #[error(
        "peer {peer}: too many protocols ({count} > {max}; raise Options::max_protocols to \
            allow more)"
    )]
    TooManyProtocols {
        /// The peer.
        peer: String,
        /// How many protocols the call would leave (before de-duplication).
        count: usize,
        /// The limit (`Options::max_protocols`).
        max: usize,
    },
    /// Options that contradict each other or cannot be honoured (the message says which).
    #[error("invalid options: {0}")]
    Options(String),
    /// The rust-libp2p store's writer thread could not be started.
    #[error("cannot start the writer thread: {0}")]
    WriterThread(#[source] std::io::Error),
    /// The peerstore was closed.
    #[error("the peerstore is closed")]
    Closed,
}

/// What peerstore operations return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The value stored at `key` does not decode.
    pub(crate) fn corrupt(key: &datastore::Key, source: codec::Error) -> Error {
        Error::Corrupt {
            key: key.to_string(),
            source,
        }
    }
}

const STRIPES: usize = 256;

/// A peerstore over a datastore. Cheap to clone (all clones share one store); `Send + Sync`.
#[derive(Clone)]
pub struct Peerstore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Peerstore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peerstore")
            .field("options", &self.inner.opts)
            .finish()
    }
}

pub(crate) struct Inner {
    ds: Arc<dyn Datastore>,
    opts: Options,
    clock: Arc<dyn Clock>,
    /// Per-peer locks: every read-modify-write of a peer's address record holds its stripe, so
    /// concurrent operations on one peer (a signed record and an address update, say) never
    /// interleave, and the cache never holds anything but what the store holds.
    stripes: Vec<Mutex<()>>,
    /// Address records by raw peer ID, as stored (`None`: known to be absent).
    cache: Option<Mutex<cache::RecordCache>>,
    subs: streams::AddrSubs,
    metrics: metrics::Metrics,
    gc: addr_book_gc::GcState,
    /// A record was created since the record cap was last checked.
    maybe_over_cap: AtomicBool,
    /// Shared stores only ([`Datastore::is_shared`]): the bytes each address record had when
    /// it was loaded (`None`: absent), by raw peer ID, so that its write applies only if no
    /// other process changed it meanwhile. An entry lives while its peer is locked.
    origins: Option<Mutex<Origins>>,
    closed: AtomicBool,
}

impl Peerstore {
    /// Reads `key` and decodes it with `decode`; a value that does not decode is
    /// [`Error::Corrupt`], naming the key. The one reader every book uses.
    pub(crate) fn read_decoded<T>(
        &self,
        key: &datastore::Key,
        decode: impl FnOnce(&[u8]) -> codec::Result<T>,
    ) -> Result<Option<T>> {
        Ok(self.read_decoded_with_bytes(key, decode)?.map(|(v, _)| v))
    }

    /// [`Peerstore::read_decoded`], keeping the bytes read too: a conditional write over a
    /// shared store expects them.
    pub(crate) fn read_decoded_with_bytes<T>(
        &self,
        key: &datastore::Key,
        decode: impl FnOnce(&[u8]) -> codec::Result<T>,
    ) -> Result<Option<(T, Vec<u8>)>> {
        match self.inner.ds.get(key)? {
            None => Ok(None),
            Some(bytes) => match decode(&bytes) {
                Ok(v) => Ok(Some((v, bytes))),
                Err(source) => Err(Error::corrupt(key, source)),
            },
        }
    }

    pub(crate) fn from_parts(ds: Arc<dyn Datastore>, opts: Options) -> Result<Peerstore> {
        opts.validate()?;
        let shared = ds.is_shared();
        // Over a shared store another process may replace any record at any time: a cached
        // record could be stale, so there is no cache, and every read sees the latest commit.
        let cache = match opts.cache_size {
            _ if shared => None,
            0 => None,
            n => Some(Mutex::new(
                ArcCache::with_hasher(n, ahash::RandomState::new())
                    .map_err(|e| Error::Options(e.to_string()))?,
            )),
        };
        let inner = Arc::new(Inner {
            ds,
            clock: opts.clock.clone(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            cache,
            subs: Default::default(),
            metrics: Default::default(),
            gc: Default::default(),
            maybe_over_cap: AtomicBool::new(true),
            origins: shared.then(Default::default),
            closed: AtomicBool::new(false),
            opts,
        });
        let ps = Peerstore { inner };
        ps.start_background_gc();
        Ok(ps)
    }

    /// The options this peerstore was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// The datastore underneath. Reads and writes through it bypass the peerstore's per-peer
    /// locks and its cache: the cache may then serve a record the datastore no longer holds.
    /// Meant for tools that inspect or repair a database, not for a running node.
    pub fn datastore(&self) -> &Arc<dyn Datastore> {
        &self.inner.ds
    }

    pub(crate) fn now_nanos(&self) -> i64 {
        self.inner.clock.now_nanos()
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Locks one peer's stripe.
    pub(crate) fn lock_peer(&self, peer: &[u8]) -> PeerLock<'_> {
        let guard = self.inner.stripes[stripe_of(peer)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        PeerLock {
            ps: self,
            peers: match self.inner.origins {
                Some(_) => vec![peer.to_vec()],
                None => Vec::new(),
            },
            _guards: Guards::One(guard),
        }
    }

    /// Locks several peers' stripes, in stripe order (so two callers never deadlock).
    pub(crate) fn lock_peers<'a>(&self, peers: impl Iterator<Item = &'a [u8]>) -> PeerLock<'_> {
        let mut held = Vec::new();
        let mut stripes: Vec<usize> = peers
            .map(|p| {
                if self.inner.origins.is_some() {
                    held.push(p.to_vec());
                }
                stripe_of(p)
            })
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let guards = stripes
            .into_iter()
            .map(|s| {
                self.inner.stripes[s]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
            })
            .collect();
        PeerLock {
            ps: self,
            peers: held,
            _guards: Guards::Many(guards),
        }
    }

    /// Runs a read-modify-write of address records (with the peers locked) until it is not
    /// refused for a conflict: over a shared store, another process may have changed a record
    /// between our read and our write, and the write then applies nothing
    /// ([`datastore::Error::Conflict`]); each attempt reads again.
    pub(crate) fn retry_conflicts<T>(&self, mut f: impl FnMut() -> Result<T>) -> Result<T> {
        let mut attempt = 0u32;
        loop {
            match f() {
                Err(Error::Datastore(datastore::Error::Conflict { key })) if attempt < 64 => {
                    tracing::debug!(key, attempt, "record changed by another writer; retrying");
                    attempt += 1;
                    // Spread out writers that keep colliding on one record.
                    std::thread::sleep(std::time::Duration::from_micros(
                        (u64::from(attempt) * 200).min(20_000),
                    ));
                }
                other => return other,
            }
        }
    }

    /// Visits every address record, a page of [`RECORD_CHUNK`] at a time, with the page's peers
    /// locked while `each_chunk` runs: the one walk the GC and the record cap share. Each
    /// record comes with its bytes, read in one scan after the locks were taken (so they are
    /// what the store holds while the chunk is handled); one page of keys is in memory at a
    /// time, whatever the size of the database.
    pub(crate) fn walk_records(
        &self,
        mut each_chunk: impl FnMut(&[Walked]) -> Result<()>,
    ) -> Result<()> {
        let prefix = Key::new(peer_key::ADDRS);
        self.each_key_page(&prefix, RECORD_CHUNK, |after, listed| {
            if listed.is_empty() {
                return Ok(());
            }
            let peers: Vec<Vec<u8>> = listed
                .iter()
                .filter_map(|e| peer_key::record_peer(&e.key_lossy()))
                .collect();
            let _locks = self.lock_peers(peers.iter().map(Vec::as_slice));
            // The same range again, with values, now that nobody can change these records.
            let after = after.map(<[u8]>::to_vec);
            let mut stored: HashMap<Vec<u8>, Vec<u8>> = self
                .inner
                .ds
                .query(&Query::prefix(prefix.clone()).page(after, listed.len()))?
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect();
            let mut walked = Vec::with_capacity(peers.len());
            for peer in peers {
                let key = peer_key::addrs_key(&peer);
                let bytes = match stored.remove(key.as_bytes()) {
                    Some(bytes) => Some(bytes),
                    // Keys written since the listing pushed it past the page: read it alone.
                    None => self.inner.ds.get(&key)?,
                };
                walked.push(Walked { peer, bytes });
            }
            each_chunk(&walked)
        })
    }

    /// One page of the keys under `prefix` (values left out): at most `size` keys after
    /// `after`, and the key the next page starts after (`None`: this was the last).
    fn key_page(
        &self,
        prefix: &Key,
        after: Option<Vec<u8>>,
        size: usize,
    ) -> Result<(Vec<datastore::Entry>, Option<Vec<u8>>)> {
        let page = self
            .inner
            .ds
            .query(&Query::keys(prefix.clone()).page(after, size))?;
        let next = match page.last() {
            Some(e) if page.len() == size => Some(e.key.clone()),
            _ => None,
        };
        Ok((page, next))
    }

    /// Reads the keys under `prefix` (values left out) a page of `size` at a time, calling `f`
    /// with each page and the key it starts after: the paging every walk shares.
    fn each_key_page(
        &self,
        prefix: &Key,
        size: usize,
        mut f: impl FnMut(Option<&[u8]>, Vec<datastore::Entry>) -> Result<()>,
    ) -> Result<()> {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let (page, next) = self.key_page(prefix, after.clone(), size)?;
            f(after.as_deref(), page)?;
            match next {
                Some(key) => after = Some(key),
                None => return Ok(()),
            }
        }
    }

    /// A record met by [`Peerstore::walk_records`], decoded; over a shared store its bytes
    /// become the condition of the record's next write, as a read's do.
    pub(crate) fn walked_record(&self, walked: &Walked) -> Result<Option<AddrBookRecord>> {
        let rec = match &walked.bytes {
            None => None,
            Some(bytes) => Some(
                AddrBookRecord::decode(bytes)
                    .map_err(|source| Error::corrupt(&peer_key::addrs_key(&walked.peer), source))?,
            ),
        };
        if let Some(origins) = &self.inner.origins {
            origins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(walked.peer.clone(), walked.bytes.clone());
        }
        Ok(rec)
    }

    /// Decodes the peer segment of every key under `prefix`, skipping keys whose segment is not
    /// base32 (as Go does), in key order, each peer once.
    pub(crate) fn peers_under(&self, prefix: &Key) -> Result<Vec<RawPeerId>> {
        let mut out = Vec::new();
        self.each_peer_under(prefix, |peer| out.push(peer))?;
        Ok(out)
    }

    /// Calls `f` with the peer of every key under `prefix` (consecutive keys of one peer: once),
    /// reading the keys a page at a time: only one page of keys is in memory.
    fn each_peer_under(&self, prefix: &Key, mut f: impl FnMut(RawPeerId)) -> Result<()> {
        let mut walk = PeerSegments::new(self, prefix);
        while let Some(seg) = walk.next()? {
            if let Some(peer) = decode_listed(prefix, &seg) {
                f(peer);
            }
        }
        Ok(())
    }

    /// Every peer with addresses or keys (Go's `Peers()`: metadata-only peers are not listed),
    /// sorted. The two books are walked side by side in key order, a page of each at a time, so
    /// a peer in both is decoded once and the listing holds the result and two pages.
    pub fn peers(&self) -> Result<Vec<RawPeerId>> {
        self.check_open()?;
        let (addrs_key, keys_key) = (Key::new(peer_key::ADDRS), Key::new(peer_key::KEYS));
        let mut addrs = PeerSegments::new(self, &addrs_key);
        let mut keys = PeerSegments::new(self, &keys_key);
        let (mut a, mut k) = (addrs.next()?, keys.next()?);
        let mut all = Vec::new();
        loop {
            let (seg, prefix) = match (a.take(), k.take()) {
                (None, None) => break,
                (Some(x), None) => {
                    a = addrs.next()?;
                    (x, &addrs_key)
                }
                (None, Some(y)) => {
                    k = keys.next()?;
                    (y, &keys_key)
                }
                (Some(x), Some(y)) => match x.cmp(&y) {
                    std::cmp::Ordering::Less => {
                        (a, k) = (addrs.next()?, Some(y));
                        (x, &addrs_key)
                    }
                    std::cmp::Ordering::Greater => {
                        (a, k) = (Some(x), keys.next()?);
                        (y, &keys_key)
                    }
                    std::cmp::Ordering::Equal => {
                        (a, k) = (addrs.next()?, keys.next()?);
                        (x, &addrs_key)
                    }
                },
            };
            if let Some(peer) = decode_listed(prefix, &seg) {
                all.push(peer);
            }
        }
        // Segments in another letter case name the same peer.
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    /// The peer's current addresses (Go's `PeerInfo`).
    pub fn peer_info(
        &self,
        peer: impl Into<RawPeerId>,
    ) -> Result<(RawPeerId, Vec<multiaddr::Multiaddr>)> {
        let peer = peer.into();
        let addrs = self.addrs(&peer)?;
        Ok((peer, addrs))
    }

    /// Runs `f` with its writes applied at once but synced together at the end: one journal
    /// sync for all of them instead of one each (LevelDB under `SyncPolicy::Always`; other
    /// backends commit as usual). When this returns `Ok`, every write `f` made is durable; a
    /// crash before that may lose any of them. Only this thread's writes are deferred. For a
    /// writer applying a queue of updates (the rust-libp2p store's writer thread does).
    pub fn sync_once<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.inner.ds.begin_deferred_sync();
        let result = f();
        let synced = self.inner.ds.end_deferred_sync();
        let value = result?;
        synced?;
        Ok(value)
    }

    /// Removes the peer's keys, metadata, protocols and metrics; **not** its addresses, as in
    /// go-libp2p (addresses expire on their own).
    pub fn remove_peer(&self, peer: impl Into<RawPeerId>) -> Result<()> {
        let peer = peer.into();
        self.check_open()?;
        self.remove_keys(&peer)?;
        self.remove_metadata(&peer)?;
        self.inner.metrics.remove_peer(peer.as_bytes());
        Ok(())
    }

    /// Stops the background GC and closes the datastore. Later calls fail with
    /// [`Error::Closed`]. Closing twice is fine.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.stop_background_gc();
        self.inner.subs.close_all();
        self.inner.ds.close()?;
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::SeqCst)
            && let Err(e) = self.ds.close()
        {
            tracing::warn!(error = %e, "closing the peerstore's datastore");
        }
    }
}

/// What each locked peer's address record held when it was read (`None`: absent).
type Origins = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// Peers locked for a read-modify-write; unlocking forgets what their records were loaded as.
pub(crate) struct PeerLock<'a> {
    ps: &'a Peerstore,
    peers: Vec<Vec<u8>>,
    _guards: Guards<'a>,
}

/// The stripe guards a [`PeerLock`] holds: one peer's without an allocation.
#[allow(dead_code)] // the guards are held, never read
enum Guards<'a> {
    One(MutexGuard<'a, ()>),
    Many(Vec<MutexGuard<'a, ()>>),
}

impl Drop for PeerLock<'_> {
    fn drop(&mut self) {
        if let Some(origins) = &self.ps.inner.origins {
            let mut origins = origins.lock().unwrap_or_else(|e| e.into_inner());
            for peer in &self.peers {
                origins.remove(peer);
            }
        }
    }
}

/// How many address records a walk locks and handles at a time.
pub(crate) const RECORD_CHUNK: usize = 256;

/// The distinct peer segments of the keys under a prefix (`/peers/addrs/<peer>`,
/// `/peers/keys/<peer>/...`), in key order, read a page at a time: the listings' walk.
struct PeerSegments<'a> {
    ps: &'a Peerstore,
    prefix: &'a Key,
    under: Vec<u8>,
    page: std::vec::IntoIter<datastore::Entry>,
    after: Option<Vec<u8>>,
    more: bool,
    last: Vec<u8>,
}

impl<'a> PeerSegments<'a> {
    fn new(ps: &'a Peerstore, prefix: &'a Key) -> PeerSegments<'a> {
        PeerSegments {
            ps,
            prefix,
            under: prefix.query_prefix().into_bytes(),
            page: Vec::new().into_iter(),
            after: None,
            more: true,
            last: Vec::new(),
        }
    }

    /// The next peer's segment (a peer's further keys are skipped).
    fn next(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            let Some(e) = self.page.next() else {
                if !self.more {
                    return Ok(None);
                }
                let (page, next) = self
                    .ps
                    .key_page(self.prefix, self.after.take(), LIST_PAGE)?;
                (self.page, self.more, self.after) = (page.into_iter(), next.is_some(), next);
                continue;
            };
            let Some(rest) = e.key.strip_prefix(self.under.as_slice()) else {
                continue;
            };
            let seg = rest.split(|&b| b == b'/').next().unwrap_or(rest);
            if seg.is_empty() || seg == self.last.as_slice() {
                continue;
            }
            self.last = seg.to_vec();
            return Ok(Some(self.last.clone()));
        }
    }
}

/// The peer a listed key segment names; a segment that is not base32 is skipped with a warning.
fn decode_listed(prefix: &Key, seg: &[u8]) -> Option<RawPeerId> {
    match peer_key::decode_segment_bytes(seg) {
        Ok(raw) => Some(RawPeerId::from_bytes(raw)),
        Err(_) => {
            tracing::warn!(
                key = %format!("{prefix}/{}", String::from_utf8_lossy(seg)),
                "key with a peer segment that is not base32; skipped"
            );
            None
        }
    }
}

/// Keys read at a time by a listing (`peers`, `peers_with_addrs`, ...).
const LIST_PAGE: usize = 4096;

/// One address record in a walk: its peer and its stored bytes (`None`: deleted since the
/// page was listed).
pub(crate) struct Walked {
    pub peer: Vec<u8>,
    pub bytes: Option<Vec<u8>>,
}

fn stripe_of(peer: &[u8]) -> usize {
    static STRIPE_HASH: std::sync::LazyLock<ahash::RandomState> =
        std::sync::LazyLock::new(ahash::RandomState::new);
    (STRIPE_HASH.hash_one(peer) as usize) % STRIPES
}
