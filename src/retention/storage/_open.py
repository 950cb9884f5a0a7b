"""``open_store``: one entry point from a URL to a ready store."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from retention._validation import check_identifier
from retention.exceptions import ValidationError
from retention.storage._clock import system_clock
from retention.storage.memory import MemoryStore
from retention.storage.sql import SqlStore, install_sqlite_transactions, translate_errors

if TYPE_CHECKING:
    from retention.storage._rows import Clock
    from retention.storage.base import Store

__all__ = ["SchemaUpgrade", "create_engine", "open_store", "upgrade_database"]

_SCHEMES = "memory://, sqlite:///path.db, postgresql://user@host/db, duckdb:///path.duckdb"
_MEMORY_LIMIT = re.compile(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*", re.IGNORECASE)


def _check_memory_limit(memory_limit: str) -> str:
    if not _MEMORY_LIMIT.fullmatch(str(memory_limit)):
        msg = (
            f"memory_limit={memory_limit!r} is not a size; pass a number with a unit, "
            "such as '512MB' or '4GB'"
        )
        raise ValidationError(msg)
    return memory_limit.strip()


def _secret_bytes(secret: object) -> bytes | None:
    if secret is None or isinstance(secret, bytes):
        return secret
    if isinstance(secret, str):
        return secret.encode()
    msg = "secret must be str or bytes"
    raise ValidationError(msg)


def create_engine(  # noqa: C901, PLR0912 - one branch per backend and option
    url: str,
    *,
    schema: str | None = None,
    read_only: bool = False,
    memory_limit: str | None = None,
) -> sa.Engine:
    """Build the SQLAlchemy engine ``open_store`` would use for ``url`` (no connection yet).

    ``postgresql://`` and ``postgres://`` mean psycopg 3 (``postgresql+psycopg://``);
    ``schema`` (PostgreSQL only) sets the ``search_path``; ``read_only`` (DuckDB only)
    opens the file read-only, which works beside another process's writer;
    ``memory_limit`` (DuckDB only, such as ``"512MB"``) caps DuckDB's buffer pool.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as error:
        msg = f"cannot read the store URL; use one of {_SCHEMES}"
        raise ValidationError(msg) from error
    backend = parsed.get_backend_name()
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
        backend = "postgresql"
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if schema is not None and backend != "postgresql":
        msg = "schema= is only supported for PostgreSQL stores"
        raise ValidationError(msg)
    if read_only and backend != "duckdb":
        msg = "read_only= is only supported for DuckDB stores"
        raise ValidationError(msg)
    if memory_limit is not None and backend != "duckdb":
        msg = "memory_limit= is only supported for DuckDB stores"
        raise ValidationError(msg)
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        if parsed.database in {None, "", ":memory:"}:
            kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
        engine = sa.create_engine(parsed, **kwargs)
        install_sqlite_transactions(engine)
        return engine
    if backend == "postgresql":
        if schema is not None:
            check_identifier(schema, what="schema name")
            kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
        return sa.create_engine(parsed, pool_pre_ping=True, **kwargs)
    if backend == "duckdb":
        # Every read of the store sorts (or orders) its rows, so DuckDB may append and scan
        # without keeping the insertion order, which made bulk appends about 30 % faster.
        config: dict[str, Any] = {"preserve_insertion_order": False}
        if memory_limit is not None:
            config["memory_limit"] = _check_memory_limit(memory_limit)
        kwargs["connect_args"] = {"read_only": read_only, "config": config}
        if parsed.database in {None, "", ":memory:"}:
            kwargs["poolclass"] = StaticPool
        return sa.create_engine(parsed, **kwargs)
    msg = f"unsupported store URL scheme {parsed.drivername!r}; use one of {_SCHEMES}"
    raise ValidationError(msg)


