"""``SqlStore``: the store on SQLAlchemy Core for SQLite, PostgreSQL and DuckDB.

One schema (:mod:`retention.storage.schema`) serves every backend.  Each public method
runs in one transaction (``BEGIN IMMEDIATE`` on SQLite, so writers queue instead of
failing to upgrade a read lock); driver errors leave as
:class:`~retention.exceptions.StorageError` naming the operation, with the driver's error
chained as ``__cause__`` and no SQL text or parameter values in the message.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from retention._validation import check_identifier, require_aware
from retention.exceptions import (
    DuplicateError,
    NotFoundError,
    RetentionError,
    SchemaVersionError,
    StorageError,
)
from retention.storage import _bulk, _rows
from retention.storage import schema as tables
from retention.storage._clock import system_clock
from retention.storage.base import (
    CUSTOMER_COLUMNS,
    DEFAULT_LEASE,
    SUPPRESSION_COLUMNS,
    TOUCH_COLUMNS,
    TOUCH_EVENT_COLUMNS,
    ErasureResult,
    IngestCheckpoint,
    MergeResult,
    OnConflict,
    PurchaseWriteResult,
)
from retention.storage.migrations import current_version, upgrade

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from datetime import datetime, timedelta

    from retention.models import Customer, Purchase, SegmentKind

__all__ = ["SqlStore"]

Row = dict[str, Any]
_CHUNK = 5000  # keys per IN list (SQLite allows 32,766 parameters)
_BULK_ROWS = 1000  # from this many rows or keys on, use COPY / DuckDB's frame path
_DRIVER_MODULES = ("duckdb", "psycopg", "sqlite3", "_duckdb")


def _is_driver_error(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] in _DRIVER_MODULES


def _describe(error: BaseException) -> str:
    """Name the driver error class only: driver messages may quote SQL and values."""
    cause = getattr(error, "orig", None) or error
    return f"{type(cause).__module__.split('.')[0]}.{type(cause).__name__}"


@contextlib.contextmanager
def translate_errors(operation: str, *, dialect: str) -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into StorageError/DuplicateError naming ``operation``."""
    try:
        yield
    except RetentionError:
        raise
    except IntegrityError as error:
        msg = (
            f"{operation} failed: a row with the same key is already stored ({_describe(error)}); "
            "nothing of this batch was written"
        )
        raise DuplicateError(msg) from error
    except SQLAlchemyError as error:
        raise StorageError(_failure_message(operation, error, dialect)) from error
    except Exception as error:
        if not _is_driver_error(error):
            raise
        raise StorageError(_failure_message(operation, error, dialect)) from error


#: What to do when DuckDB runs out of memory (write and query messages end with it).
MEMORY_LIMIT_HINT = (
    "open the store with a larger memory_limit= (open_store(url, memory_limit='4GB'))"
)


def out_of_memory(error: BaseException) -> bool:
    """Whether a driver error reports that the database ran out of memory."""
    lowered = str(getattr(error, "orig", None) or error).lower()
    return "out of memory" in lowered or "could not allocate" in lowered


def _failure_message(operation: str, error: BaseException, dialect: str) -> str:
    text = str(getattr(error, "orig", None) or error)
    if dialect == "duckdb" and "invalidated" in text.lower():
        return (
            f"{operation} failed: an earlier fatal error (such as running out of memory "
            "while committing) invalidated this process's DuckDB database. Close the store "
            "and open it again; committed data is kept"
        )
    if dialect == "duckdb" and out_of_memory(error):
        return (
            f"{operation} failed: DuckDB ran out of memory under its memory_limit; "
            f"nothing of it was written. To go on, {MEMORY_LIMIT_HINT}"
        )
    # A whole word: DuckDB's out-of-memory message speaks of a "block".
    if dialect == "duckdb" and re.search(r"\block\b", text, re.IGNORECASE):
        return (
            f"{operation} failed: the DuckDB file is open for writing in another process "
            "(DuckDB allows one writer process per file). Close the other process, open "
            "this store with read_only=True for analytics, or use a server database "
            "(PostgreSQL) for several writers"
        )
    return (
        f"{operation} failed ({_describe(error)}); the batch in flight was rolled back and "
        "nothing of it was written. Check that the database is reachable and writable, then "
        "retry"
    )


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _distinct(values: pd.Series) -> list[Any]:
    """Return the distinct values of a column (quickly for Arrow-backed strings too)."""
    distinct: list[Any] = values.drop_duplicates().to_numpy(dtype=object).tolist()
    return distinct


