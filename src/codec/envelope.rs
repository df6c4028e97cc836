//! Signed envelopes (libp2p RFC 0002) holding peer records (RFC 0003), as go-libp2p's
//! `record.Envelope.Marshal()` writes them into `certified_record.raw`.
//!
//! Envelope: `{1: crypto PublicKey, 2: payload_type, 3: payload, 5: signature}`. The signature
//! covers `uvarint(len(domain)) domain uvarint(len(type)) type uvarint(len(payload)) payload`.
//! A peer record is the payload type `0x0301` under the domain `libp2p-peer-record`:
//! `{1: peer_id, 2: seq, 3: repeated {1: multiaddr}}`.

use libp2p_identity::Keypair;

use super::crypto::StoredKey;
use super::wire::{LEN, Reader, VARINT, put_bytes_field, put_varint_field};
use super::{Error, Result};

/// The signature domain of peer records.
pub const PEER_RECORD_DOMAIN: &str = "libp2p-peer-record";
/// The payload type of peer records (multicodec `libp2p-peer-record`).
pub const PEER_RECORD_PAYLOAD_TYPE: [u8; 2] = [0x03, 0x01];

/// A decoded signed envelope, with the exact bytes it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The signer's public key.
    pub public_key: StoredKey,
    /// The payload type (`0x0301` for a peer record).
    pub payload_type: Vec<u8>,
    /// The payload (a marshalled `PeerRecord`).
    pub payload: Vec<u8>,
    /// The signature over the domain, payload type and payload.
    pub signature: Vec<u8>,
    raw: Vec<u8>,
}

impl Envelope {
    /// Parses an envelope without checking its signature.
    pub fn decode(raw: &[u8]) -> Result<Envelope> {
        let bad = |e: Error| Error::Envelope(e.to_string());
        let (mut key, mut payload_type, mut payload, mut signature) =
            (None, vec![], vec![], vec![]);
        let mut r = Reader::new(raw);
        while let Some(f) = r.next_field().map_err(bad)? {
            match (f.number, f.wire_type) {
                // py-libp2p's envelope leaves out an RSA key's type (proto3's default).
                (1, LEN) => key = Some(StoredKey::decode_proto3(f.bytes).map_err(bad)?),
                (2, LEN) => payload_type = f.bytes.to_vec(),
                (3, LEN) => payload = f.bytes.to_vec(),
                (5, LEN) => signature = f.bytes.to_vec(),
                _ => {}
            }
        }
        let public_key = key.ok_or_else(|| Error::Envelope("no public key".into()))?;
        Ok(Envelope {
            public_key,
            payload_type,
            payload,
            signature,
            raw: raw.to_vec(),
        })
    }

    /// The marshalled envelope, exactly as read or sealed.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The envelope as go-libp2p's `Envelope.Marshal()` re-encodes it: fields 1, 2, 3, 5 in
    /// order, the public key in its canonical form, nothing else.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let key = StoredKey::new(self.public_key.key_type, self.public_key.data.clone());
        let mut raw = Vec::with_capacity(self.raw.len());
        put_bytes_field(&mut raw, 1, key.raw());
        put_bytes_field(&mut raw, 2, &self.payload_type);
        put_bytes_field(&mut raw, 3, &self.payload);
        put_bytes_field(&mut raw, 5, &self.signature);
        raw
    }

    /// Checks the signature over `domain`, the payload type and the payload.
    pub fn verify(&self, domain: &str) -> Result<()> {
        let key = self
            .public_key
            .public_key()
            .map_err(|e| Error::Envelope(e.to_string()))?;
        let signed = signed_bytes(domain, &self.payload_type, &self.payload);
        if key.verify(&signed, &self.signature) {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }

    /// Signs `payload` as `payload_type` under `domain`.
    pub fn seal(
        keypair: &Keypair,
        domain: &str,
        payload_type: &[u8],
        payload: Vec<u8>,
    ) -> Result<Envelope> {
        let signature = keypair
            .sign(&signed_bytes(domain, payload_type, &payload))
            .map_err(|e| Error::Envelope(format!("signing: {e}")))?;
        let public_key = StoredKey::from_public(&keypair.public());
        let mut raw = Vec::new();
        put_bytes_field(&mut raw, 1, public_key.raw());
        put_bytes_field(&mut raw, 2, payload_type);
        put_bytes_field(&mut raw, 3, &payload);
        put_bytes_field(&mut raw, 5, &signature);
        Ok(Envelope {
            public_key,
            payload_type: payload_type.to_vec(),
            payload,
            signature,
            raw,
        })
    }
}

fn signed_bytes(domain: &str, payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + payload_type.len() + payload.len() + 12);
    for field in [domain.as_bytes(), payload_type, payload] {
        prost::encoding::encode_varint(field.len() as u64, &mut out);
        out.extend_from_slice(field);
    }
    out
}

/// A peer record: who, which version, and where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerRecord {
    /// Raw peer-ID bytes.
    pub peer_id: Vec<u8>,
    /// The record's sequence number: a higher one replaces a lower one.
    pub seq: u64,
    /// Binary multiaddrs.
    pub addrs: Vec<Vec<u8>>,
}