def open_store(
    url: str,
    *,
    secret: str | bytes | None = None,
    migrate: bool = False,
    clock: Clock | None = None,
    schema: str | None = None,
    read_only: bool = False,
    memory_limit: str | None = None,
) -> Store:
    """Open the store at ``url``, checking (or, on request, migrating) its schema.

    Parameters
    ----------
    url
        ``memory://`` (a new in-process :class:`~retention.storage.MemoryStore`),
        ``sqlite:///path.db`` (``sqlite://`` for a private in-memory database),
        ``postgresql://user:password@host/db`` (psycopg 3) or ``duckdb:///path.duckdb``.
    secret
        Deployment secret for the HMAC-SHA-256 contact hashes kept after erasure and in the
        suppression list (DESIGN.md decision 8); without it plain SHA-256 is used.
    migrate
        Upgrade an older schema to this library's version (``store.migrate()``); without
        it an older schema is a SchemaVersionError.  An empty database always gets the
        current schema.
    clock
        Returns the aware instant stamped into ``created_at``/``updated_at`` (the system
        clock by default).
    schema
        PostgreSQL schema to keep the tables in (must exist; a safe identifier).
    read_only
        DuckDB only: open the file read-only (analytics beside a writer process).
    memory_limit
        DuckDB only: the most memory DuckDB may use, such as ``"512MB"`` or ``"4GB"``.
        DuckDB's own default is 80 % of the machine's RAM, and it keeps the table blocks
        it has read or written cached up to that limit, so a long ingest's memory grows
        with the file; a limit bounds that cache (a streaming ``ingest`` of 10M rows in
        chunks of 100,000 peaked at 546 MiB with ``"128MB"``, 751 MiB without).  Queries
        larger than the limit spill to disk where DuckDB can; writes and queries that
        cannot fail with a StorageError saying so (``add_purchases`` of 1M rows at once
        needs more than 128 MB), and DuckDB invalidates the open database when it runs out
        while committing: close the store and open it again.

    Returns
    -------
    Store
        A :class:`~retention.storage.MemoryStore` or :class:`~retention.storage.SqlStore`.

    Raises
    ------
    SchemaVersionError
        The database holds another schema version (found and expected are named).
    StorageError
        The database cannot be reached or opened (for DuckDB: another process writes).

    Examples
    --------
    >>> store = open_store("memory://")
    >>> store.purchases().empty
    True
    """
    audit_clock = clock if clock is not None else system_clock
    key = _secret_bytes(secret)
    if url.startswith("memory://"):
        if url != "memory://":
            msg = "memory:// takes no path or options"
            raise ValidationError(msg)
        return MemoryStore(secret=key, clock=audit_clock)
    engine = create_engine(url, schema=schema, read_only=read_only, memory_limit=memory_limit)
    store = SqlStore(engine, secret=key, clock=audit_clock)
    try:
        with translate_errors("opening the store", dialect=engine.dialect.name):
            if read_only:
                store.check_version_read_only()
            else:
                store.check_version(migrate=migrate)
    except BaseException:
        engine.dispose()
        raise
    return store


@attrs.frozen
class SchemaUpgrade:
    """What :func:`upgrade_database` did: the version found and the version now in place."""

    found: str | None
    current: str

    @property
    def changed(self) -> bool:
        """Whether any migration ran."""
        return self.found != self.current


def upgrade_database(url: str, *, schema: str | None = None) -> SchemaUpgrade:
    """Create or upgrade the schema of the database at ``url`` (``retention db upgrade``).

    Runs the shipped Alembic migrations in one transaction, never dropping data.  A
    database already at this library's version is left alone.

    Raises
    ------
    ValidationError
        For ``memory://`` (nothing to upgrade) or an unsupported URL.
    SchemaVersionError
        When the database is newer than this library, or holds foreign tables.
    StorageError
        When the database cannot be reached.
    """
    if url.startswith("memory://"):
        msg = "memory:// stores have no schema to upgrade; pass a database URL"
        raise ValidationError(msg)
    engine = create_engine(url, schema=schema)
    store = SqlStore(engine)
    try:
        with translate_errors("upgrading the schema", dialect=engine.dialect.name):
            found = store.schema_version()
            current = store.check_version(migrate=True)
    finally:
        engine.dispose()
    return SchemaUpgrade(found=found, current=current)
