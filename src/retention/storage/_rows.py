"""Frame <-> row conversion and the rules every store shares.

Both :class:`~retention.storage.MemoryStore` and :class:`~retention.storage.SqlStore`
validate input frames here and build their output frames here, so the stores differ only
in how they persist rows.  Rows are plain dicts keyed by column name, holding ``str``,
``int``, ``bool``, aware UTC ``datetime``, ``date`` or ``None``.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from retention._money import CURRENCY_EXPONENTS, is_known_currency
from retention._validation import check_identifier, describe_ids, require_aware, require_columns
from retention.contacts import contact_hash as hash_contact_point
from retention.exceptions import (
    DuplicateError,
    NaiveTimestampError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from retention.models import (
    ChannelKind,
    Consent,
    Customer,
    Purchase,
    SegmentKind,
    consent_to_row,
    customer_from_row,
    customer_to_row,
    purchases_to_frame,
)
from retention.storage.base import (
    CONSENT_COLUMNS,
    CUSTOMER_COLUMNS,
    PURCHASE_COLUMNS,
    SUPPRESSION_COLUMNS,
    TOUCH_COLUMNS,
    TOUCH_EVENT_COLUMNS,
    TOUCH_EVENTS,
    TOUCH_STATES,
    IngestCheckpoint,
    OnConflict,
)

__all__ = [
    "CONSENT_KEY",
    "CUSTOMER_FIELDS",
    "PAYLOAD_COLUMNS",
    "Clock",
    "PurchaseClassification",
    "classify_purchases",
    "consent_rows",
    "contact_hash",
    "customer_rows",
    "frame_of",
    "pseudonym_of",
    "purchase_frame",
    "purchase_records",
    "purchase_rows",
    "touch_rows",
]

Row = dict[str, Any]
Clock = Callable[[], datetime]

#: Card fields a caller may write (everything but the id and the store's own columns).
CUSTOMER_FIELDS = (
    "name",
    "emails",
    "phones",
    "social_profiles",
    "birthday",
    "time_zone",
    "language",
    "preferred_channels",
    "acquisition_source",
    "loyalty_level",
    "attributes",
)
#: The empty value of each card field (what erasure leaves behind).
EMPTY_CARD: dict[str, Any] = {
    "name": None,
    "emails": [],
    "phones": [],
    "social_profiles": {},
    "birthday": None,
    "time_zone": None,
    "language": None,
    "preferred_channels": [],
    "acquisition_source": None,
    "loyalty_level": None,
    "attributes": {},
}
#: Card fields kept as JSON text in SQL stores.
JSON_FIELDS = ("emails", "phones", "social_profiles", "preferred_channels", "attributes")
#: The purchase columns whose equality makes a repeated order id a duplicate, not a conflict.
PAYLOAD_COLUMNS = ("customer_id", "purchased_at", "amount_minor", "currency", "kind", "refund_of")
CONSENT_KEY = ("customer_id", "channel", "purpose", "topic")
#: The purchase columns a store keeps (``amount`` is derived on the way out).
STORED_PURCHASE_COLUMNS = tuple(column for column in PURCHASE_COLUMNS if column != "amount")
_KINDS = frozenset({"purchase", "refund"})


def is_missing(value: object) -> bool:
    """Return whether a cell is missing (``None``, ``NaN``, ``NaT``, ``pd.NA``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and np.isnan(value)


_MAX_LENGTHS = {
    "email": 320,
    "phone": 32,
    "currency": 3,
    "kind": 16,
    "source": 64,
    "topic": 64,
    "scenario": 63,
    "channel": 63,
    "timezone": 64,
    "language": 35,
}


def _text(value: object, *, column: str, required: bool = False) -> str | None:
    if is_missing(value):
        if required:
            msg = f"column {column!r} has a missing value; every row needs one"
            raise ValidationError(msg)
        return None
    if not isinstance(value, str):
        msg = f"column {column!r} must hold text, got {type(value).__name__}"
        raise ValidationError(msg)
    if required and not value:
        msg = f"column {column!r} has an empty value; every row needs one"
        raise ValidationError(msg)
    if "\x00" in value:
        msg = f"column {column!r} holds a NUL character, which databases cannot store; remove it"
        raise ValidationError(msg)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        msg = f"column {column!r} holds a lone surrogate, which is not valid Unicode text"
        raise ValidationError(msg) from None
    limit = _MAX_LENGTHS.get(column, 255)
    if len(value) > limit:
        msg = f"column {column!r} holds a value longer than {limit} characters"
        raise ValidationError(msg)
    return value


def _instant_series(frame: pd.DataFrame, column: str, *, required: bool) -> pd.Series:
    """Check an instant column as a whole; return it as microsecond UTC instants."""
    series = frame[column]
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        if series.dtype == object and all(
            is_missing(v) or (isinstance(v, datetime) and v.utcoffset() is not None) for v in series
        ):
            series = pd.to_datetime(series, utc=True)
        elif pd.api.types.is_datetime64_dtype(series.dtype) or series.dtype == object:
            msg = (
                f"column {column!r} holds naive timestamps; the store keeps instants, so "
                "convert it to aware UTC first (ingest with assume_tz=...)"
            )
            raise NaiveTimestampError(msg)
        else:
            msg = f"column {column!r} must hold aware timestamps, got dtype {series.dtype}"
            raise ValidationError(msg)
    utc = series.dt.tz_convert("UTC")
    if bool((utc.dt.nanosecond != 0).any()):
        msg = f"column {column!r} has nanoseconds; stores keep microseconds, round it first"
        raise ValidationError(msg)
    if required and bool(utc.isna().any()):
        msg = f"column {column!r} has a missing timestamp; every row needs one"
        raise ValidationError(msg)
    instants: pd.Series = utc.dt.as_unit("us").reset_index(drop=True)
    return instants


def _instant_column(frame: pd.DataFrame, column: str, *, required: bool) -> list[datetime | None]:
    return _instants_of(_instant_series(frame, column, required=required))


def _instants_of(series: pd.Series) -> list[datetime | None]:
    """Return aware UTC datetimes (``None`` for missing) of an instant series."""
    return [None if is_missing(v) else v for v in series.dt.to_pydatetime()]


def _optional(frame: pd.DataFrame, column: str) -> list[Any]:
    if column in frame.columns:
        return list(frame[column].astype(object))
    return [None] * len(frame)


def _unique(ids: list[str | None], *, frame_name: str, column: str) -> None:
    seen = pd.Series(ids, dtype=object)
    repeated = seen[seen.duplicated()].unique().tolist()
    if repeated:
        msg = f"{frame_name} repeats {column} {describe_ids(repeated)}; pass one row per {column}"
        raise ValidationError(msg)


def empty_card(customer_id: str, now: datetime) -> Row:
    """Return a stub card: every field empty."""
    return {
        "customer_id": customer_id,
        **copy.deepcopy(EMPTY_CARD),
        "erased_at": None,
        "created_at": now,
        "updated_at": now,
    }


def customer_rows(
    customers: pd.DataFrame | Iterable[Customer],
) -> tuple[list[Row], tuple[str, ...], list[Row]]:
    """Validate customer cards; return their rows, the fields they carry, and consent rows.

    Frames are read row by row through :func:`retention.models.customer_from_row`, so
    cards are validated and normalised exactly like domain objects.
    """
    if isinstance(customers, pd.DataFrame):
        require_columns(customers, frame_name="customers", customer_id_col="customer_id")
        _refuse_unknown_customer_columns(customers)
        fields = tuple(field for field in CUSTOMER_FIELDS if field in customers.columns)
        with_consents = "consents" in customers.columns
        cards = [
            customer_from_row({str(key): value for key, value in record.items()})
            for record in customers.astype(object).to_dict(orient="records")
        ]
    else:
        cards = list(customers)
        for card in cards:
            _require_instance(card, Customer, "customers")
        fields, with_consents = CUSTOMER_FIELDS, True
    _unique([card.customer_id for card in cards], frame_name="customers", column="customer_id")
    rows: list[Row] = []
    consent_records: list[Row] = []
    for card in cards:
        mapped = customer_to_row(card)
        for field in fields:
            _text_limit(mapped[field], field)
        rows.append({"customer_id": card.customer_id, **{f: mapped[f] for f in fields}})
        if with_consents:
            consent_records += [
                consent_record(card.customer_id, consent) for consent in card.consents
            ]
    return rows, fields, consent_records


#: Columns of :meth:`CustomerStore.customers` that the store keeps itself: a frame read
#: from a store may carry them back into ``upsert_customers``, which leaves them alone.
_STORE_MANAGED = frozenset({"erased_at", "created_at", "updated_at"})


def _refuse_unknown_customer_columns(customers: pd.DataFrame) -> None:
    """Refuse columns a card has no field for (``email`` for ``emails``): never drop data."""
    known = {"customer_id", "consents", *CUSTOMER_FIELDS}
    unknown = [str(c) for c in customers.columns if c not in known and c not in _STORE_MANAGED]
    if not unknown:
        return
    hints = []
    for column in unknown:
        close = difflib.get_close_matches(column, sorted(known), n=1)
        if close:
            hints.append(f"{column!r} -> {close[0]!r}")
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    msg = (
        f"customers has columns no card field takes: {describe_ids(unknown)}{hint}; rename "
        f"them to one of {', '.join(sorted(known))} or drop them (attributes holds custom "
        "values)"
    )
    raise ValidationError(msg)


def check_one_card_per_customer(ids: list[str], resolved: Mapping[str, str]) -> None:
    """Refuse cards whose ids are merged into the same kept customer (one card each)."""
    owners: dict[str, str] = {}
    for customer_id in ids:
        kept = resolved[customer_id]
        if kept in owners:
            msg = (
                f"customers rows {owners[kept]!r} and {customer_id!r} are both customer "
                f"{kept!r} (merged); pass one card per customer"
            )
            raise ValidationError(msg)
        owners[kept] = customer_id


def _require_instance(value: object, kind: type, name: str) -> None:
    """Refuse a sequence item of the wrong type (callers may not be type-checked)."""
    if not isinstance(value, kind):
        msg = f"{name} must be a DataFrame or {kind.__name__} objects, got {type(value).__name__}"
        raise ValidationError(msg)


def _text_limit(value: object, field: str) -> None:
    if isinstance(value, str):
        _text(value, column=field)


def consent_record(customer_id: str, consent: Consent) -> Row:
    """Return the store row of one consent record (topic ``""`` for a whole purpose)."""
    row = consent_to_row(consent)
    return {
        "customer_id": customer_id,
        "channel": row["channel"],
        "purpose": row["purpose"],
        "topic": row["topic"] or "",
        "granted": row["granted"],
        "recorded_at": row["recorded_at"].astimezone(UTC),
        "source": _text(row["source"], column="source"),
    }


def card_to_customer(card: Mapping[str, Any], consents: Iterable[Mapping[str, Any]]) -> Customer:
    """Build a :class:`~retention.models.Customer` from a stored card and its consents."""
    records = [
        {
            "channel": c["channel"],
            "purpose": c["purpose"],
            "topic": c["topic"] or None,
            "granted": c["granted"],
            "recorded_at": c["recorded_at"],
            "source": c["source"],
        }
        for c in sorted(consents, key=lambda c: (c["recorded_at"], c["channel"], c["purpose"]))
    ]
    return customer_from_row(
        {**{f: card[f] for f in ("customer_id", *CUSTOMER_FIELDS)}, "consents": records}
    )


def merged_card(kept: Mapping[str, Any], merged: Mapping[str, Any]) -> dict[str, Any]:
    """Return the kept card's fields completed from the merged one (the values that change).

    Empty scalar fields are filled; contact lists are united (the kept card's first);
    profile and attribute keys the kept card lacks are added.
    """
    changes: dict[str, Any] = {}
    for field in CUSTOMER_FIELDS:
        mine, theirs = kept[field], merged[field]
        if field == "preferred_channels":
            combined = mine or list(theirs)
        elif isinstance(mine, list):
            combined = mine + [value for value in theirs if value not in mine]
        elif isinstance(mine, dict):
            combined = {**theirs, **mine}
        else:
            combined = theirs if mine is None else mine
        if combined != mine:
            changes[field] = combined
    return changes


def purchase_rows(transactions: pd.DataFrame | Iterable[Purchase]) -> list[Row]:
    """Validate a canonical purchase frame or purchases; return rows (with ``line`` if given).

    The checks are those of :func:`purchase_frame`; the rows come out of its columns.
    """
    return purchase_records(purchase_frame(transactions))


#: The columns of a validated purchase batch (:func:`purchase_frame`).
BATCH_COLUMNS = (*STORED_PURCHASE_COLUMNS, "line")
_BATCH_TEXT = ("order_id", "customer_id", "currency", "kind", "refund_of", "source", "category")


def purchase_frame(transactions: pd.DataFrame | Iterable[Purchase]) -> pd.DataFrame:
    """Validate a canonical purchase frame or purchases; return the batch column-wise.

    Checks are column operations (no per-row Python), so large chunks stay cheap.  The
    result has :data:`BATCH_COLUMNS` on a fresh ``RangeIndex``: text columns keep their
    string dtype (object columns hold ``None`` for missing), ``kind`` defaults to
    ``"purchase"``, ``purchased_at`` is microsecond UTC, ``amount_minor`` int64 and
    ``line`` nullable Int64.  The input is never modified.
    """
    if not isinstance(transactions, pd.DataFrame):
        records = list(transactions)
        for record in records:
            _require_instance(record, Purchase, "transactions")
        transactions = purchases_to_frame(records)
    require_columns(
        transactions,
        frame_name="transactions",
        order_id_col="order_id",
        customer_id_col="customer_id",
        datetime_col="purchased_at",
        amount_minor_col="amount_minor",
        currency_col="currency",
    )
    amounts = transactions["amount_minor"]
    if not pd.api.types.is_integer_dtype(amounts.dtype) or bool(amounts.isna().any()):
        msg = (
            "column 'amount_minor' must hold integer minor units (1999 for 19.99), got "
            f"dtype {amounts.dtype}; money is never stored as float, and never missing"
        )
        raise ValidationError(msg)
    columns: dict[str, Any] = {
        "order_id": _text_series(transactions, "order_id", required=True),
        "customer_id": _text_series(transactions, "customer_id", required=True),
        "purchased_at": _instant_series(transactions, "purchased_at", required=True),
        "amount_minor": amounts.to_numpy(dtype=np.int64),
        "currency": _text_series(transactions, "currency", required=True),
        "kind": _text_series(transactions, "kind", required=False),
        "refund_of": _text_series(transactions, "refund_of", required=False),
        "source": _text_series(transactions, "source", required=False),
        "category": _text_series(transactions, "category", required=False),
    }
    codes = pd.unique(columns["currency"])
    unknown = sorted({str(c) for c in codes if not is_known_currency(str(c))})
    if unknown:
        msg = f"column 'currency' holds unknown ISO 4217 codes {describe_ids(unknown)}"
        raise ValidationError(msg)
    kinds = columns["kind"]
    columns["kind"] = kinds.where(kinds.notna(), "purchase")
    wrong = sorted({str(k) for k in pd.unique(columns["kind"])} - _KINDS)
    if wrong:
        msg = f"column 'kind' must hold 'purchase' or 'refund', got {describe_ids(wrong)}"
        raise ValidationError(msg)
    if "line" in transactions.columns:
        columns["line"] = transactions["line"].astype("Int64").reset_index(drop=True)
    else:
        size = len(transactions)
        lines = pd.arrays.IntegerArray(np.zeros(size, np.int64), np.ones(size, np.bool_))
        columns["line"] = pd.Series(lines, dtype="Int64")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(transactions)))


