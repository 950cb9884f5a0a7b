"""Alembic environment: runs only on a connection handed over by ``retention``."""

from __future__ import annotations

from alembic import context

from retention.storage.migrations import VERSION_TABLE
from retention.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    msg = "run migrations through store.migrate() or `retention db upgrade`, not the alembic CLI"
    raise RuntimeError(msg)

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
