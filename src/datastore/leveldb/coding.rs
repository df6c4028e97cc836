//! LevelDB's variable-length integers and length-prefixed strings, as every file format here
//! uses them. Twin of C++ LevelDB's `util/coding.cc`.

/// Appends `v` as a varint (7 bits a byte, low bits first).
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `bytes` behind its varint length.
pub fn put_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads a varint (up to 64 bits) from the front of `rest`.
pub fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let b = *rest.get(i)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *rest = &rest[i + 1..];
            return Some(value);
        }
    }
    None
}

/// Reads a varint-length-prefixed byte string from the front of `rest`.
pub fn take_prefixed<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(take_varint(rest)?).ok()?;
    if rest.len() < len {
        return None;
    }
    let (value, tail) = rest.split_at(len);
    *rest = tail;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        for v in [0u64, 1, 127, 128, 300, 1 << 21, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut rest = out.as_slice();
            assert_eq!(take_varint(&mut rest), Some(v));
            assert!(rest.is_empty());
        }
        assert_eq!(take_varint(&mut &[0x80u8][..]), None);
        let mut out = Vec::new();
        put_prefixed(&mut out, b"abc");
        assert_eq!(take_prefixed(&mut out.as_slice()), Some(&b"abc"[..]));
        assert_eq!(take_prefixed(&mut &out[..3]), None);
    }
}
