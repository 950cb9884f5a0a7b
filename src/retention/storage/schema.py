"""The one relational schema of every SQL store (SQLAlchemy Core, one :class:`MetaData`).

Conventions, the same on SQLite, PostgreSQL and DuckDB:

- money is ``amount_minor BIGINT`` plus an ISO 4217 ``currency`` code, never a float;
- instants are :class:`UtcDateTime`: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, a naive
  UTC ``TIMESTAMP`` elsewhere, always handed back as aware UTC datetimes;
- keys are text chosen by the caller (customer ids, order ids, idempotency keys), so no
  backend needs sequences or autoincrement;
- free-form details (audit records, quarantined payloads) are JSON text.

The Alembic migrations in ``retention/storage/migrations`` create exactly these tables; a
test compares the migrated database with this metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator, TypeEngine

from retention.exceptions import ValidationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

__all__ = [
    "SCHEMA_VERSION",
    "UtcDateTime",
    "audit_log",
    "consents",
    "customer_aliases",
    "customers",
    "ingest_checkpoints",
    "metadata",
    "purchases",
    "quarantine",
    "segment_memberships",
    "segments",
    "suppressions",
    "touch_events",
    "touches",
]

#: The Alembic revision this version of the library expects (the head of ``versions/``).
SCHEMA_VERSION = "0003"


class UtcDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and read back as an aware UTC :class:`datetime`.

    PostgreSQL keeps it as ``timestamptz``, so the session's ``TimeZone`` setting never
    changes a value; SQLite and DuckDB keep naive UTC, which this type converts on the way
    in and out.  Naive datetimes are refused on the way in.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick ``timestamptz`` on PostgreSQL, a plain timestamp elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC (naive UTC off PostgreSQL)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            msg = "a naive datetime reached the store; pass aware datetimes (UTC is stored)"
            raise ValidationError(msg)
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ANN401, ARG002 - SQLAlchemy's signature
        """Return an aware UTC datetime whatever the driver handed back."""
        if value is None:
            return None
        if isinstance(value, str):  # SQLite without type detection
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            msg = f"expected a timestamp from the database, got {type(value).__name__}"
            raise TypeError(msg)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

_ID = 255


def _id(name: str, **kwargs: Any) -> sa.Column[str]:  # noqa: ANN401 - Column keywords
    return sa.Column(name, sa.String(_ID), **kwargs)


customers = sa.Table(
    "customers",
    metadata,
    _id("customer_id", primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("emails", sa.Text, nullable=False),  # JSON list of normalised addresses
    sa.Column("phones", sa.Text, nullable=False),  # JSON list of E.164 numbers
    sa.Column("social_profiles", sa.Text, nullable=False),  # JSON object
    sa.Column("birthday", sa.Date),
    sa.Column("time_zone", sa.String(64)),
    sa.Column("language", sa.String(35)),
    sa.Column("preferred_channels", sa.Text, nullable=False),  # JSON list
    sa.Column("acquisition_source", sa.String(255)),
    sa.Column("loyalty_level", sa.String(255)),
    sa.Column("attributes", sa.Text, nullable=False),  # JSON object
    sa.Column("erased_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

customer_aliases = sa.Table(
    "customer_aliases",
    metadata,
    _id("alias_id", primary_key=True),
    _id("customer_id", nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# DuckDB drops the two secondary indexes (migration 0003): its ART indexes are rewritten on
# every commit, while its min/max zone maps already serve scans by customer and date.
purchases = sa.Table(
    "purchases",
    metadata,
    _id("order_id", primary_key=True),
    _id("customer_id", nullable=False, index=True),
    sa.Column("purchased_at", UtcDateTime, nullable=False, index=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    _id("refund_of"),
    sa.Column("source", sa.String(64)),
    sa.Column("category", sa.String(255)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

consents = sa.Table(
    "consents",
    metadata,
    _id("customer_id", primary_key=True),
    sa.Column("channel", sa.String(63), primary_key=True),
    sa.Column("purpose", sa.String(32), primary_key=True),
    sa.Column("topic", sa.String(64), primary_key=True),  # "" = the whole purpose
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.String(255)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("subject_kind", sa.String(16), primary_key=True),  # customer, email, phone
    sa.Column("subject", sa.String(_ID), primary_key=True),  # customer id or contact hash
    sa.Column("channel", sa.String(63), primary_key=True),  # "*" = every channel
    sa.Column("reason", sa.String(63), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("segment", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

segment_memberships = sa.Table(
    "segment_memberships",
    metadata,
    sa.Column("segment", sa.String(255), primary_key=True),
    _id("customer_id", primary_key=True),
)

touches = sa.Table(
    "touches",
    metadata,
    _id("idempotency_key", primary_key=True),
    _id("customer_id", nullable=False, index=True),
    sa.Column("scenario", sa.String(255), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("channel", sa.String(63), nullable=False),
    sa.Column("send_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("reason", sa.String(64)),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("claimed_by", sa.String(_ID)),
    sa.Column("claim_token", sa.String(64), index=True),
    sa.Column("claimed_until", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

touch_events = sa.Table(
    "touch_events",
    metadata,
    sa.Column("event_id", sa.String(_ID), primary_key=True),
    _id("idempotency_key", nullable=False, index=True),
    _id("customer_id", nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("quarantine_id", sa.String(64), primary_key=True),
    sa.Column("reason", sa.String(64), nullable=False),
    _id("order_id"),
    _id("customer_id"),
    sa.Column("line", sa.BigInteger),
    sa.Column("details", sa.Text, nullable=False),  # JSON
    sa.Column("created_at", UtcDateTime, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("audit_id", sa.String(64), primary_key=True),
    sa.Column("action", sa.String(32), nullable=False),
    _id("subject", nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # JSON, opaque ids and counts only
    sa.Column("created_at", UtcDateTime, nullable=False),
)

ingest_checkpoints = sa.Table(
    "ingest_checkpoints",
    metadata,
    sa.Column("source", sa.String(1024), primary_key=True),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("byte_offset", sa.BigInteger, nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # JSON: running report counts
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
