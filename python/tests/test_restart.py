"""A node that writes, exits and starts again finds everything it stored: addresses with
their remaining TTLs, keys, metadata with their types, protocols, signed records."""

import json

from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_pair
from libp2p.crypto.rsa import create_new_key_pair as rsa_pair
from libp2p.crypto.secp256k1 import create_new_key_pair as secp_pair
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
from multiaddr import Multiaddr

import pstoreds

from conftest import run_python

WRITER = r"""
import json, sys, time
from multiaddr import Multiaddr
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.crypto.keys import KeyPair
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
import pstoreds

name, keys = sys.argv[1], json.loads(sys.argv[2])
with pstoreds.PeerStore(name) as store:
    for i, hexkey in enumerate(keys):
        priv = deserialize_private_key(bytes.fromhex(hexkey))
        pair = KeyPair(priv, priv.get_public_key())
        peer = ID.from_pubkey(pair.public_key)
        store.add_key_pair(peer, pair)
        store.add_addrs(peer, [Multiaddr(f"/ip4/10.0.0.{i}/tcp/4001")], 3600)
        store.add_addr(peer, Multiaddr(f"/ip4/10.0.1.{i}/udp/4001/quic-v1"), 7200)
        store.put(peer, "AgentVersion", f"node/{i}")
        store.put(peer, "count", i)
        store.put(peer, "ratio", i + 0.5)
        store.put(peer, "ok", i % 2 == 0)
        store.put(peer, "nothing", None)
        store.add_protocols(peer, ["/ipfs/id/1.0.0", f"/x/{i}"])
        rec = PeerRecord(peer, [Multiaddr(f"/ip4/10.0.2.{i}/tcp/9")], 40 + i)
        assert store.consume_peer_record(seal_record(rec, pair.private_key), 600)
        entries = {str(e.addr): [e.ttl_ns, e.expiry] for e in store.addr_entries(peer)}
        print(json.dumps([str(peer), entries]))
"""


def test_a_restarted_node_finds_everything_it_stored(name):
    pairs = [ed25519_pair(), secp_pair(), rsa_pair()]
    keys = json.dumps([p.private_key.serialize().hex() for p in pairs])
    written = [json.loads(line) for line in run_python(WRITER, name, keys).splitlines()]
    assert len(written) == 3

    with pstoreds.PeerStore(name) as store:
        assert {str(p) for p in store.peer_ids()} == {w[0] for w in written}
        for i, (pair, (peer_text, entries)) in enumerate(zip(pairs, written)):
            peer = ID.from_pubkey(pair.public_key)
            assert str(peer) == peer_text
            # The signed record's addresses replaced the others (py-libp2p's rule), with
            # its TTL: the same TTL and expiry as before the restart, so the same time left.
            got = {str(e.addr): [e.ttl_ns, e.expiry] for e in store.addr_entries(peer)}
            assert got == entries
            assert list(got) == [f"/ip4/10.0.2.{i}/tcp/9"]
            assert got[f"/ip4/10.0.2.{i}/tcp/9"][0] == 600 * 10**9
            assert store.addrs(peer) == [Multiaddr(f"/ip4/10.0.2.{i}/tcp/9")]
            assert store.pubkey(peer).serialize() == pair.public_key.serialize()
            assert store.privkey(peer).serialize() == pair.private_key.serialize()
            assert store.get(peer, "AgentVersion") == f"node/{i}"
            assert store.get(peer, "count") == i and type(store.get(peer, "count")) is int
            assert store.get(peer, "ratio") == i + 0.5
            assert store.get(peer, "ok") is (i % 2 == 0)
            assert store.get(peer, "nothing") is None
            assert store.get_protocols(peer) == sorted(["/ipfs/id/1.0.0", f"/x/{i}"])
            env = store.get_peer_record(peer)
            assert env is not None and env.record().seq == 40 + i
            assert env.record().peer_id == peer
            # An older record is still refused after the restart.
            old = seal_record(PeerRecord(peer, [Multiaddr("/ip4/1.1.1.1/tcp/1")], 1), pair.private_key)
            assert store.consume_peer_record(old, 600) is False


def test_remaining_ttls_count_down_across_a_restart(name):
    peer = ID.from_pubkey(ed25519_pair().public_key)
    with pstoreds.PeerStore(name) as store:
        store.add_addrs(peer, [Multiaddr("/ip4/10.9.9.9/tcp/1")], 3600)
        (before,) = store.addr_entries(peer)
    with pstoreds.PeerStore(name) as store:
        (after,) = store.addr_entries(peer)
        assert after == before
        assert after.ttl_ns == 3600 * 10**9
