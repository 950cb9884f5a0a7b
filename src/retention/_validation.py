"""Shared input checks: required columns, time units, aware datetimes, identifiers.

Every public function that takes a frame calls :func:`require_columns` first, so the
error a user sees always has the same shape: which frame, which keyword, which columns
exist, and what to pass instead.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from retention.exceptions import NaiveTimestampError, SchemaError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "IDENTIFIER_PATTERN",
    "TIME_UNITS",
    "check_identifier",
    "describe_ids",
    "is_ingest_result",
    "require_aware",
    "require_columns",
    "require_time_unit",
]

#: Time units accepted by the analytics functions (pandas period aliases, as lifetimes).
TIME_UNITS: dict[str, pd.Timedelta | None] = {
    "h": pd.Timedelta(hours=1),
    "D": pd.Timedelta(days=1),
    "W": pd.Timedelta(weeks=1),
    "M": None,  # calendar months: counted as whole periods, not a fixed length
}

#: Identifiers (columns, schema names, segment attributes) that may reach SQL.
IDENTIFIER_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _quoted(names: Iterable[object]) -> str:
    return ", ".join(repr(str(name)) for name in names) or "(none)"


def require_columns(frame: object, *, frame_name: str, **columns: str | None) -> None:
    """Check that ``frame`` is a DataFrame holding each named column.

    Parameters
    ----------
    frame
        The object passed by the caller.
    frame_name
        How the argument is called in the public function (``"transactions"``).
    **columns
        Keyword name -> column name, for example ``datetime_col="paid_at"``.
        ``None`` values are optional columns that were not asked for.

    Raises
    ------
    SchemaError
        Naming the missing column, the keyword that asked for it, the columns present,
        and what to pass instead.
    """
    if not isinstance(frame, pd.DataFrame):
        msg = f"{frame_name} must be a pandas DataFrame, got {type(frame).__name__}"
        raise SchemaError(msg)
    missing = [
        (keyword, column)
        for keyword, column in columns.items()
        if column is not None and column not in frame.columns
    ]
    if missing:
        wanted = "; ".join(f"no column {column!r} ({keyword})" for keyword, column in missing)
        hints = ", ".join(f"{keyword}=<column name>" for keyword, _ in missing)
        msg = (
            f"{frame_name} has {wanted}. Columns present: {_quoted(frame.columns)}. "
            f"Pass {hints} or rename the column."
        )
        raise SchemaError(msg)


def require_time_unit(time_unit: object) -> str:
    """Return ``time_unit`` if it is one of ``"h"``, ``"D"``, ``"W"``, ``"M"``.

    Raises
    ------
    ValidationError
        For any other value, listing the accepted ones.
    """
    if not isinstance(time_unit, str) or time_unit not in TIME_UNITS:
        msg = (
            f"time_unit must be one of {_quoted(TIME_UNITS)} (hours, days, weeks, months); "
            f"got {time_unit!r}"
        )
        raise ValidationError(msg)
    return time_unit


def require_aware(value: object, *, name: str) -> datetime:
    """Return ``value`` as an aware :class:`datetime`, refusing naive ones.

    Raises
    ------
    ValidationError
        If ``value`` is not a datetime; :class:`NaiveTimestampError` (reason
        ``naive_timestamp``) if it has no time zone.
    """
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        msg = f"{name} must be a datetime, got {type(value).__name__}"
        raise ValidationError(msg)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = (
            f"{name} is a naive datetime; pass an aware one, "
            "for example datetime(2024, 1, 31, tzinfo=UTC)"
        )
        raise NaiveTimestampError(msg, field=name)
    return value


def check_identifier(name: object, *, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe SQL identifier (``^[a-z_][a-z0-9_]{0,62}$``).

    Raises
    ------
    ValidationError
        Naming the rejected identifier.
    """
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.fullmatch(name):
        msg = (
            f"{what} {name!r} is not allowed: use lower-case letters, digits and "
            "underscores, starting with a letter or underscore (at most 63 characters)"
        )
        raise ValidationError(msg)
    return name


def describe_ids(ids: Iterable[Any], *, limit: int = 5) -> str:
    """Render the first few ids of a list for an error message (``'a', 'b' and 3 more``)."""
    items = list(ids)
    shown = ", ".join(repr(item) for item in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown


def is_ingest_result(value: object) -> bool:
    """Tell an ``IngestResult`` (duck-typed: no import cycle with ``retention.ingest``)."""
    return all(hasattr(value, name) for name in ("transactions", "quarantine", "report"))
