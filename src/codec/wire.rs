//! A minimal protobuf wire reader that keeps the exact bytes of fields it is not asked about.

use super::{Error, Result};

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
pub(crate) const FIXED32: u8 = 5;

/// One field as read: its number, wire type, its payload and the raw bytes of the whole field
/// (tag included), for copying it through unchanged.
pub(crate) struct Field<'a> {
    pub number: u32,
    pub wire_type: u8,
    pub varint: u64,
    pub bytes: &'a [u8],
    pub raw: &'a [u8],
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn next_field(&mut self) -> Result<Option<Field<'a>>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let start = self.pos;
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3)
            .ok()
            .filter(|n| *n > 0 && *n < (1 << 29))
            .ok_or_else(|| Error::Protobuf(format!("invalid field number {}", tag >> 3)))?;
        let wire_type = (tag & 7) as u8;
        let mut varint = 0;
        let mut bytes: &[u8] = &[];
        match wire_type {
            VARINT => varint = self.varint()?,
            FIXED64 => bytes = self.take(8)?,
            FIXED32 => bytes = self.take(4)?,
            LEN => {
                let len = self.varint()?;
                let len =
                    usize::try_from(len).map_err(|_| Error::Protobuf("length overflows".into()))?;
                bytes = self.take(len)?;
            }
            START_GROUP => self.skip_group(number, 0)?,
            _ => return Err(Error::Protobuf(format!("invalid wire type {wire_type}"))),
        }
        Ok(Some(Field {
            number,
            wire_type,
            varint,
            bytes,
            raw: &self.buf[start..self.pos],
        }))
    }

    fn skip_group(&mut self, number: u32, depth: usize) -> Result<()> {
        if depth > 64 {
            return Err(Error::Protobuf("groups nested too deeply".into()));
        }
        loop {
            if self.pos >= self.buf.len() {
                return Err(Error::Protobuf("unterminated group".into()));
            }
            let tag = self.varint()?;
            let (n, wt) = ((tag >> 3) as u32, (tag & 7) as u8);
            match wt {
                VARINT => {
                    self.varint()?;
                }
                FIXED64 => {
                    self.take(8)?;
                }
                FIXED32 => {
                    self.take(4)?;
                }
                LEN => {
                    let len = usize::try_from(self.varint()?)
                        .map_err(|_| Error::Protobuf("length overflows".into()))?;
                    self.take(len)?;
                }
                START_GROUP => self.skip_group(n, depth + 1)?,
                END_GROUP if n == number => return Ok(()),
                _ => return Err(Error::Protobuf("mismatched group".into())),
            }
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| Error::Protobuf("truncated field".into()))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// A base-128 varint of at most 10 bytes, the 10th holding only bit 63 (as prost and Go
    /// read them).
    #[inline]
    fn varint(&mut self) -> Result<u64> {
        let rest = &self.buf[self.pos..];
        let mut v: u64 = 0;
        for (i, &b) in rest.iter().take(10).enumerate() {
            if i == 9 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(Error::Protobuf(
            if rest.len() < 10 && rest.iter().all(|b| *b >= 0x80) {
                "bad varint: truncated".into()
            } else {
                "bad varint: longer than 64 bits".into()
            },
        ))
    }
}

pub(crate) fn put_varint_field(out: &mut Vec<u8>, number: u32, v: u64) {
    prost::encoding::encode_key(number, prost::encoding::WireType::Varint, out);
    prost::encoding::encode_varint(v, out);
}

pub(crate) fn put_bytes_field(out: &mut Vec<u8>, number: u32, b: &[u8]) {
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A varint field 1 holding `v`, read back.
    fn read_back(bytes: &[u8]) -> Result<u64> {
        let mut field = vec![(1 << 3) as u8];
        field.extend_from_slice(bytes);
        Reader::new(&field)
            .next_field()
            .map(|f| f.expect("one field").varint)
    }

    #[test]
    fn varints_read_as_prost_writes_them() {
        let mut values = vec![
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::MAX,
            i64::MAX as u64,
        ];
        values.extend((0..64).map(|b| 1u64 << b));
        values.extend((1..64).map(|b| (1u64 << b) - 1));
        values.push(-1i64 as u64);
        for v in values {
            let mut bytes = Vec::new();
            prost::encoding::encode_varint(v, &mut bytes);
            assert_eq!(read_back(&bytes).unwrap(), v, "{bytes:02x?}");
        }
    }

    #[test]
    fn bad_varints_are_errors() {
        for bad in [
            &[][..],                                                       // nothing
            &[0x80],                                                       // truncated
            &[0xff; 9],                                                    // truncated at 9 bytes
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], // bit 64
            &[0xff; 11],                                                   // longer than 10 bytes
        ] {
            let err = read_back(bad).unwrap_err().to_string();
            assert!(err.contains("bad varint"), "{bad:02x?}: {err}");
        }
        // The same bytes prost refuses.
        let mut over: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(prost::encoding::decode_varint(&mut over).is_err());
    }
}
