"""``PeerStore``: py-libp2p's ``IPeerStore`` kept on disk in go-libp2p's layout.

Every call takes and returns py-libp2p's own types (``ID``, ``Multiaddr``, ``PublicKey``,
``PrivateKey``, ``KeyPair``, ``Envelope``, ``PeerInfo``); the storage work runs in Rust with the
GIL released. How each py-libp2p call maps onto Go's layout is in ``docs/python.md``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
import os
from typing import Any, NamedTuple

from multiaddr import Multiaddr
import trio

from libp2p.abc import IPeerStore
from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair, KeyType, PrivateKey, PublicKey
from libp2p.crypto.pb import crypto_pb2
from libp2p.crypto.exceptions import MissingDeserializerError
from libp2p.crypto.serialization import deserialize_private_key, deserialize_public_key
from libp2p.custom_types import MetadataValue
from libp2p.peer.envelope import Envelope, unmarshal_envelope
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.peer.peerstore import _peer_record_signer_matches

from . import _native
from .errors import InvalidArgumentError, OptionsError, PeerNotFoundError, UnsupportedKeyError
from .peer_data_view import PeerDataView

# How long a thread waiting on an address stream sleeps before it looks for a cancellation.
_STREAM_POLL = 0.25


class AddrEntry(NamedTuple):
    """One stored address: Go keeps a TTL and an expiry per address."""

    addr: Multiaddr
    #: The TTL it was stored with, in Go nanoseconds.
    ttl_ns: int
    #: When it expires, in unix seconds (it is gone from that second on).
    expiry: int


def _type_name(value: object) -> str:
    return type(value).__name__


def _peer(peer_id: object) -> bytes:
    if isinstance(peer_id, ID):
        return peer_id.to_bytes()
    raise InvalidArgumentError(
        f"peer_id must be a libp2p.peer.id.ID, not {_type_name(peer_id)}: {peer_id!r}"
    )


def _protocols(protocols: object) -> list[str]:
    if isinstance(protocols, str) or not isinstance(protocols, Sequence):
        raise InvalidArgumentError(
            f"protocols must be a sequence of str, not {_type_name(protocols)}"
        )
    out = list(protocols)
    for p in out:
        if not isinstance(p, str):
            raise InvalidArgumentError(f"a protocol must be a str, not {_type_name(p)}: {p!r}")
    return out


def _go_private_key(privkey: PrivateKey) -> bytes:
    """The private key's protobuf as go-libp2p stores it. py-libp2p writes an Ed25519 key as its
    32-byte seed, which go-libp2p refuses ("expected ed25519 data size to be 64 or 96"): it is
    stored as Go's 64 bytes, seed then public key."""
    if privkey.get_type() == KeyType.Ed25519:
        data = privkey.to_bytes()
        if len(data) == 32:
            data += privkey.get_public_key().to_bytes()
        return crypto_pb2.PrivateKey(key_type=KeyType.Ed25519.value, data=data).SerializeToString()
    return privkey.serialize()


def _py_private_key(raw: bytes) -> PrivateKey:
    """A stored private key as py-libp2p's type (an Ed25519 key of Go's 64 bytes: its seed)."""
    pb = crypto_pb2.PrivateKey.FromString(raw)
    if pb.key_type == KeyType.Ed25519.value and len(pb.data) in (64, 96):
        return Ed25519PrivateKey.from_bytes(pb.data[:32])
    return deserialize_private_key(raw)


def _unsupported(peer_id: ID, which: str, raw: bytes) -> UnsupportedKeyError:
    message = crypto_pb2.PublicKey if which == "public" else crypto_pb2.PrivateKey
    kind = message.FromString(raw).key_type
    name = crypto_pb2.KeyType.Name(kind) if kind in crypto_pb2.KeyType.values() else str(kind)
    return UnsupportedKeyError(
        f"peer {peer_id}: its {which} key is {name}, a type py-libp2p cannot load; "
        "it stays stored as it is"
    )


def _not_found(peer_id: ID, what: str = "peer ID not found") -> PeerNotFoundError:
    return PeerNotFoundError(f"peer {peer_id}: {what}")