impl PeerRecord {
    /// Reads a `PeerRecord` protobuf.
    pub fn decode(buf: &[u8]) -> Result<PeerRecord> {
        let mut rec = PeerRecord::default();
        let mut r = Reader::new(buf);
        while let Some(f) = r.next_field()? {
            match (f.number, f.wire_type) {
                (1, LEN) => rec.peer_id = f.bytes.to_vec(),
                (2, VARINT) => rec.seq = f.varint,
                (3, LEN) => {
                    let mut info = Reader::new(f.bytes);
                    while let Some(g) = info.next_field()? {
                        if (g.number, g.wire_type) == (1, LEN) {
                            rec.addrs.push(g.bytes.to_vec());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(rec)
    }

    /// The `PeerRecord` protobuf, as go-libp2p marshals it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.peer_id.is_empty() {
            put_bytes_field(&mut out, 1, &self.peer_id);
        }
        if self.seq != 0 {
            put_varint_field(&mut out, 2, self.seq);
        }
        for a in &self.addrs {
            let mut info = Vec::with_capacity(a.len() + 2);
            put_bytes_field(&mut info, 1, a);
            put_bytes_field(&mut out, 3, &info);
        }
        out
    }
}

/// A verified peer record and the envelope it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPeerRecord {
    /// The envelope, as stored.
    pub envelope: Envelope,
    /// The peer record it carries, signed by the envelope's key.
    pub record: PeerRecord,
}

impl SignedPeerRecord {
    /// Decodes an envelope, checks that it holds a peer record, that the signature verifies,
    /// and that the record's peer is the signer (what go-libp2p checks before storing one).
    pub fn open(raw: &[u8]) -> Result<SignedPeerRecord> {
        let envelope = Envelope::decode(raw)?;
        if envelope.payload_type != PEER_RECORD_PAYLOAD_TYPE {
            return Err(Error::Envelope(format!(
                "payload type {} is not a peer record",
                super::hex::encode(&envelope.payload_type)
            )));
        }
        envelope.verify(PEER_RECORD_DOMAIN)?;
        let record =
            PeerRecord::decode(&envelope.payload).map_err(|e| Error::Envelope(e.to_string()))?;
        if record.peer_id != envelope.public_key.peer_id_bytes() {
            return Err(Error::Envelope(
                "signing key does not match the peer ID in the peer record".into(),
            ));
        }
        Ok(SignedPeerRecord { envelope, record })
    }

    /// Signs a peer record for the keypair's own peer.
    pub fn seal(keypair: &Keypair, seq: u64, addrs: Vec<Vec<u8>>) -> Result<SignedPeerRecord> {
        let record = PeerRecord {
            peer_id: keypair.public().to_peer_id().to_bytes(),
            seq,
            addrs,
        };
        let envelope = Envelope::seal(
            keypair,
            PEER_RECORD_DOMAIN,
            &PEER_RECORD_PAYLOAD_TYPE,
            record.encode(),
        )?;
        Ok(SignedPeerRecord { envelope, record })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_records_open_and_tampering_is_caught() {
        let kp = Keypair::generate_ed25519();
        let addr = vec![4, 127, 0, 0, 1, 6, 0x0f, 0xa1];
        let signed = SignedPeerRecord::seal(&kp, 7, vec![addr.clone()]).unwrap();
        let opened = SignedPeerRecord::open(signed.envelope.raw()).unwrap();
        assert_eq!(opened.envelope.canonical_bytes(), signed.envelope.raw());
        assert_eq!(opened.record.seq, 7);
        assert_eq!(opened.record.addrs, vec![addr]);
        assert_eq!(opened, signed);

        // Flip one byte of the payload: the signature no longer verifies.
        let mut env = signed.envelope.clone();
        env.payload[3] ^= 1;
        assert_eq!(env.verify(PEER_RECORD_DOMAIN), Err(Error::BadSignature));
        // The right signature under another domain does not verify either.
        assert_eq!(
            signed.envelope.verify("other-domain"),
            Err(Error::BadSignature)
        );
    }

    #[test]
    fn an_rsa_key_without_its_type_is_read_as_proto3_writes_it_and_written_as_go_does() {
        // py-libp2p 0.8.1: `{1: {2: <DER>}, 2: 0x0301, 3: payload, 5: sig}`, no key Type.
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let mut key = Vec::new();
        put_bytes_field(&mut key, 2, &der);
        let mut raw = Vec::new();
        put_bytes_field(&mut raw, 1, &key);
        put_bytes_field(&mut raw, 2, &PEER_RECORD_PAYLOAD_TYPE);
        put_bytes_field(&mut raw, 3, b"payload");
        put_bytes_field(&mut raw, 5, b"sig");
        let env = Envelope::decode(&raw).unwrap();
        assert_eq!(env.public_key.key_type, crate::codec::crypto::KeyType::Rsa);
        assert_eq!(env.public_key.data, der);
        let canonical = Envelope::decode(&env.canonical_bytes()).unwrap();
        assert_eq!(
            canonical.public_key.raw(),
            StoredKey::new(env.public_key.key_type, der).raw()
        );
        assert_eq!(&canonical.public_key.raw()[..2], &[0x08, 0x00]);
    }

    #[test]
    fn a_record_for_another_peer_is_refused() {
        let signer = Keypair::generate_secp256k1();
        let other = Keypair::generate_ed25519();
        let record = PeerRecord {
            peer_id: other.public().to_peer_id().to_bytes(),
            seq: 1,
            addrs: vec![],
        };
        let env = Envelope::seal(
            &signer,
            PEER_RECORD_DOMAIN,
            &PEER_RECORD_PAYLOAD_TYPE,
            record.encode(),
        )
        .unwrap();
        let err = SignedPeerRecord::open(env.raw()).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [&[][..], &[0x0a, 0x02, 0x08], &[0xff, 0xff], &[0x0a, 0x00]] {
            assert!(SignedPeerRecord::open(bad).is_err());
        }
    }
}
