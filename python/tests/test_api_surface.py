"""The package's surface: ``PeerStore`` implements every method of py-libp2p's
``IPeerStore`` itself, and the type stubs of the Rust half name exactly what it has."""

import ast
import inspect
import os

from libp2p.abc import IPeerStore
from libp2p.peer.peerstore import PeerStore as InMemoryPeerStore

import pstoreds
from pstoreds import _native


def test_every_method_of_ipeerstore_is_ours():
    assert not getattr(pstoreds.PeerStore, "__abstractmethods__", set())
    theirs = {
        name
        for name, member in inspect.getmembers(IPeerStore)
        if not name.startswith("_") and callable(member)
    }
    assert len(theirs) >= 35  # py-libp2p 0.8.1 has 35
    not_ours = sorted(n for n in theirs if n not in vars(pstoreds.PeerStore))
    assert not_ours == []
    # And what py-libp2p's own in-memory PeerStore has beyond the interface (addr_stream,
    # consume_peer_records, valid_peer_ids, ...), which hosts call too.
    concrete = {
        name
        for name, member in inspect.getmembers(InMemoryPeerStore)
        if not name.startswith("_") and callable(member)
    }
    assert concrete > theirs
    assert sorted(n for n in concrete if not hasattr(pstoreds.PeerStore, n)) == []


def test_the_stubs_of_the_native_module_match_it():
    path = os.path.join(os.path.dirname(pstoreds.__file__), "_native.pyi")
    with open(path) as f:
        tree = ast.parse(f.read())
    functions = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert functions == {n for n in dir(_native) if callable(getattr(_native, n))
                         and not n.startswith("_") and not inspect.isclass(getattr(_native, n))}
    for cls in (c for c in tree.body if isinstance(c, ast.ClassDef)):
        stub = {f.name for f in cls.body if isinstance(f, ast.FunctionDef)} - {"__init__"}
        real = {a for a in dir(getattr(_native, cls.name)) if not a.startswith("_")}
        assert stub == real, cls.name


def test_the_bytes_the_rust_half_reads_are_what_to_bytes_returns(name):
    # `add_addrs`/`addrs` read an exact ID's or Multiaddr's `_bytes` rather than call
    # `to_bytes()` (faster); a py-libp2p or py-multiaddr that changes that fails here.
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.peer.id import ID
    from multiaddr import Multiaddr

    peer = ID.from_pubkey(create_new_key_pair().public_key)
    addr = Multiaddr("/ip4/10.0.0.1/udp/4001/quic-v1")
    assert peer._bytes == peer.to_bytes() and isinstance(peer._bytes, bytes)
    assert addr._bytes == addr.to_bytes() and isinstance(addr._bytes, bytes)

    # A subclass is asked through its own to_bytes().
    class Other(Multiaddr):
        def to_bytes(self) -> bytes:
            return Multiaddr("/ip4/10.0.0.2/tcp/1").to_bytes()

    with pstoreds.PeerStore(name) as store:
        store.add_addrs(peer, [Other("/ip4/10.0.0.1/tcp/1")], 3600)
        assert [str(e.addr) for e in store.addr_entries(peer)] == ["/ip4/10.0.0.2/tcp/1"]