class PeerStore(IPeerStore):
    """A py-libp2p peerstore on disk, in exactly the layout go-libp2p's ``pstoreds`` writes.

    ``path_or_url`` names the store as the ``pstore`` command does: a LevelDB directory,
    ``sqlite:PATH`` (or a path ending ``.sqlite``, ``.sqlite3`` or ``.db``), or
    ``postgres://USER[:PASS]@HOST[:PORT]/DB``; it is created if missing. A Go or Rust node can
    open the same store (one process at a time for LevelDB).

    Options (``None``: go-libp2p's default):

    - ``table``: the SQL table (go-ds-sql's ``blocks``).
    - ``cache_size``: address records in the Rust store's ARC cache (1024; 0 disables it).
    - ``max_records``: address records kept at most (no cap).
    - ``max_protocols`` (1024), ``max_addrs_per_peer`` (64; 0: no cap).
    - ``gc_interval``: seconds between purges of expired addresses (7200; 0: no background GC);
      ``gc_lookahead`` (seconds, 0: purge-store mode), ``gc_initial_delay`` (60),
      ``gc_index_max_records`` (262144).
    - ``sync``: ``"always"`` (every write fsynced before it returns, go-ds-leveldb's default),
      ``"never"`` (handed to the OS only) or ``"interval"`` (handed to the OS at once, fsynced
      every ``sync_interval`` seconds, 1.0: py-libp2p's persistent store's promise).
    - ``addrs_cache``: peers whose ``addrs()`` answer is kept as Python objects (131072; 0:
      none). ``add_addrs`` leaves its result there (the caller's own ``Multiaddr`` objects);
      an answer is kept until the soonest of its addresses expires or another write to the
      peer's addresses; never for a shared (PostgreSQL) store or with ``max_records``.

    The store is always true in a boolean context (py-libp2p's ``new_swarm`` replaces a false
    peerstore with an in-memory one), is safe to use from several threads, and closes on
    ``close()`` or at the end of a ``with`` block.
    """

    def __init__(
        self,
        path_or_url: str | os.PathLike[str],
        *,
        table: str | None = None,
        cache_size: int | None = None,
        max_records: int | None = None,
        max_protocols: int | None = None,
        max_addrs_per_peer: int | None = None,
        gc_interval: float | None = None,
        gc_lookahead: float | None = None,
        gc_initial_delay: float | None = None,
        gc_index_max_records: int | None = None,
        sync: str = "always",
        sync_interval: float = 1.0,
        addrs_cache: int = 131072,
    ) -> None:
        name = os.fspath(path_or_url)
        if not isinstance(name, str):
            raise InvalidArgumentError(f"path_or_url must be a str or a path, not {name!r}")
        counts = {
            "cache_size": cache_size,
            "max_records": max_records,
            "max_protocols": max_protocols,
            "max_addrs_per_peer": max_addrs_per_peer,
            "gc_index_max_records": gc_index_max_records,
            "addrs_cache": addrs_cache,
        }
        for option, count in counts.items():
            if count is not None and (
                isinstance(count, bool) or not isinstance(count, int) or count < 0
            ):
                raise OptionsError(f"{option} must be a count (an int >= 0), not {count!r}")
        self._n = _native.NativeStore(
            name,
            table=table,
            cache_size=cache_size,
            max_protocols=max_protocols,
            max_addrs_per_peer=max_addrs_per_peer,
            max_peer_records=max_records,
            gc_purge_interval=gc_interval,
            gc_lookahead_interval=gc_lookahead,
            gc_initial_delay=gc_initial_delay,
            gc_index_max_records=gc_index_max_records,
            sync=sync,
            sync_interval=sync_interval,
            addrs_cache=addrs_cache,
        )
        self._local_record: Envelope | None = None
        self.peer_data_map = PeerDataView(self)

    # ---- the object itself ----

    def __bool__(self) -> bool:
        # Never false: py-libp2p's new_swarm does `peerstore_opt or PeerStore()`.
        return True

    def __repr__(self) -> str:
        return f"pstoreds.PeerStore({self._n.location!r})"

    def __enter__(self) -> PeerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the store (stops its GC and address streams). Closing twice is fine."""
        self._n.close()

    @property
    def location(self) -> str:
        """The store, as messages name it (never with a password)."""
        return self._n.location

    def _wrote(self, peer: bytes) -> None:
        # After a write to the peer's addresses: the addresses cache forgets it.
        self._n.forget_addrs(peer)

    # ---- address book ----

    def add_addr(self, peer_id: ID, addr: Multiaddr, ttl: float = 0) -> None:
        """Adds one address; all of the peer's addresses then live ``ttl`` seconds from now
        (py-libp2p keeps one TTL per peer). A TTL of 0 is permanent."""
        self.add_addrs(peer_id, [addr], ttl)

    def add_addrs(self, peer_id: ID, addrs: Sequence[Multiaddr], ttl: float = 0) -> None:
        """Adds addresses; all of the peer's addresses, old and new, then live ``ttl`` seconds
        from now (0: permanent), as py-libp2p's per-peer TTL. Stored per address, as Go does."""
        self._n.add_addrs_of(peer_id, addrs, ttl)

    def addrs(self, peer_id: ID) -> list[Multiaddr]:
        """The peer's unexpired addresses; raises ``PeerNotFoundError`` (a py-libp2p
        ``PeerStoreError``) for a peer the store does not know."""
        return self._n.addrs_of(peer_id)

    def addr_entries(self, peer_id: ID) -> list[AddrEntry]:
        """Each unexpired address as stored, with its Go TTL in nanoseconds (``PERMANENT`` is
        ``2**63 - 1``) and its expiry in unix seconds; nothing is written."""
        return [
            AddrEntry(Multiaddr(raw), ttl_ns, expiry)
            for raw, ttl_ns, expiry in self._n.addr_entries(_peer(peer_id))
        ]

    def clear_addrs(self, peer_id: ID) -> None:
        """Deletes the peer's addresses (and with them its signed record)."""
        peer = _peer(peer_id)
        try:
            self._n.clear_addrs(peer)
        finally:
            self._wrote(peer)

    def peers_with_addrs(self) -> list[ID]:
        """Peers with at least one unexpired address."""
        return [ID(p) for p in self._n.peers_with_addrs()]

    async def addr_stream(self, peer_id: ID) -> AsyncIterator[Multiaddr]:  # type: ignore[override]
        """The peer's addresses known now, then each new one as it is added (each once); ends
        when the store closes. Waits in a worker thread (trio), so the event loop never
        blocks."""
        stream = self._n.addr_stream(_peer(peer_id))
        try:
            while True:
                ended, raw = await trio.to_thread.run_sync(
                    stream.next, _STREAM_POLL, abandon_on_cancel=True
                )
                if ended:
                    return
                if raw is not None:
                    yield Multiaddr(raw)
        finally:
            stream.close()

    # ---- signed peer records ----

    def consume_peer_record(self, envelope: Envelope, ttl: float) -> bool:
        """Stores a signed peer record unless one with a higher seq is stored; the peer's
        addresses become exactly the record's, with ``ttl``. ``False`` if refused as older or
        signed by another peer (as py-libp2p); ``PeerRecordError`` if it does not verify."""
        if not isinstance(envelope, Envelope):
            raise InvalidArgumentError(f"envelope must be an Envelope, not {_type_name(envelope)}")
        if not _peer_record_signer_matches(envelope):
            return False
        peer = envelope.record().peer_id.to_bytes()
        try:
            accepted = self._n.consume_peer_record(envelope.marshal_envelope(), ttl)
        finally:
            self._wrote(peer)
        return accepted

    def consume_peer_records(self, envelopes: list[Envelope], ttl: float) -> list[bool]:
        """``consume_peer_record`` for each envelope, in order."""
        return [self.consume_peer_record(e, ttl) for e in envelopes]

    def get_peer_record(self, peer_id: ID) -> Envelope | None:
        """The peer's stored signed record, while it has unexpired addresses."""
        raw = self._n.get_peer_record(_peer(peer_id))
        return None if raw is None else unmarshal_envelope(raw)

    def maybe_delete_peer_record(self, peer_id: ID) -> None:
        """Drops the peer's signed record if it has no unexpired address left (in Go's layout
        the record lives in the address record, so it goes with the last address)."""
        self._n.clear_addrs_if_none_left(_peer(peer_id))

    def get_local_record(self) -> Envelope | None:
        """This host's own signed record, as set by ``set_local_record`` (kept in memory: the
        host sets it at every start)."""
        return self._local_record

    def set_local_record(self, envelope: Envelope) -> None:
        """Keeps this host's own signed record (in memory, as py-libp2p does)."""
        if not isinstance(envelope, Envelope):
            raise InvalidArgumentError(f"envelope must be an Envelope, not {_type_name(envelope)}")
        self._local_record = envelope

    # ---- peers ----

    def peer_info(self, peer_id: ID) -> PeerInfo:
        """The peer and its unexpired addresses; ``PeerNotFoundError`` for an unknown peer."""
        return PeerInfo(peer_id, self.addrs(peer_id))

    def peer_ids(self) -> list[ID]:
        """Every peer known: anything stored for it (addresses, keys, metadata, protocols), or
        named by a call of this process and not cleared."""
        return [ID(p) for p in self._n.peer_ids()]

    def valid_peer_ids(self) -> list[ID]:
        """Known peers that are not expired: with an unexpired address, or never given an
        expiring one (py-libp2p's ``is_expired``)."""
        return [ID(p) for p in self._n.valid_peer_ids()]

    def has_peer(self, peer_id: ID) -> bool:
        """Whether the store knows the peer."""
        return self._n.has_peer(_peer(peer_id))

    def clear_peerdata(self, peer_id: ID) -> None:
        """Deletes everything about the peer; ``PeerNotFoundError`` if it is not known."""
        peer = _peer(peer_id)
        try:
            existed = self._n.clear_peerdata(peer)
        finally:
            self._wrote(peer)
        if not existed:
            raise _not_found(peer_id)

    async def start_cleanup_task(self, cleanup_interval: int = 300) -> None:
        """Every ``cleanup_interval`` seconds, purges expired addresses (go-libp2p's GC, in a
        worker thread) and forgets peers left with nothing; runs until cancelled."""
        while True:
            await trio.sleep(cleanup_interval)
            await trio.to_thread.run_sync(self._n.cleanup)
            self._n.forget_all_addrs()

    # ---- protocols ----

    def get_protocols(self, peer_id: ID) -> list[str]:
        """The peer's protocols (sorted, as go-libp2p stores a set); ``PeerNotFoundError`` for
        an unknown peer."""
        got = self._n.get_protocols(_peer(peer_id))
        if got is None:
            raise _not_found(peer_id)
        return got

    def add_protocols(self, peer_id: ID, protocols: Sequence[str]) -> None:
        """Adds protocols to the peer's set."""
        self._n.add_protocols(_peer(peer_id), _protocols(protocols))

    def set_protocols(self, peer_id: ID, protocols: Sequence[str]) -> None:
        """Replaces the peer's protocols."""
        self._n.set_protocols(_peer(peer_id), _protocols(protocols))

    def remove_protocols(self, peer_id: ID, protocols: Sequence[str]) -> None:
        """Removes protocols from the peer's set."""
        self._n.remove_protocols(_peer(peer_id), _protocols(protocols))

    def supports_protocols(self, peer_id: ID, protocols: Sequence[str]) -> list[str]:
        """Those of ``protocols`` the peer supports, in the order given."""
        return self._n.supports_protocols(_peer(peer_id), _protocols(protocols))

    def first_supported_protocol(self, peer_id: ID, protocols: Sequence[str]) -> str:
        """The first of ``protocols`` the peer supports, or ``""``."""
        return self._n.first_supported_protocol(_peer(peer_id), _protocols(protocols))

    def clear_protocol_data(self, peer_id: ID) -> None:
        """Forgets the peer's protocols."""
        self._n.clear_protocol_data(_peer(peer_id))

    # ---- metadata ----

    def get(self, peer_id: ID, key: str) -> MetadataValue:
        """The value stored under ``key`` (of the type it was put as; a Go type Python has no
        value for comes back as ``GoValue``); ``PeerNotFoundError`` if there is none."""
        peer = _peer(peer_id)
        if not isinstance(key, str):
            raise InvalidArgumentError(f"a metadata key must be a str, not {_type_name(key)}")
        found, value = self._n.get(peer, key)
        if not found:
            if not self._n.has_peer(peer):
                raise _not_found(peer_id)
            raise _not_found(peer_id, f"no metadata {key!r}")
        return value

    def put(self, peer_id: ID, key: str, val: MetadataValue) -> None:
        """Stores ``val`` (``str``, ``int``, ``float``, ``bool`` or ``None``) under ``key`` as
        the Go value go-libp2p would (``string``, ``int``, ``float64``, ``bool``, nil)."""
        if not isinstance(key, str):
            raise InvalidArgumentError(f"a metadata key must be a str, not {_type_name(key)}")
        self._n.put(_peer(peer_id), key, val)

    def clear_metadata(self, peer_id: ID) -> None:
        """Deletes the peer's metadata (its protocols stay)."""
        self._n.clear_metadata(_peer(peer_id))

    # ---- keys ----

    def add_pubkey(self, peer_id: ID, pubkey: PublicKey) -> None:
        """Stores the peer's public key; ``KeyMismatchError`` (a py-libp2p ``PeerStoreError``)
        if it is not the peer's."""
        if not isinstance(pubkey, PublicKey):
            raise InvalidArgumentError(f"pubkey must be a PublicKey, not {_type_name(pubkey)}")
        self._n.add_pubkey(_peer(peer_id), pubkey.serialize())

    def pubkey(self, peer_id: ID) -> PublicKey:
        """The peer's public key (for an ID that embeds one, that key);
        ``PeerNotFoundError`` if there is none."""
        peer = _peer(peer_id)
        raw = self._n.pubkey(peer)
        if raw is None:
            if not self._n.has_peer(peer):
                raise _not_found(peer_id)
            raise _not_found(peer_id, "peer pubkey not found")
        try:
            return deserialize_public_key(raw)
        except MissingDeserializerError:
            raise _unsupported(peer_id, "public", raw) from None

    def add_privkey(self, peer_id: ID, privkey: PrivateKey) -> None:
        """Stores the peer's private key; ``KeyMismatchError`` if it is not the peer's."""
        if not isinstance(privkey, PrivateKey):
            raise InvalidArgumentError(f"privkey must be a PrivateKey, not {_type_name(privkey)}")
        peer = _peer(peer_id)
        # RSA private keys are checked here (the Rust side cannot parse them); others there.
        checked = privkey.get_type() == KeyType.RSA
        if checked and ID.from_pubkey(privkey.get_public_key()) != peer_id:
            from .errors import KeyMismatchError

            raise KeyMismatchError(f"peer {peer_id}: ID does not match the private key")
        self._n.add_privkey(peer, _go_private_key(privkey), checked)

    def privkey(self, peer_id: ID) -> PrivateKey:
        """The peer's private key; ``PeerNotFoundError`` if there is none."""
        peer = _peer(peer_id)
        raw = self._n.privkey(peer)
        if raw is None:
            if not self._n.has_peer(peer):
                raise _not_found(peer_id)
            raise _not_found(peer_id, "peer privkey not found")
        try:
            return _py_private_key(raw)
        except MissingDeserializerError:
            raise _unsupported(peer_id, "private", raw) from None

    def add_key_pair(self, peer_id: ID, key_pair: KeyPair) -> None:
        """Stores both keys of ``key_pair``."""
        if not isinstance(key_pair, KeyPair):
            raise InvalidArgumentError(f"key_pair must be a KeyPair, not {_type_name(key_pair)}")
        self.add_pubkey(peer_id, key_pair.public_key)
        self.add_privkey(peer_id, key_pair.private_key)

    def peer_with_keys(self) -> list[ID]:
        """Peers with a key stored."""
        return [ID(p) for p in self._n.peers_with_keys()]

    def clear_keydata(self, peer_id: ID) -> None:
        """Deletes the peer's keys."""
        self._n.clear_keydata(_peer(peer_id))

    # ---- metrics (in memory, as in go-libp2p) ----

    def record_latency(self, peer_id: ID, RTT: float) -> None:  # noqa: N803 (py-libp2p's name)
        """Blends a round-trip time (seconds) into the peer's EWMA (smoothing 0.1)."""
        if isinstance(RTT, bool) or not isinstance(RTT, (int, float)):
            raise InvalidArgumentError(f"RTT must be a number of seconds, not {_type_name(RTT)}")
        self._n.record_latency(_peer(peer_id), float(RTT))

    def latency_EWMA(self, peer_id: ID) -> float:  # noqa: N802 (py-libp2p's name)
        """The peer's latency EWMA in seconds (0.0 without samples)."""
        return self._n.latency_ewma(_peer(peer_id))

    def clear_metrics(self, peer_id: ID) -> None:
        """Forgets the peer's latency samples."""
        self._n.clear_metrics(_peer(peer_id))

    # ---- maintenance ----

    def gc(self) -> dict[str, Any]:
        """One GC pass now: ``records_visited``, ``records_updated``, ``records_deleted``,
        ``addrs_removed``."""
        visited, updated, deleted, removed = self._n.gc()
        self._n.forget_all_addrs()
        return {
            "records_visited": visited,
            "records_updated": updated,
            "records_deleted": deleted,
            "addrs_removed": removed,
        }
