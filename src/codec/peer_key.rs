//! Peer IDs in datastore keys, and the one place that builds every key under `/peers`.
//!
//! A key segment is the RFC 4648 base32 of the **raw** peer-ID bytes (the multihash, not the
//! base58 text), upper case, unpadded. Segments are read case-insensitively, as Go does.

use data_encoding::{BASE32_NOPAD, BASE32_NOPAD_NOCASE};

use super::{Error, Result};
use crate::datastore::Key;

/// The key segment of a raw peer ID: `"foo"` -> `MZXW6`.
pub fn encode_segment(peer: &[u8]) -> String {
    BASE32_NOPAD.encode(peer)
}

/// The raw peer-ID bytes of a key segment (any letter case).
pub fn decode_segment(segment: &str) -> Result<Vec<u8>> {
    decode_segment_bytes(segment.as_bytes())
}

/// [`decode_segment`] of a segment as stored (keys need not be UTF-8).
pub fn decode_segment_bytes(segment: &[u8]) -> Result<Vec<u8>> {
    BASE32_NOPAD_NOCASE
        .decode(segment)
        .map_err(|_| Error::Base32 {
            segment: String::from_utf8_lossy(segment).into_owned(),
        })
}

/// The peer's key segment as it is written in `key` (any of the `/peers/...` shapes), without
/// decoding it.
pub fn peer_segment(key: &str) -> Option<&str> {
    // Split at ASCII slashes, so the segment is UTF-8 as the key is.
    peer_segment_bytes(key.as_bytes()).and_then(|s| std::str::from_utf8(s).ok())
}

/// [`peer_segment`] of a key as stored.
pub fn peer_segment_bytes(key: &[u8]) -> Option<&[u8]> {
    let mut segs = key.strip_prefix(b"/peers/")?.split(|&b| b == b'/');
    match (segs.next()?, segs.next()?) {
        (b"addrs", p) => Some(p),
        (b"gc", b"addrs") => segs.nth(1),
        (b"keys" | b"metadata", p) => Some(p),
        _ => None,
    }
}

/// `/peers/addrs`: the address book.
pub const ADDRS: &str = "/peers/addrs";
/// `/peers/gc/addrs`: the GC lookahead index.
pub const GC_ADDRS: &str = "/peers/gc/addrs";
/// `/peers/keys`: the key book.
pub const KEYS: &str = "/peers/keys";
/// `/peers/metadata`: metadata and protocols.
pub const METADATA: &str = "/peers/metadata";
/// The metadata name under which the protocol book keeps a peer's protocols.
pub const PROTOCOLS: &str = "protocols";

/// `<base>/<B32>/<rest...>`, built in one string: a base32 segment holds no `/` and is never
/// `.` or `..`, so with a clean `base` and clean `rest` the key is already what cleaning it
/// (Go's `ChildString`) would give. The empty peer ID collapses its segment away, as in Go.
fn peer_child(base: &str, peer: &[u8], rest: &[&str]) -> Key {
    let mut s = String::with_capacity(
        base.len()
            + 1
            + BASE32_NOPAD.encode_len(peer.len())
            + rest.iter().map(|r| r.len() + 1).sum::<usize>(),
    );
    s.push_str(base);
    if !peer.is_empty() {
        s.push('/');
        BASE32_NOPAD.encode_append(peer, &mut s);
    }
    for r in rest {
        s.push('/');
        s.push_str(r);
    }
    Key::from_clean(s)
}

/// `/peers/addrs/<B32>`. The empty peer ID collapses to `/peers/addrs`, as in Go.
pub fn addrs_key(peer: &[u8]) -> Key {
    peer_child(ADDRS, peer, &[])
}

/// `/peers/gc/addrs/<expiry unix seconds>/<B32>`.
pub fn gc_key(expiry: i64, peer: &[u8]) -> Key {
    // A decimal integer is a clean segment too.
    peer_child(&format!("{GC_ADDRS}/{expiry}"), peer, &[])
}

/// `/peers/keys/<B32>`: the folder of a peer's keys.
pub fn keys_prefix(peer: &[u8]) -> Key {
    peer_child(KEYS, peer, &[])
}

/// `/peers/keys/<B32>/pub`.
pub fn pub_key_key(peer: &[u8]) -> Key {
    peer_child(KEYS, peer, &["pub"])
}

