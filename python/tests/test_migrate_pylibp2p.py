"""py-libp2p 0.8.1's own persistent peerstore, written by py-libp2p itself, migrated by
``pstore migrate --from py-libp2p-sqlite|py-libp2p-leveldb`` into go-libp2p's layout, and checked
through ``pstore dump`` against what was written and what py-libp2p itself reads back.

SQLite is written through py-libp2p's synchronous store (``create_sync_peerstore``), LevelDB
(plyvel) through its asynchronous one (``create_async_peerstore``): 0.8.1's synchronous LevelDB
store calls py-leveldb's ``Get``/``Put`` on plyvel's object and fails on its first write. A
damaged record is reported with its key and the rest still migrates; a store with nothing
readable exits 1 and creates nothing."""

import json
import subprocess

import pytest

import pstoreds
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from conftest import run, run_python

PERMANENT = 2**63 - 1

# Opens py-libp2p's store of argv[1] ("sqlite" or "leveldb") at argv[2]; `call(name, *args)`
# runs one of its methods, the synchronous one or its `_async` twin.
PRELUDE = r"""
import json, sys, trio
from libp2p.peer.persistent import create_async_peerstore, create_sync_peerstore

backend, path = sys.argv[1], sys.argv[2]

def open_store():
    if backend == "sqlite":
        ps = create_sync_peerstore(db_path=path, backend="sqlite")
        async def call(name, *args):
            return getattr(ps, name)(*args)
        async def close():
            ps.close()
    else:
        ps = create_async_peerstore(db_path=path, backend="leveldb")
        async def call(name, *args):
            return await getattr(ps, name + "_async")(*args)
        async def close():
            await ps.close_async()
    return call, close
"""

WRITER = PRELUDE + r"""
from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_pair
from libp2p.crypto.rsa import create_new_key_pair as rsa_pair
from libp2p.crypto.secp256k1 import create_new_key_pair as secp_pair
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
from multiaddr import Multiaddr as M

async def main():
    call, close = open_store()
    node, secp, rsa = ed25519_pair(), secp_pair(), rsa_pair()
    a, b, c = (ID.from_pubkey(k.public_key) for k in (node, secp, rsa))
    # The node itself: its signed record (consumed, and kept as the local record), another
    # address, its keys, metadata of every MetadataValue type, protocols, a latency.
    env = seal_record(PeerRecord(a, [M("/ip4/192.0.2.1/tcp/4001")], 7), node.private_key)
    assert await call("consume_peer_record", env, 7200)
    await call("add_addrs", a, [M("/ip6/2001:db8::1/udp/4001/quic-v1")], 3600)
    await call("add_key_pair", a, node)
    for k, v in [("AgentVersion", "py-libp2p/0.8.1"), ("ProtocolVersion", "ipfs/0.1.0"),
                 ("count", 5), ("ratio", 1.5), ("ok", True), ("nothing", None)]:
        await call("put", a, k, v)
    await call("add_protocols", a, ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"])
    await call("record_latency", a, 0.025)
    await call("set_local_record", env)
    # A secp256k1 peer with a TTL of 0 (py-libp2p's permanent), and an RSA peer.
    await call("add_addrs", b, [M("/dns4/example.com/tcp/443/wss")], 0)
    await call("add_key_pair", b, secp)
    await call("put", b, "AgentVersion", "other/1.0")
    await call("add_protocols", b, ["/meshsub/1.1.0"])
    await call("add_addrs", c, [M("/ip4/198.51.100.9/tcp/1"), M("/ip4/198.51.100.9/udp/1")], 120)
    await call("add_pubkey", c, rsa.public_key)
    await close()
    print(json.dumps({
        "a": str(a), "b": str(b), "c": str(c),
        "pub": {str(p): k.public_key.serialize().hex() for p, k in
                ((a, node), (b, secp), (c, rsa))},
        "seed": node.private_key.to_bytes().hex(),
        "ed_pub": node.public_key.to_bytes().hex(),
        "secp_priv": secp.private_key.serialize().hex(),
    }))

trio.run(main)
"""

# What py-libp2p itself reads back from its store, in a new process (a restarted node).
READER = PRELUDE + r"""
from libp2p.peer.id import ID

async def main():
    call, close = open_store()
    out = {}
    for p in sys.argv[3:]:
        peer = ID.from_base58(p)
        row = {"addrs": sorted(str(x) for x in await call("addrs", peer)),
               "protocols": sorted(await call("get_protocols", peer)),
               "pub": (await call("pubkey", peer)).serialize().hex(), "metadata": {}}
        try:
            row["priv"] = (await call("privkey", peer)).serialize().hex()
        except Exception:
            row["priv"] = None
        for name in ["AgentVersion", "ProtocolVersion", "count", "ratio", "ok", "nothing"]:
            try:
                row["metadata"][name] = await call("get", peer, name)
            except Exception:
                pass
        out[p] = row
    await close()
    print(json.dumps(out))

trio.run(main)
"""


