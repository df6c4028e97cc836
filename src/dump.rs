//! The canonical dump (docs/dump-and-ops.md): what a peerstore database **stores**, one JSON
//! object per
//! peer, then the GC index entries, then any other key under `/peers`. The Go harness prints the
//! same format from the same database; equal dumps are how compatibility is checked.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Map, Value as Json, json};

use crate::codec::gob::{self, Value};
use crate::codec::hex;
use crate::codec::peer_key::{self, PeerKey};
use crate::codec::record::AddrBookRecord;
use crate::datastore::{self, Datastore, Key, Query};
use crate::peerstore::RawPeerId;

/// Errors while dumping: reading the store or writing the output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the store failed.
    #[error(transparent)]
    Datastore(#[from] datastore::Error),
    /// Writing the dump failed.
    #[error("writing the dump: {0}")]
    Io(#[from] std::io::Error),
}

/// Binary multiaddr as text, or `{"hex": ..}` when it does not parse.
pub fn addr_json(addr: &[u8]) -> Json {
    match multiaddr::Multiaddr::try_from(addr.to_vec()) {
        Ok(m) => Json::String(m.to_string()),
        Err(_) => json!({ "hex": hex::encode(addr) }),
    }
}

/// A metadata value as the dump shows it.
pub fn metadata_json(raw: &[u8]) -> Json {
    let gob_form = || {
        let type_name = gob::type_name(raw).unwrap_or_else(|| "?".into());
        json!({ "type": type_name, "gob": hex::encode(raw) })
    };
    let Ok(value) = Value::decode(raw) else {
        return gob_form();
    };
    let v = match &value {
        Value::Nil => return json!({ "type": "nil" }),
        Value::Other(_) => return gob_form(),
        Value::Bool(b) => json!(b),
        Value::String(s) => json!(s),
        Value::Bytes(b) => json!(hex::encode(b)),
        Value::Strings(v) => json!(v),
        Value::Int(i) | Value::Int64(i) => json!(i),
        Value::Int8(i) => json!(i),
        Value::Int16(i) => json!(i),
        Value::Int32(i) => json!(i),
        Value::Uint(u) | Value::Uint64(u) | Value::Uintptr(u) => json!(u),
        Value::Uint8(u) => json!(u),
        Value::Uint16(u) => json!(u),
        Value::Uint32(u) => json!(u),
        // Shortest text of the f32 itself, as Go prints a float32.
        Value::Float32(f) => f
            .to_string()
            .parse::<f64>()
            .map(|f| json!(f))
            .unwrap_or(Json::Null),
        Value::Float64(f) => json!(f),
    };
    json!({ "type": value.type_name(), "value": v })
}

fn empty_peer(b32: &str, raw: &[u8]) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("peer".into(), json!(RawPeerId::from_bytes(raw).to_string()));
    m.insert("b32".into(), json!(b32));
    m.insert("addrs".into(), json!([]));
    for k in ["certified", "pub", "priv", "protocols", "protocols_type"] {
        m.insert(k.into(), Json::Null);
    }
    m.insert("metadata".into(), json!({}));
    m
}

/// Writes the canonical dump of everything under `/peers` in `ds` to `out`, and returns the
/// number of lines written.
pub fn write_dump(ds: &dyn Datastore, out: &mut dyn Write) -> Result<usize, Error> {
    write_dump_with(ds, out, true)
}

