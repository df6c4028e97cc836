//! `AddrBookRecord` (`proto/pstore.proto`), the value at `/peers/addrs/<B32>`.
//!
//! Encoded the way Go's protobuf marshaller does: known fields in field order, proto3 zero values
//! omitted, an empty but present `certified_record` written as `1a 00`, and the fields this
//! version does not know appended unchanged. prost's derived messages drop unknown fields, so
//! these three messages are coded by hand over prost's wire helpers.

use super::Result;
use super::wire::{LEN, Reader, VARINT, put_bytes_field, put_varint_field};

/// One peer's address record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrBookRecord {
    /// Raw peer-ID bytes; equal to the ID in the record's key.
    pub id: Vec<u8>,
    /// Sorted by `expiry`, soonest first.
    pub addrs: Vec<AddrEntry>,
    /// The latest signed peer record, if any.
    pub certified_record: Option<CertifiedRecord>,
    /// Fields this version does not know, as read.
    pub unknown_fields: Vec<u8>,
}

/// One address with its expiry and TTL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrEntry {
    /// Binary multiaddr, without a `/p2p/<id>` suffix. Kept as bytes: it may use protocols
    /// this version cannot parse.
    pub addr: Vec<u8>,
    /// Unix seconds.
    pub expiry: i64,
    /// The TTL as a Go `time.Duration` (nanoseconds).
    pub ttl: i64,
    /// Fields of the entry this version does not know, kept as their bytes.
    pub unknown_fields: Vec<u8>,
}

/// A signed peer record: its sequence number and the marshalled envelope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertifiedRecord {
    /// The signed record's sequence number.
    pub seq: u64,
    /// The marshalled signed envelope.
    pub raw: Vec<u8>,
    /// Fields this version does not know, kept as their bytes.
    pub unknown_fields: Vec<u8>,
}

impl AddrBookRecord {
    /// Reads an `AddrBookRecord`; unknown fields are kept.
    pub fn decode(buf: &[u8]) -> Result<AddrBookRecord> {
        let mut rec = AddrBookRecord::default();
        let mut r = Reader::new(buf);
        while let Some(f) = r.next_field()? {
            match (f.number, f.wire_type) {
                (1, LEN) => rec.id = f.bytes.to_vec(),
                (2, LEN) => rec.addrs.push(AddrEntry::decode(f.bytes)?),
                // A repeated occurrence of a message field merges into the first, as in Go.
                (3, LEN) => rec
                    .certified_record
                    .get_or_insert_with(CertifiedRecord::default)
                    .merge(f.bytes)?,
                _ => rec.unknown_fields.extend_from_slice(f.raw),
            }
        }
        Ok(rec)
    }

    /// The protobuf, as go-libp2p marshals it (unknown fields written back).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.addrs.len() * 40);
        if !self.id.is_empty() {
            put_bytes_field(&mut out, 1, &self.id);
        }
        for a in &self.addrs {
            // Written in place behind its length: no buffer per address.
            prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut out);
            prost::encoding::encode_varint(a.encoded_len() as u64, &mut out);
            a.encode_into(&mut out);
        }
        if let Some(c) = &self.certified_record {
            put_bytes_field(&mut out, 3, &c.encode());
        }
        out.extend_from_slice(&self.unknown_fields);
        out
    }

    /// Whether the addresses are in the order Go's GC relies on (ascending expiry).
    pub fn is_sorted(&self) -> bool {
        self.addrs.windows(2).all(|w| w[0].expiry <= w[1].expiry)
    }

    /// The soonest expiry (of the first address, the record being sorted), if any address.
    pub fn first_expiry(&self) -> Option<i64> {
        self.addrs.first().map(|a| a.expiry)
    }

    /// Sorts the addresses by expiry, keeping the relative order of equal expiries.
    pub fn sort(&mut self) {
        self.addrs.sort_by_key(|a| a.expiry);
    }
}

impl AddrEntry {
    /// Reads one `AddrEntry`; unknown fields are kept.
    pub fn decode(buf: &[u8]) -> Result<AddrEntry> {
        let mut e = AddrEntry::default();
        let mut r = Reader::new(buf);
        while let Some(f) = r.next_field()? {
            match (f.number, f.wire_type) {
                (1, LEN) => e.addr = f.bytes.to_vec(),
                (2, VARINT) => e.expiry = f.varint as i64,
                (3, VARINT) => e.ttl = f.varint as i64,
                _ => e.unknown_fields.extend_from_slice(f.raw),
            }
        }
        Ok(e)
    }

    /// The entry's protobuf.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// The length of [`AddrEntry::encode`]'s bytes, without encoding.
    fn encoded_len(&self) -> usize {
        use prost::encoding::encoded_len_varint;
        let mut len = self.unknown_fields.len();
        if !self.addr.is_empty() {
            len += 1 + encoded_len_varint(self.addr.len() as u64) + self.addr.len();
        }
        if self.expiry != 0 {
            len += 1 + encoded_len_varint(self.expiry as u64);
        }
        if self.ttl != 0 {
            len += 1 + encoded_len_varint(self.ttl as u64);
        }
        len
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        if !self.addr.is_empty() {
            put_bytes_field(out, 1, &self.addr);
        }
        if self.expiry != 0 {
            put_varint_field(out, 2, self.expiry as u64);
        }
        if self.ttl != 0 {
            put_varint_field(out, 3, self.ttl as u64);
        }
        out.extend_from_slice(&self.unknown_fields);
    }
}