# An empty store: opened, asked for its peers, closed.
EMPTY = r"""
async def main():
    call, close = open_store()
    assert await call("peer_ids") == []
    await close()

trio.run(main)
"""


@pytest.fixture(params=["sqlite", "leveldb"])
def py_backend(request) -> str:
    if request.param == "leveldb":
        pytest.importorskip("plyvel", reason="py-libp2p's LevelDB backend needs plyvel")
    return request.param


def py_store(tmp_path, backend: str) -> str:
    return str(tmp_path / ("py-peerstore.db" if backend == "sqlite" else "py-peerstore"))


def migrate(tool: str, backend: str, src: str, dst: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool, "migrate", "--from", f"py-libp2p-{backend}", *args, src, dst],
        capture_output=True, text=True, timeout=120,
    )


def dump(tool: str, name: str) -> dict:
    lines = run(tool, "dump", name).splitlines()
    return {p["peer"]: p for p in map(json.loads, lines) if "peer" in p}


def damage(backend: str, path: str, key: bytes, value: bytes) -> None:
    """Overwrites one record behind py-libp2p's back, as a disk or another program might."""
    if backend == "sqlite":
        import sqlite3

        db = sqlite3.connect(path)
        db.execute("INSERT OR REPLACE INTO datastore (key, value) VALUES (?, ?)", (key, value))
        db.commit()
        db.close()
    else:
        import plyvel

        db = plyvel.DB(path)
        db.put(key, value)
        db.close()


def write_store(backend: str, src: str) -> dict:
    return json.loads(run_python(WRITER, backend, src))


def test_a_py_libp2p_store_migrates_into_go_s_layout(tmp_path, pstore_bin, py_backend):
    src = py_store(tmp_path, py_backend)
    w = write_store(py_backend, src)
    a, b, c = w["a"], w["b"], w["c"]
    theirs = json.loads(run_python(READER, py_backend, src, a, b, c))

    dst = str(tmp_path / "go")
    p = migrate(pstore_bin, py_backend, src, dst)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout.splitlines()
    # py-libp2p's latency and record state have no place in Go's layout: said, not dropped.
    assert f"skipped: latency:{a}: the latency EWMA (25ms): go-libp2p keeps latencies in " \
        "memory only" in out
    assert any(line.startswith(f"skipped: peer_record:{a}: a record state (VALID) only")
               for line in out), out
    assert not [line for line in out if line.startswith("problem:")], out
    assert out[-1].startswith(
        f"migrated 11 of 13 py-libp2p records into {dst}: 3 peers, 5 addresses, 3 public keys, "
        "2 private keys, 7 metadata entries, 2 protocol sets, 1 signed record ("
    ), out[-1]
    run(pstore_bin, "verify", dst)

    go = dump(pstore_bin, dst)
    assert sorted(go) == sorted([a, b, c])
    for peer in (a, b, c):
        g, t = go[peer], theirs[peer]
        # Every address py-libp2p reads back, permanent: it keeps no TTL on disk and never
        # expires what it reloads.
        assert sorted(x["addr"] for x in g["addrs"]) == t["addrs"]
        assert {x["ttl"] for x in g["addrs"]} == {PERMANENT}
        assert g["pub"] == t["pub"] == w["pub"][peer]
        assert sorted(g["protocols"] or []) == t["protocols"]
        # Metadata as py-libp2p reads it back: text, Go strings.
        assert g["metadata"] == {
            k: {"type": "string", "value": v} for k, v in t["metadata"].items()
        }
    assert theirs[a]["metadata"] == {
        "AgentVersion": "py-libp2p/0.8.1", "ProtocolVersion": "ipfs/0.1.0", "count": "5",
        "ratio": "1.5", "ok": "True", "nothing": "None",
    }
    assert sorted(go[a]["addrs"], key=lambda x: x["addr"])[0]["addr"] == "/ip4/192.0.2.1/tcp/4001"
    # The Ed25519 seed py-libp2p stores becomes Go's 64 bytes: seed, then public key.
    assert go[a]["priv"] == "08011240" + w["seed"] + w["ed_pub"]
    assert go[b]["priv"] == w["secp_priv"] == theirs[b]["priv"]
    assert go[c]["priv"] is None
    # The node's own signed record (local_record) is its certified record in Go.
    assert go[a]["certified"]["seq"] == 7
    assert go[b]["certified"] is None

    # The py-libp2p node, switched to our store, has its state: addresses, key, metadata.
    with pstoreds.PeerStore(dst) as store:
        peer = ID.from_base58(a)
        assert sorted(str(x) for x in store.addrs(peer)) == theirs[a]["addrs"]
        assert store.privkey(peer).to_bytes().hex() == w["seed"]
        assert store.get(peer, "AgentVersion") == "py-libp2p/0.8.1"
        assert sorted(store.get_protocols(peer)) == ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]
        assert store.get_peer_record(peer) is not None

    # --addr-ttl gives the converted addresses a TTL of its own.
    dst2 = str(tmp_path / "go-ttl.sqlite")
    p = migrate(pstore_bin, py_backend, src, f"sqlite:{dst2}", "--addr-ttl", "1h")
    assert p.returncode == 0, p.stdout + p.stderr
    go2 = dump(pstore_bin, f"sqlite:{dst2}")
    assert {x["ttl"] for g in go2.values() for x in g["addrs"]} == {3600 * 10**9}


