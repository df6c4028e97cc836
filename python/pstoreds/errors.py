"""The exceptions of pstoreds: one class per kind of error the Rust crate reports.

Every message names the peer, key or database involved. ``PstoredsError`` is the base of all of
them. Two also derive from py-libp2p's ``PeerStoreError`` (a ``KeyError``), because py-libp2p's
own ``PeerStore`` raises that in the same situation and callers catch it: ``PeerNotFoundError``
(a peer, key or value that is not there) and ``KeyMismatchError`` (a key that is not the peer's).
``InvalidArgumentError`` (a ``TypeError`` and a ``ValueError``) is an argument of the wrong
type or value; nothing is written then.
"""

from libp2p.peer.peerstore import PeerStoreError


class PstoredsError(Exception):
    """Base class of every pstoreds error."""


# ---- the peerstore's errors ----


class CorruptValueError(PstoredsError):
    """A stored value does not decode (left as it is; ``pstore verify`` lists such values)."""


class BadKeyError(PstoredsError):
    """A key that does not decode, or cannot be used for the peer."""


class UnsupportedKeyError(BadKeyError):
    """A stored key of a type py-libp2p has no class for (ECDSA in py-libp2p 0.8.1). The key
    stays stored as it is; Go and Rust nodes read it."""


class KeyMismatchError(PstoredsError, PeerStoreError):
    """A key given for a peer whose ID it does not match."""


class BadMetadataError(PstoredsError):
    """A metadata name that would leave the peer's folder, or a value that cannot be stored."""


class PeerRecordError(PstoredsError):
    """A signed peer record that does not verify, or is for another peer."""


class TooManyProtocolsError(PstoredsError):
    """More protocols than ``max_protocols`` allows."""


class OptionsError(PstoredsError):
    """Options that contradict each other or cannot be honoured."""


class WriterThreadError(PstoredsError):
    """A background thread of the store could not be started."""


class ClosedError(PstoredsError):
    """The store was closed."""


# ---- the storage layer's errors ----


class LockedError(PstoredsError):
    """Another process (or another open store in this one) holds the database."""


class DatabaseNotFoundError(PstoredsError):
    """Nothing to open where a database was looked for."""


class OpenError(PstoredsError):
    """The database could not be opened (the engine's, SQLite's or the OS's reason follows)."""


class ReadError(PstoredsError):
    """Reading a key failed."""


class WriteError(PstoredsError):
    """A write failed; nothing of it was applied."""


class QueryError(PstoredsError):
    """A prefix query failed."""


class InvalidKeyError(PstoredsError):
    """A datastore key go-datastore's rules reject."""


class ConflictError(PstoredsError):
    """Another writer changed a record between our read and our write; nothing was written."""


class SchemaError(PstoredsError):
    """A SQL table without go-ds-sql's layout; nothing was written."""


class ServerError(PstoredsError):
    """A SQL server could not be reached, or refused us."""


class DamagedError(PstoredsError):
    """The database on disk is damaged; nothing was changed."""


class CorruptError(PstoredsError):
    """A read met damaged data: there is no answer rather than an incomplete one."""


class FailedError(PstoredsError):
    """An earlier write or sync failed; no write is accepted until the store is reopened."""


# ---- the Python package's own ----


class PeerNotFoundError(PstoredsError, PeerStoreError):
    """The peer (or its key, or the metadata value asked for) is not known to the store."""


class InvalidArgumentError(PstoredsError, TypeError, ValueError):
    """An argument of the wrong type or value (a non-ID, a negative TTL, ...)."""


__all__ = [
    name
    for name, obj in list(globals().items())
    if isinstance(obj, type) and issubclass(obj, PstoredsError)
]
