//! `pstoreds._native`: the Rust half of the Python package `pstoreds`.
//!
//! It speaks bytes (peer IDs, binary multiaddrs, key and envelope protobufs) and Python's own
//! scalars; `pstoreds/peerstore.py` turns py-libp2p's types into these and back. The address
//! calls a node makes most (`add_addrs_of`, `addrs_of`) take py-libp2p's `ID` and `Multiaddr`
//! themselves, so that no Python code runs around them. Every call that
//! touches storage releases the GIL. Module map:
//! - `store`: `store::NativeStore`, py-libp2p's peerstore calls over a
//!   [`pstoreds::peerstore::Peerstore`];
//! - `open`: a store named as the CLI names it, with the options Python passes;
//! - `peer_table`: what the process keeps in memory per peer: that a call named it
//!   (py-libp2p's notion of a known peer) and the `Multiaddr` objects `addrs` hands out;
//! - `stream`: address streams a Python thread can wait on;
//! - `syncer`: the once-a-second journal sync of `sync="interval"`;
//! - `ttl`, `value`: TTLs in seconds to Go nanoseconds, metadata values to gob values;
//! - `errors`: every Rust error as an exception of `pstoreds.errors`.

mod errors;
mod open;
mod peer_table;
mod store;
mod stream;
mod syncer;
mod ttl;
mod value;

use pyo3::prelude::*;

/// mimalloc, without transparent huge pages, for the Rust half's own allocations (Python's
/// are Python's): the engine's flush thread frees what the writing thread allocated, and
/// glibc's arenas made that a lock both took; with huge pages each fresh 2 MiB was zeroed at
/// first touch. README "Dependencies" gives the numbers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The module Python imports as `pstoreds._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<store::NativeStore>()?;
    m.add_class::<stream::NativeAddrStream>()?;
    m.add_class::<value::GoValue>()?;
    m.add_function(wrap_pyfunction!(ttl::ttl_nanos, m)?)?;
    m.add(
        "PERMANENT_TTL_NANOS",
        pstoreds::peerstore::Ttl::PERMANENT.nanos(),
    )?;
    Ok(())
}