def test_a_damaged_record_is_reported_with_its_key_and_the_rest_migrates(
    tmp_path, pstore_bin, py_backend
):
    src = py_store(tmp_path, py_backend)
    w = write_store(py_backend, src)
    a, b = w["a"], w["b"]
    peer_b = ID.from_base58(b).to_bytes()
    damage(py_backend, src, b"metadata:" + peer_b, b"\xff\xff\xff")
    # Its address record: one address that does not parse, then one that does.
    good = Multiaddr("/ip4/198.51.100.9/tcp/1").to_bytes()
    damage(py_backend, src, b"addr:" + peer_b, b"\x0a\x02\xff\xff\x0a" + bytes([len(good)]) + good)
    damage(py_backend, src, b"bogus-key", b"x")

    dst = str(tmp_path / "go")
    p = migrate(pstore_bin, py_backend, src, dst)
    assert p.returncode == 0, p.stdout + p.stderr
    problems = [line for line in p.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 3, p.stdout
    assert any(line.startswith(f"problem: metadata:{b}: not a PeerMetadata protobuf: ")
               for line in problems), problems
    assert f"problem: addr:{b}: address #1 (0xffff) does not parse" in " ".join(problems)
    assert "problem: bogus-key: not a key py-libp2p 0.8.1 writes" in problems
    assert "3 problems" in p.stdout.splitlines()[-1]

    go = dump(pstore_bin, dst)
    # Peer b keeps what could be read: its other address, keys and protocols.
    assert [x["addr"] for x in go[b]["addrs"]] == ["/ip4/198.51.100.9/tcp/1"]
    assert go[b]["pub"] == w["pub"][b]
    assert go[b]["priv"] == w["secp_priv"]
    assert go[b]["protocols"] == ["/meshsub/1.1.0"]
    assert go[b]["metadata"] == {}
    assert go[a]["metadata"]["AgentVersion"] == {"type": "string", "value": "py-libp2p/0.8.1"}
    assert go[a]["certified"]["seq"] == 7


def test_nothing_readable_exits_1_and_creates_nothing(tmp_path, pstore_bin, py_backend):
    src = py_store(tmp_path, py_backend)
    # An empty store, as py-libp2p creates it.
    run_python(PRELUDE + EMPTY, py_backend, src)
    dst = tmp_path / "go"
    p = migrate(pstore_bin, py_backend, src, str(dst))
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"nothing converted: no py-libp2p records in {src}; {dst} not created" in p.stdout
    damage(py_backend, src, b"protocol:\x00\x01", b"\x0a\x01x")
    p = migrate(pstore_bin, py_backend, src, str(dst))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "problem: protocol:0x0001: the peer ID does not parse" in p.stdout
    assert f"nothing converted: 1 record read from {src}, none convertible;" in p.stdout
    assert not dst.exists()
    # A path that is not py-libp2p's store is an error (exit 2) naming it.
    p = migrate(pstore_bin, py_backend, str(tmp_path / "missing"), str(dst))
    assert p.returncode == 2 and "missing" in p.stderr, p.stderr


def test_go_libp2p_reads_the_migrated_store_as_pstore_dump_shows_it(
    tmp_path, pstore_bin, interop_bin, py_backend
):
    src = py_store(tmp_path, py_backend)
    w = write_store(py_backend, src)
    dst = str(tmp_path / "go")
    p = migrate(pstore_bin, py_backend, src, dst)
    assert p.returncode == 0, p.stdout + p.stderr
    run(interop_bin, "open", dst)  # goleveldb, StrictAll
    theirs = [json.loads(line) for line in run(interop_bin, "dump", dst).splitlines()]
    ours = [json.loads(line) for line in run(pstore_bin, "dump", dst).splitlines()]
    assert theirs == ours
    assert {line["peer"] for line in theirs if "peer" in line} == {w["a"], w["b"], w["c"]}
