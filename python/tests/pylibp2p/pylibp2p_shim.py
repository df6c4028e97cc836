"""A pytest plugin that runs py-libp2p 0.8.1's own peerstore tests against
``pstoreds.PeerStore``.

The tests (``tests/core/peer/test_peerstore.py``, ``test_addrbook.py``,
``test_peermetadata.py`` from py-libp2p's sdist) are not copied here: ``python/ci.sh``
downloads the sdist and runs the files in place, unmodified, with ``-p pylibp2p_shim``. A
plugin named with ``-p`` is imported before any test module, so replacing the ``PeerStore``
name of ``libp2p.peer.peerstore`` here makes the tests' ``from libp2p.peer.peerstore import
PeerStore`` bind ours: each ``PeerStore()`` is a ``pstoreds.PeerStore`` in a fresh directory
(or SQLite file), by ``PSTOREDS_TEST_BACKEND`` (``leveldb`` or ``sqlite``).
"""

import itertools
import os
import tempfile

import pytest

import libp2p.peer.peerstore as pylibp2p_peerstore

import pstoreds

BACKEND = os.environ.get("PSTOREDS_TEST_BACKEND", "leveldb")
_root = tempfile.TemporaryDirectory(prefix="pstoreds-pylibp2p-")
_serial = itertools.count()
_opened: list[pstoreds.PeerStore] = []


def _fresh_store(*_args: object, **_kwargs: object) -> pstoreds.PeerStore:
    """A new store where py-libp2p's test makes ``PeerStore()`` (its size limits ignored)."""
    path = os.path.join(_root.name, f"store{next(_serial)}")
    name = f"sqlite:{path}.sqlite" if BACKEND == "sqlite" else path
    store = pstoreds.PeerStore(name, sync="never")
    _opened.append(store)
    return store


# Proves the swap: the tests must see our class, not the in-memory one.
_fresh_store.__name__ = "PeerStore"
pylibp2p_peerstore.PeerStore = _fresh_store  # type: ignore[assignment, misc]


@pytest.fixture(autouse=True)
def _stores_are_ours():
    yield
    for store in _opened:
        assert isinstance(store, pstoreds.PeerStore)
        store.close()
    _opened.clear()


def pytest_report_header(config: pytest.Config) -> str:
    return f"py-libp2p's peer tests over pstoreds.PeerStore ({BACKEND})"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A run that built no store of ours proves nothing.
    if session.testscollected and next(_serial) == 0:
        session.exitstatus = 1
        print("\nFAIL: no pstoreds.PeerStore was constructed")
