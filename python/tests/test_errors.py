"""Bad input raises an exception of pstoreds' own hierarchy whose message names what is at
fault, and changes nothing that was stored."""

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from libp2p.peer.peerstore import PeerStoreError
from multiaddr import Multiaddr

import pstoreds

ADDR = Multiaddr("/ip4/10.0.0.1/tcp/4001")


def stored(store: pstoreds.PeerStore, peer: ID) -> tuple:
    return (
        store.addrs(peer),
        store.pubkey(peer).serialize(),
        store.get(peer, "AgentVersion"),
        store.get_protocols(peer),
    )


@pytest.fixture
def filled(name):
    pair = create_new_key_pair()
    peer = ID.from_pubkey(pair.public_key)
    store = pstoreds.PeerStore(name)
    store.add_addr(peer, ADDR, 3600)
    store.add_pubkey(peer, pair.public_key)
    store.put(peer, "AgentVersion", "x/1")
    store.add_protocols(peer, ["/a/1.0.0"])
    yield store, peer
    store.close()


def test_values_of_the_wrong_type_are_refused_and_change_nothing(filled):
    store, peer = filled
    before = stored(store, peer)
    other = create_new_key_pair()
    cases = [
        (lambda: store.add_pubkey(peer, "not a key"), pstoreds.InvalidArgumentError, "PublicKey"),
        (lambda: store.add_privkey(peer, b"\x00"), pstoreds.InvalidArgumentError, "PrivateKey"),
        (lambda: store.add_addr("12D3KooW", ADDR, 10), pstoreds.InvalidArgumentError, "peer_id"),
        (lambda: store.add_addrs(peer, ["/ip4/1.1.1.1/tcp/1"], 10), pstoreds.InvalidArgumentError,
         "Multiaddr"),
        (lambda: store.add_addr(peer, ADDR, -1), pstoreds.InvalidArgumentError, "negative"),
        (lambda: store.put(peer, "k", object()), pstoreds.InvalidArgumentError, "MetadataValue"),
        (lambda: store.add_protocols(peer, [1]), pstoreds.InvalidArgumentError, "protocol"),
        # Another peer's keys: py-libp2p's own PeerStoreError too, naming the peer.
        (lambda: store.add_pubkey(peer, other.public_key), pstoreds.KeyMismatchError, str(peer)),
        (lambda: store.add_privkey(peer, other.private_key), pstoreds.KeyMismatchError, str(peer)),
    ]
    for call, kind, named in cases:
        with pytest.raises(kind) as raised:
            call()
        assert named in str(raised.value)
        assert isinstance(raised.value, pstoreds.PstoredsError)
    assert issubclass(pstoreds.KeyMismatchError, PeerStoreError)
    assert stored(store, peer) == before
    with pytest.raises(pstoreds.PeerNotFoundError, match="privkey"):
        store.privkey(peer)


def test_a_locked_leveldb_store_names_its_path_and_the_first_opener_goes_on(tmp_path):
    # (SQLite and PostgreSQL stores are shared by design: go-ds-sql locks nothing.)
    name = str(tmp_path / "peers")
    peer = ID.from_pubkey(create_new_key_pair().public_key)
    with pstoreds.PeerStore(name) as store:
        store.add_addr(peer, ADDR, 3600)
        with pytest.raises(pstoreds.LockedError, match="locked") as raised:
            pstoreds.PeerStore(name)
        assert name in str(raised.value)
        assert store.addrs(peer) == [ADDR]


def test_a_closed_store_refuses_calls(name):
    store = pstoreds.PeerStore(name)
    store.close()
    with pytest.raises(pstoreds.ClosedError):
        store.add_addr(ID.from_pubkey(create_new_key_pair().public_key), ADDR, 10)


def test_a_damaged_directory_is_refused_untouched(tmp_path):
    name = str(tmp_path / "peers")
    pair = create_new_key_pair()
    with pstoreds.PeerStore(name) as store:
        store.add_addr(ID.from_pubkey(pair.public_key), ADDR, 3600)
    (tmp_path / "peers" / "CURRENT").write_text("MANIFEST-999999\n")
    files = {p.name: p.read_bytes() for p in (tmp_path / "peers").iterdir() if p.name != "LOG"}
    with pytest.raises(pstoreds.DamagedError, match="MANIFEST-999999") as raised:
        pstoreds.PeerStore(name)
    assert name in str(raised.value)
    after = {p.name: p.read_bytes() for p in (tmp_path / "peers").iterdir() if p.name != "LOG"}
    assert after == files


def test_unreachable_and_unopenable_stores_say_where(tmp_path):
    url = "postgres://nobody@127.0.0.1:1/none"
    with pytest.raises(pstoreds.ServerError, match="127.0.0.1:1"):
        pstoreds.PeerStore(url)
    missing = f"sqlite:{tmp_path}/no/such/dir/peers.sqlite"
    with pytest.raises(pstoreds.OpenError, match="no/such/dir"):
        pstoreds.PeerStore(missing)


def test_bad_options_are_refused_before_anything_is_opened(tmp_path):
    for option in ["cache_size", "max_records", "addrs_cache"]:
        with pytest.raises(pstoreds.OptionsError, match=option):
            pstoreds.PeerStore(str(tmp_path / "p"), **{option: -1})
    with pytest.raises(pstoreds.PstoredsError, match="sync"):
        pstoreds.PeerStore(str(tmp_path / "p"), sync="sometimes")
    assert not (tmp_path / "p").exists()