def purchase_records(batch: pd.DataFrame) -> list[Row]:
    """Return the rows of a validated batch (:func:`purchase_frame`) as dicts, in order."""
    columns: dict[str, list[Any]] = {}
    for name in BATCH_COLUMNS:
        series = batch[name]
        if name == "purchased_at":
            columns[name] = _instants_of(series)
        elif name == "amount_minor":
            columns[name] = series.to_numpy(dtype=np.int64).tolist()
        elif name == "line":
            columns[name] = [None if is_missing(v) else int(v) for v in series.astype(object)]
        else:
            columns[name] = series.astype(object).where(series.notna(), None).tolist()
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _text_values(frame: pd.DataFrame, column: str, *, required: bool) -> list[Any]:
    """Check a text column as a whole; return its values with ``None`` for missing."""
    series = _text_series(frame, column, required=required)
    return series.astype(object).where(series.notna(), None).tolist()


def _text_series(frame: pd.DataFrame, column: str, *, required: bool) -> pd.Series:
    """Check a text column as a whole; return it on a fresh ``RangeIndex``.

    Arrow-backed strings keep their dtype (they are checked with Arrow compute); other
    columns come back as object holding ``str`` or ``None``.
    """
    if column not in frame.columns:
        return pd.Series(np.empty(len(frame), dtype=object))  # all None
    series = frame[column].reset_index(drop=True)
    missing = series.isna()
    if required and bool(missing.any()):
        position = int(np.flatnonzero(missing.to_numpy())[0])
        msg = f"column {column!r} has a missing value (row {position}); every row needs one"
        raise ValidationError(msg)
    present = series[~missing]
    arrow = _is_arrow_text(series.dtype)
    limit = _MAX_LENGTHS.get(column, 255)
    if len(present):
        facts = _arrow_text_facts(present, limit) if arrow else _object_text_facts(present, column)
        shortest, longest, has_nul, has_surrogate = facts
        if required and shortest == 0:
            msg = f"column {column!r} has an empty value; every row needs one"
            raise ValidationError(msg)
        if longest > limit:
            msg = f"column {column!r} holds a value longer than {limit} characters"
            raise ValidationError(msg)
        if has_nul:
            msg = f"column {column!r} holds a NUL character, which databases cannot store"
            raise ValidationError(msg)
        if has_surrogate:
            msg = f"column {column!r} holds a lone surrogate, which is not valid Unicode text"
            raise ValidationError(msg)
    if arrow:
        return series
    return series.astype(object).where(~missing, None)


