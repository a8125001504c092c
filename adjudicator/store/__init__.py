"""Persistence: the database (SQLite or PostgreSQL), the artifact store, sealed truth, keys
and the persistent ledger.

:func:`open_store` builds all of them from the runtime settings (the service and the
command line call it; nothing else reads the settings)::

    store = open_store(load_settings())
    with store.db.write() as session:
        seq, checkpoint = store.ledger.append(session, {"type": ..., ...}, at=now)

This package imports the statistical core (for digests and the Merkle tree), never the
reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings
from .artifacts import ArtifactStore
from .database import Database, migrate, open_database
from .errors import ConflictError, IdempotencyKeyError, NotFoundError, PayloadTooLargeError
from .keys import ledger_key, truth_key
from .ledger import LedgerStore, LedgerVerification, verify_records
from .notes import CheckpointNote, NoteSigner, NoteVerifier
from .sealing import Sealer

__all__ = [
    "Store",
    "open_store",
    "Database",
    "open_database",
    "migrate",
    "ArtifactStore",
    "Sealer",
    "LedgerStore",
    "LedgerVerification",
    "verify_records",
    "NoteSigner",
    "NoteVerifier",
    "CheckpointNote",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "IdempotencyKeyError",
]


@dataclass(frozen=True)
class Store:
    """Everything the service persists, opened together."""

    db: Database
    artifacts: ArtifactStore
    sealer: Sealer
    ledger: LedgerStore

    def close(self) -> None:
        self.db.dispose()


def open_store(settings: Settings, *, upgrade: bool = True) -> Store:
    """Open (and migrate) the database, the artifact store and the keys of ``settings``."""
    signer = NoteSigner(ledger_key(settings.keys))
    return Store(
        db=open_database(settings.database, upgrade=upgrade),
        artifacts=ArtifactStore(settings.store),
        sealer=Sealer(truth_key(settings.keys)),
        ledger=LedgerStore(signer),
    )
