"""The cached ``addrs()`` answers: ``add_addrs`` leaves its result (the caller's own objects),
and no write to a peer's addresses is ever hidden by an older cached answer, from one thread
or many."""

import sys
import threading
import time

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.envelope import seal_record
from libp2p.peer.id import ID
from libp2p.peer.peer_record import PeerRecord
from multiaddr import Multiaddr

import pstoreds


def peer() -> ID:
    return ID.from_pubkey(create_new_key_pair().public_key)


def addrs_or_none(store: pstoreds.PeerStore, p: ID) -> list[str]:
    # A peer whose addresses were cleared (and nothing else stored) is not known any more.
    try:
        return sorted(map(str, store.addrs(p)))
    except pstoreds.PeerNotFoundError:
        return []


def test_add_addrs_leaves_its_answer_made_of_the_callers_objects(name):
    with pstoreds.PeerStore(name) as store:
        p = peer()
        a, b = Multiaddr("/ip4/10.0.0.1/tcp/1"), Multiaddr("/ip4/10.0.0.2/tcp/1")
        store.add_addrs(p, [a], 3600)
        store.add_addrs(p, [b], 3600)
        got = store.addrs(p)
        assert sorted(map(str, got)) == sorted(map(str, [a, b]))
        assert any(x is b for x in got)
        store.clear_addrs(p)
        assert store.addrs(p) == []
        store.add_addr(p, a, 0)
        assert store.addrs(p) == [a]


def test_concurrent_writers_and_readers_end_with_the_last_write(name):
    with pstoreds.PeerStore(name, sync="never") as store:
        peers = [peer() for _ in range(8)]
        final = {}

        def writer(t: int) -> None:
            for i in range(200):
                p = peers[(t + i) % len(peers)]
                store.add_addrs(p, [Multiaddr(f"/ip4/10.{t}.{i % 250}.1/tcp/1")], 3600)
                addrs_or_none(store, p)
                if i % 50 == 49:
                    store.clear_addrs(p)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # The cached answers equal what is stored.
        for p in peers:
            final[p] = sorted(str(e.addr) for e in store.addr_entries(p))
            assert addrs_or_none(store, p) == final[p]
    with pstoreds.PeerStore(name) as store:
        for p in peers:
            assert addrs_or_none(store, p) == final[p]


def test_a_read_that_raced_a_write_never_caches_the_older_answer(name):
    # Readers miss the cache after each write that only drops the peer's entry (a consumed
    # peer record), so their storage reads run beside the next such write: a reader that read
    # before that write and caches after it would hide it. The writer checks after each pair.
    pair = create_new_key_pair()
    p = ID.from_pubkey(pair.public_key)
    stop = threading.Event()
    # The writer waits for the GIL behind three spinning readers: hand it over often.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    with pstoreds.PeerStore(name, sync="never") as store:

        def reader() -> None:
            while not stop.is_set():
                addrs_or_none(store, p)

        readers = [threading.Thread(target=reader) for _ in range(3)]
        for t in readers:
            t.start()
        try:
            for i in range(1, 151):
                for seq in (2 * i, 2 * i + 1):
                    addr = Multiaddr(f"/ip4/10.9.{seq >> 8 & 255}.{seq & 255}/tcp/1")
                    record = seal_record(PeerRecord(p, [addr], seq), pair.private_key)
                    assert store.consume_peer_record(record, 3600)
                time.sleep(0.0005)
                stored = sorted(str(e.addr) for e in store.addr_entries(p))
                assert addrs_or_none(store, p) == stored, f"after seq {2 * i + 1}"
        finally:
            stop.set()
            for t in readers:
                t.join()
            sys.setswitchinterval(interval)