def _is_arrow_text(dtype: object) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage == "pyarrow"
    return isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype) in {
        "string",
        "large_string",
    }


def _arrow_text_facts(present: pd.Series, limit: int) -> tuple[int, int, bool, bool]:
    """Shortest and longest length, whether a NUL and a lone surrogate occur.

    Lengths in bytes come from the offsets alone; characters are only counted when some
    value has more than ``limit`` bytes (a character is at least one byte).  Arrow strings
    are valid UTF-8, so they never hold a lone surrogate.
    """
    import pyarrow as pa  # noqa: PLC0415 - only reached with Arrow-backed strings
    import pyarrow.compute as pc  # noqa: PLC0415

    values = pa.chunked_array([pa.array(present.array)])
    bounds = pc.min_max(pc.binary_length(values)).as_py()
    if int(bounds["max"]) > limit:
        bounds = pc.min_max(pc.utf8_length(values)).as_py()
    has_nul = bool(pc.any(pc.match_substring(values, "\x00")).as_py())
    return int(bounds["min"]), int(bounds["max"]), has_nul, False


def _object_text_facts(present: pd.Series, column: str) -> tuple[int, int, bool, bool]:
    """Like :func:`_arrow_text_facts` for Python strings, refusing non-text and surrogates."""
    if pd.api.types.infer_dtype(present, skipna=True) != "string":
        msg = f"column {column!r} must hold text"
        raise ValidationError(msg)
    values = present.tolist()
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    joined = "".join(values)
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        has_surrogate = True
    else:
        has_surrogate = False
    return int(lengths.min()), int(lengths.max()), "\x00" in joined, has_surrogate