/// `/peers/keys/<B32>/priv`.
pub fn priv_key_key(peer: &[u8]) -> Key {
    peer_child(KEYS, peer, &["priv"])
}

/// `/peers/metadata/<B32>`: the folder of one peer's metadata.
pub fn metadata_prefix(peer: &[u8]) -> Key {
    peer_child(METADATA, peer, &[])
}

/// `/peers/metadata/<B32>/<name>`. Go cleans `name` into the key; a name that would land
/// anywhere but directly inside the peer's folder (`a/b`, `..`, `.`, empty) is refused.
pub fn metadata_key(peer: &[u8], name: &str) -> Result<Key> {
    let folder = metadata_prefix(peer);
    let key = folder.child_string(name);
    if name.is_empty() || key.name() != name || !key.is_descendant_of(&folder) {
        return Err(Error::Key(format!(
            "metadata name {name:?} does not name one entry of the peer's metadata"
        )));
    }
    Ok(key)
}

/// What a key under `/peers` holds, by its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerKey {
    /// `/peers/addrs/<peer>`: the address record.
    Addrs {
        /// Raw peer-ID bytes.
        peer: Vec<u8>,
    },
    /// `/peers/gc/addrs/<expiry>/<peer>`: a GC lookahead index entry.
    GcIndex {
        /// The first expiry of the record, unix seconds.
        expiry: i64,
        /// Raw peer-ID bytes.
        peer: Vec<u8>,
    },
    /// `/peers/keys/<peer>/pub`.
    PubKey {
        /// Raw peer-ID bytes.
        peer: Vec<u8>,
    },
    /// `/peers/keys/<peer>/priv`.
    PrivKey {
        /// Raw peer-ID bytes.
        peer: Vec<u8>,
    },
    /// `/peers/metadata/<peer>/<name>` (protocols too, as `protocols`).
    Metadata {
        /// Raw peer-ID bytes.
        peer: Vec<u8>,
        /// The metadata name (`protocols` for the protocol book).
        name: String,
    },
}

/// The peer of an address-record key (`/peers/addrs/<B32>`), if `key` is one.
pub fn record_peer(key: &str) -> Option<Vec<u8>> {
    match PeerKey::parse(key)? {
        PeerKey::Addrs { peer } => Some(peer),
        _ => None,
    }
}

impl PeerKey {
    /// The raw peer ID the key belongs to.
    pub fn peer(&self) -> &[u8] {
        match self {
            PeerKey::Addrs { peer }
            | PeerKey::GcIndex { peer, .. }
            | PeerKey::PubKey { peer }
            | PeerKey::PrivKey { peer }
            | PeerKey::Metadata { peer, .. } => peer,
        }
    }

