//! Go gob values, as go-libp2p's pstoreds stores metadata and protocols.
//!
//! Go writes each value with a fresh `gob.Encoder` as an `interface{}`: the concrete type's
//! registered name, any type definitions it needs, then the value. Type ids of user types are
//! handed out per Go process, so the same value can arrive with different ids: decoding follows
//! the definitions in the stream (gobwire does), never fixed bytes.

use gobwire::{Decoder, Encoder, Interface, Progress, Type, parse_length_prefix};

use super::{Error, Result};

/// The protocol map's registered name since go-libp2p v0.25.0.
pub const PROTOCOLS_TYPE: &str = "map[protocol.ID]struct {}";
/// The protocol map's registered name before go-libp2p v0.25.0.
pub const LEGACY_PROTOCOLS_TYPE: &str = "map[string]struct {}";

/// A metadata value: Go's built-in types by name, `[]string`, and anything else kept as stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A nil interface.
    Nil,
    /// Go `bool`.
    Bool(bool),
    /// Go `string` (identify stores agent and protocol versions as these).
    String(String),
    /// `[]uint8` (Go's `[]byte`).
    Bytes(Vec<u8>),
    /// Go `[]string`.
    Strings(Vec<String>),
    /// Go `int`.
    Int(i64),
    /// Go `int8`.
    Int8(i8),
    /// Go `int16`.
    Int16(i16),
    /// Go `int32`.
    Int32(i32),
    /// Go `int64`.
    Int64(i64),
    /// Go `uint`.
    Uint(u64),
    /// Go `uint8`.
    Uint8(u8),
    /// Go `uint16`.
    Uint16(u16),
    /// Go `uint32`.
    Uint32(u32),
    /// Go `uint64`.
    Uint64(u64),
    /// Go `uintptr`.
    Uintptr(u64),
    /// Go `float32`.
    Float32(f32),
    /// Go `float64`.
    Float64(f64),
    /// A value of any other type, kept exactly as stored; `decoded` holds its dynamic form
    /// when it decodes.
    Other(OtherValue),
}

/// A gob value of a type this crate has no variant for.
#[derive(Clone, Debug, PartialEq)]
pub struct OtherValue {
    /// The registered Go type name, if the value decoded far enough to show it.
    pub type_name: Option<String>,
    pub(crate) decoded: Option<Interface>,
    /// The stored bytes.
    pub raw: Vec<u8>,
}

impl Value {
    /// The string, if this is a Go `string` (agent and protocol versions are).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is a signed Go integer of any width.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) | Value::Int64(i) => Some(i),
            Value::Int8(i) => Some(i.into()),
            Value::Int16(i) => Some(i.into()),
            Value::Int32(i) => Some(i.into()),
            _ => None,
        }
    }

    /// The number, if this is an unsigned Go integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Uint(u) | Value::Uint64(u) | Value::Uintptr(u) => Some(u),
            Value::Uint8(u) => Some(u.into()),
            Value::Uint16(u) => Some(u.into()),
            Value::Uint32(u) => Some(u.into()),
            _ => None,
        }
    }

    /// The number, if this is a Go `float32` or `float64`.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float32(f) => Some(f.into()),
            Value::Float64(f) => Some(f),
            _ => None,
        }
    }

    /// The value, if this is a Go `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The bytes, if this is a Go `[]byte`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The Go type name the value is (or would be) registered under; `nil` for [`Value::Nil`].
    pub fn type_name(&self) -> &str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Bytes(_) => "[]uint8",
            Value::Strings(_) => "[]string",
            Value::Int(_) => "int",
            Value::Int8(_) => "int8",
            Value::Int16(_) => "int16",
            Value::Int32(_) => "int32",
            Value::Int64(_) => "int64",
            Value::Uint(_) => "uint",
            Value::Uint8(_) => "uint8",
            Value::Uint16(_) => "uint16",
            Value::Uint32(_) => "uint32",
            Value::Uint64(_) => "uint64",
            Value::Uintptr(_) => "uintptr",
            Value::Float32(_) => "float32",
            Value::Float64(_) => "float64",
            Value::Other(o) => o.type_name.as_deref().unwrap_or("?"),
        }
    }

    /// Decodes a stored value. Bytes that do not decode are an error; a value that decodes to a
    /// type without a variant is [`Value::Other`], with its bytes kept.
    pub fn decode(raw: &[u8]) -> Result<Value> {
        let Some(iface) = decode_interface(raw)? else {
            return Ok(Value::Nil);
        };
        Ok(from_interface(iface, raw))
    }

    /// Encodes the value as Go's `gob.NewEncoder(&buf).Encode(&val)` with `val interface{}`.
    /// An [`Value::Other`] is written back as the bytes it was read from.
    pub fn encode(&self) -> Result<Vec<u8>> {
        use gobwire::Value as G;
        let (ty, value) = match self {
            Value::Nil => return encode_interface(None),
            Value::Other(o) => return Ok(o.raw.clone()),
            Value::Bool(b) => (Type::Bool, G::Bool(*b)),
            Value::String(s) => (Type::String, G::String(s.clone())),
            Value::Bytes(b) => (Type::Bytes, G::Bytes(b.clone())),
            Value::Strings(v) => return Ok(encode_strings(v)),
            Value::Int(i) | Value::Int64(i) => (Type::Int, G::Int(*i)),
            Value::Int8(i) => (Type::Int, G::Int((*i).into())),
            Value::Int16(i) => (Type::Int, G::Int((*i).into())),
            Value::Int32(i) => (Type::Int, G::Int((*i).into())),
            Value::Uint(u) | Value::Uint64(u) | Value::Uintptr(u) => (Type::Uint, G::Uint(*u)),
            Value::Uint8(u) => (Type::Uint, G::Uint((*u).into())),
            Value::Uint16(u) => (Type::Uint, G::Uint((*u).into())),
            Value::Uint32(u) => (Type::Uint, G::Uint((*u).into())),
            Value::Float32(f) => (Type::Float, G::Float((*f).into())),
            Value::Float64(f) => (Type::Float, G::Float(*f)),
        };
        encode_interface(Some(Interface {
            name: self.type_name().to_owned(),
            ty,
            value,
        }))
    }
}

