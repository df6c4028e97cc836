//! Op scripts (docs/dump-and-ops.md): JSON Lines of peerstore operations, each applied through the
//! public
//! [`Peerstore`] API at the clock time it carries. The Go harness replays the same scripts on
//! go-libp2p; equal dumps afterwards show equal behaviour.

use std::io::{BufRead, Write};
use std::time::Duration;

use multiaddr::Multiaddr;
use serde_json::{Value as Json, json};

use crate::codec::gob::Value;
use crate::peerstore::{MockClock, Options, Peerstore, RawPeerId, Ttl};

/// Where the clock starts: unix 1750000000 s.
pub const START_NANOS: i64 = 1_750_000_000_000_000_000;

/// The options a replay runs with: go-libp2p v0.48.0's defaults (no per-peer address cap),
/// the background GC off, the given lookahead window.
pub fn replay_options(clock: &MockClock, gc_lookahead: Duration) -> Options {
    Options::new()
        .max_addrs_per_peer(0)
        .gc_purge_interval(Duration::ZERO)
        .gc_lookahead_interval(gc_lookahead)
        .clock(clock.clone())
}

fn field<'a>(op: &'a Json, name: &str) -> Result<&'a Json, String> {
    op.get(name)
        .ok_or_else(|| format!("missing field {name:?}"))
}

fn peer(op: &Json) -> Result<RawPeerId, String> {
    let s = field(op, "peer")?
        .as_str()
        .ok_or("\"peer\" is not a string")?;
    RawPeerId::from_base58(s).ok_or_else(|| format!("{s:?} is not a base58 peer ID"))
}

fn int(op: &Json, name: &str) -> Result<i64, String> {
    field(op, name)?
        .as_i64()
        .ok_or_else(|| format!("{name:?} is not an integer"))
}

fn strings(op: &Json, name: &str) -> Result<Vec<String>, String> {
    field(op, name)?
        .as_array()
        .ok_or_else(|| format!("{name:?} is not an array"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{name:?} holds a non-string"))
        })
        .collect()
}

fn addrs(op: &Json) -> Result<Vec<Multiaddr>, String> {
    strings(op, "addrs")?
        .iter()
        .map(|s| s.parse().map_err(|e| format!("address {s:?}: {e}")))
        .collect()
}

fn hex(op: &Json, name: &str) -> Result<Vec<u8>, String> {
    let s = field(op, name)?
        .as_str()
        .ok_or_else(|| format!("{name:?} is not a string"))?;
    crate::codec::hex::decode(s, &format!("{name:?}"))
}

/// A metadata value in the dump's form (`{"type": T, "value": V}`).
pub fn value_from_json(v: &Json) -> Result<Value, String> {
    let t = v
        .get("type")
        .and_then(Json::as_str)
        .ok_or("value without a \"type\"")?;
    let val = v.get("value");
    let num_i = || {
        val.and_then(Json::as_i64)
            .ok_or(format!("{t} value is not an integer"))
    };
    let num_u = || {
        val.and_then(Json::as_u64)
            .ok_or(format!("{t} value is not an unsigned integer"))
    };
    let range = |e: std::num::TryFromIntError| format!("{t} value out of range: {e}");
    Ok(match t {
        "nil" => Value::Nil,
        "bool" => Value::Bool(
            val.and_then(Json::as_bool)
                .ok_or("bool value is not a boolean")?,
        ),
        "string" => Value::String(
            val.and_then(Json::as_str)
                .ok_or("string value is not a string")?
                .to_owned(),
        ),
        "int" => Value::Int(num_i()?),
        "int8" => Value::Int8(num_i()?.try_into().map_err(range)?),
        "int16" => Value::Int16(num_i()?.try_into().map_err(range)?),
        "int32" => Value::Int32(num_i()?.try_into().map_err(range)?),
        "int64" => Value::Int64(num_i()?),
        "uint" => Value::Uint(num_u()?),
        "uint8" => Value::Uint8(num_u()?.try_into().map_err(range)?),
        "uint16" => Value::Uint16(num_u()?.try_into().map_err(range)?),
        "uint32" => Value::Uint32(num_u()?.try_into().map_err(range)?),
        "uint64" => Value::Uint64(num_u()?),
        "uintptr" => Value::Uintptr(num_u()?),
        "float32" => Value::Float32(
            val.and_then(Json::as_f64)
                .ok_or("float32 value is not a number")? as f32,
        ),
        "float64" => Value::Float64(
            val.and_then(Json::as_f64)
                .ok_or("float64 value is not a number")?,
        ),
        "[]uint8" => Value::Bytes(crate::codec::hex::decode(
            val.and_then(Json::as_str)
                .ok_or("[]uint8 value is not hex")?,
            "[]uint8 value",
        )?),
        "[]string" => Value::Strings(
            val.and_then(Json::as_array)
                .ok_or("[]string value is not an array")?
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_owned)
                        .ok_or("[]string holds a non-string")
                })
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("unsupported value type {other:?}")),
    })
}