/// [`write_dump`], with or without the private keys (`"priv"` is then `null` for every peer:
/// the dump can be shared; loading it restores everything but those keys).
pub fn write_dump_with(
    ds: &dyn Datastore,
    out: &mut dyn Write,
    private_keys: bool,
) -> Result<usize, Error> {
    let entries = ds.query(&Query::prefix(Key::new("/peers")))?;
    let mut peers: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut gc_lines = Vec::new();
    let mut other_lines = Vec::new();
    for entry in entries {
        let key = entry.key_lossy();
        let value = &entry.value;
        let other = json!({ "other": { "key": key, "value": hex::encode(value) } });
        let b32 = peer_key::peer_segment(&key).unwrap_or_default().to_owned();
        match PeerKey::parse(&key) {
            Some(PeerKey::Addrs { peer }) => {
                let Ok(mut rec) = AddrBookRecord::decode(value) else {
                    other_lines.push(other);
                    continue;
                };
                let p = peers
                    .entry(b32.clone())
                    .or_insert_with(|| empty_peer(&b32, &peer));
                rec.addrs
                    .sort_by(|a, b| (a.expiry, &a.addr).cmp(&(b.expiry, &b.addr)));
                let addrs: Vec<Json> = rec
                    .addrs
                    .iter()
                    .map(
                        |e| json!({ "addr": addr_json(&e.addr), "expiry": e.expiry, "ttl": e.ttl }),
                    )
                    .collect();
                p.insert("addrs".into(), Json::Array(addrs));
                if let Some(c) = &rec.certified_record {
                    p.insert(
                        "certified".into(),
                        json!({ "seq": c.seq, "raw": hex::encode(&c.raw) }),
                    );
                }
            }
            Some(PeerKey::GcIndex { expiry, .. }) => {
                gc_lines.push(json!({ "gc": { "ts": expiry, "b32": b32 } }));
            }
            Some(kind @ (PeerKey::PubKey { .. } | PeerKey::PrivKey { .. })) => {
                let field = if matches!(kind, PeerKey::PubKey { .. }) {
                    "pub"
                } else {
                    "priv"
                };
                let p = peers
                    .entry(b32.clone())
                    .or_insert_with(|| empty_peer(&b32, kind.peer()));
                if field == "pub" || private_keys {
                    p.insert(field.into(), json!(hex::encode(value)));
                }
            }
            Some(PeerKey::Metadata { peer, name }) => {
                let p = peers
                    .entry(b32.clone())
                    .or_insert_with(|| empty_peer(&b32, &peer));
                if name == peer_key::PROTOCOLS {
                    p.insert(
                        "protocols_type".into(),
                        json!(gob::type_name(value).unwrap_or_else(|| "?".into())),
                    );
                    if let Ok(mut decoded) = gob::decode_protocols(value) {
                        decoded.protocols.sort();
                        p.insert("protocols".into(), json!(decoded.protocols));
                    }
                } else if let Some(Json::Object(m)) = p.get_mut("metadata") {
                    m.insert(name, metadata_json(value));
                }
            }
            None => other_lines.push(other),
        }
    }
    let mut lines = 0;
    for line in peers
        .into_values()
        .map(Json::Object)
        .chain(gc_lines)
        .chain(other_lines)
    {
        serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        lines += 1;
    }
    out.flush()?;
    Ok(lines)
}

/// A dump line that cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[error("dump line {line}: {reason}")]
pub struct LoadError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// What [`load_dump`] made of a dump: the writes to apply, and what it had to leave out.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The writes that reproduce the dump.
    pub batch: crate::datastore::Batch,
    /// How many peer lines were read.
    pub peers: usize,
    /// Things the dump does not carry enough to restore, each with its line.
    pub warnings: Vec<String>,
}

/// A key of a dump line must decode and, where it can be checked, belong to the line's peer.
fn check_key(field: &str, bytes: &[u8], peer: &[u8]) -> Result<(), String> {
    use crate::codec::crypto::{KeyType, StoredKey};
    let key = StoredKey::decode(bytes).map_err(|e| format!("{field} key does not decode: {e}"))?;
    let owner = if field == "pub" {
        Ok(key.peer_id_bytes())
    } else {
        key.private_peer_id_bytes()
    };
    match owner {
        Ok(owner) if owner != peer => Err(format!("{field} key belongs to another peer")),
        Ok(_) => Ok(()),
        // Types libp2p-identity parses must parse; others are kept as bytes, as Go keeps them.
        Err(e) if matches!(key.key_type, KeyType::Ed25519 | KeyType::Secp256k1) => {
            Err(format!("{field} key does not decode: {e}"))
        }
        Err(_) => Ok(()),
    }
}

fn unhex(s: &str, what: &str) -> Result<Vec<u8>, String> {
    hex::decode(s, what)
}

