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

    fn varint(&mut self) -> Result<u64> {
        let mut rest = &self.buf[self.pos..];
        let before = rest.len();
        let v = prost::encoding::decode_varint(&mut rest)
            .map_err(|e| Error::Protobuf(format!("bad varint: {e}")))?;
        self.pos += before - rest.len();
        Ok(v)
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