def consent_rows(consents: pd.DataFrame) -> list[Row]:
    """Validate a consent frame (:data:`retention.models.CONSENT_COLUMNS`); return its rows."""
    require_columns(
        consents,
        frame_name="consents",
        customer_id_col="customer_id",
        channel_col="channel",
        topic_col="purpose",
        granted_col="granted",
        recorded_at_col="recorded_at",
    )
    instants = _instant_column(consents, "recorded_at", required=True)
    cells = {
        name: _optional(consents, name)
        for name in ("customer_id", "channel", "purpose", "topic", "granted", "source")
    }
    rows: list[Row] = []
    for index, instant in enumerate(instants):
        granted = cells["granted"][index]
        if isinstance(granted, np.bool_):
            granted = bool(granted)
        topic = cells["topic"][index]
        source = cells["source"][index]
        consent = Consent(
            channel=cells["channel"][index],
            purpose=cells["purpose"][index],
            granted=granted,
            recorded_at=instant,
            source=None if is_missing(source) else source,
            topic=None if is_missing(topic) else topic,
        )
        customer_id = _text(cells["customer_id"][index], column="customer_id", required=True)
        rows.append(consent_record(str(customer_id), consent))
    keys = [tuple(row[k] for k in CONSENT_KEY) for row in rows]
    if len(set(keys)) != len(keys):
        msg = (
            "consents repeats a (customer_id, channel, purpose, topic) key; pass the record "
            "in force, one row per key"
        )
        raise ValidationError(msg)
    return rows