fn from_interface(iface: Interface, raw: &[u8]) -> Value {
    use gobwire::Value as G;
    let v = match (iface.name.as_str(), &iface.value) {
        ("bool", G::Bool(b)) => Some(Value::Bool(*b)),
        ("string", G::String(s)) => Some(Value::String(s.clone())),
        ("[]uint8", G::Bytes(b)) => Some(Value::Bytes(b.clone())),
        ("[]string", G::Slice(items)) => items
            .iter()
            .map(|i| match i {
                G::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Strings),
        ("int", G::Int(i)) => Some(Value::Int(*i)),
        ("int8", G::Int(i)) => i8::try_from(*i).ok().map(Value::Int8),
        ("int16", G::Int(i)) => i16::try_from(*i).ok().map(Value::Int16),
        ("int32", G::Int(i)) => i32::try_from(*i).ok().map(Value::Int32),
        ("int64", G::Int(i)) => Some(Value::Int64(*i)),
        ("uint", G::Uint(u)) => Some(Value::Uint(*u)),
        ("uint8", G::Uint(u)) => u8::try_from(*u).ok().map(Value::Uint8),
        ("uint16", G::Uint(u)) => u16::try_from(*u).ok().map(Value::Uint16),
        ("uint32", G::Uint(u)) => u32::try_from(*u).ok().map(Value::Uint32),
        ("uint64", G::Uint(u)) => Some(Value::Uint64(*u)),
        ("uintptr", G::Uint(u)) => Some(Value::Uintptr(*u)),
        ("float32", G::Float(f)) => Some(Value::Float32(*f as f32)),
        ("float64", G::Float(f)) => Some(Value::Float64(*f)),
        _ => None,
    };
    v.unwrap_or_else(|| {
        Value::Other(OtherValue {
            type_name: Some(iface.name.clone()),
            decoded: Some(iface),
            raw: raw.to_vec(),
        })
    })
}

/// Reads one gob interface value from a fresh stream.
fn decode_interface(raw: &[u8]) -> Result<Option<Interface>> {
    let err = |e: gobwire::Error| Error::Gob(e.to_string());
    let mut decoder = Decoder::new();
    let mut rest = raw;
    loop {
        let (width, len) = parse_length_prefix(rest)
            .map_err(err)?
            .ok_or_else(|| Error::Gob("truncated: the value is incomplete".into()))?;
        let end = width
            .checked_add(len)
            .filter(|e| *e <= rest.len())
            .ok_or_else(|| Error::Gob("truncated message".into()))?;
        let body = &rest[width..end];
        rest = &rest[end..];
        // A panic in the decoder must not take the caller down with it.
        let progress =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decoder.push_message(body)))
                .map_err(|_| Error::Gob("the gob decoder failed on this value".into()))?
                .map_err(err)?;
        if progress == Progress::Ready {
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                decoder.decode::<Option<Interface>>()
            }))
            .map_err(|_| Error::Gob("the gob decoder failed on this value".into()))?
            .map_err(err);
        }
    }
}

