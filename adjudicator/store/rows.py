"""Row helpers that differ between SQLite and PostgreSQL: insert-if-absent, locked counters.

Both run inside a :meth:`~adjudicator.store.Database.write` transaction. On SQLite that
transaction already holds the database's write lock (``BEGIN IMMEDIATE``); on PostgreSQL
:func:`lock_family` takes a row lock (``SELECT ... FOR UPDATE``) on the family's counter,
which every submission to that family must take before it counts.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..errors import VerificationError
from .models import Artifact, FamilyCounter

__all__ = ["insert_ignore", "record_artifact", "lock_family", "existing"]


def insert_ignore(session: Session, model: Any, values: dict[str, Any]) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(model).values(**values).on_conflict_do_nothing())


def record_artifact(session: Session, sha256: str, kind: str, size: int, at: str) -> None:
    """Record a stored object (once; the same bytes stored twice are one row)."""
    insert_ignore(session, Artifact, {"sha256": sha256, "kind": kind, "size": size,
                                      "created_at": at})


def lock_family(session: Session, challenge_id: str, family: str) -> FamilyCounter:
    """The family's counter row, locked for the rest of the transaction."""
    insert_ignore(session, FamilyCounter,
                  {"challenge_id": challenge_id, "family": family, "accepted": 0})
    return session.scalars(
        select(FamilyCounter)
        .where(FamilyCounter.challenge_id == challenge_id, FamilyCounter.family == family)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


_Row = TypeVar("_Row")


def existing(session: Session, model: type[_Row], key: Any) -> _Row:
    """The row of ``model`` with primary key ``key``, which the store's own references
    guarantee exists (a submission's challenge, a challenge's protocol): a missing one is
    a broken store, not a user error."""
    row = session.get(model, key)
    if row is None:
        raise VerificationError(f"the store has no {model.__name__} {key!r} that another row "
                             "refers to")
    return row