def touch_rows(touches: pd.DataFrame) -> list[Row]:
    """Validate a planned-touch frame; return its rows."""
    require_columns(
        touches,
        frame_name="touches",
        idempotency_key_col="idempotency_key",
        customer_id_col="customer_id",
        scenario_col="scenario",
        step_col="step",
        channel_col="channel",
        send_at_col="send_at",
    )
    instants = _instant_column(touches, "send_at", required=True)
    cells = {
        name: _optional(touches, name)
        for name in ("idempotency_key", "customer_id", "scenario", "step", "channel")
    }
    rows: list[Row] = []
    for index, instant in enumerate(instants):
        step = cells["step"][index]
        if isinstance(step, bool) or not isinstance(step, int | np.integer):
            msg = "column 'step' must hold integers"
            raise ValidationError(msg)
        rows.append(
            {
                "idempotency_key": _text(
                    cells["idempotency_key"][index],
                    column="idempotency_key",
                    required=True,
                ),
                "customer_id": _text(
                    cells["customer_id"][index], column="customer_id", required=True
                ),
                "scenario": _text(cells["scenario"][index], column="scenario", required=True),
                "step": int(step),
                "channel": check_channel(
                    str(_text(cells["channel"][index], column="channel", required=True)),
                    allow_all=False,
                ),
                "send_at": instant,
            }
        )
    _unique(
        [row["idempotency_key"] for row in rows], frame_name="touches", column="idempotency_key"
    )
    return rows


_DTYPES: dict[str, str] = {
    "amount_minor": "int64",
    "step": "int64",
    "amount": "float64",
    "attempts": "int64",
    "members": "int64",
    "granted": "bool",
}
_INSTANTS = frozenset(
    {
        "purchased_at",
        "recorded_at",
        "created_at",
        "updated_at",
        "erased_at",
        "send_at",
        "claimed_until",
        "occurred_at",
    }
)


_OBJECTS = frozenset({"birthday", *JSON_FIELDS})


def frame_of(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """Build an output frame with fixed dtypes: UTC instants, int64 money and counters."""
    names = list(columns)
    materialised = list(rows)
    data: dict[str, Any] = {}
    for name in names:
        values = [row.get(name) for row in materialised]
        if name in _INSTANTS:
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True).astype(
                "datetime64[us, UTC]"
            )
        elif name in _DTYPES:
            data[name] = pd.Series(values, dtype=_DTYPES[name])
        elif name in _OBJECTS:
            data[name] = pd.Series(copy.deepcopy(values), dtype=object)
        elif name == "line":
            data[name] = pd.Series(values, dtype="Int64")
        else:
            # the default string dtype, as retention.models builds frames: "str" on
            # pandas 3 (missing = NaN), object on pandas 2.2
            data[name] = pd.Series(values, dtype=str)
    return pd.DataFrame(data, columns=names)


#: Column lists of the frames returned by the stores.
OUTPUT_COLUMNS = {
    "customers": CUSTOMER_COLUMNS,
    "purchases": PURCHASE_COLUMNS,
    "consents": CONSENT_COLUMNS,
    "suppressions": SUPPRESSION_COLUMNS,
    "touches": TOUCH_COLUMNS,
    "events": TOUCH_EVENT_COLUMNS,
}


class PurchaseClassification:
    """The outcome of :func:`classify_purchases` for one batch."""

    def __init__(self) -> None:
        """Start empty."""
        self.new: list[Row] = []
        self.updates: list[tuple[Row, Row]] = []  # (old, new)
        self.deduplicated = 0
        self.conflicts: list[Row] = []


def _differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [column for column in PAYLOAD_COLUMNS if a.get(column) != b.get(column)]


