//! One pass over a database into per-peer summaries: what `peers`, `show`, `stats` and
//! `inspect` print.

use std::collections::BTreeMap;

use pstoreds::codec::crypto::StoredKey;
use pstoreds::codec::envelope::SignedPeerRecord;
use pstoreds::codec::gob::{self, Value};
use pstoreds::codec::peer_key::{self, PeerKey};
use pstoreds::codec::record::AddrBookRecord;
use pstoreds::datastore::{Datastore, Key, Query};
use pstoreds::dump;
use pstoreds::peerstore::{RawPeerId, Ttl};
use serde_json::{Value as Json, json};

use crate::Result;

#[derive(Default)]
pub struct PeerView {
    pub b32: String,
    pub record: Option<AddrBookRecord>,
    pub pub_key: Option<Vec<u8>>,
    pub priv_key: Option<Vec<u8>>,
    pub protocols: Option<Vec<String>>,
    pub metadata: BTreeMap<String, Vec<u8>>,
    pub problems: Vec<String>,
}

#[derive(Default)]
pub struct DbView {
    pub peers: BTreeMap<Vec<u8>, PeerView>,
    pub gc_entries: usize,
    pub other_keys: usize,
}

/// Reads everything under `/peers` (or one peer's keys) into views.
pub fn load(ds: &dyn Datastore, only: Option<&[u8]>) -> Result<DbView> {
    let prefixes: Vec<Key> = match only {
        None => vec![Key::new("/peers")],
        Some(p) => vec![
            peer_key::addrs_key(p),
            peer_key::keys_prefix(p),
            peer_key::metadata_prefix(p),
        ],
    };
    let mut entries = Vec::new();
    for prefix in prefixes {
        if only.is_some() && prefix.as_str().starts_with(peer_key::ADDRS) {
            if let Some(v) = ds.get(&prefix)? {
                entries.push(pstoreds::datastore::Entry {
                    key: prefix.as_bytes().to_vec(),
                    value: v,
                });
            }
        } else {
            entries.extend(ds.query(&Query::prefix(prefix))?);
        }
    }
    let bar = crate::open::progress(entries.len() as u64, "reading");
    let mut view = DbView::default();
    for e in entries {
        bar.inc(1);
        let key = e.key_lossy();
        let Some(kind) = PeerKey::parse(&key) else {
            view.other_keys += 1;
            continue;
        };
        if let PeerKey::GcIndex { .. } = kind {
            view.gc_entries += 1;
            continue;
        }
        let seg = peer_key::peer_segment(&key).unwrap_or_default().to_owned();
        let pv = view
            .peers
            .entry(kind.peer().to_vec())
            .or_insert_with(|| PeerView {
                b32: seg,
                ..Default::default()
            });
        match kind {
            PeerKey::Addrs { .. } => match AddrBookRecord::decode(&e.value) {
                Ok(r) => pv.record = Some(r),
                Err(err) => pv.problems.push(format!("{key}: {err}")),
            },
            PeerKey::PubKey { .. } => pv.pub_key = Some(e.value),
            PeerKey::PrivKey { .. } => pv.priv_key = Some(e.value),
            PeerKey::Metadata { name, .. } if name == peer_key::PROTOCOLS => {
                match gob::decode_protocols(&e.value) {
                    Ok(mut p) => {
                        p.protocols.sort();
                        pv.protocols = Some(p.protocols);
                    }
                    Err(err) => pv.problems.push(format!("{key}: {err}")),
                }
            }
            PeerKey::Metadata { name, .. } => {
                pv.metadata.insert(name, e.value);
            }
            PeerKey::GcIndex { .. } => {}
        }
    }
    bar.finish_and_clear();
    Ok(view)
}

impl PeerView {
    pub fn addrs(&self) -> usize {
        self.record.as_ref().map_or(0, |r| r.addrs.len())
    }

    pub fn expired(&self, now: i64) -> usize {
        self.record
            .as_ref()
            .map_or(0, |r| r.addrs.iter().filter(|a| a.expiry <= now).count())
    }

    pub fn agent(&self) -> Option<String> {
        self.metadata
            .get("AgentVersion")
            .map(|raw| match Value::decode(raw) {
                Ok(Value::String(s)) => s,
                Ok(v) => format!("<{}>", v.type_name()),
                Err(_) => "<undecodable>".into(),
            })
    }

