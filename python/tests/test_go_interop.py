"""Python and go-libp2p on the same files, both ways: a database go-libp2p v0.48.0 wrote
(``testdata/``) reads in Python exactly as ``pstore dump`` shows it, and what Python writes
go-libp2p decodes (its own dump) and then reads and changes through its peerstore API."""

import json
import time

import pytest

from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_pair
from libp2p.crypto.secp256k1 import create_new_key_pair as secp_pair
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
from multiaddr import Multiaddr

import pstoreds

from conftest import copy_fixture, run, store_name


def dump(tool: str, name: str, *args: str) -> list[dict]:
    return [json.loads(line) for line in run(tool, "dump", *args, name).splitlines()]


def test_a_go_written_database_reads_in_python_as_pstore_dump_shows_it(
    tmp_path, pstore_bin
):
    for fixture in ["sample", "bulk"]:
        name = copy_fixture(fixture, tmp_path)
        lines = [line for line in dump(pstore_bin, name) if "peer" in line]
        assert len(lines) > 1
        ecdsa = 0
        with pstoreds.PeerStore(name) as store:
            stored = {str(p) for p in store.peer_ids()}
            assert stored == {line["peer"] for line in lines}, fixture
            for line in lines:
                peer = ID.from_base58(line["peer"])
                got = sorted(
                    (str(e.addr), e.expiry, e.ttl_ns) for e in store.addr_entries(peer)
                )
                # The dump shows what is stored; a read returns what has not expired.
                want = sorted(
                    (a["addr"], a["expiry"], a["ttl"])
                    for a in line["addrs"]
                    if a["expiry"] > time.time()
                )
                assert got == want, (fixture, line["peer"])
                if line["pub"] and line["pub"].startswith("0803"):
                    # ECDSA: py-libp2p 0.8.1 has no class for it; ours says so, and keeps it.
                    with pytest.raises(pstoreds.UnsupportedKeyError, match=line["peer"]):
                        store.pubkey(peer)
                    ecdsa += 1
                    continue
                if line["pub"]:
                    assert store.pubkey(peer).serialize().hex() == line["pub"]
                if line["priv"]:
                    priv = store.privkey(peer)
                    go_form = bytes.fromhex(line["priv"])
                    if go_form[:2] == b"\x08\x01":
                        # Ed25519: Go stores seed and public key (64 bytes), py-libp2p's key
                        # serializes its 32-byte seed; the seed is the same.
                        assert priv.serialize()[4:36] == go_form[4:36]
                    else:
                        assert priv.serialize() == go_form
                    if line["pub"]:
                        assert priv.get_public_key().serialize().hex() == line["pub"]
                want_protocols = sorted(line["protocols"] or [])
                assert sorted(store.get_protocols(peer)) == want_protocols
                for key, value in line["metadata"].items():
                    if value["type"] in ("string", "bool", "int", "int64", "float64"):
                        assert store.get(peer, key) == value["value"], (peer, key)
                if line["certified"]:
                    env = store.get_peer_record(peer)
                    assert env is not None
                    assert env.record().seq == line["certified"]["seq"]
        assert ecdsa < len(lines), fixture
        # Keys Python could not load are still there, byte for byte.
        after = [line for line in dump(pstore_bin, name) if "peer" in line]
        assert [(x["pub"], x["priv"]) for x in after] == [(x["pub"], x["priv"]) for x in lines]


WRITER_PEERS = 6


def write_from_python(name: str) -> list[ID]:
    peers = []
    with pstoreds.PeerStore(name) as store:
        for i in range(WRITER_PEERS):
            pair = ed25519_pair() if i % 2 == 0 else secp_pair()
            peer = ID.from_pubkey(pair.public_key)
            peers.append(peer)
            store.add_key_pair(peer, pair)
            store.add_addrs(peer, [Multiaddr(f"/ip4/10.1.0.{i}/tcp/4001")], 3600)
            store.add_addr(peer, Multiaddr(f"/ip6/::{i + 1}/udp/4001/quic-v1"), 0)
            store.put(peer, "AgentVersion", f"py-libp2p/0.8.1 #{i}")
            store.put(peer, "ProtocolVersion", "ipfs/0.1.0")
            store.add_protocols(peer, ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"])
            if i == 0:
                rec = PeerRecord(peer, [Multiaddr("/ip4/10.2.0.1/tcp/1")], 7)
                assert store.consume_peer_record(seal_record(rec, pair.private_key), 600)
    return peers


def test_what_python_writes_go_libp2p_decodes_and_then_changes_through_its_api(
    tmp_path, backend, pstore_bin, interop_bin
):
    name = store_name(tmp_path, backend)
    peers = write_from_python(name)
    if backend == "leveldb":
        run(interop_bin, "open", name)  # goleveldb, StrictAll
    ours = dump(pstore_bin, name)
    theirs = dump(interop_bin, name)
    assert theirs == ours
    by_peer = {line["peer"]: line for line in theirs if "peer" in line}
    assert set(by_peer) == {str(p) for p in peers}
    first = by_peer[str(peers[0])]
    assert first["certified"] is not None and first["certified"]["seq"] == 7
    assert first["metadata"]["AgentVersion"] == {
        "type": "string",
        "value": "py-libp2p/0.8.1 #0",
    }
    # go-libp2p's own peerstore opens the store, reads each peer's addresses (and writes the
    # cleaned record back) and adds a protocol to the set Python stored.
    ops = tmp_path / "ops.jsonl"
    with open(ops, "w") as f:
        for p in peers:
            f.write(json.dumps({"op": "addrs", "peer": str(p)}) + "\n")
            f.write(
                json.dumps(
                    {"op": "add_protocols", "peer": str(p), "protocols": ["/go/1.0.0"]}
                )
                + "\n"
            )
    failed = run(interop_bin, "apply", name, str(ops))
    assert failed.strip() == "", failed
    after = {line["peer"]: line for line in dump(interop_bin, name) if "peer" in line}
    for p in peers:
        line = after[str(p)]
        assert line["protocols"] == ["/go/1.0.0", "/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]
        assert line["addrs"] == by_peer[str(p)]["addrs"]
    # ... and Python reads go-libp2p's change.
    with pstoreds.PeerStore(name) as store:
        for p in peers:
            assert "/go/1.0.0" in store.get_protocols(p)
            assert len(store.addrs(p)) in (1, 2)