def classify_purchases(
    batch: list[Row], stored: Mapping[str, Row], *, on_conflict: OnConflict
) -> PurchaseClassification:
    """Sort a validated batch into new rows, duplicates, conflicts and updates.

    ``stored`` maps order ids already in the store (for the ids of this batch) to their
    rows.  Within the batch, the first row of an order id is compared with the store and
    later rows with the first one.

    Raises
    ------
    DuplicateError
        With ``on_conflict="raise"`` at the first conflicting row (nothing is written).
    """
    result = PurchaseClassification()
    first_seen: dict[str, Row] = {}
    for row in batch:
        order_id = row["order_id"]
        earlier = first_seen.get(order_id)
        reference = earlier if earlier is not None else stored.get(order_id)
        if reference is None:
            first_seen[order_id] = row
            result.new.append(row)
            continue
        differing = _differing(reference, row)
        if not differing:
            result.deduplicated += 1
            continue
        if on_conflict == "raise":
            msg = (
                f"order {order_id!r} is already stored with other values "
                f"(columns {', '.join(differing)}); nothing of this batch was written. "
                'Pass on_conflict="quarantine" or "update"'
            )
            raise DuplicateError(msg)
        if on_conflict == "update" and earlier is None:
            first_seen[order_id] = row
            result.updates.append((reference, row))
            continue
        if on_conflict == "update":  # two different payloads in one batch: the last one wins
            result.new = [r for r in result.new if r["order_id"] != order_id]
            result.updates = [(o, n) for o, n in result.updates if n["order_id"] != order_id]
            if order_id in stored:
                result.updates.append((stored[order_id], row))
            else:
                result.new.append(row)
            first_seen[order_id] = row
            continue
        result.conflicts.append(
            {
                "order_id": order_id,
                "customer_id": row["customer_id"],
                "line": row.get("line"),
                "stored_line": reference.get("line"),
                "columns": ",".join(differing),
            }
        )
    return result


def conflicts_frame(conflicts: list[Row]) -> pd.DataFrame:
    """Build the ``conflicts`` frame of a :class:`~retention.storage.PurchaseWriteResult`."""
    return pd.DataFrame(
        {
            "order_id": pd.Series([c["order_id"] for c in conflicts], dtype=object).astype(
                "string"
            ),
            "line": pd.Series([c["line"] for c in conflicts], dtype="Int64"),
            "stored_line": pd.Series([c["stored_line"] for c in conflicts], dtype="Int64"),
            "columns": pd.Series([c["columns"] for c in conflicts], dtype=object).astype("string"),
        }
    )


def quarantine_id(reason: str, order_id: str, line: int | None, columns: str) -> str:
    """Return a deterministic id for a quarantined row (re-ingesting a file re-finds it)."""
    text = json.dumps([reason, order_id, line, columns])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def contact_hash(contact: str, *, kind: str, secret: bytes | None) -> str:
    """Return the suppression hash of a contact point (:func:`retention.contacts.contact_hash`).

    HMAC-SHA-256 with ``secret``, SHA-256 without, of the normalised value.  A stored value
    that no longer normalises (a national number kept from an old import) is hashed as
    stored, trimmed, so erasure never fails on it.
    """
    if kind not in {"email", "phone"}:
        msg = f"contact kind must be 'email' or 'phone', got {kind!r}"
        raise ValidationError(msg)
    try:
        return hash_contact_point(contact, secret=secret, kind=kind)
    except ValidationError:
        return _digest(contact.strip().encode("utf-8"), secret)


def _digest(text: bytes, secret: bytes | None) -> str:
    if secret is None:
        return hashlib.sha256(text).hexdigest()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


def pseudonym_of(customer_id: str, *, secret: bytes | None) -> str:
    """Return the pseudonymous id an erased customer's purchases are kept under."""
    return "erased-" + _digest(f"customer:{customer_id}".encode(), secret)[:32]


def is_pseudonym(customer_id: str) -> bool:
    """Return whether an id is an erasure pseudonym."""
    return customer_id.startswith("erased-")


def check_segment(segment: object, kind: object = "rule") -> tuple[str, str]:
    """Validate a segment name (a value: non-empty text) and kind (a ``SegmentKind``)."""
    name = _text(segment, column="segment", required=True)
    if name is None or name != name.strip():
        msg = "segment name must be a non-empty text without surrounding whitespace"
        raise ValidationError(msg)
    try:
        kind_value = SegmentKind(str(kind)).value
    except ValueError:
        kinds = ", ".join(repr(k.value) for k in SegmentKind)
        msg = f"segment kind {kind!r} is not allowed: use one of {kinds}"
        raise ValidationError(msg) from None
    return name, kind_value


def audit_details(**values: object) -> str:
    """JSON text for the audit log (ids and counts only)."""
    return json.dumps(values, sort_keys=True, default=str)


def check_channel(channel: str, *, allow_all: bool = True) -> str:
    """Return ``channel`` if it is a :class:`~retention.models.ChannelKind` value (or ``"*"``)."""
    if channel == "*" and allow_all:
        return channel
    try:
        return ChannelKind(channel).value
    except ValueError:
        kinds = ", ".join(repr(kind.value) for kind in ChannelKind)
        msg = f"channel {channel!r} is not allowed: use '*' or one of {kinds}"
        raise ValidationError(msg) from None


def check_on_conflict(on_conflict: str) -> None:
    if on_conflict not in {"quarantine", "raise", "update"}:
        msg = f'on_conflict must be "quarantine", "raise" or "update", got {on_conflict!r}'
        raise ValidationError(msg)


def check_mergeable(keep_id: str, merged_id: str, customers: dict[Any, Row]) -> None:
    if keep_id == merged_id:
        msg = f"customers {keep_id!r} and {merged_id!r} are already the same customer"
        raise ValidationError(msg)
    for customer_id in (keep_id, merged_id):
        card = customers.get(customer_id)
        if card is None:
            msg = f"customer {customer_id!r} is not stored; nothing to merge"
            raise NotFoundError(msg)
        if card["erased_at"] is not None:
            msg = f"customer {customer_id!r} is erased and cannot take part in a merge"
            raise ValidationError(msg)