    pub fn signed_seq(&self) -> Option<u64> {
        self.record
            .as_ref()?
            .certified_record
            .as_ref()
            .map(|c| c.seq)
    }

    pub fn keys(&self) -> String {
        let mut k = Vec::new();
        if self.pub_key.is_some() {
            k.push("pub");
        }
        if self.priv_key.is_some() {
            k.push("priv");
        }
        if k.is_empty() {
            // A placeholder keeps whitespace-separated columns aligned (awk, cut).
            return "-".to_owned();
        }
        k.join(" ")
    }

    /// The row `peers` prints.
    pub fn summary_json(&self, peer: &[u8], now: i64) -> Json {
        json!({"peer": RawPeerId::from_bytes(peer).to_string(), "b32": self.b32,
               "addrs": self.addrs(), "expired": self.expired(now),
               "signed_seq": self.signed_seq(),
               "protocols": self.protocols.as_ref().map(Vec::len), "agent": self.agent(),
               "pub_key": self.pub_key.is_some(), "priv_key": self.priv_key.is_some(),
               "problems": self.problems})
    }
}

/// `12D3KooW…`, `Qm…` or a base32 key segment.
pub fn parse_peer(text: &str) -> Result<RawPeerId> {
    if let Ok(p) = text.parse::<libp2p_identity::PeerId>() {
        return Ok(p.into());
    }
    // Key segments are stored upper case: accept them only in that form, so that a mistyped
    // base58 ID is not silently read as base32.
    if text.len() >= 10
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        && let Ok(raw) = peer_key::decode_segment(text)
    {
        return Ok(RawPeerId::from_bytes(raw));
    }
    Err(format!(
        "{text:?} is not a peer ID: give it as Go prints it (12D3KooW..., Qm..., 16Uiu2...) or \
            as its base32 key segment"
    )
    .into())
}

/// "expires in 59m", "expired 3m ago", "permanent", "connected".
pub fn describe_expiry(expiry: i64, ttl: i64, now: i64) -> String {
    if ttl == Ttl::PERMANENT.0 {
        return "permanent".into();
    }
    if ttl == Ttl::CONNECTED.0 {
        return "connected".into();
    }
    let d = expiry - now;
    let human = |s: i64| match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    };
    if d > 0 {
        format!("expires in {}", human(d))
    } else {
        format!("EXPIRED {} ago", human(-d))
    }
}

/// Everything about one peer, as JSON (what `show --json` prints).
pub fn peer_json(peer: &[u8], pv: &PeerView, now: i64) -> Json {
    let addrs: Vec<Json> = pv
        .record
        .iter()
        .flat_map(|r| r.addrs.iter())
        .map(|a| {
            json!({"addr": dump::addr_json(&a.addr), "expiry": a.expiry, "ttl": a.ttl,
                   "expired": a.expiry <= now, "state": describe_expiry(a.expiry, a.ttl, now)})
        })
        .collect();
    let signed = pv
        .record
        .as_ref()
        .and_then(|r| r.certified_record.as_ref())
        .map(|c| match SignedPeerRecord::open(&c.raw) {
            Ok(s) => {
                let addrs: Vec<Json> = s.record.addrs.iter().map(|a| dump::addr_json(a)).collect();
                let valid = s.record.peer_id == peer && s.record.seq == c.seq;
                json!({"seq": c.seq, "valid": valid, "addrs": addrs})
            }
            Err(e) => json!({"seq": c.seq, "valid": false, "error": e.to_string()}),
        });
    let key_json = |raw: &Option<Vec<u8>>| {
        raw.as_ref().map(|r| match StoredKey::decode(r) {
            Ok(k) => json!({"type": k.key_type.name(), "bytes": r.len()}),
            Err(e) => json!({"error": e.to_string()}),
        })
    };
    let metadata: serde_json::Map<String, Json> = pv
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), dump::metadata_json(v)))
        .collect();
    json!({"peer": RawPeerId::from_bytes(peer).to_string(), "b32": pv.b32, "addrs": addrs,
           "signed_record": signed, "pub": key_json(&pv.pub_key),
           "priv": key_json(&pv.priv_key), "protocols": pv.protocols,
           "metadata": metadata, "problems": pv.problems})
}
