"""pstoreds: py-libp2p's peerstore on disk, in exactly go-libp2p's layout.

``pstoreds.PeerStore("./peers")`` is a ``libp2p.abc.IPeerStore`` whose data a go-libp2p node
(``pstoreds`` over go-ds-leveldb or go-ds-sql) and the Rust crate ``pstoreds`` open as their
own. Plug it into a host with ``new_host(key_pair=..., peerstore_opt=pstoreds.PeerStore(...))``.
"""

from . import errors
from ._native import GoValue, ttl_nanos
from .errors import *  # noqa: F403 (the hierarchy is part of the package's API)
from .peerstore import AddrEntry, PeerStore

__all__ = ["PeerStore", "AddrEntry", "GoValue", "ttl_nanos", "errors", *errors.__all__]