def more_restrictive(existing: Row | None, candidate: Row) -> Row:
    """Pick the consent record that wins a merge: a withdrawal beats a grant, else the later."""
    if existing is None:
        return candidate
    if existing["granted"] != candidate["granted"]:
        return existing if not existing["granted"] else candidate
    return candidate if candidate["recorded_at"] > existing["recorded_at"] else existing


def erasure_hashes(card: Mapping[str, Any], *, secret: bytes | None) -> list[tuple[str, str]]:
    """Return (kind, hash) of every e-mail address and phone number on a card."""
    hashes = [
        (kind, contact_hash(value, kind=kind, secret=secret))
        for kind, field in (("email", "emails"), ("phone", "phones"))
        for value in card.get(field) or []
    ]
    return sorted(set(hashes))


def old_values(old: Row) -> dict[str, object]:
    return {column: old[column] for column in PAYLOAD_COLUMNS}


def quarantine_row(conflict: Row, now: datetime) -> Row:
    reason = "duplicate_order_conflict"
    return {
        "quarantine_id": quarantine_id(
            reason, conflict["order_id"], conflict["line"], conflict["columns"]
        ),
        "reason": reason,
        "order_id": conflict["order_id"],
        "customer_id": conflict["customer_id"],
        "line": conflict["line"],
        "details": json.dumps(
            {"columns": conflict["columns"].split(","), "stored_line": conflict["stored_line"]}
        ),
        "created_at": now,
    }


def reject_rows(quarantined: pd.DataFrame) -> list[Row]:
    """Validate rejected rows handed to ``add_purchases``; return quarantine rows (no stamp)."""
    require_columns(quarantined, frame_name="quarantined", reason_col="reason", line_col="line")
    reasons = _text_values(quarantined, "reason", required=True)
    for reason in set(reasons):
        check_identifier(reason, what="reason code")
    order_ids = _text_values(quarantined, "order_id", required=False)
    customer_ids = _text_values(quarantined, "customer_id", required=False)
    details = [
        "{}" if value is None else value for value in _text_values_unbounded(quarantined, "details")
    ]
    lines = quarantined["line"].astype("Int64").astype(object)
    rows: list[Row] = []
    for reason, order_id, customer_id, line, detail in zip(
        reasons, order_ids, customer_ids, lines, details, strict=True
    ):
        number = None if is_missing(line) else int(line)
        rows.append(
            {
                "quarantine_id": quarantine_id(reason, order_id or "", number, detail),
                "reason": reason,
                "order_id": order_id,
                "customer_id": customer_id,
                "line": number,
                "details": detail,
            }
        )
    return rows


def _text_values_unbounded(frame: pd.DataFrame, column: str) -> list[Any]:
    if column not in frame.columns:
        return [None] * len(frame)
    series = frame[column]
    return series.astype(object).where(series.notna(), None).tolist()


def checkpoint_row(checkpoint: IngestCheckpoint, now: datetime) -> Row:
    return {
        "source": checkpoint.source,
        "fingerprint": checkpoint.fingerprint,
        "byte_offset": checkpoint.byte_offset,
        "line": checkpoint.line,
        "chunks": checkpoint.chunks,
        "details": json.dumps(checkpoint.counts, sort_keys=True),
        "updated_at": now,
    }


def checkpoint_from_row(row: Any) -> IngestCheckpoint:  # noqa: ANN401 - dict or SQL row
    return IngestCheckpoint(
        source=row["source"],
        fingerprint=row["fingerprint"],
        byte_offset=int(row["byte_offset"]),
        line=int(row["line"]),
        chunks=int(row["chunks"]),
        counts={str(k): int(v) for k, v in json.loads(row["details"]).items()},
    )


QUARANTINE_COLUMNS = ("quarantine_id", "reason", "order_id", "customer_id", "line", "details")
SEGMENT_COLUMNS = ("segment", "kind", "members")
SUPPRESSING_EVENTS = frozenset({"unsubscribed", "complained"})
NEW_TOUCH: Row = {
    "status": "planned",
    "reason": None,
    "attempts": 0,
    "claimed_by": None,
    "claim_token": None,
    "claimed_until": None,
}
_FINISH_STATES = frozenset(TOUCH_STATES) - {"planned", "claimed"}


