//! Each py-libp2p record into the Go books, through the [`Peerstore`] API, and the [`Report`]
//! of what became of every one. Its twins: `_load_peer_data` and `_load_local_record` of
//! `sync/peerstore.py`, what py-libp2p itself reads back on a restart; the table in the
//! [module docs](super) says what each record becomes.
//!
//! A record is converted as far as it can be: an address that does not parse is listed and
//! the peer's other addresses are converted; a public key Go cannot use is listed and the
//! private key beside it is converted. Only the destination's own failure (its storage) stops
//! the migration.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use multiaddr::Multiaddr;

use super::Error;
use super::format::{self, Book, PyKey};
use super::source::{Read, Source};
use crate::codec::envelope::SignedPeerRecord;
use crate::codec::gob::Value;
use crate::codec::hex;
use crate::peerstore::{self, Peerstore, RawPeerId, Ttl};

/// How records are converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateOptions {
    /// The TTL of every converted address (and of the local signed record's addresses).
    /// Default [`Ttl::PERMANENT`]: py-libp2p keeps no TTL on disk and never expires what it
    /// reloads.
    pub addr_ttl: Ttl,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            addr_ttl: Ttl::PERMANENT,
        }
    }
}

/// A record, or part of one, that was not converted: its key and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The key as stored; `None` for a SQLite row whose key is not bytes.
    pub key: Option<Vec<u8>>,
    /// The key as messages show it ([`format::key_text`]), or the SQLite row's.
    pub key_text: String,
    /// Why it was not converted.
    pub reason: String,
}

impl Finding {
    /// A finding about the record stored under `key`.
    pub fn new(key: &[u8], reason: impl Into<String>) -> Finding {
        Finding {
            key: Some(key.to_vec()),
            key_text: format::key_text(key),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key_text, self.reason)
    }
}

/// What was written into the Go store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Addresses (as given to the address book; one the peer already had counts again).
    pub addrs: usize,
    /// Public keys.
    pub public_keys: usize,
    /// Private keys.
    pub private_keys: usize,
    /// Metadata entries.
    pub metadata: usize,
    /// Peers whose protocol set was written.
    pub protocol_sets: usize,
    /// Signed peer records (py-libp2p keeps only its own: `local_record`).
    pub signed_records: usize,
}

/// What a migration did with every record it read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Records read from the source (SQLite rows, LevelDB keys).
    pub records: usize,
    /// Records written into the Go store, in full or in part.
    pub converted: usize,
    /// Peers something was written for.
    pub peers: usize,
    /// What was written.
    pub counts: Counts,
    /// Records read and understood that Go's layout has no place for (latencies, py-libp2p's
    /// record states), each with the reason.
    pub skipped: Vec<Finding>,
    /// Records, or parts of records, that could not be read or that the Go store refused,
    /// each with its key and the reason.
    pub problems: Vec<Finding>,
    /// What opening the source had to say (a torn journal tail LevelDB dropped, say).
    pub notes: Vec<String>,
}

/// Reads every record of a py-libp2p 0.8.1 store and writes what it holds into `dst`.
/// Fails only when the source cannot be read or `dst` fails; every record that cannot be
/// converted is in the report.
pub fn migrate(
    source: &Source,
    dst: &Peerstore,
    options: &MigrateOptions,
) -> Result<Report, Error> {
    let mut c = Converter {
        dst,
        ttl: options.addr_ttl,
        report: Report::default(),
        peers: BTreeSet::new(),
    };
    let notes = source.for_each(&mut |read| c.record(read))?;
    c.report.notes = notes;
    c.report.peers = c.peers.len();
    Ok(c.report)
}

/// What converting one record came to.
enum Outcome {
    /// Written, in full or in part.
    Converted,
    /// Understood, with nothing Go's layout can hold: why.
    Skipped(String),
    /// Nothing written; the problems are listed.
    Refused,
}

impl Outcome {
    /// How a record of `found` entries ends when `any` of them was written: converted, else
    /// skipped as `empty` when it held none, else refused.
    fn of(any: bool, found: bool, empty: &str) -> Outcome {
        match (any, found) {
            (true, _) => Outcome::Converted,
            (false, false) => Outcome::Skipped(empty.into()),
            (false, true) => Outcome::Refused,
        }
    }
}

struct Converter<'a> {
    dst: &'a Peerstore,
    ttl: Ttl,
    report: Report,
    peers: BTreeSet<RawPeerId>,
}

/// The reason a store gives for refusing a record, or its error when it failed itself.
fn refusal(e: peerstore::Error) -> Result<String, peerstore::Error> {
    use peerstore::Error as E;
    match e {
        E::BadKey { .. }
        | E::KeyMismatch { .. }
        | E::BadMetadata { .. }
        | E::PeerRecord { .. }
        | E::TooManyProtocols { .. } => Ok(e.to_string()),
        other => Err(other),
    }
}