def _copy_cells(column: pd.Series) -> list[str]:
    """Return a validated batch column as PostgreSQL ``COPY`` text cells."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return _bulk.instant_cells(column)
    if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        cells: list[str] = column.to_numpy(dtype=np.int64).astype(str).tolist()
        return cells
    return _bulk.text_cells(column)


def _sqlite_cells(column: pd.Series) -> list[Any]:
    """Return a validated batch column as SQLite parameters (instants in SQLAlchemy's form)."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return _bulk.sqlite_instants(column)
    if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        values: list[Any] = column.to_numpy(dtype=np.int64).tolist()
        return values
    return list(column.astype(object).where(column.notna(), None).tolist())


def _as_row(mapping: Any) -> Row:  # noqa: ANN401 - SQLAlchemy RowMapping
    return dict(mapping)


@attrs.define
class SqlStore:
    """A store in a SQL database, through SQLAlchemy Core (SQLite, PostgreSQL, DuckDB).

    Open one with :func:`retention.open_store`; build one directly to inject an engine
    you configured yourself (pools, TLS...).  The constructor connects to nothing; call
    :meth:`check_version` (``open_store`` does) before use.

    Parameters
    ----------
    engine
        A SQLAlchemy engine for SQLite, PostgreSQL (psycopg 3) or DuckDB.
    secret
        Key of the HMAC-SHA-256 contact hashes (erasure, suppression); SHA-256 without it.
    clock
        Returns the aware instant stamped into ``created_at``/``updated_at``.
    """

    engine: sa.Engine
    secret: bytes | None = attrs.field(default=None, kw_only=True)
    clock: _rows.Clock = attrs.field(default=system_clock, kw_only=True)
    persistent: bool = attrs.field(init=False)
    multi_process_writers: bool = attrs.field(init=False)
    _write_lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        """Derive capability flags from the dialect."""
        name = self.engine.dialect.name
        database = self.engine.url.database or ""
        self.persistent = not (name in {"sqlite", "duckdb"} and database in {"", ":memory:"})
        self.multi_process_writers = name in {"sqlite", "postgresql"}

    # -- plumbing -----------------------------------------------------------------
    @property
    def dialect(self) -> str:
        """The backend's SQLAlchemy dialect name (``sqlite``, ``postgresql``, ``duckdb``)."""
        return self.engine.dialect.name

    @property
    def purchases_table(self) -> sa.Table:
        """The purchases table, for SQL pushdown (:mod:`retention.storage.pushdown`).

        Amounts are ``amount_minor`` integers: pass ``monetary_value_col="amount_minor"``
        and ``monetary_scale=10**exponent`` of the (single) currency.
        """
        return tables.purchases

    @contextlib.contextmanager
    def _begin(self, operation: str, *, write: bool = True) -> Iterator[sa.Connection]:
        # DuckDB's optimistic transactions abort concurrent writers of the same rows;
        # it allows one writer process anyway, so this process's writers take turns.
        serialise = write and self.dialect == "duckdb"
        lock = self._write_lock if serialise else contextlib.nullcontext()
        with lock, translate_errors(operation, dialect=self.dialect):
            engine = self.engine.execution_options(retention_write=write)
            with engine.begin() as connection:
                yield connection

    def _now(self) -> datetime:
        return require_aware(self.clock(), name="clock()")

    def _fetch(
        self,
        connection: sa.Connection,
        table: sa.Table,
        column: str,
        keys: Iterable[Any],
        *,
        distinct: bool = False,
    ) -> dict[Any, Row]:
        """Return the stored rows whose ``column`` is one of ``keys``, by key.

        Many keys are staged (:meth:`_staged_keys`) and joined: long ``IN`` lists bind
        slowly.  ``distinct=True`` says the keys are already distinct.
        """
        wanted: Sequence[Any] = list(keys) if distinct else sorted(set(keys))
        found: dict[Any, Row] = {}
        if len(wanted) >= _BULK_ROWS and self._can_stage(connection):
            with self._staged_keys(connection, wanted) as staged:
                statement = sa.select(table).where(table.c[column].in_(sa.select(staged.c.key)))
                for row in connection.execute(statement).mappings():
                    found[row[column]] = _as_row(row)
            return found
        for chunk in _chunks(wanted):
            statement = sa.select(table).where(table.c[column].in_(chunk))
            for row in connection.execute(statement).mappings():
                found[row[column]] = _as_row(row)
        return found

    def _can_stage(self, connection: sa.Connection) -> bool:
        """Whether keys may be staged: DuckDB always, PostgreSQL in write transactions.

        PostgreSQL stages into a TEMP table, which read-only transactions (a hot standby)
        refuse; SQLite binds ``IN`` lists quickly enough.
        """
        if self.dialect == "duckdb":
            return True
        write = connection.get_execution_options().get("retention_write", True)
        return self.dialect == "postgresql" and bool(write)

    @contextlib.contextmanager
    def _staged_keys(
        self, connection: sa.Connection, keys: pd.Series | Sequence[Any]
    ) -> Iterator[sa.TableClause]:
        """Stage text keys for a join: a registered frame (DuckDB), a TEMP table (PostgreSQL).

        DuckDB scans a Series' Arrow strings in place.  The PostgreSQL table is filled with
        ``COPY`` and dropped at the end (or with the rolled-back transaction).
        """
        if self.dialect == "duckdb":
            column = keys if isinstance(keys, pd.Series) else pd.Series(keys, dtype=object)
            frame = pd.DataFrame({"key": column.reset_index(drop=True)})
            with self._registered(connection, frame) as name:
                yield sa.table(name, sa.column("key"))
            return
        name = f"retention_keys_{uuid.uuid4().hex}"
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {name} (key TEXT NOT NULL) ON COMMIT DROP"
        )
        with self._copy(connection, name, ["key"]) as copy:
            copy.write(_bulk.copy_text([_bulk.text_cells(keys)]))
        connection.exec_driver_sql(f"ANALYZE {name}")
        yield sa.table(name, sa.column("key"))
        connection.exec_driver_sql(f"DROP TABLE {name}")

    @contextlib.contextmanager
    def _registered(self, connection: sa.Connection, frame: pd.DataFrame) -> Iterator[str]:
        """Register a frame as a DuckDB view (its Arrow scan); yield the view's name.

        Only used inside :meth:`_begin`'s transaction: on an error its rollback removes
        the view (a ``DROP`` would fail in DuckDB's aborted transaction and hide the error).
        """
        name = f"retention_staged_{uuid.uuid4().hex}"
        connection.exec_driver_sql("register", (name, frame))
        yield name
        connection.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")

    @contextlib.contextmanager
    def _copy(self, connection: sa.Connection, table: str, columns: list[str]) -> Iterator[Any]:
        """Open ``COPY table (columns) FROM STDIN`` (PostgreSQL) in the open transaction."""
        driver = connection.connection.driver_connection
        if driver is None:
            msg = "the database connection is closed"
            raise StorageError(msg)
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            yield copy

    def _resolve_many(self, connection: sa.Connection, ids: Iterable[str]) -> dict[str, str]:
        ids = set(ids)
        aliases = self._fetch(connection, tables.customer_aliases, "alias_id", ids)
        return {i: (aliases[i]["customer_id"] if i in aliases else i) for i in ids}

    def _audit(
        self, connection: sa.Connection, action: str, subject: str, **details: object
    ) -> None:
        connection.execute(
            tables.audit_log.insert(),
            {
                "audit_id": uuid.uuid4().hex,
                "action": action,
                "subject": subject,
                "details": _rows.audit_details(**details),
                "created_at": self._now(),
            },
        )

    def _ensure_customers(self, connection: sa.Connection, ids: pd.Series) -> int:
        """Give each customer in ``ids`` (repeats allowed) without a card a stub card.

        Returns the number of stub cards written.

        Many ids are staged (DuckDB scans the column itself, PostgreSQL gets the distinct
        ones) and inserted with one ``INSERT ... SELECT DISTINCT ... WHERE NOT EXISTS``,
        so no stored card comes back to Python.
        """
        now = self._now()
        c = tables.customers
        if self.dialect == "duckdb" and len(ids) >= _BULK_ROWS:
            keys: pd.Series | list[str] = ids
        else:
            keys = _distinct(ids)
        if len(keys) >= _BULK_ROWS and self._can_stage(connection):
            with self._staged_keys(connection, keys) as staged:
                stub = _rows.encoded_stub("", now)
                values = [
                    staged.c.key
                    if column == "customer_id"
                    else sa.literal(stub[column], type_=c.c[column].type)
                    for column in stub
                ]
                taken = sa.select(c.c.customer_id).where(c.c.customer_id == staged.c.key)
                # Sorted keys: index inserts in key order (DuckDB's ART took 30 % less).
                missing = (
                    sa.select(*values).where(~sa.exists(taken)).distinct().order_by(staged.c.key)
                )
                insert = c.insert().from_select(list(stub), missing)
                # SQLAlchemy keeps an INSERT's row count only when asked to
                return connection.execute(insert.execution_options(preserve_rowcount=True)).rowcount
        existing: set[str] = set()
        for chunk in _chunks(sorted(keys)):
            statement = sa.select(c.c.customer_id).where(c.c.customer_id.in_(chunk))
            existing.update(connection.execute(statement).scalars())
        missing_ids = sorted(set(keys) - existing)
        stubs = [_rows.encoded_stub(customer_id, now) for customer_id in missing_ids]
        self._insert(connection, c, stubs)
        return len(stubs)

    def _cards(self, connection: sa.Connection, ids: Iterable[str]) -> dict[str, Row]:
        found = self._fetch(connection, tables.customers, "customer_id", ids)
        return {key: _rows.decode_card(row) for key, row in found.items()}

    def _all_cards(self, connection: sa.Connection) -> list[Row]:
        rows = connection.execute(sa.select(tables.customers)).mappings()
        return [_rows.decode_card(_as_row(row)) for row in rows]

    def _select_rows(self, statement: sa.Select[Any], operation: str) -> list[Row]:
        with self._begin(operation, write=False) as connection:
            return [_as_row(r) for r in connection.execute(statement).mappings()]

    # -- schema ---------------------------------------------------------------------
    def schema_version(self) -> str | None:
        """Return the schema version found in the database (``None`` when it has none)."""
        with self._begin("reading the schema version", write=False) as connection:
            return current_version(connection)

    def check_version(self, *, migrate: bool = False) -> str:
        """Refuse to work on a schema of another version; create it in an empty database.

        An empty database gets the current schema.  With ``migrate=True`` an older schema is
        upgraded (see :meth:`migrate`).

        Raises
        ------
        SchemaVersionError
            When the database has another version (older without ``migrate``, or newer
            than this library), with the found and expected versions.
        """
        found = self.schema_version()
        if found == tables.SCHEMA_VERSION:
            return found
        if found is None and not self._has_tables():
            return self.migrate()
        if migrate and found is not None and found in _known_versions():
            return self.migrate()
        raise _version_error(found)

    def check_version_read_only(self) -> str:
        """Like :meth:`check_version`, but never writes (read-only stores)."""
        found = self.schema_version()
        if found != tables.SCHEMA_VERSION:
            raise _version_error(found)
        return found

    def _has_tables(self) -> bool:
        with self._begin("inspecting the database", write=False) as connection:
            present = set(sa.inspect(connection).get_table_names())
        return bool(present & set(tables.metadata.tables))

    def migrate(self) -> str:
        """Upgrade the schema to this library's version in one transaction; return it.

        Never drops data.  A database whose version is newer than this library is refused
        with SchemaVersionError.
        """
        found = self.schema_version()
        if found is not None and found not in _known_versions():
            raise _version_error(found)
        with self._begin("migrating the schema") as connection:
            upgrade(connection, tables.SCHEMA_VERSION)
        return tables.SCHEMA_VERSION

    def verify(self) -> None:
        """Check invariants; raise StorageError naming what is broken."""
        with self._begin("verifying the store", write=False) as connection:
            _rows.verify_rows(
                customers=list(
                    connection.execute(sa.select(tables.customers.c.customer_id)).scalars()
                ),
                aliases=[
                    _as_row(r)
                    for r in connection.execute(sa.select(tables.customer_aliases)).mappings()
                ],
                purchases=[
                    {"customer_id": c}
                    for c in connection.execute(
                        sa.select(tables.purchases.c.customer_id).distinct()
                    ).scalars()
                ],
                touches=[
                    _as_row(r) for r in connection.execute(sa.select(tables.touches)).mappings()
                ],
            )

    def close(self) -> None:
        """Dispose of the engine's connections."""
        self.engine.dispose()

    # -- customers ----------------------------------------------------------------
    def upsert_customers(self, customers: pd.DataFrame | Iterable[Customer]) -> int:
        """Insert new customers and update changed ones (see ``CustomerStore``)."""
        rows, fields, consents = _rows.customer_rows(customers)
        table = tables.customers
        with self._begin("upserting customers") as connection:
            resolved = self._resolve_many(connection, (r["customer_id"] for r in rows))
            _rows.check_one_card_per_customer([r["customer_id"] for r in rows], resolved)
            existing = self._cards(connection, resolved.values())
            now = self._now()
            inserts: dict[str, Row] = {}
            updates: dict[str, Row] = {}
            for row in rows:
                customer_id = resolved[row["customer_id"]]
                values = {field: row[field] for field in fields}
                if customer_id in inserts:
                    inserts[customer_id].update(values)
                    continue
                current = updates.get(customer_id) or existing.get(customer_id)
                if current is None:
                    inserts[customer_id] = {**_rows.empty_card(customer_id, now), **values}
                elif any(current[f] != values[f] for f in fields):
                    updates[customer_id] = {**current, **values, "updated_at": now}
            if inserts:
                connection.execute(
                    table.insert(), [_rows.encode_card(row) for row in inserts.values()]
                )
            if updates:
                columns = (*_rows.CUSTOMER_FIELDS, "updated_at")
                statement = (
                    table.update()
                    .where(table.c.customer_id == sa.bindparam("b_customer_id"))
                    .values({c: sa.bindparam(f"b_{c}") for c in columns})
                )
                connection.execute(
                    statement,
                    [
                        {f"b_{k}": v for k, v in _rows.encode_card(row).items()}
                        for row in updates.values()
                    ],
                )
            self._apply_consents(connection, consents, now)
        return len(inserts) + len(updates)

    def customers(self, customer_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Return customer cards sorted by id; see :class:`~retention.storage.CustomerStore`."""
        with self._begin("reading customers", write=False) as connection:
            if customer_ids is None:
                rows = self._all_cards(connection)
            else:
                resolved = self._resolve_many(connection, customer_ids)
                rows = list(self._cards(connection, resolved.values()).values())
        rows.sort(key=lambda r: r["customer_id"])
        return _rows.frame_of(rows, CUSTOMER_COLUMNS)

    def get_customer(self, customer_id: str) -> Customer:
        """Return one customer with the consent records in force (see ``CustomerStore``)."""
        c = tables.consents
        with self._begin("reading a customer", write=False) as connection:
            resolved = self._resolve_many(connection, [customer_id])[customer_id]
            card = self._cards(connection, [resolved]).get(resolved)
            statement = sa.select(c).where(c.c.customer_id == resolved)
            consents = [_as_row(r) for r in connection.execute(statement).mappings()]
        if card is None:
            msg = f"customer {customer_id!r} is not stored"
            raise NotFoundError(msg)
        return _rows.card_to_customer(card, consents)

    def resolve_customer_id(self, customer_id: str) -> str:
        """Return the id a (possibly merged) customer now lives under."""
        with self._begin("resolving a customer id", write=False) as connection:
            return self._resolve_many(connection, [customer_id])[customer_id]

    def merge_customers(self, keep: str, merged: str) -> MergeResult:
        """Merge ``merged`` into ``keep``; see :class:`~retention.storage.CustomerStore`."""
        t = tables
        with self._begin("merging customers") as connection:
            resolved = self._resolve_many(connection, [keep, merged])
            keep_id = resolved[keep]
            alias = self._fetch(connection, t.customer_aliases, "alias_id", [merged]).get(merged)
            if alias is not None and alias["customer_id"] == keep_id:
                return MergeResult(keep_id, merged, 0, 0, already_merged=True)
            merged_id = resolved[merged]
            cards = self._cards(connection, [keep_id, merged_id])
            _rows.check_mergeable(keep_id, merged_id, cards)
            now = self._now()
            moved = connection.execute(
                t.purchases.update()
                .where(t.purchases.c.customer_id == merged_id)
                .values(customer_id=keep_id, updated_at=now)
            ).rowcount
            touches = connection.execute(
                t.touches.update()
                .where(t.touches.c.customer_id == merged_id)
                .values(customer_id=keep_id, updated_at=now)
            ).rowcount
            connection.execute(
                t.touch_events.update()
                .where(t.touch_events.c.customer_id == merged_id)
                .values(customer_id=keep_id)
            )
            self._move_memberships(connection, merged_id, keep_id)
            kept_card, merged_card = cards[keep_id], cards[merged_id]
            filled = _rows.merged_card(kept_card, merged_card)
            connection.execute(t.customers.delete().where(t.customers.c.customer_id == merged_id))
            if filled:
                connection.execute(
                    t.customers.update()
                    .where(t.customers.c.customer_id == keep_id)
                    .values(**_rows.encode_card(filled), updated_at=now)
                )
            self._merge_consents(connection, merged_id, keep_id, now)
            self._move_customer_suppressions(connection, merged_id, keep_id)
            connection.execute(
                t.customer_aliases.update()
                .where(t.customer_aliases.c.customer_id == merged_id)
                .values(customer_id=keep_id)
            )
            connection.execute(
                t.customer_aliases.insert(),
                {"alias_id": merged_id, "customer_id": keep_id, "created_at": now},
            )
            self._audit(
                connection, "merge", keep_id, merged=merged_id, purchases=moved, touches=touches
            )
        return MergeResult(keep_id, merged_id, moved, touches, already_merged=False)

    def _move_memberships(self, connection: sa.Connection, old: str, new: str) -> None:
        m = tables.segment_memberships
        old_segments = set(
            connection.execute(sa.select(m.c.segment).where(m.c.customer_id == old)).scalars()
        )
        if not old_segments:
            return
        new_segments = set(
            connection.execute(sa.select(m.c.segment).where(m.c.customer_id == new)).scalars()
        )
        connection.execute(m.delete().where(m.c.customer_id == old))
        additions = [
            {"segment": s, "customer_id": new} for s in sorted(old_segments - new_segments)
        ]
        if additions:
            connection.execute(m.insert(), additions)

    def _merge_consents(self, connection: sa.Connection, old: str, new: str, now: datetime) -> None:
        c = tables.consents
        old_rows = [
            _as_row(r)
            for r in connection.execute(sa.select(c).where(c.c.customer_id == old)).mappings()
        ]
        if not old_rows:
            return
        new_rows = {
            (r["channel"], r["purpose"], r["topic"]): _as_row(r)
            for r in connection.execute(sa.select(c).where(c.c.customer_id == new)).mappings()
        }
        connection.execute(c.delete().where(c.c.customer_id == old))
        for row in old_rows:
            key = (row["channel"], row["purpose"], row["topic"])
            existing = new_rows.get(key)
            winner = _rows.more_restrictive(existing, {**row, "customer_id": new})
            if winner is existing:
                continue
            winner = {**winner, "updated_at": now}
            if existing is not None:
                connection.execute(
                    c.delete().where(
                        c.c.customer_id == new,
                        c.c.channel == key[0],
                        c.c.purpose == key[1],
                        c.c.topic == key[2],
                    )
                )
            connection.execute(c.insert(), winner)

    def _move_customer_suppressions(self, connection: sa.Connection, old: str, new: str) -> None:
        s = tables.suppressions
        customer = s.c.subject_kind == "customer"
        old_rows = [
            _as_row(r)
            for r in connection.execute(sa.select(s).where(customer, s.c.subject == old)).mappings()
        ]
        if not old_rows:
            return
        present = set(
            connection.execute(sa.select(s.c.channel).where(customer, s.c.subject == new)).scalars()
        )
        connection.execute(s.delete().where(customer, s.c.subject == old))
        moved = [{**row, "subject": new} for row in old_rows if row["channel"] not in present]
        if moved:
            connection.execute(s.insert(), moved)

    def erase_customer(self, customer_id: str) -> ErasureResult:
        """Erase a person; see :class:`~retention.storage.CustomerStore`."""
        t = tables
        with self._begin("erasing a customer") as connection:
            resolved = self._resolve_many(connection, [customer_id])[customer_id]
            pseudonym = (
                resolved
                if _rows.is_pseudonym(resolved)
                else _rows.pseudonym_of(resolved, secret=self.secret)
            )
            cards = self._cards(connection, [resolved, pseudonym])
            card = cards.get(resolved)
            if card is None or card["erased_at"] is not None:
                tombstone = cards.get(pseudonym)
                if tombstone is not None and tombstone["erased_at"] is not None:
                    kept = connection.execute(
                        sa.select(sa.func.count())
                        .select_from(t.purchases)
                        .where(t.purchases.c.customer_id == pseudonym)
                    ).scalar_one()
                    return ErasureResult(resolved, pseudonym, int(kept), 0, already_erased=True)
                msg = f"customer {customer_id!r} is not stored; nothing to erase"
                raise NotFoundError(msg)
            now = self._now()
            hashes = _rows.erasure_hashes(card, secret=self.secret)
            s = t.suppressions
            for kind, digest in hashes:
                exists = connection.execute(
                    sa.select(sa.func.count())
                    .select_from(s)
                    .where(s.c.subject_kind == kind, s.c.subject == digest, s.c.channel == "*")
                ).scalar_one()
                if not exists:
                    connection.execute(
                        s.insert(),
                        {
                            "subject_kind": kind,
                            "subject": digest,
                            "channel": "*",
                            "reason": "erased",
                            "created_at": now,
                        },
                    )
            former = {resolved} | set(
                connection.execute(
                    sa.select(t.customer_aliases.c.alias_id).where(
                        t.customer_aliases.c.customer_id == resolved
                    )
                ).scalars()
            )
            kept = connection.execute(
                t.purchases.update()
                .where(t.purchases.c.customer_id == resolved)
                .values(customer_id=pseudonym, updated_at=now)
            ).rowcount
            connection.execute(
                t.touches.update()
                .where(t.touches.c.customer_id == resolved)
                .values(customer_id=pseudonym, updated_at=now)
            )
            connection.execute(
                t.touch_events.update()
                .where(t.touch_events.c.customer_id == resolved)
                .values(customer_id=pseudonym)
            )
            connection.execute(t.consents.delete().where(t.consents.c.customer_id == resolved))
            connection.execute(
                t.segment_memberships.delete().where(
                    t.segment_memberships.c.customer_id == resolved
                )
            )
            connection.execute(
                t.customer_aliases.delete().where(t.customer_aliases.c.customer_id == resolved)
            )
            for chunk in _chunks(sorted(former)):
                connection.execute(
                    t.quarantine.delete().where(t.quarantine.c.customer_id.in_(chunk))
                )
            self._move_customer_suppressions(connection, resolved, pseudonym)
            connection.execute(t.customers.delete().where(t.customers.c.customer_id == resolved))
            if pseudonym not in cards:  # the same id erased again keeps its first tombstone
                connection.execute(
                    t.customers.insert(),
                    _rows.encode_card(
                        {
                            **_rows.empty_card(pseudonym, now),
                            "erased_at": now,
                            "created_at": card["created_at"],
                        }
                    ),
                )
            self._audit(connection, "erase", pseudonym, purchases=kept, contact_hashes=len(hashes))
        return ErasureResult(resolved, pseudonym, kept, len(hashes), already_erased=False)

    # -- purchases ----------------------------------------------------------------
    def add_purchases(
        self,
        transactions: pd.DataFrame | Iterable[Purchase],
        *,
        on_conflict: OnConflict = "quarantine",
        checkpoint: IngestCheckpoint
        | Callable[[PurchaseWriteResult], IngestCheckpoint]
        | None = None,
        quarantined: pd.DataFrame | None = None,
    ) -> PurchaseWriteResult:
        """Append purchases in one transaction; see :class:`~retention.storage.PurchaseStore`."""
        _rows.check_on_conflict(on_conflict)
        batch = _rows.purchase_frame(transactions)
        rejects = [] if quarantined is None else _rows.reject_rows(quarantined)
        if self.dialect == "duckdb" and len(batch) >= _BULK_ROWS:
            # Order ids rarely repeat inside a large batch (ingest removes its repeats), so
            # DuckDB's primary key looks for them during the insert; if one does, the
            # transaction rolls back and the batch goes again with its repeats classified.
            with contextlib.suppress(DuplicateError):
                return self._append(batch, rejects, on_conflict, checkpoint, find_repeats=False)
        return self._append(batch, rejects, on_conflict, checkpoint, find_repeats=True)

    def _append(
        self,
        batch: pd.DataFrame,
        rejects: list[Row],
        on_conflict: OnConflict,
        checkpoint: IngestCheckpoint | Callable[[PurchaseWriteResult], IngestCheckpoint] | None,
        *,
        find_repeats: bool,
    ) -> PurchaseWriteResult:
        """Write one validated batch in one transaction (the body of :meth:`add_purchases`)."""
        p = tables.purchases
        with self._begin("adding purchases") as connection:
            aliases, stored, special = self._look_up_batch(
                connection, batch, find_repeats=find_repeats
            )
            if aliases:
                ids = batch["customer_id"]
                kept = ids.map(aliases)
                batch = batch.assign(customer_id=kept.where(kept.notna(), ids).astype(object))
            # Order ids seen once in the batch and not stored are new: only the others
            # (usually few) are classified row by row.
            plain = batch[~special] if bool(special.any()) else batch
            outcome = _rows.classify_purchases(
                _rows.purchase_records(batch[special]), stored, on_conflict=on_conflict
            )
            now = self._now()
            others = [row["customer_id"] for row in outcome.new] + [
                new["customer_id"] for _, new in outcome.updates
            ]
            owners = plain["customer_id"]
            if others:
                owners = pd.concat([owners, pd.Series(others, dtype=object)], ignore_index=True)
            created = self._ensure_customers(connection, owners)
            self._insert_batch(connection, plain, now)
            if outcome.new:
                self._insert_purchases(connection, outcome.new, now)
            for old, new in outcome.updates:
                connection.execute(
                    p.update()
                    .where(p.c.order_id == new["order_id"])
                    .values(
                        **{c: new[c] for c in _rows.STORED_PURCHASE_COLUMNS if c != "order_id"},
                        updated_at=now,
                    )
                )
                self._audit(connection, "purchase_update", new["order_id"], **_rows.old_values(old))
            if outcome.conflicts or rejects:
                rows = {
                    row["quarantine_id"]: row
                    for row in (_rows.quarantine_row(c, now) for c in outcome.conflicts)
                }
                for reject in rejects:
                    rows.setdefault(reject["quarantine_id"], {**reject, "created_at": now})
                present = self._fetch(connection, tables.quarantine, "quarantine_id", rows)
                fresh = [row for key, row in rows.items() if key not in present]
                if fresh:
                    connection.execute(tables.quarantine.insert(), fresh)
            result = PurchaseWriteResult(
                stored=len(plain) + len(outcome.new) + len(outcome.updates),
                deduplicated=outcome.deduplicated,
                conflicts=_rows.conflicts_frame(outcome.conflicts),
                updated=len(outcome.updates),
                customers_created=created,
            )
            if checkpoint is not None:
                saved = checkpoint(result) if callable(checkpoint) else checkpoint
                self._save_checkpoint(connection, saved, now)
        return result

    def _look_up_batch(
        self, connection: sa.Connection, batch: pd.DataFrame, *, find_repeats: bool
    ) -> tuple[dict[str, str], dict[str, Row], pd.Series]:
        """Return what the store knows of a batch's keys.

        That is the merged customer ids among its customers (alias -> kept id), the stored
        purchases sharing its order ids (by order id), and the mask of its rows whose order
        id is stored or (with ``find_repeats``) repeats in the batch.  DuckDB answers all
        three from the batch's key columns registered once; the other backends look up
        the distinct keys (and always find the repeats).
        """
        a, p = tables.customer_aliases, tables.purchases
        order_ids = batch["order_id"]
        if self.dialect == "duckdb" and len(batch) >= _BULK_ROWS:
            with self._registered(connection, batch[["order_id", "customer_id"]]) as name:
                keys = sa.table(name, sa.column("order_id"), sa.column("customer_id"))
                merged = sa.select(a.c.alias_id, a.c.customer_id).where(
                    a.c.alias_id.in_(sa.select(keys.c.customer_id))
                )
                aliases = {str(alias): str(kept) for alias, kept in connection.execute(merged)}
                same = sa.select(p).where(p.c.order_id.in_(sa.select(keys.c.order_id)))
                stored = {
                    row["order_id"]: _as_row(row) for row in connection.execute(same).mappings()
                }
                flagged = set(stored)
                if find_repeats:
                    repeats = (
                        sa.select(keys.c.order_id)
                        .group_by(keys.c.order_id)
                        .having(sa.func.count() > 1)
                    )
                    flagged.update(connection.execute(repeats).scalars())
            return aliases, stored, order_ids.isin(list(flagged))
        found = self._fetch(
            connection, a, "alias_id", _distinct(batch["customer_id"]), distinct=True
        )
        aliases = {alias: row["customer_id"] for alias, row in found.items()}
        stored = self._fetch(connection, p, "order_id", _distinct(order_ids), distinct=True)
        special = order_ids.duplicated(keep=False)
        if stored:
            special = special | order_ids.isin(list(stored))
        return aliases, stored, special

    def _insert_batch(self, connection: sa.Connection, batch: pd.DataFrame, now: datetime) -> None:
        """Insert validated new purchases column-wise, through the backend's bulk path."""
        if len(batch) < _BULK_ROWS:
            self._insert_purchases(connection, _rows.purchase_records(batch), now)
            return
        stored = list(_rows.STORED_PURCHASE_COLUMNS)
        columns = [*stored, "created_at", "updated_at"]
        if self.dialect == "duckdb":
            # Columns missing throughout (often refund_of, source, category) are NULL
            # literals: DuckDB would read a column of Python ``None`` object by object.
            empty = {c for c in stored if batch[c].dtype == object and bool(batch[c].isna().all())}
            staged = batch[[c for c in stored if c not in empty]].assign(
                purchased_at=_bulk.naive_utc(batch["purchased_at"])
            )
            with self._registered(connection, staged) as name:
                source = sa.table(name, *(sa.column(column) for column in staged.columns))
                stamp = sa.literal(now, type_=tables.purchases.c.created_at.type)
                picked = [sa.null() if c in empty else source.c[c] for c in stored]
                rows = sa.select(*picked, stamp, stamp)
                connection.execute(tables.purchases.insert().from_select(columns, rows))
            return
        stamped = batch.assign(created_at=now, updated_at=now)
        table = tables.purchases.name
        if self.dialect == "postgresql":
            cells = [_copy_cells(stamped[column]) for column in columns]
            with self._copy(connection, table, columns) as copy:
                copy.write(_bulk.copy_text(cells))
            return
        values = [_sqlite_cells(stamped[column]) for column in columns]
        marks = ", ".join("?" * len(columns))
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 - schema names only
            list(zip(*values, strict=True)),
        )

    def _insert_purchases(self, connection: sa.Connection, rows: list[Row], now: datetime) -> None:
        self._insert(
            connection,
            tables.purchases,
            [
                {
                    **{column: row[column] for column in _rows.STORED_PURCHASE_COLUMNS},
                    "created_at": now,
                    "updated_at": now,
                }
                for row in rows
            ],
        )

    def _insert(self, connection: sa.Connection, table: sa.Table, rows: list[Row]) -> None:
        """Insert rows, through the backend's bulk path when there are many.

        PostgreSQL streams them with ``COPY``; DuckDB inserts from a registered frame (its
        Arrow path); SQLite and small batches use an ordinary multi-row ``INSERT``.  All
        run inside the caller's transaction.
        """
        if not rows:
            return
        columns = list(rows[0])
        names = ", ".join(columns)
        if len(rows) >= _BULK_ROWS and self.dialect == "postgresql":
            with self._copy(connection, table.name, columns) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
            return
        if len(rows) >= _BULK_ROWS and self.dialect == "duckdb":
            with self._registered(connection, _rows.staged_frame(rows, columns, table)) as name:
                connection.exec_driver_sql(
                    f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {name}"  # noqa: S608 - schema names only
                )
            return
        connection.execute(table.insert(), rows)

    def _save_checkpoint(
        self, connection: sa.Connection, checkpoint: IngestCheckpoint, now: datetime
    ) -> None:
        c = tables.ingest_checkpoints
        connection.execute(c.delete().where(c.c.source == checkpoint.source))
        connection.execute(c.insert(), _rows.checkpoint_row(checkpoint, now))

    def purchases(
        self,
        *,
        customer_ids: Iterable[str] | None = None,
        order_ids: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Return purchases sorted by time and order id (see ``PurchaseStore``)."""
        p = tables.purchases
        statement = sa.select(*(p.c[c] for c in _rows.STORED_PURCHASE_COLUMNS))
        if since is not None:
            statement = statement.where(p.c.purchased_at >= require_aware(since, name="since"))
        if until is not None:
            statement = statement.where(p.c.purchased_at < require_aware(until, name="until"))
        if order_ids is not None:
            return self._purchases_by_order(order_ids, customer_ids, since, until)
        with self._begin("reading purchases", write=False) as connection:
            if customer_ids is not None:
                wanted = sorted(set(self._resolve_many(connection, customer_ids).values()))
                rows: list[Row] = []
                for chunk in _chunks(wanted):
                    rows += [
                        _as_row(r)
                        for r in connection.execute(
                            statement.where(p.c.customer_id.in_(chunk))
                        ).mappings()
                    ]
            else:
                rows = [_as_row(r) for r in connection.execute(statement).mappings()]
        rows.sort(key=lambda r: (r["purchased_at"], r["order_id"]))
        return _rows.purchases_frame_of(rows)

    def _purchases_by_order(
        self,
        order_ids: Iterable[str],
        customer_ids: Iterable[str] | None,
        since: datetime | None,
        until: datetime | None,
    ) -> pd.DataFrame:
        with self._begin("reading purchases", write=False) as connection:
            found = list(
                self._fetch(connection, tables.purchases, "order_id", set(order_ids)).values()
            )
            if customer_ids is not None:
                wanted = set(self._resolve_many(connection, customer_ids).values())
                found = [row for row in found if row["customer_id"] in wanted]
        if since is not None:
            start = require_aware(since, name="since")
            found = [row for row in found if row["purchased_at"] >= start]
        if until is not None:
            end = require_aware(until, name="until")
            found = [row for row in found if row["purchased_at"] < end]
        found.sort(key=lambda r: (r["purchased_at"], r["order_id"]))
        return _rows.purchases_frame_of(
            [{c: row[c] for c in _rows.STORED_PURCHASE_COLUMNS} for row in found]
        )

    def quarantined(self) -> pd.DataFrame:
        """Return quarantined rows sorted by id."""
        rows = self._select_rows(sa.select(tables.quarantine), "reading the quarantine")
        rows.sort(key=lambda r: r["quarantine_id"])
        return _rows.frame_of(rows, _rows.QUARANTINE_COLUMNS)

    def checkpoint(self, source: str) -> IngestCheckpoint | None:
        """Return the last checkpoint saved for ``source``."""
        c = tables.ingest_checkpoints
        rows = self._select_rows(sa.select(c).where(c.c.source == source), "reading a checkpoint")
        return _rows.checkpoint_from_row(rows[0]) if rows else None

    # -- consents and suppressions -----------------------------------------------
    def record_consents(self, consents: pd.DataFrame) -> int:
        """Upsert consent records (see ``ConsentStore``)."""
        rows = _rows.consent_rows(consents)
        with self._begin("recording consents") as connection:
            return self._apply_consents(connection, rows, self._now())

    def _apply_consents(self, connection: sa.Connection, rows: list[Row], now: datetime) -> int:
        if not rows:
            return 0
        c = tables.consents
        resolved = self._resolve_many(connection, (row["customer_id"] for row in rows))
        existing: dict[tuple[str, ...], Row] = {}
        for chunk in _chunks(sorted(set(resolved.values()))):
            statement = sa.select(c).where(c.c.customer_id.in_(chunk))
            for r in connection.execute(statement).mappings():
                existing[tuple(r[k] for k in _rows.CONSENT_KEY)] = _as_row(r)
        changed = 0
        for row in rows:
            row = {**row, "customer_id": resolved[row["customer_id"]]}  # noqa: PLW2901
            key = tuple(row[k] for k in _rows.CONSENT_KEY)
            current = existing.get(key)
            if current is None:
                connection.execute(c.insert(), {**row, "created_at": now, "updated_at": now})
            elif _rows.consent_changes(current, row):
                connection.execute(
                    c.update()
                    .where(*(c.c[k] == v for k, v in zip(_rows.CONSENT_KEY, key, strict=True)))
                    .values(
                        granted=row["granted"],
                        recorded_at=row["recorded_at"],
                        source=row["source"],
                        updated_at=now,
                    )
                )
            else:
                continue
            existing[key] = {**(current or {}), **row}
            changed += 1
        return changed

    def consents(self, customer_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Return consent records sorted by key."""
        c = tables.consents
        with self._begin("reading consents", write=False) as connection:
            statement = sa.select(c)
            rows = [_as_row(r) for r in connection.execute(statement).mappings()]
            if customer_ids is not None:
                wanted = set(self._resolve_many(connection, customer_ids).values())
                rows = [r for r in rows if r["customer_id"] in wanted]
        rows.sort(key=lambda r: tuple(r[k] for k in _rows.CONSENT_KEY))
        return _rows.consents_frame_of(rows)

    def _suppress(
        self, connection: sa.Connection, kind: str, subject: str, channel: str, reason: str
    ) -> bool:
        s = tables.suppressions
        exists = connection.execute(
            sa.select(sa.func.count())
            .select_from(s)
            .where(s.c.subject_kind == kind, s.c.subject == subject, s.c.channel == channel)
        ).scalar_one()
        if exists:
            return False
        connection.execute(
            s.insert(),
            {
                "subject_kind": kind,
                "subject": subject,
                "channel": channel,
                "reason": reason,
                "created_at": self._now(),
            },
        )
        return True

    def suppress_customer(self, customer_id: str, *, channel: str = "*", reason: str) -> bool:
        """Suppress a customer on ``channel``; return whether it was new."""
        _rows.check_channel(channel)
        check_identifier(reason, what="reason")
        with self._begin("suppressing a customer") as connection:
            resolved = self._resolve_many(connection, [customer_id])[customer_id]
            return self._suppress(connection, "customer", resolved, channel, reason)

    def suppress_contact(
        self, contact: str, *, kind: Literal["email", "phone"], channel: str = "*", reason: str
    ) -> bool:
        """Suppress a contact point by its keyed hash; return whether it was new."""
        _rows.check_channel(channel)
        check_identifier(reason, what="reason")
        digest = self.contact_hash(contact, kind=kind)
        with self._begin("suppressing a contact point") as connection:
            return self._suppress(connection, kind, digest, channel, reason)

    def contact_hash(self, contact: str, *, kind: Literal["email", "phone"]) -> str:
        """Return the keyed hash under which a contact point is suppressed."""
        return _rows.contact_hash(contact, kind=kind, secret=self.secret)

    def suppressions(self) -> pd.DataFrame:
        """Return the suppression list sorted by key."""
        rows = self._select_rows(sa.select(tables.suppressions), "reading suppressions")
        rows.sort(key=lambda r: (r["subject_kind"], r["subject"], r["channel"]))
        return _rows.frame_of(rows, SUPPRESSION_COLUMNS)

    def is_suppressed(self, customer_id: str, *, channel: str) -> bool:
        """Return whether a customer may not be contacted on ``channel``."""
        s = tables.suppressions
        with self._begin("checking suppression", write=False) as connection:
            resolved = self._resolve_many(connection, [customer_id])[customer_id]
            subjects = [("customer", resolved)]
            card = self._cards(connection, [resolved]).get(resolved)
            if card is not None:
                subjects += _rows.erasure_hashes(card, secret=self.secret)
            condition = sa.or_(
                *(
                    sa.and_(s.c.subject_kind == kind, s.c.subject == subject)
                    for kind, subject in subjects
                )
            )
            found = connection.execute(
                sa.select(sa.func.count())
                .select_from(s)
                .where(condition, s.c.channel.in_(sorted({channel, "*"})))
            ).scalar_one()
        return bool(found)

    # -- segments -----------------------------------------------------------------
    def replace_segment(
        self, segment: str, customer_ids: Iterable[str], *, kind: SegmentKind | str
    ) -> int:
        """Make ``customer_ids`` the members of ``segment`` atomically."""
        segment, kind = _rows.check_segment(segment, kind)
        ids = list(customer_ids)
        m, s = tables.segment_memberships, tables.segments
        with self._begin("replacing a segment") as connection:
            members = sorted(set(self._resolve_many(connection, ids).values()))
            connection.execute(m.delete().where(m.c.segment == segment))
            if members:
                connection.execute(
                    m.insert(), [{"segment": segment, "customer_id": c} for c in members]
                )
            connection.execute(s.delete().where(s.c.segment == segment))
            connection.execute(
                s.insert(), {"segment": segment, "kind": kind, "updated_at": self._now()}
            )
        return len(members)

    def segments(self) -> pd.DataFrame:
        """Return each segment's name, kind and member count, sorted by name."""
        m, s = tables.segment_memberships, tables.segments
        counts = (
            sa.select(m.c.segment, sa.func.count().label("members"))
            .group_by(m.c.segment)
            .subquery()
        )
        statement = sa.select(
            s.c.segment, s.c.kind, sa.func.coalesce(counts.c.members, 0).label("members")
        ).select_from(s.outerjoin(counts, counts.c.segment == s.c.segment))
        rows = self._select_rows(statement, "reading segments")
        rows.sort(key=lambda r: r["segment"])
        return _rows.frame_of(rows, _rows.SEGMENT_COLUMNS)

    def segment_members(self, segment: str) -> list[str]:
        """Return the sorted member ids of ``segment``."""
        segment, _ = _rows.check_segment(segment)
        m = tables.segment_memberships
        rows = self._select_rows(
            sa.select(m.c.customer_id).where(m.c.segment == segment), "reading a segment"
        )
        return sorted(r["customer_id"] for r in rows)

    # -- touches ------------------------------------------------------------------
    def plan_touches(self, touches: pd.DataFrame) -> int:
        """Store planned touches; return how many are new."""
        rows = _rows.touch_rows(touches)
        t = tables.touches
        with self._begin("planning touches") as connection:
            existing = self._fetch(
                connection, t, "idempotency_key", (r["idempotency_key"] for r in rows)
            )
            resolved = self._resolve_many(connection, (r["customer_id"] for r in rows))
            now = self._now()
            new = [
                {
                    **row,
                    "customer_id": resolved[row["customer_id"]],
                    **_rows.NEW_TOUCH,
                    "created_at": now,
                    "updated_at": now,
                }
                for row in rows
                if row["idempotency_key"] not in existing
            ]
            if new:
                connection.execute(t.insert(), new)
        return len(new)

    def claim_due(
        self, *, as_of: datetime, worker: str, limit: int = 100, lease: timedelta = DEFAULT_LEASE
    ) -> pd.DataFrame:
        """Claim up to ``limit`` due touches for ``worker`` (see ``TouchStore``).

        PostgreSQL selects candidates with ``FOR UPDATE SKIP LOCKED``; every backend then
        runs one conditional ``UPDATE`` that re-checks due-ness, so a touch another worker
        claimed in between is never taken twice.  SQLite serialises writers with
        ``BEGIN IMMEDIATE``.
        """
        as_of = require_aware(as_of, name="as_of")
        _rows.check_claim(worker, limit, lease)
        t = tables.touches
        due = sa.or_(
            sa.and_(t.c.status.in_(("planned", "deferred")), t.c.send_at <= as_of),
            sa.and_(t.c.status == "claimed", t.c.claimed_until <= as_of),
        )
        key = t.c.idempotency_key
        order_key = key.collate("C") if self.dialect == "postgresql" else key
        candidates = sa.select(key).where(due).order_by(t.c.send_at, order_key).limit(limit)
        if self.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        token = uuid.uuid4().hex
        with self._begin("claiming due touches") as connection:
            keys = list(connection.execute(candidates).scalars())
            if keys:
                connection.execute(
                    t.update()
                    .where(key.in_(keys), due)
                    .values(
                        status="claimed",
                        claimed_by=worker,
                        claim_token=token,
                        claimed_until=as_of + lease,
                        attempts=t.c.attempts + 1,
                        updated_at=self._now(),
                    )
                )
            rows = [
                _as_row(r)
                for r in connection.execute(sa.select(t).where(t.c.claim_token == token)).mappings()
            ]
        rows.sort(key=lambda r: (r["send_at"], r["idempotency_key"]))
        return _rows.frame_of(rows, TOUCH_COLUMNS)

    def finish_touch(
        self,
        idempotency_key: str,
        *,
        worker: str,
        status: str,
        as_of: datetime,
        reason: str | None = None,
        send_at: datetime | None = None,
    ) -> bool:
        """Record the result of a claimed touch; see :class:`~retention.storage.TouchStore`."""
        require_aware(as_of, name="as_of")
        _rows.check_finish(status, reason, send_at)
        t = tables.touches
        with self._begin("finishing a touch") as connection:
            row = self._fetch(connection, t, "idempotency_key", [idempotency_key]).get(
                idempotency_key
            )
            if row is None:
                msg = f"touch {idempotency_key!r} is not stored"
                raise NotFoundError(msg)
            values = {
                **_rows.finished(status, reason, send_at, row["send_at"]),
                "updated_at": self._now(),
            }
            updated = connection.execute(
                t.update()
                .where(
                    key_is(t, idempotency_key), t.c.status == "claimed", t.c.claimed_by == worker
                )
                .values(**values)
            ).rowcount
        return bool(updated)

    def touches(
        self, *, status: str | None = None, customer_ids: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """Return touches sorted by send time and key."""
        t = tables.touches
        statement = sa.select(t)
        if status is not None:
            statement = statement.where(t.c.status == _rows.check_status(status))
        with self._begin("reading touches", write=False) as connection:
            rows = [_as_row(r) for r in connection.execute(statement).mappings()]
            if customer_ids is not None:
                wanted = set(self._resolve_many(connection, customer_ids).values())
                rows = [r for r in rows if r["customer_id"] in wanted]
        rows.sort(key=lambda r: (r["send_at"], r["idempotency_key"]))
        return _rows.frame_of(rows, TOUCH_COLUMNS)

    def record_event(
        self,
        idempotency_key: str,
        event: str,
        *,
        occurred_at: datetime,
        event_id: str | None = None,
    ) -> bool:
        """Record a provider outcome once; see :class:`~retention.storage.TouchStore`."""
        occurred_at = require_aware(occurred_at, name="occurred_at")
        _rows.check_event(event)
        key = event_id if event_id is not None else f"{idempotency_key}:{event}"
        e = tables.touch_events
        with self._begin("recording an outcome event") as connection:
            touch = self._fetch(
                connection, tables.touches, "idempotency_key", [idempotency_key]
            ).get(idempotency_key)
            if touch is None:
                msg = (
                    f"touch {idempotency_key!r} is not stored; "
                    "quarantine the event as unknown_touch"
                )
                raise NotFoundError(msg)
            if self._fetch(connection, e, "event_id", [key]):
                return False
            connection.execute(
                e.insert(),
                {
                    "event_id": key,
                    "idempotency_key": idempotency_key,
                    "customer_id": touch["customer_id"],
                    "event": event,
                    "occurred_at": occurred_at,
                    "recorded_at": self._now(),
                },
            )
            if event in _rows.SUPPRESSING_EVENTS:
                self._suppress(
                    connection, "customer", touch["customer_id"], touch["channel"], event
                )
        return True

    def events(self, idempotency_key: str | None = None) -> pd.DataFrame:
        """Return outcome events sorted by time and id."""
        e = tables.touch_events
        statement = sa.select(e)
        if idempotency_key is not None:
            statement = statement.where(e.c.idempotency_key == idempotency_key)
        rows = self._select_rows(statement, "reading outcome events")
        rows.sort(key=lambda r: (r["occurred_at"], r["event_id"]))
        return _rows.frame_of(rows, TOUCH_EVENT_COLUMNS)


def key_is(table: sa.Table, idempotency_key: str) -> sa.ColumnElement[bool]:
    """``idempotency_key = :key`` for ``table``."""
    return table.c.idempotency_key == idempotency_key


def _known_versions() -> tuple[str, ...]:
    from retention.storage.migrations import known_versions  # noqa: PLC0415 - avoid a cycle

    return known_versions()


def _version_error(found: str | None) -> SchemaVersionError:
    expected = tables.SCHEMA_VERSION
    if found is None:
        msg = (
            f"the database holds tables but no retention schema version (found none, expected "
            f"{expected}); it was not created by retention, so point open_store at an empty "
            "database or another schema"
        )
    elif found in _known_versions():
        msg = (
            f"the database schema is at version {found}, this library expects {expected}; "
            "back up the database, then run `retention db upgrade` or open it with "
            "migrate=True (store.migrate())"
        )
    else:
        msg = (
            f"the database schema is at version {found}, newer than this library's {expected}; "
            "upgrade retention-crm to a release that knows it"
        )
    return SchemaVersionError(msg)


def install_sqlite_transactions(engine: sa.Engine) -> None:
    """Make SQLite transactions explicit: ``BEGIN IMMEDIATE`` for writes, ``BEGIN`` for reads.

    pysqlite's own transaction handling is switched off (the SQLAlchemy recipe), a busy
    timeout lets writers queue, and file databases use WAL so readers never block writers.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:  # noqa: ANN401 - DBAPI objects
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        if engine.url.database not in {None, "", ":memory:"}:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get("retention_write", True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