def consent_changes(existing: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """Return whether a consent record replaces the stored one.

    A later record replaces it; at the same instant a withdrawal beats a grant; an older
    record never does.
    """
    if row["recorded_at"] < existing["recorded_at"]:
        return False
    if row["recorded_at"] == existing["recorded_at"] and row["granted"] and not existing["granted"]:
        return False
    return any(existing[k] != row[k] for k in ("granted", "recorded_at", "source"))


def purchases_frame_of(rows: list[Row]) -> pd.DataFrame:
    """Build the canonical purchase frame, deriving the float ``amount`` from minor units."""
    frame = frame_of(rows, PURCHASE_COLUMNS)
    exponents = frame["currency"].map(CURRENCY_EXPONENTS).to_numpy(dtype=np.float64)
    frame["amount"] = frame["amount_minor"].to_numpy(dtype=np.float64) / np.power(10.0, exponents)
    return frame


def staged_frame(rows: list[Row], columns: list[str], table: Any) -> pd.DataFrame:  # noqa: ANN401 - a sqlalchemy Table
    """Return rows as a frame for DuckDB's bulk insert (UTC instants as naive UTC)."""
    frame = pd.DataFrame({column: [row[column] for row in rows] for column in columns})
    for column in columns:
        kind = type(table.c[column].type).__name__
        if kind == "UtcDateTime":
            frame[column] = (
                pd.to_datetime(frame[column], utc=True).dt.tz_convert(None).astype("datetime64[us]")
            )
        elif kind in {"BigInteger", "Integer"} and not frame[column].isna().any():
            frame[column] = frame[column].astype("int64")
        elif kind != "Date":
            frame[column] = frame[column].astype(object)
    return frame


_ENCODED_EMPTY = {
    key: json.dumps(value, sort_keys=True) if key in JSON_FIELDS else value
    for key, value in EMPTY_CARD.items()
}


def encoded_stub(customer_id: str, now: datetime) -> Row:
    """Return a stub card ready for SQL (JSON fields already encoded)."""
    return {
        "customer_id": customer_id,
        **_ENCODED_EMPTY,
        "erased_at": None,
        "created_at": now,
        "updated_at": now,
    }


def consents_frame_of(rows: list[Row]) -> pd.DataFrame:
    """Build the consent frame (topic missing for a whole purpose)."""
    return frame_of(({**row, "topic": row["topic"] or None} for row in rows), CONSENT_COLUMNS)


def encode_card(row: Mapping[str, Any]) -> Row:
    """Return a card row with its list and dict fields as JSON text (SQL stores)."""
    return {
        key: json.dumps(value, sort_keys=True) if key in JSON_FIELDS else value
        for key, value in row.items()
    }


def decode_card(row: Mapping[str, Any]) -> Row:
    """Return a card row read from SQL with its JSON fields parsed."""
    return {
        key: json.loads(value) if key in JSON_FIELDS and isinstance(value, str) else value
        for key, value in row.items()
    }


def check_status(status: str) -> str:
    """Return ``status`` if it is a touch state."""
    if status not in TOUCH_STATES:
        msg = f"touch status must be one of {list(TOUCH_STATES)}, got {status!r}"
        raise ValidationError(msg)
    return status


def check_event(event: str) -> str:
    """Return ``event`` if it is a provider outcome."""
    if event not in TOUCH_EVENTS:
        msg = f"event must be one of {list(TOUCH_EVENTS)}, got {event!r}"
        raise ValidationError(msg)
    return event


def check_claim(worker: object, limit: object, lease: object) -> None:
    """Validate the arguments of ``claim_due`` (callers may not be type-checked)."""
    if not isinstance(worker, str) or not worker:
        msg = "worker must be a non-empty name (host and process id, for example)"
        raise ValidationError(msg)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        msg = f"limit must be a positive integer, got {limit!r}"
        raise ValidationError(msg)
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        msg = f"lease must be a positive timedelta, got {lease!r}"
        raise ValidationError(msg)


def check_finish(status: str, reason: str | None, send_at: datetime | None) -> None:
    """Validate the arguments of ``finish_touch``."""
    if status not in _FINISH_STATES:
        msg = f"a claimed touch can only finish as one of {sorted(_FINISH_STATES)}, got {status!r}"
        raise ValidationError(msg)
    if reason is not None:
        check_identifier(reason, what="reason")
    if status == "deferred" and send_at is None:
        msg = "a deferred touch needs its new send_at"
        raise ValidationError(msg)
    if send_at is not None:
        require_aware(send_at, name="send_at")


def finished(status: str, reason: str | None, send_at: datetime | None, current: datetime) -> Row:
    """Return the column values a finished touch gets."""
    return {
        "status": status,
        "reason": reason,
        "claimed_by": None,
        "claim_token": None,
        "claimed_until": None,
        "send_at": (send_at.astimezone(UTC) if send_at is not None else current),
    }


def is_due(row: Mapping[str, Any], as_of: datetime) -> bool:
    """Return whether a touch may be claimed at ``as_of``."""
    if row["status"] in {"planned", "deferred"}:
        return bool(row["send_at"] <= as_of)
    return row["status"] == "claimed" and bool(row["claimed_until"] <= as_of)


def verify_rows(
    *,
    customers: Iterable[str],
    aliases: Iterable[Mapping[str, Any]],
    purchases: Iterable[Mapping[str, Any]],
    touches: Iterable[Mapping[str, Any]],
) -> None:
    """Check the cross-table invariants every store keeps."""
    known = set(customers)
    orphans = sorted({p["customer_id"] for p in purchases} - known)
    if orphans:
        msg = f"purchases reference unknown customers {describe_ids(orphans)}"
        raise StorageError(msg)
    dangling = sorted({a["alias_id"] for a in aliases if a["customer_id"] not in known})
    if dangling:
        msg = f"merge aliases {describe_ids(dangling)} point to unknown customers"
        raise StorageError(msg)
    for touch in touches:
        if touch["status"] not in TOUCH_STATES:
            msg = f"touch {touch['idempotency_key']!r} has an unknown status"
            raise StorageError(msg)
        if touch["status"] == "claimed" and touch["claimed_until"] is None:
            msg = f"touch {touch['idempotency_key']!r} is claimed without a lease"
            raise StorageError(msg)