fn encode_interface(value: Option<Interface>) -> Result<Vec<u8>> {
    Encoder::new()
        .encode(&value)
        .map_err(|e| Error::GobUnsupported(e.to_string()))
}

/// The registered type name at the head of a stored gob interface value, read without decoding
/// the rest: `"nil"` for a nil interface, `None` if the bytes do not start like one.
pub fn type_name(raw: &[u8]) -> Option<String> {
    let mut rest = raw;
    let mut next = || -> Option<u64> {
        let (v, width) = gobwire::parse_uint(rest).ok()??;
        rest = &rest[width..];
        Some(v)
    };
    let _message_len = next()?;
    if next()? != 16 || next()? != 0 {
        return None; // not an interface value (type id 8) with singleton delta 0
    }
    let n = usize::try_from(next()?).ok()?;
    if n == 0 {
        return Some("nil".to_owned());
    }
    let name = rest.get(..n)?;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// A decoded protocols value: the protocol IDs (in stored order) and the type name found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocols {
    /// The protocol IDs, in the stored order.
    pub protocols: Vec<String>,
    /// The gob type name found (the current or the pre-v0.25.0 map type).
    pub type_name: String,
}

/// Decodes the `protocols` metadata value: `map[protocol.ID]struct {}`, or the
/// `map[string]struct {}` that go-libp2p before v0.25.0 wrote.
pub fn decode_protocols(raw: &[u8]) -> Result<Protocols> {
    use gobwire::Value as G;
    let iface =
        decode_interface(raw)?.ok_or_else(|| Error::Gob("the protocols value is nil".into()))?;
    if iface.name != PROTOCOLS_TYPE && iface.name != LEGACY_PROTOCOLS_TYPE {
        return Err(Error::Gob(format!(
            "the protocols value has type {:?}, not {PROTOCOLS_TYPE:?}",
            iface.name
        )));
    }
    let G::Map(pairs) = &iface.value else {
        return Err(Error::Gob("the protocols value is not a map".into()));
    };
    let protocols = pairs
        .iter()
        .map(|(k, _)| match k {
            G::String(s) => Ok(s.clone()),
            _ => Err(Error::Gob("a protocols map key is not a string".into())),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Protocols {
        protocols,
        type_name: iface.name,
    })
}

/// Encodes protocols as the `map[protocol.ID]struct {}` current go-libp2p reads, sorted (Go's
/// own order is random), with the exact framing of a fresh Go encoder.
pub fn encode_protocols<'a>(protocols: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut protocols: Vec<&str> = protocols.into_iter().collect();
    protocols.sort_unstable();
    protocols.dedup();
    let mut value = Vec::new();
    put_uint(&mut value, protocols.len() as u64);
    for p in protocols {
        put_uint(&mut value, p.len() as u64);
        value.extend_from_slice(p.as_bytes());
        value.push(0); // the empty struct's end
    }
    // map (id 66): key string (6), elem 65; the empty struct (id 65).
    const MAP_DEF: &[u8] = &[
        0x04, 0x01, 0x02, 0xff, 0x84, 0x00, 0x01, 0x0c, 0x01, 0xff, 0x82, 0x00, 0x00,
    ];
    const STRUCT_DEF: &[u8] = &[0x03, 0x01, 0x02, 0xff, 0x82, 0x00, 0x00, 0x00];
    encode_user_interface(
        PROTOCOLS_TYPE,
        &[(66, MAP_DEF), (65, STRUCT_DEF)],
        66,
        &value,
    )
}

/// Encodes a `[]string` with the exact framing of a fresh Go encoder (the slice type is id 64).
fn encode_strings(items: &[String]) -> Vec<u8> {
    const SLICE_DEF: &[u8] = &[0x02, 0x01, 0x02, 0xff, 0x80, 0x00, 0x01, 0x0c, 0x00, 0x00];
    let mut value = Vec::new();
    put_uint(&mut value, items.len() as u64);
    for s in items {
        put_uint(&mut value, s.len() as u64);
        value.extend_from_slice(s.as_bytes());
    }
    encode_user_interface("[]string", &[(64, SLICE_DEF)], 64, &value)
}

