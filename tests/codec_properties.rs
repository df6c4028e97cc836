//! Property tests for the datastore keys and codecs: Go's cleaning rules hold on random paths,
//! encoders round-trip, and no decoder panics on random bytes.

use proptest::prelude::*;

use pstoreds::codec::crypto::StoredKey;
use pstoreds::codec::envelope::{Envelope, PeerRecord, SignedPeerRecord};
use pstoreds::codec::gob::{self, Value};
use pstoreds::codec::peer_key::{self, PeerKey};
use pstoreds::codec::record::AddrBookRecord;
use pstoreds::datastore::Key;

/// Go's `path.Clean` on a rooted path, written as the Go source states its rules (lexical
/// processing, repeated until nothing changes), independently of `Key::new`'s one-pass version.
fn go_clean_reference(p: &str) -> String {
    let mut s = p.to_owned();
    loop {
        let before = s.clone();
        // 1. Replace multiple slashes with a single slash.
        while s.contains("//") {
            s = s.replace("//", "/");
        }
        // 2. Eliminate each . path name element.
        while s.contains("/./") {
            s = s.replace("/./", "/");
        }
        if s.ends_with("/.") {
            s.truncate(s.len() - 1);
        }
        // 3. Eliminate each inner .. and the non-.. element that precedes it.
        let segs: Vec<&str> = s.split('/').collect();
        if let Some(i) = (1..segs.len())
            .find(|&i| segs[i] == ".." && segs[i - 1] != ".." && !segs[i - 1].is_empty())
        {
            let mut v: Vec<&str> = segs.clone();
            v.drain(i - 1..=i);
            s = v.join("/");
            if s.is_empty() {
                s = "/".into();
            }
        }
        // 4. Eliminate .. elements that begin a rooted path.
        if s == "/.." {
            s = "/".into();
        } else if let Some(rest) = s.strip_prefix("/../") {
            s = format!("/{rest}");
        }
        if s == before {
            break;
        }
    }
    if s.len() > 1 && s.ends_with('/') {
        s.pop();
    }
    if s.is_empty() { "/".into() } else { s }
}

fn path_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof!["", ".", "..", "a", "bc", "...", "x.y"], 0..8)
        .prop_map(|segs| segs.join("/"))
        .prop_flat_map(|p| (Just(p), any::<bool>(), any::<bool>()))
        .prop_map(|(p, lead, trail)| {
            let mut s = if lead { format!("/{p}") } else { p };
            if trail {
                s.push('/');
            }
            s
        })
}

proptest! {
    #[test]
    fn key_cleaning_follows_go_rules(p in path_strategy()) {
        let key = Key::new(&p);
        let rooted = if p.starts_with('/') { p.clone() } else { format!("/{p}") };
        prop_assert_eq!(key.as_str(), go_clean_reference(&rooted));
        // What Go's RawKey would accept, and cleaning is idempotent.
        prop_assert!(Key::from_raw(key.as_str()).is_ok());
        prop_assert_eq!(Key::new(key.as_str()), key.clone());
        prop_assert!(!key.segments().any(|s| s == "." || s == ".."));
    }

    #[test]
    fn base32_segments_round_trip(raw in prop::collection::vec(any::<u8>(), 0..80)) {
        let seg = peer_key::encode_segment(&raw);
        prop_assert!(seg.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        prop_assert_eq!(peer_key::decode_segment(&seg).unwrap(), raw.clone());
        prop_assert_eq!(peer_key::decode_segment(&seg.to_lowercase()).unwrap(), raw);
    }

    #[test]
    fn gob_values_round_trip(
        s in ".*",
        i in any::<i64>(),
        u in any::<u64>(),
        f in any::<f64>().prop_filter("NaN has no equality", |f| !f.is_nan()),
        b in prop::collection::vec(any::<u8>(), 0..300),
        ss in prop::collection::vec(".{0,20}", 0..10),
    ) {
        for v in [
            Value::String(s), Value::Int(i), Value::Int64(i), Value::Uint(u), Value::Uint64(u),
            Value::Float64(f), Value::Bytes(b), Value::Strings(ss),
        ] {
            let bytes = v.encode().unwrap();
            prop_assert_eq!(Value::decode(&bytes).unwrap(), v);
        }
    }

    #[test]
    fn protocols_round_trip_sorted(
        ps in prop::collection::btree_set("/[a-z]{1,8}/[0-9.]{1,5}", 0..20),
    ) {
        let bytes = gob::encode_protocols(ps.iter().map(String::as_str));
        let got = gob::decode_protocols(&bytes).unwrap().protocols;
        prop_assert_eq!(got, ps.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn addr_records_round_trip(
        id in prop::collection::vec(any::<u8>(), 0..40),
        addrs in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 1..20), any::<i64>(), any::<i64>()),
            0..6,
        ),
        cert in prop::option::of((any::<u64>(), prop::collection::vec(any::<u8>(), 0..50))),
    ) {
        let rec = AddrBookRecord {
            id,
            addrs: addrs.into_iter().map(|(addr, expiry, ttl)| pstoreds::codec::record::AddrEntry {
                addr, expiry, ttl, unknown_fields: vec![] }).collect(),
            certified_record: cert.map(|(seq, raw)| pstoreds::codec::record::CertifiedRecord {
                seq, raw, unknown_fields: vec![] }),
            unknown_fields: vec![],
        };
        let bytes = rec.encode();
        prop_assert_eq!(AddrBookRecord::decode(&bytes).unwrap(), rec);
    }

    /// Random bytes: every decoder answers Ok or Err, and whatever a record decoder accepts it
    /// writes back to the same bytes it read (nothing dropped).
    #[test]
    fn decoders_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(rec) = AddrBookRecord::decode(&bytes) {
            let again = AddrBookRecord::decode(&rec.encode()).unwrap();
            prop_assert_eq!(again, rec);
        }
        let _ = StoredKey::decode(&bytes)
            .map(|k| (k.public_key().is_ok(), k.keypair().is_ok(), k.peer_id_bytes()));
        let _ = Envelope::decode(&bytes);
        let _ = SignedPeerRecord::open(&bytes);
        let _ = PeerRecord::decode(&bytes);
        if let Ok(v) = Value::decode(&bytes) {
            let _ = v.encode();
        }
        let _ = gob::decode_protocols(&bytes);
        let _ = PeerKey::parse(&String::from_utf8_lossy(&bytes));
        let _ = Key::from_raw_bytes(&bytes);
    }

    /// Random mutations of valid gob values (the more dangerous input: valid framing, broken
    /// insides) never panic the decoder.
    #[test]
    fn gob_decoder_survives_mutated_values(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        which in 0usize..3,
    ) {
        let mut bytes = match which {
            0 => gob::encode_protocols(["/a/1", "/b/2"]),
            1 => Value::Strings(vec!["x".into(), "yz".into()]).encode().unwrap(),
            _ => Value::Float64(1.5).encode().unwrap(),
        };
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        let _ = Value::decode(&bytes);
        let _ = gob::decode_protocols(&bytes);
    }
}