    /// Classifies a key; `None` for any shape pstoreds does not write.
    pub fn parse(key: &str) -> Option<PeerKey> {
        let segs: Vec<&str> = key.strip_prefix("/peers/")?.split('/').collect();
        let peer = |s: &str| decode_segment(s).ok();
        Some(match segs.as_slice() {
            ["addrs", p] => PeerKey::Addrs { peer: peer(p)? },
            ["gc", "addrs", ts, p] => PeerKey::GcIndex {
                expiry: ts.parse().ok()?,
                peer: peer(p)?,
            },
            ["keys", p, "pub"] => PeerKey::PubKey { peer: peer(p)? },
            ["keys", p, "priv"] => PeerKey::PrivKey { peer: peer(p)? },
            ["metadata", p, name] if !name.is_empty() => PeerKey::Metadata {
                peer: peer(p)?,
                name: (*name).to_owned(),
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_segment_of_every_key_shape() {
        for (key, seg) in [
            ("/peers/addrs/MZXW6", Some("MZXW6")),
            ("/peers/gc/addrs/1700000000/MZXW6", Some("MZXW6")),
            ("/peers/keys/mzxw6/pub", Some("mzxw6")),
            ("/peers/metadata/MZXW6/AgentVersion", Some("MZXW6")),
            ("/peers/other/MZXW6", None),
            ("/elsewhere/addrs/MZXW6", None),
        ] {
            assert_eq!(peer_segment(key), seg, "{key}");
        }
    }

    #[test]
    fn keys_built_in_one_string_are_the_cleaned_keys() {
        for peer in [
            &b""[..],
            b"foo",
            b"\x00\x24\x08\x01\x12\x20/..",
            &[0xff; 38],
        ] {
            let seg = encode_segment(peer);
            let cleaned = |base: &str, rest: &[&str]| {
                rest.iter()
                    .fold(Key::new(base).child_string(&seg), |k, r| k.child_string(r))
            };
            assert_eq!(addrs_key(peer), cleaned(ADDRS, &[]));
            assert_eq!(keys_prefix(peer), cleaned(KEYS, &[]));
            assert_eq!(pub_key_key(peer), cleaned(KEYS, &["pub"]));
            assert_eq!(priv_key_key(peer), cleaned(KEYS, &["priv"]));
            assert_eq!(metadata_prefix(peer), cleaned(METADATA, &[]));
            for expiry in [0, -5, 1_750_000_000, i64::MAX] {
                let at = Key::new(GC_ADDRS).child_string(&expiry.to_string());
                assert_eq!(gc_key(expiry, peer), at.child_string(&seg));
            }
        }
        assert_eq!(addrs_key(b"foo").as_str(), "/peers/addrs/MZXW6");
        assert_eq!(pub_key_key(b"").as_str(), "/peers/keys/pub");
    }

    #[test]
    fn format_vectors() {
        for (raw, b32) in [
            (&b""[..], ""),
            (b"foo", "MZXW6"),
            (b"foobar", "MZXW6YTBOI"),
            (b"TESTPEER", "KRCVGVCQIVCVE"),
        ] {
            assert_eq!(encode_segment(raw), b32);
            assert_eq!(decode_segment(b32).unwrap(), raw);
            assert_eq!(decode_segment(&b32.to_lowercase()).unwrap(), raw);
        }
        assert!(decode_segment("MZXW6=").is_err());
        assert!(decode_segment("not base32!").is_err());
    }

    #[test]
    fn sha256_and_identity_peer_ids_have_the_documented_shapes() {
        let mut sha = vec![0x12, 0x20];
        sha.extend([7u8; 32]);
        let s = encode_segment(&sha);
        assert_eq!(s.len(), 55);
        assert!(s.starts_with("CIQ"));
        let mut ident = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
        ident.extend([7u8; 32]);
        let s = encode_segment(&ident);
        assert_eq!(s.len(), 61);
        assert!(s.starts_with("AASAQAISEA"));
    }

    #[test]
    fn key_layout() {
        assert_eq!(addrs_key(b"foo").as_str(), "/peers/addrs/MZXW6");
        assert_eq!(addrs_key(b"").as_str(), "/peers/addrs");
        assert_eq!(
            gc_key(1700003600, b"foo").as_str(),
            "/peers/gc/addrs/1700003600/MZXW6"
        );
        assert_eq!(pub_key_key(b"foo").as_str(), "/peers/keys/MZXW6/pub");
        assert_eq!(priv_key_key(b"foo").as_str(), "/peers/keys/MZXW6/priv");
        assert_eq!(
            metadata_key(b"foo", "AgentVersion").unwrap().as_str(),
            "/peers/metadata/MZXW6/AgentVersion"
        );
    }

    #[test]
    fn metadata_names_cannot_escape_the_peer_folder() {
        for bad in ["", ".", "..", "a/b", "../MZXW6YTBOI/x", "/", "a/", "./a"] {
            assert!(metadata_key(b"foo", bad).is_err(), "{bad:?}");
        }
        assert!(metadata_key(b"foo", "...").is_ok());
        assert!(metadata_key(b"foo", "a b").is_ok());
    }

    #[test]
    fn classifies_keys_by_shape() {
        assert_eq!(
            PeerKey::parse("/peers/addrs/MZXW6"),
            Some(PeerKey::Addrs {
                peer: b"foo".to_vec()
            })
        );
        assert_eq!(
            PeerKey::parse("/peers/gc/addrs/17/MZXW6"),
            Some(PeerKey::GcIndex {
                expiry: 17,
                peer: b"foo".to_vec()
            })
        );
        assert_eq!(
            PeerKey::parse("/peers/metadata/MZXW6/protocols"),
            Some(PeerKey::Metadata {
                peer: b"foo".to_vec(),
                name: "protocols".into()
            })
        );
        for other in [
            "/peers/addrs",
            "/peers/keys/MZXW6/other",
            "/peers/gc/addrs/x/MZXW6",
            "/other",
        ] {
            assert_eq!(PeerKey::parse(other), None, "{other}");
        }
    }
}