/// Reads a canonical dump (docs/dump-and-ops.md) back into the keys and values it shows. Every
/// line is
/// checked before anything is returned, so a bad line means nothing is written. Protocols are
/// written in the current `map[protocol.ID]struct {}` form.
pub fn load_dump(reader: impl std::io::BufRead) -> Result<Loaded, LoadError> {
    use crate::codec::record::{AddrEntry, CertifiedRecord};
    use crate::datastore::Op;
    let mut out = Loaded::default();
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let err = |reason: String| LoadError { line: n, reason };
        let line = line.map_err(|e| err(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Json = serde_json::from_str(&line).map_err(|e| err(format!("not JSON: {e}")))?;
        if let Some(gc) = v.get("gc") {
            let ts = gc["ts"]
                .as_i64()
                .ok_or_else(|| err("gc.ts is not an integer".into()))?;
            let b32 = gc["b32"]
                .as_str()
                .ok_or_else(|| err("gc.b32 is not a string".into()))?;
            let peer = peer_key::decode_segment(b32).map_err(|e| err(e.to_string()))?;
            out.batch
                .push(Op::Put(peer_key::gc_key(ts, &peer), Vec::new()));
            continue;
        }
        if let Some(other) = v.get("other") {
            let key = other["key"]
                .as_str()
                .ok_or_else(|| err("other.key is not a string".into()))?;
            let key = Key::from_raw(key).map_err(|e| err(e.to_string()))?;
            let value =
                unhex(other["value"].as_str().unwrap_or_default(), "other.value").map_err(err)?;
            out.batch.push(Op::Put(key, value));
            continue;
        }
        let from_b32 = match v.get("b32").and_then(Json::as_str) {
            Some(b32) => Some(peer_key::decode_segment(b32).map_err(|e| err(e.to_string()))?),
            None => None,
        };
        let from_text = match v.get("peer").and_then(Json::as_str) {
            Some(text) => Some(
                bs58::decode(text)
                    .into_vec()
                    .map_err(|e| err(format!("peer {text:?}: {e}")))?,
            ),
            None => None,
        };
        let peer = match (from_b32, from_text) {
            (Some(a), Some(b)) if a != b => {
                return Err(err("\"b32\" and \"peer\" name different peers".into()));
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => return Err(err("a peer line needs \"b32\" or \"peer\"".into())),
        };
        out.peers += 1;
        let mut rec = AddrBookRecord {
            id: peer.clone(),
            ..Default::default()
        };
        for a in v["addrs"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let addr = match &a["addr"] {
                Json::String(s) => s
                    .parse::<multiaddr::Multiaddr>()
                    .map_err(|e| err(format!("address {s:?}: {e}")))?
                    .to_vec(),
                other => {
                    unhex(other["hex"].as_str().unwrap_or_default(), "addr.hex").map_err(err)?
                }
            };
            rec.addrs.push(AddrEntry {
                addr,
                expiry: a["expiry"]
                    .as_i64()
                    .ok_or_else(|| err("expiry is not an integer".into()))?,
                ttl: a["ttl"]
                    .as_i64()
                    .ok_or_else(|| err("ttl is not an integer".into()))?,
                unknown_fields: Vec::new(),
            });
        }
        if let Some(c) = v.get("certified").filter(|c| !c.is_null()) {
            rec.certified_record = Some(CertifiedRecord {
                seq: c["seq"]
                    .as_u64()
                    .ok_or_else(|| err("certified.seq is not an integer".into()))?,
                raw: unhex(c["raw"].as_str().unwrap_or_default(), "certified.raw").map_err(err)?,
                unknown_fields: Vec::new(),
            });
        }
        if !rec.addrs.is_empty() {
            rec.sort();
            out.batch
                .push(Op::Put(peer_key::addrs_key(&peer), rec.encode()));
        } else if rec.certified_record.is_some() {
            out.warnings.push(format!(
                "line {n}: a signed record without addresses is not stored (as in go-libp2p)"
            ));
        }
        for (field, key) in [
            ("pub", peer_key::pub_key_key(&peer)),
            ("priv", peer_key::priv_key_key(&peer)),
        ] {
            if let Some(h) = v.get(field).and_then(Json::as_str) {
                let bytes = unhex(h, field).map_err(err)?;
                check_key(field, &bytes, &peer).map_err(err)?;
                out.batch.push(Op::Put(key, bytes));
            }
        }
        match (
            v.get("protocols").filter(|p| !p.is_null()),
            v.get("protocols_type").filter(|p| !p.is_null()),
        ) {
            (Some(p), _) => {
                let list: Vec<&str> = p
                    .as_array()
                    .ok_or_else(|| err("protocols is not an array".into()))?
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .ok_or_else(|| err("a protocol is not a string".into()))
                    })
                    .collect::<Result<_, _>>()?;
                let key = peer_key::metadata_key(&peer, peer_key::PROTOCOLS)
                    .map_err(|e| err(e.to_string()))?;
                out.batch.push(Op::Put(key, gob::encode_protocols(list)));
            }
            (None, Some(t)) => out.warnings.push(format!(
                "line {n}: protocols of type {t} that did not decode are not in the dump; not \
                    restored"
            )),
            (None, None) => {}
        }
        if let Some(meta) = v.get("metadata").and_then(Json::as_object) {
            for (name, mv) in meta {
                let key = peer_key::metadata_key(&peer, name).map_err(|e| err(e.to_string()))?;
                let bytes = match mv.get("gob").and_then(Json::as_str) {
                    Some(h) => unhex(h, "metadata gob").map_err(err)?,
                    None => crate::ops::value_from_json(mv)
                        .map_err(|e| err(format!("metadata {name:?}: {e}")))?
                        .encode()
                        .map_err(|e| err(format!("metadata {name:?}: {e}")))?,
                };
                out.batch.push(Op::Put(key, bytes));
            }
        }
    }
    Ok(out)
}