impl CertifiedRecord {
    /// Reads a `CertifiedRecord`; unknown fields are kept.
    pub fn decode(buf: &[u8]) -> Result<CertifiedRecord> {
        let mut c = CertifiedRecord::default();
        c.merge(buf)?;
        Ok(c)
    }

    fn merge(&mut self, buf: &[u8]) -> Result<()> {
        let mut r = Reader::new(buf);
        while let Some(f) = r.next_field()? {
            match (f.number, f.wire_type) {
                (1, VARINT) => self.seq = f.varint,
                (2, LEN) => self.raw = f.bytes.to_vec(),
                _ => self.unknown_fields.extend_from_slice(f.raw),
            }
        }
        Ok(())
    }

    /// The record's protobuf.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len() + 16);
        if self.seq != 0 {
            put_varint_field(&mut out, 1, self.seq);
        }
        if !self.raw.is_empty() {
            put_bytes_field(&mut out, 2, &self.raw);
        }
        out.extend_from_slice(&self.unknown_fields);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        crate::codec::hex::decode(&s.replace([' ', '|'], ""), "vector").unwrap()
    }

    /// the format's vector (docs/format.md): peer `12 20` + 32 x `01`, one address
    /// `/ip4/1.2.3.4/tcp/1`,
    /// expiry 1700003600, ttl 1 h.
    #[test]
    fn encodes_format_vector() {
        let mut id = vec![0x12, 0x20];
        id.extend([1u8; 32]);
        let rec = AddrBookRecord {
            id: id.clone(),
            addrs: vec![AddrEntry {
                addr: unhex("0401020304060001"),
                expiry: 1_700_003_600,
                ttl: 3_600_000_000_000,
                unknown_fields: vec![],
            }],
            certified_record: None,
            unknown_fields: vec![],
        };
        let want = unhex(&format!(
            "0a22 1220 {} | 12 17 | 0a08 0401020304060001 | 10 90fecfaa06 | 18 80c0e285e368",
            "01".repeat(32)
        ));
        assert_eq!(rec.encode(), want);
        assert_eq!(AddrBookRecord::decode(&want).unwrap(), rec);
    }

    #[test]
    fn empty_certified_record_is_written_as_present() {
        let rec = AddrBookRecord {
            certified_record: Some(CertifiedRecord::default()),
            ..Default::default()
        };
        assert_eq!(rec.encode(), [0x1a, 0x00]);
        assert_eq!(AddrBookRecord::decode(&[0x1a, 0x00]).unwrap(), rec);
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        // Record: id, field 9 (varint), an addr with unknown field 7 (bytes), field 10 (fixed32),
        // a group 11, and a certified record with unknown field 5 (fixed64).
        let mut buf = Vec::new();
        put_bytes_field(&mut buf, 1, b"id");
        put_varint_field(&mut buf, 9, 300);
        let mut entry = Vec::new();
        put_bytes_field(&mut entry, 1, &[4, 1, 2, 3, 4]);
        put_varint_field(&mut entry, 2, 5);
        put_bytes_field(&mut entry, 7, b"future");
        put_bytes_field(&mut buf, 2, &entry);
        buf.extend_from_slice(&[(10 << 3) | 5, 1, 2, 3, 4]);
        buf.extend_from_slice(&[(11 << 3) | 3, (1 << 3), 42, (11 << 3) | 4]);
        let mut cert = Vec::new();
        put_varint_field(&mut cert, 1, 3);
        cert.push((5 << 3) | 1);
        cert.extend_from_slice(&[9; 8]);
        put_bytes_field(&mut buf, 3, &cert);

        let mut rec = AddrBookRecord::decode(&buf).unwrap();
        assert_eq!(rec.id, b"id");
        assert_eq!(rec.addrs[0].expiry, 5);
        assert_eq!(rec.certified_record.as_ref().unwrap().seq, 3);
        // Rewrite after a change: the unknown fields come back with it.
        rec.addrs[0].ttl = 7;
        let again = AddrBookRecord::decode(&rec.encode()).unwrap();
        assert_eq!(again, rec);
        assert_eq!(again.addrs[0].unknown_fields, {
            let mut u = Vec::new();
            put_bytes_field(&mut u, 7, b"future");
            u
        });
        assert_eq!(again.unknown_fields.len(), 3 + 5 + 4);
        assert_eq!(again.certified_record.unwrap().unknown_fields.len(), 9);
    }

    #[test]
    fn negative_values_round_trip() {
        let rec = AddrBookRecord {
            id: b"p".to_vec(),
            addrs: vec![AddrEntry {
                addr: vec![4, 1, 1, 1, 1],
                expiry: -5,
                ttl: i64::MAX,
                unknown_fields: vec![],
            }],
            ..Default::default()
        };
        assert_eq!(AddrBookRecord::decode(&rec.encode()).unwrap(), rec);
    }

    #[test]
    fn malformed_bytes_are_errors() {
        for bad in [
            &[0x0a][..],               // length missing
            &[0x0a, 0x05, 1],          // truncated
            &[0x12, 0x02, 0x0a, 0x09], // entry truncated inside
            &[0x07],                   // field number 0
            &[0x0e],                   // wire type 6
            &[0xff; 11],               // varint overflow
            &[0x1b, 0x08, 0x01],       // unterminated group
        ] {
            assert!(AddrBookRecord::decode(bad).is_err(), "{bad:02x?}");
        }
    }
}
