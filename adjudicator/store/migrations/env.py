"""Alembic environment: runs on the connection :func:`adjudicator.store.database.migrate`
passes in ``config.attributes["connection"]`` (never on a URL from a file)."""

from __future__ import annotations

from alembic import context

from adjudicator.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` run by hand without the store
    raise RuntimeError("run migrations through adjudicator.store.database.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