/// An interface value of a non-basic type, framed as Go's encoder frames it: the interface
/// header flushed with the first type definition, each further definition in a message of its
/// own, then the value (`type id, byte count, singleton delta 0, value`).
fn encode_user_interface(name: &str, defs: &[(i64, &[u8])], id: i64, value: &[u8]) -> Vec<u8> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut first = Vec::new();
    put_int(&mut first, 8); // the interface type
    first.push(0);
    put_uint(&mut first, name.len() as u64);
    first.extend_from_slice(name.as_bytes());
    for (i, (def_id, def)) in defs.iter().enumerate() {
        let msg = if i == 0 {
            &mut first
        } else {
            messages.push(Vec::new());
            messages.last_mut().expect("just pushed")
        };
        put_int(msg, -def_id);
        msg.extend_from_slice(def);
    }
    messages.insert(0, first);
    let mut last = Vec::new();
    put_int(&mut last, id);
    put_uint(&mut last, value.len() as u64 + 1);
    last.push(0);
    last.extend_from_slice(value);
    messages.push(last);
    let mut out = Vec::new();
    for m in messages {
        put_uint(&mut out, m.len() as u64);
        out.extend(m);
    }
    out
}

/// gob's unsigned integer: one byte below 128, else minus the byte count then big-endian bytes.
fn put_uint(out: &mut Vec<u8>, u: u64) {
    if u < 128 {
        out.push(u as u8);
        return;
    }
    let bytes = u.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push((-((8 - skip) as i8)) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

fn put_int(out: &mut Vec<u8>, i: i64) {
    let u = if i < 0 {
        ((!i as u64) << 1) | 1
    } else {
        (i as u64) << 1
    };
    put_uint(out, u);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }

    /// the format's vectors (docs/format.md), written by Go: decode each, and encode back to the
    /// same bytes.
    #[test]
    fn format_vectors_decode_and_encode_byte_for_byte() {
        let cases: Vec<(&str, Value)> = vec![
            (
                "0f 10 00 06 737472696e67 0c 04 00 02 7631",
                Value::String("v1".into()),
            ),
            (
                "0d 10 00 06 737472696e67 0c 02 00 00",
                Value::String(String::new()),
            ),
            ("0a 10 00 03 696e74 04 02 00 02", Value::Int(1)),
            ("0a 10 00 03 696e74 04 02 00 01", Value::Int(-1)),
            ("0c 10 00 05 696e743634 04 02 00 0a", Value::Int64(5)),
            ("0b 10 00 04 75696e74 06 02 00 07", Value::Uint(7)),
            ("0b 10 00 04 626f6f6c 02 02 00 01", Value::Bool(true)),
            (
                "10 10 00 07 666c6f61743634 08 04 00 fe f83f",
                Value::Float64(1.5),
            ),
            (
                "10 10 00 07 5b5d75696e7438 0a 04 00 02 0102",
                Value::Bytes(vec![1, 2]),
            ),
            ("03 10 00 00", Value::Nil),
        ];
        for (hex, want) in cases {
            let bytes = unhex(hex);
            assert_eq!(Value::decode(&bytes).unwrap(), want, "decoding {hex}");
            assert_eq!(want.encode().unwrap(), bytes, "encoding {want:?}");
        }
    }

    const MAP_A: &str = "2b 10 00 19 6d61705b70726f746f636f6c2e49445d737472756374207b7d
                         ff83 04 01 02 ff84 00 01 0c 01 ff82 00 00
                         0a ff81 03 01 02 ff82 00 00 00
                         08 ff84 05 00 01 01 61 00";

    #[test]
    fn protocols_map_vector_decodes_and_encodes_byte_for_byte() {
        let bytes = unhex(MAP_A);
        let p = decode_protocols(&bytes).unwrap();
        assert_eq!(p.protocols, ["a"]);
        assert_eq!(p.type_name, PROTOCOLS_TYPE);
        assert_eq!(encode_protocols(["a"]), bytes);
    }

    #[test]
    fn empty_protocols_map_value_message() {
        let bytes = encode_protocols([]);
        assert!(bytes.ends_with(&unhex("05 ff84 02 00 00")), "{bytes:02x?}");
        assert!(decode_protocols(&bytes).unwrap().protocols.is_empty());
    }

    /// In a Go process that had already used `[]string`, the map gets type id 67 and the empty
    /// struct 66: a reader must follow the definitions, not match bytes.
    #[test]
    fn protocols_with_shifted_type_ids_decode() {
        let name = "map[protocol.ID]struct {}";
        let mut bytes = Vec::new();
        let mut msg = vec![0x10, 0x00, name.len() as u8];
        msg.extend_from_slice(name.as_bytes());
        // map type id 67 (ff86 signed), struct elem id 66 (ff84).
        msg.extend(unhex("ff85 04 01 02 ff86 00 01 0c 01 ff84 00 00"));
        bytes.push(msg.len() as u8);
        bytes.extend(msg);
        bytes.extend(unhex("0a ff83 03 01 02 ff84 00 00 00"));
        bytes.extend(unhex("0b ff86 08 00 02 01 61 00 01 62 00"));
        let p = decode_protocols(&bytes).unwrap();
        assert_eq!(p.protocols, ["a", "b"]);
    }

    #[test]
    fn legacy_string_keyed_protocols_decode() {
        let name = LEGACY_PROTOCOLS_TYPE;
        let mut bytes = Vec::new();
        let mut msg = vec![0x10, 0x00, name.len() as u8];
        msg.extend_from_slice(name.as_bytes());
        msg.extend(unhex("ff83 04 01 02 ff84 00 01 0c 01 ff82 00 00"));
        bytes.push(msg.len() as u8);
        bytes.extend(msg);
        bytes.extend(unhex("0a ff81 03 01 02 ff82 00 00 00"));
        bytes.extend(unhex("08 ff84 05 00 01 01 61 00"));
        let p = decode_protocols(&bytes).unwrap();
        assert_eq!(p.protocols, ["a"]);
        assert_eq!(p.type_name, LEGACY_PROTOCOLS_TYPE);
    }

    /// Written by Go 1.26 (`gob.NewEncoder(&buf).Encode(&v)` with `v interface{}`).
    #[test]
    fn go_written_strings_and_small_types_match_byte_for_byte() {
        for (hex, want) in [
            (
                "16 1000085b5d737472696e67 7f020102ff8000010c0000 07 ff800400010178",
                Value::Strings(vec!["x".into()]),
            ),
            (
                "16 1000085b5d737472696e67 7f020102ff8000010c0000 05 ff80020000",
                Value::Strings(vec![]),
            ),
            ("0b 100004696e7438 04020005", Value::Int8(-3)),
            ("10 100007666c6f61743332 080400fed03f", Value::Float32(0.25)),
        ] {
            let bytes = unhex(hex);
            assert_eq!(Value::decode(&bytes).unwrap(), want, "decoding {hex}");
            assert_eq!(want.encode().unwrap(), bytes, "encoding {want:?}");
        }
        // A []int: decodes, has no variant of its own, and is kept as stored.
        let ints = unhex("14 1000055b5d696e74 ff81020102ff820001040000 07 ff820400020204");
        match Value::decode(&ints).unwrap() {
            Value::Other(o) => {
                assert_eq!(o.type_name.as_deref(), Some("[]int"));
                assert_eq!(Value::Other(o).encode().unwrap(), ints);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn every_builtin_round_trips() {
        for v in [
            Value::Int8(-3),
            Value::Int16(300),
            Value::Int32(-70000),
            Value::Int64(i64::MIN),
            Value::Uint8(200),
            Value::Uint16(65535),
            Value::Uint32(1 << 31),
            Value::Uint64(u64::MAX),
            Value::Uintptr(12),
            Value::Float32(0.25),
            Value::Float64(-1e300),
            Value::Strings(vec!["x".into(), String::new()]),
            Value::Strings(vec![]),
            Value::Bytes(vec![]),
            Value::Bool(false),
        ] {
            let bytes = v.encode().unwrap();
            assert_eq!(Value::decode(&bytes).unwrap(), v);
        }
    }

    #[test]
    fn type_names_are_read_from_the_head() {
        assert_eq!(type_name(&unhex(MAP_A)).as_deref(), Some(PROTOCOLS_TYPE));
        assert_eq!(type_name(&unhex("03 10 00 00")).as_deref(), Some("nil"));
        assert_eq!(
            type_name(&unhex("0a 10 00 03 696e74 04 02 00 02")).as_deref(),
            Some("int")
        );
        assert_eq!(type_name(&unhex("0a 12 00 03 696e74")), None);
        assert_eq!(type_name(&[]), None);
    }

    #[test]
    fn malformed_values_are_errors() {
        for bad in [
            "",
            "05 10 00",
            "0f 10 00 06 737472696e67 0c 04 00 09 7631",
            "ff ff ff",
            "03 10 00 05",
        ] {
            assert!(Value::decode(&unhex(bad)).is_err(), "{bad}");
        }
        assert!(decode_protocols(&unhex("0f 10 00 06 737472696e67 0c 04 00 02 7631")).is_err());
    }
}