impl Converter<'_> {
    fn record(&mut self, read: Read) -> Result<(), Error> {
        self.report.records += 1;
        let record = match read {
            Ok(r) => r,
            Err(finding) => {
                self.report.problems.push(finding);
                return Ok(());
            }
        };
        match self.convert(&record.key, &record.value)? {
            Outcome::Converted => self.report.converted += 1,
            Outcome::Skipped(reason) => {
                self.report.skipped.push(Finding::new(&record.key, reason));
            }
            Outcome::Refused => {}
        }
        Ok(())
    }

    fn problem(&mut self, key: &[u8], reason: impl Into<String>) {
        self.report.problems.push(Finding::new(key, reason));
    }

    fn unreadable(&mut self, key: &[u8], reason: impl Into<String>) -> Result<Outcome, Error> {
        self.problem(key, reason);
        Ok(Outcome::Refused)
    }

    /// A write's result: `true` if done (the peer is counted), `false` if the store refused
    /// it (listed, prefixed with `what`).
    fn wrote(
        &mut self,
        key: &[u8],
        peer: &RawPeerId,
        what: &str,
        r: peerstore::Result<()>,
    ) -> Result<bool, Error> {
        match r {
            Ok(()) => {
                self.peers.insert(peer.clone());
                Ok(true)
            }
            Err(e) => match refusal(e) {
                Ok(reason) => {
                    self.problem(key, format!("{what}refused by the Go store: {reason}"));
                    Ok(false)
                }
                Err(source) => Err(Error::Destination {
                    key: format::key_text(key),
                    source,
                }),
            },
        }
    }

    fn convert(&mut self, key: &[u8], value: &[u8]) -> Result<Outcome, Error> {
        let (book, peer) = match format::parse_key(key) {
            Ok(PyKey::Peer { book, peer }) => (book, peer),
            Ok(PyKey::LocalRecord) => return self.local_record(key, value),
            Err(e) => return self.unreadable(key, e.to_string()),
        };
        match book {
            Book::Addrs => self.addrs(key, &peer, value),
            Book::Keys => self.keys(key, &peer, value),
            Book::Metadata => self.metadata(key, &peer, value),
            Book::Protocols => self.protocols(key, &peer, value),
            Book::Latency => match format::decode_latency(value) {
                Ok(ns) => Ok(Outcome::Skipped(format!(
                    "the latency EWMA ({}): go-libp2p keeps latencies in memory only",
                    match u64::try_from(ns) {
                        Ok(ns) => format!("{:?}", Duration::from_nanos(ns)),
                        Err(_) => format!("{ns} ns"),
                    }
                ))),
                Err(e) => self.unreadable(key, e.to_string()),
            },
            Book::PeerRecord => match format::decode_record_state(value) {
                Ok(state) => Ok(Outcome::Skipped(format!(
                    "a record state ({}) only: py-libp2p 0.8.1 keeps no signed envelope, so \
                        there is no record to convert (the addresses are in addr:)",
                    format::record_state_name(state)
                ))),
                Err(e) => self.unreadable(key, e.to_string()),
            },
            Book::Additional => self.unreadable(
                key,
                "py-libp2p 0.8.1 never writes additional: records; what this one holds is \
                    not known",
            ),
        }
    }

    fn addrs(&mut self, key: &[u8], peer: &RawPeerId, value: &[u8]) -> Result<Outcome, Error> {
        let raws = match format::decode_addrs(value) {
            Ok(r) => r,
            Err(e) => return self.unreadable(key, e.to_string()),
        };
        let mut addrs = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            match Multiaddr::try_from(raw.clone()) {
                Ok(a) => addrs.push(a),
                Err(e) => self.problem(
                    key,
                    format!(
                        "address #{} (0x{}) does not parse: {e}",
                        i + 1,
                        hex::encode(raw)
                    ),
                ),
            }
        }
        if addrs.is_empty() {
            return Ok(Outcome::of(false, !raws.is_empty(), "no addresses"));
        }
        let dst = self.dst;
        if self.wrote(key, peer, "", dst.add_addrs(peer.clone(), &addrs, self.ttl))? {
            self.report.counts.addrs += addrs.len();
            return Ok(Outcome::Converted);
        }
        Ok(Outcome::Refused)
    }

    fn keys(&mut self, key: &[u8], peer: &RawPeerId, value: &[u8]) -> Result<Outcome, Error> {
        let entries = match format::decode_map(value) {
            Ok(m) => m,
            Err(e) => return self.unreadable(key, e.to_string()),
        };
        let dst = self.dst;
        let mut any = false;
        for (name, raw) in &entries {
            match name.as_str() {
                "pubkey" => match format::go_public_key(raw) {
                    Ok(k) => {
                        let r = dst.add_pub_key_bytes(peer.clone(), k.raw());
                        if self.wrote(key, peer, "the public key: ", r)? {
                            self.report.counts.public_keys += 1;
                            any = true;
                        }
                    }
                    Err(e) => self.problem(key, e.to_string()),
                },
                "privkey" => match format::go_private_key(raw) {
                    Ok(k) => {
                        let r = dst.add_priv_key_bytes(peer.clone(), k.raw());
                        if self.wrote(key, peer, "the private key: ", r)? {
                            self.report.counts.private_keys += 1;
                            any = true;
                        }
                    }
                    Err(e) => self.problem(key, e.to_string()),
                },
                other => self.problem(
                    key,
                    format!("entry {other:?}: py-libp2p writes only pubkey and privkey here"),
                ),
            }
        }
        Ok(Outcome::of(any, !entries.is_empty(), "no keys"))
    }

    fn metadata(&mut self, key: &[u8], peer: &RawPeerId, value: &[u8]) -> Result<Outcome, Error> {
        let entries = match format::decode_map(value) {
            Ok(m) => m,
            Err(e) => return self.unreadable(key, e.to_string()),
        };
        let dst = self.dst;
        let mut any = false;
        for (name, raw) in entries.iter() {
            if name == "protocols" {
                self.problem(
                    key,
                    "metadata \"protocols\": go-libp2p keeps the peer's protocol set under \
                        that name; not converted",
                );
                continue;
            }
            // py-libp2p writes text, and reads every value back as a str.
            let value = match String::from_utf8(raw.clone()) {
                Ok(s) => Value::String(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            };
            let what = format!("metadata {name:?}: ");
            if self.wrote(key, peer, &what, dst.put(peer.clone(), name, &value))? {
                self.report.counts.metadata += 1;
                any = true;
            }
        }
        Ok(Outcome::of(any, !entries.is_empty(), "no metadata"))
    }

    fn protocols(&mut self, key: &[u8], peer: &RawPeerId, value: &[u8]) -> Result<Outcome, Error> {
        let protocols = match format::decode_protocols(value) {
            Ok(p) => p,
            Err(e) => return self.unreadable(key, e.to_string()),
        };
        if protocols.is_empty() {
            return Ok(Outcome::Skipped("no protocols".into()));
        }
        let dst = self.dst;
        if self.wrote(key, peer, "", dst.set_protocols(peer.clone(), &protocols))? {
            self.report.counts.protocol_sets += 1;
            return Ok(Outcome::Converted);
        }
        Ok(Outcome::Refused)
    }

    fn local_record(&mut self, key: &[u8], value: &[u8]) -> Result<Outcome, Error> {
        let envelope = match format::decode_local_record(value) {
            Ok(e) => e,
            Err(e) => return self.unreadable(key, e.to_string()),
        };
        let signed = match SignedPeerRecord::open(&envelope) {
            Ok(s) => s,
            Err(e) => return self.unreadable(key, format!("the signed peer record: {e}")),
        };
        let peer = RawPeerId::from_bytes(signed.record.peer_id);
        match self.dst.consume_peer_record(&envelope, self.ttl) {
            Ok(true) => {
                self.peers.insert(peer);
                self.report.counts.signed_records += 1;
                Ok(Outcome::Converted)
            }
            Ok(false) => self.unreadable(
                key,
                format!("the Go store holds a newer signed record of {peer} already"),
            ),
            Err(e) => match self.wrote(key, &peer, "the signed peer record: ", Err(e))? {
                true => Ok(Outcome::Converted),
                false => Ok(Outcome::Refused),
            },
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use libp2p_identity::Keypair;

    use super::*;
    use crate::codec::crypto::{KeyType, StoredKey};
    use crate::codec::wire::put_bytes_field;

    fn message(fields: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, b) in fields {
            put_bytes_field(&mut out, *n, b);
        }
        out
    }

    /// A `PeerMetadata` as py-libp2p writes it.
    fn map(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let entries: Vec<Vec<u8>> = entries
            .iter()
            .map(|(k, v)| message(&[(1, k.as_bytes()), (2, v)]))
            .collect();
        message(&entries.iter().map(|e| (1, &e[..])).collect::<Vec<_>>())
    }

    fn key(prefix: &str, peer: &libp2p_identity::PeerId) -> Vec<u8> {
        [prefix.as_bytes(), &peer.to_bytes()].concat()
    }

    #[test]
    fn a_py_libp2p_sqlite_store_converts_and_every_bad_record_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peerstore.db");
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute(
            "CREATE TABLE datastore (key BLOB PRIMARY KEY, value BLOB NOT NULL)",
            [],
        )
        .unwrap();
        let put = |k: &[u8], v: &[u8]| {
            db.execute("INSERT INTO datastore VALUES (?1, ?2)", (k, v))
                .unwrap();
        };
        let ed = Keypair::generate_ed25519();
        let a = ed.public().to_peer_id();
        let b = Keypair::generate_secp256k1().public().to_peer_id();
        let good: multiaddr::Multiaddr = "/ip4/1.2.3.4/tcp/4001".parse().unwrap();
        put(
            &key("addr:", &a),
            &message(&[(1, &good.to_vec()), (1, &[0xff, 0xff])]),
        );
        let seed = ed.clone().try_into_ed25519().unwrap().secret();
        let py_priv = StoredKey::new(KeyType::Ed25519, seed.as_ref().to_vec());
        let public = ed.public().encode_protobuf();
        put(
            &key("key:", &a),
            &map(&[("pubkey", &public), ("privkey", py_priv.raw())]),
        );
        put(
            &key("metadata:", &a),
            &map(&[
                ("AgentVersion", b"py/1"),
                ("n", b"5"),
                ("protocols", b"x"),
                ("raw", b"\xff"),
            ]),
        );
        put(&key("protocol:", &a), &message(&[(1, b"/x/1")]));
        put(&key("latency:", &a), &[0x08, 0x80, 0xe5, 0x9a, 0x77]);
        put(&key("peer_record:", &a), &[0x08, 0x01]);
        let signed = SignedPeerRecord::seal(&ed, 7, vec![good.to_vec()]).unwrap();
        put(b"local_record", &message(&[(1, signed.envelope.raw())]));
        // Damage: a value that is not a protobuf, an unknown key, a key whose peer is not one.
        put(&key("metadata:", &b), b"\xff\xff\xff");
        put(&key("protocol:", &b), &message(&[(1, b"/y/1")]));
        put(b"something:else", b"");
        put(b"addr:\x01\x02", &message(&[(1, &good.to_vec())]));
        db.execute("INSERT INTO datastore VALUES (42, x'00')", [])
            .unwrap();
        drop(db);

        let ps = crate::peerstore::Options::new().open_memory().unwrap();
        let report = migrate(&Source::Sqlite(path), &ps, &MigrateOptions::default()).unwrap();
        assert_eq!(report.records, 12);
        assert_eq!(report.converted, 6, "{report:#?}");
        assert_eq!(report.peers, 2);
        assert_eq!(
            report.counts,
            Counts {
                addrs: 1,
                public_keys: 1,
                private_keys: 1,
                metadata: 3,
                protocol_sets: 2,
                signed_records: 1,
            }
        );
        let skipped: Vec<&str> = report.skipped.iter().map(|f| f.key_text.as_str()).collect();
        assert_eq!(
            skipped,
            [format!("latency:{a}"), format!("peer_record:{a}")]
        );
        let problems: Vec<String> = report.problems.iter().map(|f| f.to_string()).collect();
        let expect = [
            "the row with key INTEGER 42: a key must be a BLOB".to_owned(),
            "addr:0x0102: the peer ID does not parse".to_owned(),
            format!("addr:{a}: address #2 (0xffff) does not parse"),
            format!("metadata:{a}: metadata \"protocols\""),
            format!("metadata:{b}: not a PeerMetadata protobuf"),
            "something:else: not a key py-libp2p 0.8.1 writes".to_owned(),
        ];
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
        for e in &expect {
            assert!(
                problems.iter().any(|p| p.starts_with(e.as_str())),
                "{e} in {problems:#?}"
            );
        }

        assert_eq!(ps.addrs(a).unwrap(), vec![good]);
        let entries = ps.addr_entries(a).unwrap();
        assert_eq!(entries[0].ttl, Ttl::PERMANENT);
        assert_eq!(ps.peer_record(a).unwrap().unwrap().record.seq, 7);
        let stored = ps.priv_key(a).unwrap().unwrap();
        assert_eq!(stored.data.len(), 64);
        assert_eq!(stored.keypair().unwrap().public(), ed.public());
        assert_eq!(ps.get(a, "AgentVersion").unwrap(), Some("py/1".into()));
        assert_eq!(ps.get(a, "n").unwrap(), Some("5".into()));
        assert_eq!(ps.get(a, "raw").unwrap(), Some(Value::Bytes(vec![0xff])));
        assert_eq!(ps.get_protocols(a).unwrap(), ["/x/1"]);
        assert_eq!(ps.get_protocols(b).unwrap(), ["/y/1"]);
    }
}
