"""Schema migrations (Alembic), shipped inside the package.

The revisions in ``versions/`` are the history of :mod:`retention.storage.schema`; the
version lives in the table ``retention_schema_version``.  Run them with
``store.migrate()``, ``open_store(url, migrate=True)`` or ``retention db upgrade``;
nothing here connects to a database on import.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["VERSION_TABLE", "alembic_config", "current_version", "known_versions", "upgrade"]

#: The table holding the schema version (Alembic's version table, renamed).
VERSION_TABLE = "retention_schema_version"


class DuckDBImpl(DefaultImpl):
    """Alembic support for DuckDB (through duckdb-engine): plain transactional DDL."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Return an Alembic configuration pointing at the shipped migrations (no ini file)."""
    config = Config()
    location = resources.files("retention.storage") / "migrations"
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


@functools.cache
def known_versions() -> tuple[str, ...]:
    """Every revision id shipped with this library, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return tuple(reversed([revision.revision for revision in script.walk_revisions()]))


def current_version(connection: sa.Connection) -> str | None:
    """Return the revision recorded in the database, ``None`` if it has none."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(connection: sa.Connection, target: str = "head") -> None:
    """Apply the shipped revisions up to ``target`` inside the caller's transaction."""
    command.upgrade(alembic_config(connection), target)