/// Why an op failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The line is not a well-formed op: not JSON, a field missing or of the wrong type, an
    /// unknown op name. The text says which.
    #[error("{0}")]
    Malformed(String),
    /// The peerstore refused or failed the op (as go-libp2p would, for the same op).
    #[error(transparent)]
    Peerstore(#[from] crate::peerstore::Error),
}

impl From<String> for OpError {
    fn from(text: String) -> OpError {
        OpError::Malformed(text)
    }
}

impl From<&str> for OpError {
    fn from(text: &str) -> OpError {
        OpError::Malformed(text.to_owned())
    }
}

/// Applies one op. The clock is set from `now` first, when the op has one.
pub fn apply_op(ps: &Peerstore, clock: &MockClock, op: &Json) -> Result<(), OpError> {
    if let Some(now) = op.get("now") {
        clock.set_nanos(now.as_i64().ok_or("\"now\" is not an integer")?);
    }
    let name = field(op, "op")?.as_str().ok_or("\"op\" is not a string")?;
    let e = OpError::Peerstore;
    match name {
        "add_addrs" => ps
            .add_addrs(peer(op)?, &addrs(op)?, Ttl(int(op, "ttl")?))
            .map_err(e),
        "set_addrs" => ps
            .set_addrs(peer(op)?, &addrs(op)?, Ttl(int(op, "ttl")?))
            .map_err(e),
        "update_addrs" => ps
            .update_addrs(
                peer(op)?,
                Ttl(int(op, "old_ttl")?),
                Ttl(int(op, "new_ttl")?),
            )
            .map_err(e),
        "clear_addrs" => ps.clear_addrs(peer(op)?).map_err(e),
        "addrs" => ps.addrs(peer(op)?).map(drop).map_err(e),
        "add_pubkey" => ps.add_pub_key_bytes(peer(op)?, &hex(op, "key")?).map_err(e),
        "add_privkey" => ps
            .add_priv_key_bytes(peer(op)?, &hex(op, "key")?)
            .map_err(e),
        "put" => {
            let key = field(op, "key")?
                .as_str()
                .ok_or("\"key\" is not a string")?;
            ps.put(peer(op)?, key, &value_from_json(field(op, "value")?)?)
                .map_err(e)
        }
        "set_protocols" => ps
            .set_protocols(peer(op)?, &strings(op, "protocols")?)
            .map_err(e),
        "add_protocols" => ps
            .add_protocols(peer(op)?, &strings(op, "protocols")?)
            .map_err(e),
        "remove_protocols" => ps
            .remove_protocols(peer(op)?, &strings(op, "protocols")?)
            .map_err(e),
        "consume_peer_record" => ps
            .consume_peer_record(&hex(op, "envelope")?, Ttl(int(op, "ttl")?))
            .map(drop)
            .map_err(e),
        "remove_peer" => ps.remove_peer(peer(op)?).map_err(e),
        "gc" => {
            ps.gc_populate_lookahead().map_err(e)?;
            ps.gc_purge().map(drop).map_err(e)
        }
        other => Err(OpError::Malformed(format!("unknown op {other:?}"))),
    }
}

/// Applies a script, writing one `{"line": K, "error": ..}` line per op that failed (or did
/// not parse) to `errors`. Returns the number of failed lines.
pub fn apply_script(
    ps: &Peerstore,
    clock: &MockClock,
    script: impl BufRead,
    errors: &mut dyn Write,
) -> std::io::Result<usize> {
    let mut failed = 0;
    for (i, line) in script.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let result = serde_json::from_str::<Json>(&line)
            .map_err(|e| OpError::Malformed(format!("not JSON: {e}")))
            .and_then(|op| apply_op(ps, clock, &op));
        if let Err(err) = result {
            failed += 1;
            writeln!(
                errors,
                "{}",
                json!({ "line": i + 1, "error": err.to_string() })
            )?;
        }
    }
    Ok(failed)
}
