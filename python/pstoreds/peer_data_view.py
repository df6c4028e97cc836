"""``PeerStore.peer_data_map``: a read-only view of the store as py-libp2p's in-memory
``PeerStore.peer_data_map`` (a mapping of ``ID`` to ``PeerData``), for code that reads it.

Each lookup reads the store and builds a fresh ``PeerData``; changing that copy changes
nothing stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from libp2p.peer.id import ID
from libp2p.peer.peerdata import PeerData

from .errors import PeerNotFoundError

if TYPE_CHECKING:
    from .peerstore import PeerStore


class PeerDataView(Mapping[ID, PeerData]):
    """The known peers of a store and a snapshot of each one's data."""

    def __init__(self, store: PeerStore) -> None:
        self._store = store

    def __contains__(self, peer_id: object) -> bool:
        return isinstance(peer_id, ID) and self._store.has_peer(peer_id)

    def __getitem__(self, peer_id: ID) -> PeerData:
        if peer_id not in self:
            raise KeyError(peer_id)
        s = self._store
        data = PeerData()
        data.addrs = s.addrs(peer_id)
        data.protocols = s.get_protocols(peer_id)
        for getter, attr in ((s.pubkey, "pubkey"), (s.privkey, "privkey")):
            try:
                setattr(data, attr, getter(peer_id))
            except PeerNotFoundError:
                pass
        data.latmap = s.latency_EWMA(peer_id)
        return data

    def __iter__(self) -> Iterator[ID]:
        return iter(self._store.peer_ids())

    def __len__(self) -> int:
        return len(self._store.peer_ids())
