//! Checks a database against the invariants go-libp2p relies on, and lists every problem with
//! the key it was found at (what `pstore verify` prints).

use crate::codec::crypto::StoredKey;
use crate::codec::envelope::SignedPeerRecord;
use crate::codec::gob::{self, Value};
use crate::codec::peer_key::{self, PeerKey};
use crate::codec::record::AddrBookRecord;
use crate::datastore::{self, Datastore, Key, Query};

const GC_ENTRY_WITHOUT_RECORD: &str =
    "GC index entry for a peer without an address record (the next purge drops it)";
const PUB_KEY_OF_ANOTHER_PEER: &str = "public key does not belong to the peer of its key";
const PRIV_KEY_OF_ANOTHER_PEER: &str = "private key does not belong to the peer of its key";
const LEGACY_PROTOCOLS: &str = "protocols written by go-libp2p before v0.25.0 \
    (map[string]struct {}): current go-libp2p cannot read them; any change through this crate \
    rewrites them";

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// go-libp2p works, but something is off (an address this crate cannot parse, say).
    Warning,
    /// go-libp2p would fail on it, misread it, or silently drop it.
    Error,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key the problem was found at.
    pub key: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

/// Walks every key under `/peers` and reports what breaks go-libp2p's invariants: key shapes,
/// record id equal to the key's peer, no empty records, addresses sorted by expiry and parseable,
/// signed records valid and for the right peer, keys decodable and belonging to their peer,
/// metadata and protocols decodable, GC index entries pointing at records. `progress` is called
/// once per key.
pub fn verify(
    ds: &dyn Datastore,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<Problem>, datastore::Error> {
    let entries = ds.query(&Query::prefix(Key::new("/peers")))?;
    let total = entries.len() as u64;
    let mut out = Vec::new();
    let mut record_peers = std::collections::HashSet::new();
    for e in &entries {
        if let Some(PeerKey::Addrs { peer }) = PeerKey::parse(&e.key_lossy()) {
            record_peers.insert(peer);
        }
    }
    for (i, e) in entries.iter().enumerate() {
        progress(i as u64 + 1, total);
        let key = e.key_lossy();
        let mut problem = |severity, message: String| {
            out.push(Problem {
                key: key.clone(),
                severity,
                message,
            })
        };
        if Key::from_raw_bytes(&e.key).is_err() {
            problem(
                Severity::Error,
                "go-datastore's RawKey panics on this key".into(),
            );
            continue;
        }
        let Some(kind) = PeerKey::parse(&key) else {
            problem(
                Severity::Warning,
                "a key pstoreds does not write (kept as it is)".into(),
            );
            continue;
        };
        let canonical = peer_key::encode_segment(kind.peer());
        if peer_key::peer_segment(&key) != Some(canonical.as_str()) {
            problem(
                Severity::Error,
                format!(
                    "the peer segment is not canonical base32 (upper case, no padding; \
                     {canonical} expected): go-libp2p cannot decode it and does not see this \
                     entry"
                ),
            );
        }
        match kind {
            PeerKey::Addrs { peer } => check_record(&peer, &e.value, &mut problem),
            PeerKey::GcIndex { peer, .. } => {
                if !e.value.is_empty() {
                    problem(Severity::Warning, "GC index entry with a value".into());
                }
                if !record_peers.contains(&peer) {
                    problem(Severity::Warning, GC_ENTRY_WITHOUT_RECORD.into());
                }
            }
            PeerKey::PubKey { peer } => match StoredKey::decode(&e.value) {
                Err(err) => problem(
                    Severity::Error,
                    format!("public key does not decode: {err}"),
                ),
                Ok(k) if k.peer_id_bytes() != peer => {
                    problem(Severity::Error, PUB_KEY_OF_ANOTHER_PEER.into())
                }
                Ok(_) => {}
            },
            PeerKey::PrivKey { peer } => match StoredKey::decode(&e.value) {
                Err(err) => problem(
                    Severity::Error,
                    format!("private key does not decode: {err}"),
                ),
                Ok(k) => match k.private_peer_id_bytes() {
                    Ok(owner) if owner != peer => {
                        problem(Severity::Error, PRIV_KEY_OF_ANOTHER_PEER.into())
                    }
                    Ok(_) => {}
                    Err(err) => problem(
                        Severity::Warning,
                        format!("private key cannot be checked: {err}"),
                    ),
                },
            },
            PeerKey::Metadata { name, .. } if name == peer_key::PROTOCOLS => {
                match gob::decode_protocols(&e.value) {
                    Err(err) => problem(Severity::Error, format!("protocols do not decode: {err}")),
                    Ok(p) if p.type_name == gob::LEGACY_PROTOCOLS_TYPE => {
                        problem(Severity::Warning, LEGACY_PROTOCOLS.into())
                    }
                    Ok(_) => {}
                }
            }
            PeerKey::Metadata { .. } => match Value::decode(&e.value) {
                Err(err) => problem(
                    Severity::Error,
                    format!("metadata value does not decode: {err}"),
                ),
                Ok(Value::Other(o)) => problem(
                    Severity::Warning,
                    format!(
                        "metadata of type {} (Go reads it only if that type is registered)",
                        o.type_name.as_deref().unwrap_or("?")
                    ),
                ),
                Ok(_) => {}
            },
        }
    }
    Ok(out)
}

fn check_record(peer: &[u8], value: &[u8], problem: &mut dyn FnMut(Severity, String)) {
    let rec = match AddrBookRecord::decode(value) {
        Ok(r) => r,
        Err(err) => {
            return problem(
                Severity::Error,
                format!("address record does not decode: {err}"),
            );
        }
    };
    if rec.id != peer {
        problem(
            Severity::Error,
            "record id differs from the peer in its key".into(),
        );
    }
    if rec.addrs.is_empty() {
        problem(
            Severity::Error,
            "empty address record (go-libp2p never stores one)".into(),
        );
    }
    if !rec.is_sorted() {
        problem(
            Severity::Error,
            "addresses not sorted by expiry (go-libp2p's GC would keep expired ones)".into(),
        );
    }
    for a in &rec.addrs {
        if a.addr.is_empty() {
            problem(
                Severity::Error,
                "an address entry with empty multiaddr bytes: go-libp2p fails to parse it and \
                    returns no addresses at all for this peer"
                    .into(),
            );
        } else if multiaddr::Multiaddr::try_from(a.addr.clone()).is_err() {
            problem(
                Severity::Error,
                format!(
                    "address {} is not a valid multiaddr: go-libp2p fails to parse it and \
                        returns no addresses at all for this peer (kept as stored)",
                    crate::codec::hex::encode(&a.addr)
                ),
            );
        }
    }
    if !rec.unknown_fields.is_empty() {
        problem(
            Severity::Warning,
            "record has fields this version does not know (kept on rewrite)".into(),
        );
    }
    if let Some(c) = &rec.certified_record
        && !c.raw.is_empty()
    {
        match SignedPeerRecord::open(&c.raw) {
            Err(err) => problem(
                Severity::Error,
                format!("signed peer record is invalid: {err}"),
            ),
            Ok(s) if s.record.peer_id != peer => problem(
                Severity::Error,
                "signed peer record is for another peer".into(),
            ),
            Ok(s) if s.record.seq != c.seq => problem(
                Severity::Error,
                format!(
                    "signed record seq {} differs from the stored seq {}",
                    s.record.seq, c.seq
                ),
            ),
            Ok(_) => {}
        }
    }
}
