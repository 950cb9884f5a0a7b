"""Validated ingestion of purchase histories: normalise, deduplicate, quarantine.

:func:`ingest` reads a DataFrame, a CSV file or a Parquet file of purchases and returns an
:class:`IngestResult`: the canonical transactions, the quarantined rows (each with its
source line and a reason code) and an :class:`IngestReport` whose counts always satisfy
``rows_read == accepted + deduplicated + quarantined``.

Normalisation is documented, deterministic and idempotent: timestamps become UTC instants,
amounts integer minor units of their ISO 4217 currency (read from text without floats),
ids stay text (``00123`` stays ``00123``).  Nothing is guessed: naive timestamps need
``assume_tz``, dates are ISO 8601 unless ``date_format`` says otherwise, and decimal and
thousands separators are declared.

Each row is checked in a fixed order and quarantined with the first failing check:
record shape and encoding, ids, currency, timestamp, amount, sign against kind, time
range, currency conversion, then duplicates; refunds are matched with their parent
orders after the last chunk (a parent may come later in the file).  ``purchased_at`` is
kept to the microsecond, as Python datetimes and the stores hold it.

Reason codes
------------
The reason codes in :data:`REASONS` are public API; tests and host code should match on
them, never on the ``detail`` texts, which may change.

Chunks and stores
-----------------
Work happens per chunk (:class:`_Ingestor.process`), and everything a chunk needs from
earlier chunks goes through two narrow seams: the index of accepted order ids (for
duplicates) and the accepted rows (for refund parents).  Ingesting into a store
(``store=``) replaces both with store look-ups (the store deduplicates order ids; refund
parents are read back from it) and commits each chunk's accepted and quarantined rows
with a checkpoint in one transaction, so memory stays bounded by the chunk size and an
interrupted run resumes after its last committed chunk (:class:`_StoreSink`); returning
frames holds the result in memory.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import signal
import threading
import zoneinfo
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

import attrs
import numpy as np
import pandas as pd

from retention._csv import CsvReader, RawChunk, RejectedRecord
from retention._money import CURRENCY_EXPONENTS, is_known_currency
from retention._parsing import (
    as_text,
    is_missing_text,
    localize,
    parse_amount_numbers,
    parse_amount_text,
    parse_timestamp_text,
    text_dtype,
)
from retention._rates import DatedRates
from retention._validation import require_aware, require_columns
from retention.exceptions import (
    DuplicateError,
    IngestAbortedError,
    MixedCurrencyError,
    NaiveTimestampError,
    ResumeMismatchError,
    SchemaError,
    ValidationError,
)
from retention.models import TRANSACTION_COLUMNS as _MODEL_TRANSACTION_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from numpy.typing import NDArray

    from retention.storage.base import (
        IngestCheckpoint,
        OnConflict,
        PurchaseWriteResult,
        Store,
    )

__all__ = [
    "DEFAULT_CHUNKSIZE",
    "DEFAULT_MIN_DATE",
    "QUARANTINE_COLUMNS",
    "REASONS",
    "TRANSACTION_COLUMNS",
    "CurrencyConverter",
    "DatedRates",
    "IngestReport",
    "IngestResult",
    "ingest",
]

#: Rows per chunk when reading files (and frames, if ``chunksize`` is given).
DEFAULT_CHUNKSIZE = 100_000

#: Rows before this instant are ``timestamp_out_of_range`` unless ``min_date`` is given.
DEFAULT_MIN_DATE = datetime(1990, 1, 1, tzinfo=UTC)

#: How far past ``as_of`` a timestamp may lie before it is ``future_timestamp``.
DEFAULT_FUTURE_TOLERANCE = timedelta(minutes=5)

#: Columns of :attr:`IngestResult.transactions`, in order.  With a ``converter`` two more
#: follow: ``original_amount_minor`` and ``original_currency``.
TRANSACTION_COLUMNS = (*_MODEL_TRANSACTION_COLUMNS, "line")

#: Columns of :attr:`IngestResult.quarantine`, in order.  ``raw_*`` hold the values as
#: read (text); ``raw_record`` holds a whole record that could not be split into fields.
QUARANTINE_COLUMNS = (
    "file",
    "line",
    "reason",
    "column",
    "detail",
    "raw_customer_id",
    "raw_order_id",
    "raw_purchased_at",
    "raw_amount",
    "raw_currency",
    "raw_refund_of",
    "raw_source",
    "raw_category",
    "raw_record",
)

#: Every reason code a quarantined row can carry, with its meaning.
REASONS: Mapping[str, str] = MappingProxyType(
    {
        "invalid_encoding": "the record holds bytes that are not valid UTF-8",
        "wrong_field_count": "the record has more or fewer fields than the header",
        "unterminated_quote": "a quoted field is never closed",
        "missing_customer_id": "the customer id is empty",
        "malformed_customer_id": "the customer id has surrounding whitespace (see strip_ids)",
        "missing_order_id": "the order id is empty",
        "malformed_order_id": "the order id has surrounding whitespace (see strip_ids)",
        "malformed_refund_of": "the refunded order id has surrounding whitespace",
        "missing_timestamp": "the timestamp is empty",
        "unparseable_timestamp": "the timestamp is not ISO 8601 / does not match date_format",
        "naive_timestamp": "a timestamp without UTC offset among ones with an offset",
        "nonexistent_local_time": "the local time falls in a daylight-saving gap",
        "ambiguous_local_time": "the local time occurs twice (daylight saving ends)",
        "future_timestamp": "the timestamp lies after as_of plus the tolerance",
        "timestamp_out_of_range": "the timestamp lies before min_date or beyond year 2262",
        "missing_amount": "the amount is empty, NaN or a placeholder such as N/A",
        "unparseable_amount": "the amount does not match the declared number format",
        "precision_loss": "the amount has more decimals than the currency allows",
        "amount_out_of_range": "the amount has more than 18 digits in minor units",
        "currency_symbol_mismatch": "the currency symbol does not match the row's currency",
        "missing_currency": "the currency code is empty",
        "unknown_currency": "the currency code is not an ISO 4217 code",
        "no_exchange_rate": "the converter gave no rate for the row's currency and date",
        "negative_amount_not_refund": "a negative amount on a row that is not a refund",
        "refund_sign_mismatch": "a refund with a positive or zero amount",
        "refund_parent_unknown": "the refunded order is not a purchase of the same input",
        "refund_customer_mismatch": "the refund's customer differs from the order's",
        "refund_currency_mismatch": "the refund's currency differs from the order's",
        "refund_exceeds_parent": "the refunds of an order exceed its amount",
        "duplicate_order_conflict": "an order id seen before with a different payload",
    }
)

_MAX_DIGITS = 18
_MAX_NS = pd.Timestamp.max.tz_localize("UTC")
_MIN_NS = pd.Timestamp.min.tz_localize("UTC")
_PAYLOAD = (
    "customer_id",
    "purchased_at",
    "amount_minor",
    "currency",
    "refund_of",
    "source",
    "category",
)
_ROLES = {
    "customer_id_col": "customer_id",
    "order_id_col": "order_id",
    "datetime_col": "purchased_at",
    "monetary_value_col": "amount",
    "currency_col": "currency",
    "refund_of_col": "refund_of",
    "source_col": "source",
    "category_col": "category",
}


@runtime_checkable
class CurrencyConverter(Protocol):
    """Converts amounts to one currency at dated rates (TIM-03).

    ``currency`` names the target currency.  ``convert`` receives aligned Series of
    integer minor units, ISO 4217 codes and UTC purchase instants and returns the
    amounts in minor units of ``currency`` (integers; missing where no rate is known,
    which quarantines the row as ``no_exchange_rate``).
    """

    @property
    def currency(self) -> str:
        """The ISO 4217 code amounts are converted to."""
        ...

    def convert(
        self, amount_minor: pd.Series, currency: pd.Series, purchased_at: pd.Series
    ) -> pd.Series:
        """Return ``amount_minor`` converted to minor units of :attr:`currency`."""
        ...


def _frozen_counts(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType({key: int(value[key]) for key in sorted(value)})


def _as_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class IngestReport:
    """Counts of one ingest run; ``rows_read == accepted + deduplicated + quarantined``.

    Attributes
    ----------
    rows_read
        Records read (blank lines of a CSV are not records).
    accepted
        Rows in the result's ``transactions``.
    deduplicated
        Rows that repeated an order already accepted with the same normalised payload
        (and, with ``on_conflict="update"``, accepted rows superseded by a later one).
    quarantined
        Rows in the result's ``quarantine``.
    quarantined_by_reason
        Reason code -> number of quarantined rows (read-only mapping).
    zero_value
        Accepted purchases worth exactly zero (free orders, full vouchers).
    refunds
        Accepted refund rows.
    customers
        Distinct customer ids among the accepted rows.
    updated
        Orders overwritten by a conflicting later row (``on_conflict="update"``).
    chunks
        Chunks processed.
    status
        ``"complete"``, or ``"interrupted"`` when a cancel request or Ctrl-C stopped the
        run at a chunk boundary (a first Ctrl-C lets the chunk in flight finish; a
        KeyboardInterrupt inside a chunk drops it whole, uncounted).
    source
        The file name, or ``"DataFrame"``.
    notes
        Remarks a reader should see (for example, that the future-date check was skipped).
    """

    rows_read: int
    accepted: int
    deduplicated: int
    quarantined: int
    quarantined_by_reason: Mapping[str, int] = attrs.field(
        factory=dict, converter=_frozen_counts, hash=False
    )
    zero_value: int = 0
    refunds: int = 0
    customers: int = 0
    updated: int = 0
    chunks: int = 0
    status: Literal["complete", "interrupted"] = "complete"
    source: str = "DataFrame"
    notes: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)

    def __attrs_post_init__(self) -> None:
        """Check the report identity and the counts' consistency."""
        counts = (self.rows_read, self.accepted, self.deduplicated, self.quarantined)
        if min(counts) < 0:
            msg = f"report counts must not be negative: {counts}"
            raise ValidationError(msg)
        if self.rows_read != self.accepted + self.deduplicated + self.quarantined:
            msg = (
                f"rows_read ({self.rows_read}) must equal accepted ({self.accepted}) + "
                f"deduplicated ({self.deduplicated}) + quarantined ({self.quarantined})"
            )
            raise ValidationError(msg)
        if sum(self.quarantined_by_reason.values()) != self.quarantined:
            msg = "quarantined_by_reason must add up to quarantined"
            raise ValidationError(msg)
        if self.status not in {"complete", "interrupted"}:
            msg = f"status must be 'complete' or 'interrupted', got {self.status!r}"
            raise ValidationError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready values (for logs and the CLI).

        >>> report = IngestReport(rows_read=3, accepted=2, deduplicated=0, quarantined=1,
        ...                       quarantined_by_reason={"missing_amount": 1})
        >>> report.to_dict()["quarantined_by_reason"]
        {'missing_amount': 1}
        """
        values = attrs.asdict(self, recurse=False)
        values["quarantined_by_reason"] = dict(self.quarantined_by_reason)
        values["notes"] = list(self.notes)
        return values


@attrs.frozen(eq=False)
class IngestResult:
    """What :func:`ingest` returns.

    Attributes
    ----------
    transactions
        One row per accepted line, columns :data:`TRANSACTION_COLUMNS` (plus
        ``original_amount_minor`` and ``original_currency`` with a converter), in source
        line order, with a fresh RangeIndex.
    quarantine
        One row per rejected line, columns :data:`QUARANTINE_COLUMNS`, in line order.
    report
        The counts; see :class:`IngestReport`.
    replaced
        With ``on_conflict="update"``: the previously accepted rows that a later
        conflicting row replaced (their old values, the audit trail), with the column
        ``replaced_by_line``.  Empty otherwise.
    """

    transactions: pd.DataFrame
    quarantine: pd.DataFrame
    report: IngestReport
    replaced: pd.DataFrame = attrs.field(factory=pd.DataFrame)


# -- sources ---------------------------------------------------------------------------------


@attrs.frozen
class _Columns:
    """Source column name per canonical role (``None`` when not mapped)."""

    customer_id: str
    purchased_at: str
    amount: str
    order_id: str | None
    currency: str | None
    refund_of: str | None
    source: str | None
    category: str | None

    def mapped(self) -> dict[str, str]:
        return {role: name for role, name in attrs.asdict(self).items() if name is not None}


def _frame_chunks(frame: pd.DataFrame, chunksize: int | None) -> Iterator[RawChunk]:
    size = chunksize or max(len(frame), 1)
    for begin in range(0, len(frame), size):
        part = frame.iloc[begin : begin + size]
        lines = np.arange(begin + 1, begin + len(part) + 1, dtype=np.int64)
        yield RawChunk(frame=part.reset_index(drop=True), lines=lines)


def _parquet_chunks(
    path: Path, columns: list[str], chunksize: int, skip: int = 0
) -> Iterator[RawChunk]:
    import pyarrow.parquet as pq  # noqa: PLC0415 - optional dependency

    handle = pq.ParquetFile(path)
    begin = 0
    for batch in handle.iter_batches(batch_size=chunksize, columns=columns):
        if begin + batch.num_rows <= skip:
            begin += batch.num_rows
            continue
        if begin < skip:
            batch = batch.slice(skip - begin)  # noqa: PLW2901 - the part after the checkpoint
            begin = skip
        part = batch.to_pandas()
        lines = np.arange(begin + 1, begin + len(part) + 1, dtype=np.int64)
        begin += len(part)
        yield RawChunk(frame=part, lines=lines)


def _parquet_schema(path: Path) -> tuple[pd.DataFrame, int]:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional dependency
    except ImportError:  # pragma: no cover - depends on the installation
        msg = "reading Parquet needs pyarrow: pip install 'retention-crm[parquet]'"
        raise ValidationError(msg) from None
    handle = pq.ParquetFile(path)
    empty = handle.schema_arrow.empty_table().to_pandas()
    return empty, int(handle.metadata.num_rows)


# -- the run ---------------------------------------------------------------------------------


def _empty_transactions(*, converted: bool) -> pd.DataFrame:
    text = text_dtype()
    data: dict[str, pd.Series] = {
        "customer_id": pd.Series([], dtype=text),
        "order_id": pd.Series([], dtype=text),
        "purchased_at": pd.Series([], dtype="datetime64[us, UTC]"),
        "amount_minor": pd.Series([], dtype=np.int64),
        "currency": pd.Series([], dtype=text),
        "amount": pd.Series([], dtype=np.float64),
        "kind": pd.Series([], dtype=text),
        "refund_of": pd.Series([], dtype=text),
        "source": pd.Series([], dtype=text),
        "category": pd.Series([], dtype=text),
        "line": pd.Series([], dtype=np.int64),
    }
    if converted:
        data["original_amount_minor"] = pd.Series([], dtype=np.int64)
        data["original_currency"] = pd.Series([], dtype=text)
    return pd.DataFrame(data)


def _empty_quarantine() -> pd.DataFrame:
    text = text_dtype()
    return pd.DataFrame(
        {
            name: pd.Series([], dtype=np.int64 if name == "line" else text)
            for name in QUARANTINE_COLUMNS
        }
    )


@attrs.define
class _Segment:
    """Order ids accepted so far, with the line and the place each one is stored."""

    ids: pd.Index
    lines: NDArray[np.int64]
    chunks: NDArray[np.int64]
    rows: NDArray[np.int64]


@attrs.define
class _Seen:
    """A log-structured index of accepted order ids (merged geometrically)."""

    segments: list[_Segment] = attrs.Factory(list)

    def lookup(self, ids: pd.Index) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        segment_of = np.full(len(ids), -1, dtype=np.int64)
        position = np.full(len(ids), -1, dtype=np.int64)
        for number, segment in enumerate(self.segments):
            found = segment.ids.get_indexer(ids)
            hit = (found >= 0) & (segment_of < 0)
            segment_of[hit] = number
            position[hit] = found[hit]
        return segment_of, position

    def add(self, segment: _Segment) -> None:
        if not len(segment.ids):
            return
        self.segments.append(segment)
        while len(self.segments) > 1 and len(self.segments[-1].ids) >= len(self.segments[-2].ids):
            newer = self.segments.pop()
            older = self.segments.pop()
            self.segments.append(
                _Segment(
                    ids=older.ids.append(newer.ids),
                    lines=np.concatenate((older.lines, newer.lines)),
                    chunks=np.concatenate((older.chunks, newer.chunks)),
                    rows=np.concatenate((older.rows, newer.rows)),
                )
            )


@attrs.define
class _Flags:
    """First failing check per row: reason, column and detail."""

    reason: NDArray[np.object_]
    column: NDArray[np.object_]
    detail: NDArray[np.object_]
    passed: NDArray[np.bool_]

    @classmethod
    def empty(cls, n: int) -> _Flags:
        return cls(
            np.full(n, "", dtype=object),
            np.full(n, "", dtype=object),
            np.full(n, "", dtype=object),
            np.ones(n, dtype=bool),
        )

    @property
    def ok(self) -> NDArray[np.bool_]:
        """Rows that passed every check so far (a copy)."""
        return self.passed.copy()

    def flag(
        self,
        mask: NDArray[np.bool_],
        reason: str,
        column: str | None,
        detail: str | NDArray[np.object_],
    ) -> None:
        chosen = np.asarray(mask, dtype=bool) & self.passed
        if not chosen.any():
            return
        self.reason[chosen] = reason
        self.column[chosen] = column or ""
        self.detail[chosen] = detail if isinstance(detail, str) else detail[chosen]
        self.passed[chosen] = False


@attrs.define
class _Ingestor:
    columns: _Columns
    file: str | None
    currency: str | None
    assume_tz: str | None
    ambiguous: str
    date_format: str | None
    decimal: str
    thousands: str | None
    strip_currency_symbol: bool
    strip_ids: bool
    on_conflict: str
    as_of: datetime | None
    min_date: datetime
    future_tolerance: timedelta
    max_bad_ratio: float | None
    converter: CurrencyConverter | None
    accepted: list[pd.DataFrame] = attrs.Factory(list)
    superseded: list[NDArray[np.bool_]] = attrs.Factory(list)
    replaced_by: list[NDArray[np.int64]] = attrs.Factory(list)
    quarantined: list[pd.DataFrame] = attrs.Factory(list)
    replaced_rows: list[pd.DataFrame] = attrs.Factory(list)
    staged: list[tuple[int, int, int]] = attrs.Factory(list)
    seen: _Seen = attrs.Factory(_Seen)
    rows_read: int = 0
    deduplicated: int = 0
    updated: int = 0
    chunks: int = 0
    currencies: dict[str, int] = attrs.Factory(dict)
    timezone_decided: bool = False
    prior_quarantined: int = 0

    # -- per chunk -----------------------------------------------------------------------

    def process(self, chunk: RawChunk) -> None:
        """Validate, normalise and deduplicate one chunk; keep its results."""
        raw = chunk.frame
        lines = chunk.lines
        n = len(raw)
        flags = _Flags.empty(n)
        text = text_dtype()
        cols = self.columns
        customer = self._identifier(raw[cols.customer_id], cols.customer_id, "customer", flags)
        if cols.order_id is not None:
            order = self._identifier(raw[cols.order_id], cols.order_id, "order", flags)
        else:
            order = pd.Series("L" + pd.Series(lines).astype(str), dtype=text)
        if cols.refund_of is not None:
            refund_of = self._refund_of(raw[cols.refund_of], flags)
        else:
            refund_of = pd.Series(np.nan, index=raw.index, dtype=text)
        is_refund = refund_of.notna().to_numpy(dtype=bool)
        currency, exponents = self._currency(raw, flags)
        purchased_at = self._timestamps(raw[cols.purchased_at], lines, flags)
        minor = self._amounts(raw[cols.amount], currency, exponents, flags)
        flags.flag(
            ~is_refund & (minor < 0),
            "negative_amount_not_refund",
            cols.amount,
            "a negative amount needs a refund_of naming the refunded order",
        )
        flags.flag(
            is_refund & (minor >= 0),
            "refund_sign_mismatch",
            cols.amount,
            "a refund row must carry a negative amount",
        )
        self._time_range(purchased_at, flags)
        canonical = pd.DataFrame(
            {
                "customer_id": customer,
                "order_id": order.astype(text),
                "purchased_at": purchased_at,
                "amount_minor": minor,
                "currency": currency,
                "amount": minor / np.power(10.0, exponents),
                "kind": pd.Series(np.where(is_refund, "refund", "purchase"), dtype=text),
                "refund_of": refund_of,
                "source": self._optional_text(raw, cols.source, n),
                "category": self._optional_text(raw, cols.category, n),
                "line": lines,
            }
        )
        if self.converter is not None:
            canonical = self._convert(canonical, flags)
        self._check_currencies(canonical, flags)
        keep = self._deduplicate(canonical, flags)
        self.rows_read += n + len(chunk.rejected)
        stored = canonical[keep].reset_index(drop=True)
        self.accepted.append(stored)
        self.superseded.append(np.zeros(len(stored), dtype=bool))
        self.replaced_by.append(np.zeros(len(stored), dtype=np.int64))
        if chunk.rejected or not flags.ok.all():
            self.quarantined.append(self._quarantine_rows(raw, lines, flags, chunk.rejected))
        self.chunks += 1
        for old_chunk, old_row, replaced_by in self.staged:
            self.superseded[old_chunk][old_row] = True
            self.replaced_by[old_chunk][old_row] = replaced_by
        self.staged.clear()

    def _identifier(self, column: pd.Series, name: str, what: str, flags: _Flags) -> pd.Series:
        values = as_text(column)
        stripped = values.str.strip()
        missing = (values.isna() | (stripped == "")).to_numpy(dtype=bool)
        padded = ~missing & (stripped != values).to_numpy(dtype=bool)
        flags.flag(missing, f"missing_{what}_id", name, f"the {what} id is empty")
        if self.strip_ids:
            return stripped
        flags.flag(
            padded,
            f"malformed_{what}_id",
            name,
            f"the {what} id has surrounding whitespace; pass strip_ids=True to trim it",
        )
        return values

    def _refund_of(self, column: pd.Series, flags: _Flags) -> pd.Series:
        values = as_text(column)
        stripped = values.str.strip()
        blank = (values.isna() | (stripped == "")).to_numpy(dtype=bool)
        padded = ~blank & (stripped != values).to_numpy(dtype=bool)
        if self.strip_ids:
            values = stripped
        else:
            flags.flag(
                padded,
                "malformed_refund_of",
                self.columns.refund_of,
                "the refunded order id has surrounding whitespace; pass strip_ids=True",
            )
        return values.where(~blank)

    def _optional_text(self, raw: pd.DataFrame, name: str | None, n: int) -> pd.Series:
        text = text_dtype()
        if name is None:
            empty: pd.Series = pd.Series(np.nan, index=range(n), dtype=text)
            return empty
        values = as_text(raw[name]).str.strip()
        result: pd.Series = values.where(values != "")
        return result

    def _currency(self, raw: pd.DataFrame, flags: _Flags) -> tuple[pd.Series, NDArray[np.int64]]:
        text = text_dtype()
        n = len(raw)
        name = self.columns.currency
        if name is None:
            code = self.currency or ""
            return (
                pd.Series(code, index=raw.index, dtype=text),
                np.full(n, CURRENCY_EXPONENTS[code], dtype=np.int64),
            )
        values = as_text(raw[name]).str.strip().str.upper()
        missing = (values.isna() | (values == "")).to_numpy(dtype=bool)
        if self.currency is not None:
            values = values.where(~missing, self.currency)
            missing = np.zeros(n, dtype=bool)
        flags.flag(missing, "missing_currency", name, "the currency code is empty")
        known = values.isin(list(CURRENCY_EXPONENTS)).to_numpy(dtype=bool)
        flags.flag(
            ~missing & ~known,
            "unknown_currency",
            name,
            "not an ISO 4217 currency code (such as EUR, USD, JPY)",
        )
        exponents = (
            values.map(CURRENCY_EXPONENTS).fillna(2).to_numpy(dtype=np.float64).astype(np.int64)
        )
        return values, exponents

    def _timestamps(self, column: pd.Series, lines: NDArray[np.int64], flags: _Flags) -> pd.Series:
        name = self.columns.purchased_at
        n = len(column)
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            utc = column.dt.tz_convert("UTC")
            flags.flag(column.isna().to_numpy(dtype=bool), "missing_timestamp", name, "empty")
            return self._to_utc(utc, flags)
        if pd.api.types.is_datetime64_dtype(column.dtype):
            missing = column.isna().to_numpy(dtype=bool)
            flags.flag(missing, "missing_timestamp", name, "the timestamp is empty")
            return self._localize_naive(column, np.ones(n, dtype=bool), flags)
        if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            msg = (
                f"{self.file or 'transactions'}: column {name!r} (datetime_col) holds "
                f"{column.dtype} values, not timestamps; pass datetimes or ISO 8601 text"
            )
            raise SchemaError(msg)
        text = as_text(column)
        missing = is_missing_text(text)
        flags.flag(missing, "missing_timestamp", name, "the timestamp is empty")
        parsed, aware, bad = parse_timestamp_text(text, date_format=self.date_format)
        bad = bad & ~missing
        if self.date_format is None and bad.any():
            # pandas 2.x cannot hold years outside 1677-2262 and reads them as NaT
            year = np.full(len(text), np.nan)
            year[bad] = pd.to_numeric(
                text[bad].str.strip().str.extract(r"^([0-9]{4})-[0-9]{2}-[0-9]{2}", expand=False),
                errors="coerce",
            ).to_numpy(dtype=np.float64, na_value=np.nan)
            outside = bad & ((year < _MIN_NS.year + 1) | (year > _MAX_NS.year - 1))
            flags.flag(
                outside, "timestamp_out_of_range", name, "the timestamp lies outside 1677-2262"
            )
        expected = self.date_format or "ISO 8601 (YYYY-MM-DD[THH:MM[:SS]][+HH:MM|Z])"
        flags.flag(
            bad,
            "unparseable_timestamp",
            name,
            f"the timestamp does not match {expected}; dates are never guessed",
        )
        naive = ~missing & ~bad & ~aware
        if self.assume_tz is None and not self.timezone_decided and (naive | aware).any():
            if not aware.any():
                first = int(lines[np.flatnonzero(naive)[0]])
                msg = (
                    f"{self.file or 'transactions'}: column {name!r} (datetime_col) holds "
                    f"timestamps without a UTC offset (first on line {first}); pass "
                    "assume_tz='Europe/Berlin' (the zone they were recorded in) or add offsets"
                )
                raise NaiveTimestampError(msg)
            self.timezone_decided = True
        utc_values = pd.Series(parsed.to_numpy(), index=column.index)
        utc = pd.Series(pd.DatetimeIndex(utc_values).tz_localize("UTC"), index=column.index)
        if naive.any():
            if self.assume_tz is None:
                flags.flag(
                    naive,
                    "naive_timestamp",
                    name,
                    "no UTC offset, unlike the other rows; add one or pass assume_tz",
                )
            else:
                local = self._localize_naive(pd.Series(parsed.to_numpy()), naive, flags)
                utc = utc.where(~naive, local)
        return self._to_utc(utc, flags)

    def _localize_naive(self, wall: pd.Series, rows: NDArray[np.bool_], flags: _Flags) -> pd.Series:
        name = self.columns.purchased_at
        if self.assume_tz is None:
            msg = (
                f"{self.file or 'transactions'}: column {name!r} (datetime_col) is a naive "
                "datetime64 column; pass assume_tz='Europe/Berlin' (the zone it was recorded "
                "in) or convert it to aware UTC first"
            )
            raise NaiveTimestampError(msg)
        utc, nonexistent, ambiguous = localize(
            wall.reset_index(drop=True), self.assume_tz, ambiguous=self.ambiguous
        )
        flags.flag(
            rows & nonexistent,
            "nonexistent_local_time",
            name,
            f"this wall-clock time does not exist in {self.assume_tz} (daylight-saving gap)",
        )
        flags.flag(
            rows & ambiguous,
            "ambiguous_local_time",
            name,
            f"this wall-clock time occurs twice in {self.assume_tz}; "
            "pass ambiguous='earliest' or 'latest'",
        )
        return self._to_utc(utc, flags)

    def _to_utc(self, utc: pd.Series, flags: _Flags) -> pd.Series:
        outside = ((utc < _MIN_NS) | (utc > _MAX_NS)).to_numpy(dtype=bool)
        flags.flag(
            outside,
            "timestamp_out_of_range",
            self.columns.purchased_at,
            "the timestamp lies outside 1677-2262",
        )
        return utc.where(~outside).astype("datetime64[us, UTC]").reset_index(drop=True)

    def _time_range(self, purchased_at: pd.Series, flags: _Flags) -> None:
        name = self.columns.purchased_at
        early = (purchased_at < pd.Timestamp(self.min_date)).to_numpy(dtype=bool)
        flags.flag(
            early,
            "timestamp_out_of_range",
            name,
            f"before min_date {self.min_date.isoformat()}; pass min_date to accept older rows",
        )
        if self.as_of is not None:
            limit = pd.Timestamp(self.as_of + self.future_tolerance)
            late = (purchased_at > limit).to_numpy(dtype=bool)
            flags.flag(
                late,
                "future_timestamp",
                name,
                f"after as_of {self.as_of.isoformat()} plus {self.future_tolerance}",
            )

    def _amounts(
        self,
        column: pd.Series,
        currency: pd.Series,
        exponents: NDArray[np.int64],
        flags: _Flags,
    ) -> NDArray[np.int64]:
        name = self.columns.amount
        dtype = column.dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            msg = (
                f"{self.file or 'transactions'}: column {name!r} (monetary_value_col) holds "
                f"{dtype} values, not amounts"
            )
            raise SchemaError(msg)
        if pd.api.types.is_numeric_dtype(dtype):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            missing = np.isnan(values)
            flags.flag(missing, "missing_amount", name, "the amount is empty (NaN)")
            if pd.api.types.is_integer_dtype(dtype):
                ints = column.to_numpy(dtype=np.int64, na_value=0)
                scale = np.power(10, exponents).astype(np.int64)
                too_large = ~missing & (np.abs(ints) >= (10**_MAX_DIGITS) // scale)
                flags.flag(too_large, "amount_out_of_range", name, "more than 18 digits")
                return np.where(too_large | missing, 0, ints * scale).astype(np.int64)
            minor, problems = parse_amount_numbers(np.where(missing, 0.0, values), exponents)
        else:
            text = as_text(column)
            missing = is_missing_text(text)
            flags.flag(
                missing, "missing_amount", name, "the amount is empty or a placeholder (N/A, -)"
            )
            filled = text.where(~missing, "0")
            minor, problems, symbols = parse_amount_text(
                filled,
                exponents,
                currency,
                decimal=self.decimal,
                thousands=self.thousands,
                strip_currency_symbol=self.strip_currency_symbol,
            )
            symbol_rows = (symbols != "") & ~missing
            if self.strip_currency_symbol:
                details = (
                    np.array(
                        [
                            f"currency symbol {s!r} does not match the row's currency"
                            for s in symbols
                        ],
                        dtype=object,
                    )
                    if symbol_rows.any()
                    else symbols
                )
                flags.flag(
                    problems.pop("currency_symbol_mismatch") & ~missing,
                    "currency_symbol_mismatch",
                    name,
                    details,
                )
            else:
                problems.pop("currency_symbol_mismatch")
                flags.flag(
                    problems["unparseable_amount"] & symbol_rows,
                    "unparseable_amount",
                    name,
                    "a currency symbol in the amount; pass strip_currency_symbol=True "
                    "to accept symbols matching the row's currency",
                )
        thousands = "none" if self.thousands is None else repr(self.thousands)
        messages = {
            "unparseable_amount": (
                f"does not match the declared number format (decimal={self.decimal!r}, "
                f"thousands={thousands}); values are never reinterpreted"
            ),
            "precision_loss": "more decimal places than the currency's ISO 4217 exponent",
            "amount_out_of_range": "more than 18 digits in minor units",
        }
        for reason in ("unparseable_amount", "precision_loss", "amount_out_of_range"):
            flags.flag(problems[reason] & ~missing, reason, name, messages[reason])
        return np.where(flags.ok, minor, 0).astype(np.int64)

    def _convert(self, canonical: pd.DataFrame, flags: _Flags) -> pd.DataFrame:
        converter = self.converter
        if converter is None:  # pragma: no cover - guarded by the caller
            return canonical
        target = converter.currency
        ok = flags.ok
        canonical = canonical.assign(
            original_amount_minor=canonical["amount_minor"],
            original_currency=canonical["currency"],
        )
        if not ok.any():
            canonical["currency"] = target
            return canonical
        rows = canonical[ok]
        converted = converter.convert(
            rows["amount_minor"].reset_index(drop=True),
            rows["currency"].reset_index(drop=True),
            rows["purchased_at"].reset_index(drop=True),
        )
        values = pd.array(pd.Series(converted).to_numpy(), dtype="Int64")
        if len(values) != len(rows):
            msg = (
                f"the converter returned {len(values)} amounts for {len(rows)} rows; "
                "it must return one per row"
            )
            raise ValidationError(msg)
        missing = np.zeros(len(canonical), dtype=bool)
        missing[np.flatnonzero(ok)] = np.asarray(values.isna(), dtype=bool)
        flags.flag(
            missing,
            "no_exchange_rate",
            self.columns.currency,
            f"the converter has no rate to {target} for this currency and date",
        )
        minor = canonical["amount_minor"].to_numpy(dtype=np.int64).copy()
        minor[np.flatnonzero(ok)] = np.asarray(values.fillna(0), dtype=np.int64)
        canonical["amount_minor"] = np.where(flags.ok, minor, 0)
        canonical["currency"] = pd.Series(target, index=canonical.index, dtype=text_dtype())
        canonical["amount"] = canonical["amount_minor"] / 10.0 ** CURRENCY_EXPONENTS[target]
        return canonical

    def _check_currencies(self, canonical: pd.DataFrame, flags: _Flags) -> None:
        if self.converter is not None:
            return
        rows = flags.ok & (canonical["kind"] == "purchase").to_numpy(dtype=bool)
        if not rows.any():
            return
        codes = canonical["currency"].to_numpy(dtype=object)[rows]
        for code in pd.unique(codes):
            if code not in self.currencies:
                lines = canonical["line"].to_numpy()[rows]
                self.currencies[str(code)] = int(lines[codes == code][0])
        if len(self.currencies) > 1:
            ordered = sorted(self.currencies.items(), key=lambda item: item[1])
            names = ", ".join(code for code, _ in ordered)
            msg = (
                f"{self.file or 'transactions'} mixes currencies {names} (first {ordered[1][0]} "
                f"on line {ordered[1][1]}); amounts in different currencies are never added. "
                "Ingest each currency separately or pass converter= with dated rates"
            )
            raise MixedCurrencyError(msg)

    def _deduplicate(  # noqa: PLR0915 - one vectorised pass over the chunk, step by step
        self, canonical: pd.DataFrame, flags: _Flags
    ) -> NDArray[np.bool_]:
        """Find repeated order ids; return the rows of this chunk to store.

        With ``on_conflict`` ``"quarantine"`` or ``"raise"`` each repeat is compared with
        the stored row (the first occurrence); with ``"update"`` with the previous
        occurrence, so that a run of rows behaves like successive upserts and the last
        differing row is stored.  Only repeated rows are compared, column by column.
        """
        ok = flags.ok
        keep = ok.copy()
        if self.columns.order_id is None or not ok.any():
            return keep
        positions = np.flatnonzero(ok)
        m = len(positions)
        ids = pd.Index(canonical["order_id"].to_numpy(dtype=object)[positions])
        lines = canonical["line"].to_numpy(dtype=np.int64)[positions]
        segment_of, found_at = self.seen.lookup(ids)
        found = segment_of >= 0
        stored_line = np.zeros(m, dtype=np.int64)
        stored_chunk = np.zeros(m, dtype=np.int64)
        stored_row = np.zeros(m, dtype=np.int64)
        for number in np.unique(segment_of[found]):
            hit = segment_of == number
            segment = self.seen.segments[int(number)]
            stored_line[hit] = segment.lines[found_at[hit]]
            stored_chunk[hit] = segment.chunks[found_at[hit]]
            stored_row[hit] = segment.rows[found_at[hit]]
        codes, _ = pd.factorize(ids)
        groups = pd.Series(np.arange(m)).groupby(codes, sort=False)
        occurrence = groups.cumcount().to_numpy()
        update = self.on_conflict == "update"
        if update:
            previous = groups.shift(1).to_numpy(dtype=np.float64)
            local_ref = np.where(np.isnan(previous), -1, previous).astype(np.int64)
        else:
            first = groups.transform("first").to_numpy().astype(np.int64)
            local_ref = np.where(found, -1, first)
        repeated = found | (occurrence > 0)
        use_local = repeated & (local_ref >= 0)
        reference_line = np.where(use_local, lines[np.maximum(local_ref, 0)], stored_line)
        differing = self._differing(
            canonical=canonical,
            positions=positions,
            repeated=repeated,
            use_local=use_local,
            local_ref=local_ref,
            stored_chunk=stored_chunk,
            stored_row=stored_row,
        )
        conflict = repeated & differing.any(axis=1)
        same = repeated & ~conflict
        self.deduplicated += int(same.sum())
        keep[positions[same]] = False
        if conflict.any() and not update:
            details = [
                f"order {order!r} on line {line} differs from line {reference} in "
                + ", ".join(np.asarray(_PAYLOAD, dtype=object)[mask])
                for order, line, reference, mask in zip(
                    ids[conflict],
                    lines[conflict],
                    reference_line[conflict],
                    differing[conflict],
                    strict=True,
                )
            ]
            if self.on_conflict == "raise":
                msg = (
                    f"{self.file or 'transactions'}: {details[0]}; pass "
                    'on_conflict="quarantine" to keep the first row and quarantine '
                    'the later one, or on_conflict="update" to overwrite it'
                )
                raise DuplicateError(msg)
            mask = np.zeros(len(canonical), dtype=bool)
            mask[positions[conflict]] = True
            detail_array = np.full(len(canonical), "", dtype=object)
            detail_array[positions[conflict]] = details
            flags.flag(mask, "duplicate_order_conflict", self.columns.order_id, detail_array)
            keep[positions[conflict]] = False
        # writers: rows that become the stored version of their order
        writer = ~repeated | (conflict & update)
        writer_codes = codes[writer]
        last_writer = ~pd.Series(writer_codes).duplicated(keep="last").to_numpy()
        superseded_local = np.flatnonzero(writer)[~last_writer]
        if len(superseded_local):
            successor = (
                pd.Series(lines[writer]).groupby(writer_codes, sort=False).shift(-1).to_numpy()
            )
            audit = canonical.iloc[positions[superseded_local]].assign(
                replaced_by_line=successor[~last_writer].astype(np.int64)
            )
            self.replaced_rows.append(audit)
            keep[positions[superseded_local]] = False
            self.deduplicated += len(superseded_local)
            self.updated += len(superseded_local)
        final_local = np.flatnonzero(writer)[last_writer]
        chunk = len(self.accepted)
        row_of = np.cumsum(keep) - 1
        moved = final_local[found[final_local]]
        if len(moved):
            first_writer_line = (
                pd.Series(lines[writer]).groupby(writer_codes, sort=False).transform("first")
            ).to_numpy()[last_writer][found[final_local]]
            for local, replaced_by in zip(moved, first_writer_line, strict=True):
                self.staged.append(
                    (int(stored_chunk[local]), int(stored_row[local]), int(replaced_by))
                )
                segment = self.seen.segments[int(segment_of[local])]
                position = int(found_at[local])
                segment.lines[position] = lines[local]
                segment.chunks[position] = chunk
                segment.rows[position] = row_of[positions[local]]
            self.deduplicated += len(moved)
            self.updated += len(moved)
        fresh = final_local[~found[final_local]]
        self.seen.add(
            _Segment(
                ids=ids[fresh],
                lines=lines[fresh],
                chunks=np.full(len(fresh), chunk, dtype=np.int64),
                rows=row_of[positions[fresh]].astype(np.int64),
            )
        )
        return keep

    def _differing(
        self,
        *,
        canonical: pd.DataFrame,
        positions: NDArray[np.int64],
        repeated: NDArray[np.bool_],
        use_local: NDArray[np.bool_],
        local_ref: NDArray[np.int64],
        stored_chunk: NDArray[np.int64],
        stored_row: NDArray[np.int64],
    ) -> NDArray[np.bool_]:
        """Compare each repeated row with its reference row, column by column.

        Returns a (rows, payload columns) mask of differing values (all false for rows
        that are not repeated).  Reference rows come from this chunk or from the rows
        stored by earlier chunks.
        """
        m = len(positions)
        differing = np.zeros((m, len(_PAYLOAD)), dtype=bool)
        if not repeated.any():
            return differing
        payload = list(_PAYLOAD)
        local_rows = np.flatnonzero(use_local)
        stored_rows = np.flatnonzero(repeated & ~use_local)
        pieces = [canonical[payload].iloc[positions[local_ref[local_rows]]]]
        order = [local_rows]
        for chunk in np.unique(stored_chunk[stored_rows]):
            picked = stored_rows[stored_chunk[stored_rows] == chunk]
            pieces.append(self.accepted[int(chunk)][payload].iloc[stored_row[picked]])
            order.append(picked)
        reference = pd.concat([piece for piece in pieces if len(piece)], ignore_index=True)
        targets = np.concatenate(order)
        current = canonical[payload].iloc[positions[targets]].reset_index(drop=True)
        for index, column in enumerate(payload):
            left = current[column].to_numpy(dtype=object)
            right = reference[column].to_numpy(dtype=object)
            both_missing = pd.isna(left) & pd.isna(right)
            differing[targets, index] = ~(both_missing | (left == right))
        return differing

    def _quarantine_rows(
        self,
        raw: pd.DataFrame,
        lines: NDArray[np.int64],
        flags: _Flags,
        rejected: tuple[RejectedRecord, ...],
    ) -> pd.DataFrame:
        bad = ~flags.ok
        text = text_dtype()
        data: dict[str, Any] = {
            "file": pd.Series(self.file, index=range(int(bad.sum())), dtype=text),
            "line": lines[bad],
            "reason": flags.reason[bad],
            "column": np.where(flags.column[bad] == "", np.nan, flags.column[bad]),
            "detail": flags.detail[bad],
        }
        mapped = self.columns.mapped()
        for role in _ROLES.values():
            name = mapped.get(role)
            key = f"raw_{role}"
            if name is None:
                data[key] = np.full(int(bad.sum()), np.nan, dtype=object)
            else:
                data[key] = as_text(raw[name][bad]).to_numpy(dtype=object)
        data["raw_record"] = np.full(int(bad.sum()), np.nan, dtype=object)
        frame = pd.DataFrame(data)
        if rejected:
            extra = pd.DataFrame(
                {
                    "file": self.file,
                    "line": [record.line for record in rejected],
                    "reason": [record.reason for record in rejected],
                    "column": np.nan,
                    "detail": [record.detail for record in rejected],
                    "raw_record": [record.raw_record for record in rejected],
                }
            )
            frame = pd.concat([frame, extra], ignore_index=True)
        return _typed_quarantine(frame)

    # -- after the last chunk ---------------------------------------------------------------

    def check_storm(self) -> None:
        """Abort when the share of quarantined rows exceeds ``max_bad_ratio``."""
        if self.max_bad_ratio is None or not self.rows_read:
            return
        quarantined = self.prior_quarantined + sum(len(frame) for frame in self.quarantined)
        if quarantined / self.rows_read <= self.max_bad_ratio:
            return
        counts = Counter[str]()
        for frame in self.quarantined:
            counts.update({str(k): int(v) for k, v in frame["reason"].value_counts().items()})
        top = ", ".join(f"{reason}: {count}" for reason, count in counts.most_common(3))
        msg = (
            f"{self.file or 'transactions'}: {quarantined} of {self.rows_read} rows read so far "
            f"are bad (more than max_bad_ratio={self.max_bad_ratio}); top reasons: {top}. "
            "Check the separator (sep=), the encoding, decimal/thousands and the column "
            "mapping; pass max_bad_ratio=1.0 to quarantine them anyway"
        )
        raise IngestAbortedError(msg)

    def finish(self, *, status: str, notes: list[str]) -> IngestResult:
        """Resolve refunds against their orders and assemble the result."""
        converted = self.converter is not None
        parts = []
        replaced_parts = []
        for frame, superseded, replaced_by in zip(
            self.accepted, self.superseded, self.replaced_by, strict=True
        ):
            parts.append(frame[~superseded])
            if superseded.any():
                replaced_parts.append(
                    frame[superseded].assign(replaced_by_line=replaced_by[superseded])
                )
        replaced_parts.extend(self.replaced_rows)
        empty = _empty_transactions(converted=converted)
        transactions = pd.concat([empty, *parts], ignore_index=True) if parts else empty
        transactions = transactions.astype(empty.dtypes.to_dict())
        transactions, refund_quarantine = self._resolve_refunds(transactions)
        pieces = [part for part in (*self.quarantined, refund_quarantine) if len(part)]
        if pieces:
            quarantine = pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)
            quarantine = quarantine.sort_values("line", kind="stable").reset_index(drop=True)
        else:
            quarantine = _empty_quarantine()
        transactions = transactions.sort_values("line", kind="stable").reset_index(drop=True)
        replaced = (
            pd.concat(replaced_parts, ignore_index=True).sort_values("line", kind="stable")
            if replaced_parts
            else empty.assign(replaced_by_line=pd.Series([], dtype=np.int64))
        )
        replaced = replaced.reset_index(drop=True)
        purchases = (transactions["kind"] == "purchase").to_numpy(dtype=bool)
        report = IngestReport(
            rows_read=self.rows_read,
            accepted=len(transactions),
            deduplicated=self.deduplicated,
            quarantined=len(quarantine),
            quarantined_by_reason={
                str(k): int(v) for k, v in quarantine["reason"].value_counts().items()
            },
            zero_value=int((purchases & (transactions["amount_minor"] == 0).to_numpy()).sum()),
            refunds=int((~purchases).sum()),
            customers=int(transactions["customer_id"].nunique()),
            updated=self.updated,
            chunks=self.chunks,
            status="interrupted" if status == "interrupted" else "complete",
            source=self.file or "DataFrame",
            notes=tuple(notes),
        )
        return IngestResult(
            transactions=transactions, quarantine=quarantine, report=report, replaced=replaced
        )

    def _resolve_refunds(
        self,
        transactions: pd.DataFrame,
        *,
        stored_parents: pd.DataFrame | None = None,
        refunded_before: pd.Series | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Check each refund against its parent order; quarantine the ones that fail.

        ``stored_parents`` (purchases already in a store) and ``refunded_before`` (parent
        order id -> minor units refunded by stored refunds) extend the input when
        ingesting into a store chunk by chunk.
        """
        is_refund = (transactions["kind"] == "refund").to_numpy(dtype=bool)
        if not is_refund.any():
            return transactions, _empty_quarantine()
        refunds = transactions[is_refund].sort_values("line", kind="stable")
        purchases = transactions[~is_refund]
        if stored_parents is not None and len(stored_parents):
            purchases = pd.concat(
                [
                    stored_parents[["order_id", "customer_id", "currency", "amount_minor"]],
                    purchases,
                ],
                ignore_index=True,
            )
        parents = purchases.drop_duplicates("order_id").set_index("order_id")
        amount_col = "original_amount_minor" if self.converter is not None else "amount_minor"
        currency_col = "original_currency" if self.converter is not None else "currency"
        parent_ids = pd.Index(refunds["refund_of"].to_numpy(dtype=object))
        at = parents.index.get_indexer(parent_ids)
        known = at >= 0
        safe = np.where(known, at, 0)
        reasons = np.full(len(refunds), "", dtype=object)
        details = np.full(len(refunds), "", dtype=object)
        reasons[~known] = "refund_parent_unknown"
        details[~known] = "refund_of names no purchase of this input"
        if len(parents):
            parent_customer = parents["customer_id"].to_numpy(dtype=object)[safe]
            parent_currency = parents[currency_col].to_numpy(dtype=object)[safe]
            parent_amount = parents[amount_col].to_numpy(dtype=np.int64)[safe]
        else:
            parent_customer = np.full(len(refunds), "", dtype=object)
            parent_currency = parent_customer
            parent_amount = np.zeros(len(refunds), dtype=np.int64)
        customer_differs = known & (
            refunds["customer_id"].to_numpy(dtype=object) != parent_customer
        )
        open_rows = reasons == ""
        reasons[open_rows & customer_differs] = "refund_customer_mismatch"
        details[open_rows & customer_differs] = "the refunded order belongs to another customer"
        currency_differs = known & (refunds[currency_col].to_numpy(dtype=object) != parent_currency)
        open_rows = reasons == ""
        reasons[open_rows & currency_differs] = "refund_currency_mismatch"
        details[open_rows & currency_differs] = "the refund's currency differs from the order's"
        open_rows = reasons == ""
        refunded = (
            pd.Series(np.where(open_rows, -refunds[amount_col].to_numpy(dtype=np.int64), 0))
            .groupby(parent_ids.to_numpy())
            .cumsum()
            .to_numpy()
        )
        if refunded_before is not None and len(refunded_before):
            prior = parent_ids.map(refunded_before).to_numpy(dtype=np.float64)
            refunded = refunded + np.where(np.isnan(prior), 0, prior).astype(np.int64)
        exceeds = open_rows & (refunded > parent_amount)
        reasons[exceeds] = "refund_exceeds_parent"
        details[exceeds] = "the refunds of this order would exceed the order's amount"
        failed = reasons != ""
        if not failed.any():
            return transactions, _empty_quarantine()
        bad = refunds[failed]
        mapped = self.columns.mapped()
        quarantine = pd.DataFrame(
            {
                "file": self.file,
                "line": bad["line"].to_numpy(),
                "reason": reasons[failed],
                "column": mapped.get("refund_of", np.nan),
                "detail": details[failed],
                "raw_customer_id": bad["customer_id"].to_numpy(dtype=object),
                "raw_order_id": bad["order_id"].to_numpy(dtype=object),
                "raw_purchased_at": bad["purchased_at"].astype(str).to_numpy(dtype=object),
                "raw_amount": bad[amount_col].astype(str).to_numpy(dtype=object),
                "raw_currency": bad[currency_col].to_numpy(dtype=object),
                "raw_refund_of": bad["refund_of"].to_numpy(dtype=object),
                "raw_source": bad["source"].to_numpy(dtype=object),
                "raw_category": bad["category"].to_numpy(dtype=object),
            }
        )
        dropped = transactions["line"].isin(bad["line"]) & pd.Series(is_refund)
        return transactions[~dropped.to_numpy()], _typed_quarantine(quarantine)


def _typed_quarantine(frame: pd.DataFrame) -> pd.DataFrame:
    text = text_dtype()
    data: dict[str, pd.Series] = {}
    for name in QUARANTINE_COLUMNS:
        if name == "line":
            data[name] = pd.Series(frame[name].to_numpy(dtype=np.int64))
        elif name not in frame.columns:
            data[name] = pd.Series(np.nan, index=range(len(frame)), dtype=text)
        else:
            values = frame[name].to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = np.nan
            data[name] = pd.Series(values, dtype=text)
    return pd.DataFrame(data)


# -- the public function ---------------------------------------------------------------------


def _check_options(  # noqa: C901, PLR0912 - a flat list of independent option checks
    *,
    currency: str | None,
    currency_col: str | None,
    order_id_col: str | None,
    refund_of_col: str | None,
    assume_tz: str | None,
    ambiguous: str,
    decimal: str,
    thousands: str | None,
    on_conflict: str,
    chunksize: object,
    max_bad_ratio: float | None,
    sep: str,
    encoding: str,
    converter: object,
) -> None:
    if currency is None and currency_col is None:
        msg = (
            "amounts need a currency: pass currency='EUR' (one currency for every row) "
            "or currency_col=<column with ISO 4217 codes>"
        )
        raise ValidationError(msg)
    if currency is not None and not is_known_currency(currency):
        msg = f"currency {currency!r} is not an ISO 4217 code; use one such as 'EUR' or 'USD'"
        raise ValidationError(msg)
    if refund_of_col is not None and order_id_col is None:
        msg = "refund_of_col names parent orders, so order_id_col is needed as well"
        raise ValidationError(msg)
    if assume_tz is not None:
        try:
            zoneinfo.ZoneInfo(assume_tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            msg = (
                f"assume_tz={assume_tz!r} is not an IANA time-zone name; "
                "use one such as 'Europe/Berlin' or 'UTC'"
            )
            raise ValidationError(msg) from None
    if ambiguous not in {"raise", "earliest", "latest"}:
        msg = f"ambiguous must be 'raise', 'earliest' or 'latest', got {ambiguous!r}"
        raise ValidationError(msg)
    if on_conflict not in {"quarantine", "raise", "update"}:
        msg = f"on_conflict must be 'quarantine', 'raise' or 'update', got {on_conflict!r}"
        raise ValidationError(msg)
    if len(decimal) != 1 or decimal.isdigit():
        msg = f"decimal must be one non-digit character such as '.' or ',', got {decimal!r}"
        raise ValidationError(msg)
    if thousands is not None and (
        len(thousands) != 1 or thousands.isdigit() or thousands == decimal
    ):
        msg = (
            "thousands must be one non-digit character different from decimal "
            f"(such as ',', '.', ' ' or \"'\"), got {thousands!r}"
        )
        raise ValidationError(msg)
    if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
        msg = f"chunksize must be a positive integer, got {chunksize!r}"
        raise ValidationError(msg)
    if max_bad_ratio is not None and not 0 <= max_bad_ratio <= 1:
        msg = f"max_bad_ratio must lie between 0 and 1 (or be None), got {max_bad_ratio!r}"
        raise ValidationError(msg)
    if len(sep) != 1 or not sep.isascii() or sep in {'"', "\n", "\r"}:
        msg = f"sep must be one ASCII character other than a quote or newline, got {sep!r}"
        raise ValidationError(msg)
    _check_encoding(encoding)
    if converter is not None:
        if not isinstance(converter, CurrencyConverter):
            msg = "converter must have a currency attribute and a convert(...) method"
            raise ValidationError(msg)
        if not is_known_currency(str(converter.currency)):
            msg = f"converter.currency {converter.currency!r} is not an ISO 4217 code"
            raise ValidationError(msg)


def _check_encoding(encoding: str) -> None:
    """Accept encodings in which newline, quote and ASCII separators are single bytes."""
    sample = '\n\r",;|\t 0123456789.-+abcXYZ'
    try:
        codecs.lookup(encoding)
        ascii_compatible = sample.encode(encoding) == sample.encode("ascii")
    except (LookupError, UnicodeError):
        ascii_compatible = False
    if not ascii_compatible:
        msg = (
            f"encoding={encoding!r} is not an ASCII-compatible text encoding; use 'utf-8' "
            "(the default), 'cp1251', 'latin-1' or another one that keeps ASCII as is"
        )
        raise ValidationError(msg, field="encoding")


def _as_instant(value: datetime | date, *, name: str) -> datetime:
    if isinstance(value, datetime):
        return require_aware(value, name=name).astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _progress_callback(
    progress: bool | Callable[[int, int | None, str], object],
    total: int | None,
) -> tuple[Callable[[int, int | None, str], object] | None, Callable[[], None]]:
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return None, lambda: None
    try:
        from tqdm import tqdm  # noqa: PLC0415 - optional dependency, CLI extra
    except ImportError:  # pragma: no cover - depends on the installation
        msg = "progress=True needs tqdm: pip install 'retention-crm[cli]'"
        raise ValidationError(msg) from None
    bar = tqdm(total=total, unit="rows", desc="ingest")

    def update(done: int, total_or_none: int | None, stage: str) -> None:
        bar.set_description(stage)
        bar.update(done - bar.n)
        del total_or_none

    return update, bar.close


def ingest(  # noqa: PLR0912, PLR0915, C901 - one linear pipeline with documented steps
    source: pd.DataFrame | str | Path,
    *,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str,
    order_id_col: str | None = None,
    currency_col: str | None = None,
    currency: str | None = None,
    source_col: str | None = None,
    category_col: str | None = None,
    refund_of_col: str | None = None,
    assume_tz: str | None = None,
    ambiguous: Literal["raise", "earliest", "latest"] = "raise",
    date_format: str | None = None,
    decimal: str = ".",
    thousands: str | None = None,
    strip_currency_symbol: bool = False,
    strip_ids: bool = False,
    on_conflict: Literal["quarantine", "raise", "update"] = "quarantine",
    chunksize: int | None = None,
    as_of: datetime | None = None,
    min_date: datetime | date = DEFAULT_MIN_DATE,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    max_bad_ratio: float | None = 0.5,
    sep: str = ",",
    encoding: str = "utf-8",
    progress: bool | Callable[[int, int | None, str], object] = False,
    cancel: Callable[[], bool] | None = None,
    converter: CurrencyConverter | None = None,
    store: Store | None = None,
    resume: bool = True,
) -> IngestResult:
    """Validate and normalise a purchase history; quarantine what is wrong.

    Parameters
    ----------
    source
        A DataFrame, or the path of a CSV (UTF-8, BOM accepted) or Parquet file
        (``.parquet``/``.pq``).  CSV columns are read as text, so ids keep leading zeros.
    customer_id_col, datetime_col, monetary_value_col
        Columns holding the customer id, the purchase time and the amount.
    order_id_col
        Column holding the order id.  With it, repeated orders are deduplicated (same
        normalised payload) or handled by ``on_conflict``.  Without it nothing is
        deduplicated (identical rows are separate purchases) and ``order_id`` is
        synthesised from the source line as ``"L<line>"`` (``"L2"`` for the first row
        after a CSV header, ``"L1"`` for the first row of a frame) — stable as long as
        the file is.
    currency_col, currency
        Column of ISO 4217 codes, and/or the one currency of every row (with a column,
        it fills empty cells).  One of them is required.
    source_col, category_col
        Optional columns with the sales channel (pos, site, app...) and product category.
    refund_of_col
        Column naming the refunded order (needs ``order_id_col``).  A row with a value
        there is a refund: its amount must be negative and its parent a purchase of the
        same input with the same customer and currency, not exceeded by its refunds.
    assume_tz
        IANA zone in which naive timestamps were recorded.  Without it a naive
        ``datetime64`` column, or text timestamps without any UTC offset in the first
        chunk, raise :class:`~retention.exceptions.NaiveTimestampError`; naive rows among
        aware ones are quarantined ``naive_timestamp``.
    ambiguous
        Wall-clock times that occur twice in ``assume_tz`` (when daylight saving ends):
        ``"raise"`` refuses the row (``ambiguous_local_time``); ``"earliest"`` and
        ``"latest"`` pick the first or second occurrence.  Times in the spring-forward
        gap are always ``nonexistent_local_time``.
    date_format
        One explicit ``strptime`` format for every row; ISO 8601 when ``None``.  Dates
        are never guessed and day-first is never inferred.
    decimal, thousands
        The declared number format of text amounts: ``decimal=",", thousands="."``
        reads ``1.234,56``; ``thousands=" "`` also accepts non-breaking and narrow
        spaces (``1 234,50``).  A value not matching is ``unparseable_amount``.
    strip_currency_symbol
        Accept a currency symbol or code before or after the number (``€12,50``,
        ``12.50 EUR``) when it matches the row's currency.  Otherwise a symbol makes the
        amount ``unparseable_amount``.
    strip_ids
        Trim whitespace around ids instead of quarantining them as malformed.
    on_conflict
        An order id seen before with a different payload: ``"quarantine"`` the later
        row (``duplicate_order_conflict``), ``"raise"``
        :class:`~retention.exceptions.DuplicateError`, or ``"update"`` (the later row
        replaces the stored one; the old values are kept in ``IngestResult.replaced``).
    chunksize
        Rows per chunk (default 100,000 for files, the whole frame for frames).
    as_of
        The aware instant of the ingest; rows later than ``as_of + future_tolerance`` are
        ``future_timestamp``.  ``None`` skips the check, and the report says so.
    min_date
        Rows before it are ``timestamp_out_of_range`` (default 1990-01-01 UTC; a
        ``date`` means midnight UTC).
    future_tolerance
        Allowed clock skew past ``as_of`` (default five minutes).
    max_bad_ratio
        After each chunk, if more than this share of the rows read so far is
        quarantined, stop with :class:`~retention.exceptions.IngestAbortedError` naming
        the top reasons (a wrong separator or encoding).  ``None`` disables the check.
    sep
        CSV field separator (one ASCII character).
    encoding
        The CSV file's encoding: UTF-8 by default (a byte-order mark is accepted), or
        another ASCII-compatible one such as ``"cp1251"`` or ``"latin-1"``.  Bytes that
        do not decode are never replaced: the record is ``invalid_encoding``.
    progress
        ``True`` shows a tqdm bar (the ``cli`` extra); a callable is called as
        ``progress(rows_done, total_rows_or_None, stage)`` after every chunk.
    cancel
        Called before each chunk; when it returns true the run stops at that chunk
        boundary with ``report.status == "interrupted"``.  Ctrl-C (SIGINT) does the same:
        in the main thread, while Python's default SIGINT handler is installed, the first
        Ctrl-C lets the chunk in flight finish (and commit, with ``store``) and stops
        before the next one; a second Ctrl-C, or a KeyboardInterrupt raised otherwise,
        drops the chunk in flight whole (its transaction is rolled back).
    converter
        A :class:`CurrencyConverter` with dated rates, such as :class:`DatedRates`.
        Without it, purchases in more than one currency raise
        :class:`~retention.exceptions.MixedCurrencyError`; with it, ``amount_minor`` and
        ``currency`` hold converted values and ``original_amount_minor`` and
        ``original_currency`` the values as read.
    store
        A :class:`~retention.storage.Store` to ingest into (RELIABILITY.md SCL-01).  Each
        chunk is validated and committed in its own transaction together with its
        rejects and, for a file, a checkpoint (a SHA-256 digest of the bytes read so far
        -- of the whole file for Parquet --, the byte offset -- the row offset for
        Parquet -- and the physical line where the next chunk starts).  Order ids already
        stored are deduplicated (or conflicts quarantined, per ``on_conflict``) by the
        store, and refunds are matched with parents stored earlier, in an earlier chunk
        or in the same chunk; unlike an in-memory ingest, a refund whose parent comes in a
        later chunk is ``refund_parent_unknown``.  Only one chunk is held in memory: the
        returned ``transactions``, ``quarantine`` and ``replaced`` are **empty** (read the
        rows back with ``store.purchases()`` and ``store.quarantined()``); the report
        counts the stored rows (``accepted``), the rows the store already held or that
        repeated an earlier row (``deduplicated``) and the rejects, and ``customers``
        counts customers created by this ingest.  Not combinable with ``converter``.
    resume
        With ``store``: continue after the last committed chunk of this file (found by
        its resolved path) when a checkpoint exists; the report then covers the whole
        file, earlier runs included.  A file whose committed part changed raises
        :class:`~retention.exceptions.ResumeMismatchError`.  ``resume=False`` reads the
        file from its start (a re-ingest; stored orders are deduplicated).

    Returns
    -------
    IngestResult
        ``transactions`` (columns :data:`TRANSACTION_COLUMNS`: ``customer_id``,
        ``order_id``, ``purchased_at`` (``datetime64[us, UTC]``), ``amount_minor``
        (int64), ``currency``, ``amount`` (float64, for numerics), ``kind``
        (``"purchase"``/``"refund"``), ``refund_of``, ``source``, ``category`` and
        ``line``, the 1-based source line: the physical line where a CSV record
        starts, the row position for frames and Parquet), ``quarantine`` and
        ``report``.

    Raises
    ------
    SchemaError
        A required column is missing (before anything is read), or a column has a
        type that cannot hold its values.
    NaiveTimestampError
        Naive timestamps without ``assume_tz``.
    MixedCurrencyError
        Purchases in several currencies without a ``converter``.
    DuplicateError
        A conflicting repeated order with ``on_conflict="raise"``.
    IngestAbortedError
        Too many bad rows (see ``max_bad_ratio``).
    ValidationError
        An option is invalid.
    ResumeMismatchError
        With ``store`` and ``resume``: the file changed since its checkpoint.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"client": ["00123", "7"], "paid_at": ["2024-03-01T10:00Z",
    ...     "2024-03-02T11:30+01:00"], "total": ["19.90", "N/A"]})
    >>> result = ingest(frame, customer_id_col="client", datetime_col="paid_at",
    ...                 monetary_value_col="total", currency="EUR", max_bad_ratio=None)
    >>> result.transactions[["customer_id", "amount_minor", "currency"]].to_dict("records")
    [{'customer_id': '00123', 'amount_minor': 1990, 'currency': 'EUR'}]
    >>> result.quarantine["reason"].tolist()
    ['missing_amount']
    >>> result.report.rows_read, result.report.accepted, result.report.quarantined
    (2, 1, 1)
    """
    _check_options(
        currency=currency,
        currency_col=currency_col,
        order_id_col=order_id_col,
        refund_of_col=refund_of_col,
        assume_tz=assume_tz,
        ambiguous=ambiguous,
        decimal=decimal,
        thousands=thousands,
        on_conflict=on_conflict,
        chunksize=chunksize,
        max_bad_ratio=max_bad_ratio,
        sep=sep,
        encoding=encoding,
        converter=converter,
    )
    as_of_utc = None if as_of is None else _as_instant(as_of, name="as_of")
    min_instant = _as_instant(min_date, name="min_date")
    columns = _Columns(
        customer_id=customer_id_col,
        purchased_at=datetime_col,
        amount=monetary_value_col,
        order_id=order_id_col,
        currency=currency_col,
        refund_of=refund_of_col,
        source=source_col,
        category=category_col,
    )
    wanted = {
        "customer_id_col": customer_id_col,
        "datetime_col": datetime_col,
        "monetary_value_col": monetary_value_col,
        "order_id_col": order_id_col,
        "currency_col": currency_col,
        "refund_of_col": refund_of_col,
        "source_col": source_col,
        "category_col": category_col,
    }
    needed = list(dict.fromkeys(name for name in wanted.values() if name is not None))
    if store is not None and converter is not None:
        msg = (
            "converter= cannot be combined with store=: stores keep amounts in one currency "
            "and refunds are checked in the original one; convert before ingesting, or "
            "ingest without store= and pass result.transactions to store.add_purchases"
        )
        raise ValidationError(msg)
    file_name: str | None
    total: int | None
    chunks: Iterator[RawChunk]
    reader: CsvReader | None = None
    path: Path | None = None
    parquet = False
    given: object = source
    if isinstance(given, pd.DataFrame):
        require_columns(given, frame_name="transactions", **wanted)
        schema = given.iloc[:0]
        file_name, total = None, len(given)
        chunks = _frame_chunks(given[needed], chunksize)
    elif isinstance(given, (str, Path)):
        path = Path(given)
        if not path.is_file():
            msg = f"{path} does not exist or is not a file"
            raise ValidationError(msg)
        file_name = path.name
        parquet = path.suffix.lower() in {".parquet", ".pq"}
        if parquet:
            schema, total = _parquet_schema(path)
            require_columns(schema, frame_name=file_name, **wanted)
            chunks = _parquet_chunks(path, needed, chunksize or DEFAULT_CHUNKSIZE)
        else:
            reader = CsvReader(
                path,
                sep=sep,
                chunksize=chunksize or DEFAULT_CHUNKSIZE,
                columns=needed,
                encoding=encoding,
            )
            header = reader.read_header()
            schema = pd.DataFrame(columns=header)
            require_columns(schema, frame_name=file_name, **wanted)
            total = None
            chunks = iter(reader)
    else:
        msg = f"source must be a DataFrame or a CSV/Parquet path, got {type(given).__name__}"
        raise ValidationError(msg)
    stamp_dtype = schema[datetime_col].dtype
    if (
        assume_tz is None
        and pd.api.types.is_datetime64_dtype(stamp_dtype)
        and not isinstance(stamp_dtype, pd.DatetimeTZDtype)
    ):
        msg = (
            f"{file_name or 'transactions'}: column {datetime_col!r} (datetime_col) is a naive "
            "datetime64 column; pass assume_tz='Europe/Berlin' (the zone it was recorded in) "
            "or convert it to aware UTC first"
        )
        raise NaiveTimestampError(msg)
    if (
        assume_tz is None
        and date_format is not None
        and "%z" not in date_format
        and "%Z" not in date_format
    ):
        msg = (
            f"date_format={date_format!r} has no UTC offset (%z), so every timestamp "
            "would be naive; pass assume_tz='Europe/Berlin' (the zone they were "
            "recorded in) or add %z"
        )
        raise NaiveTimestampError(msg)
    state = _Ingestor(
        columns=columns,
        file=file_name,
        currency=currency,
        assume_tz=assume_tz,
        ambiguous=ambiguous,
        date_format=date_format,
        decimal=decimal,
        thousands=thousands,
        strip_currency_symbol=strip_currency_symbol,
        strip_ids=strip_ids,
        on_conflict=on_conflict,
        as_of=as_of_utc,
        min_date=min_instant,
        future_tolerance=future_tolerance,
        max_bad_ratio=max_bad_ratio,
        converter=converter,
    )
    notes: list[str] = []
    if as_of_utc is None:
        notes.append("as_of not given: future-date check skipped")
    if order_id_col is None:
        notes.append("order_id_col not given: nothing deduplicated, order_id is 'L<line>'")
    sink: _StoreSink | None = None
    if store is not None:
        sink = _StoreSink(
            store=store,
            state=state,
            on_conflict=on_conflict,
            key=None if path is None else str(path.resolve()),
            path=path,
            parquet=parquet,
        )
        resumed = sink.start(resume=resume)
        if resumed is not None:
            notes.append(
                f"resumed after chunk {resumed.chunks} (next line {resumed.line}); "
                "the counts cover the whole file"
            )
            if reader is not None:
                reader.start_offset, reader.start_line = resumed.byte_offset, resumed.line
            elif parquet and path is not None:
                size = chunksize or DEFAULT_CHUNKSIZE
                chunks = _parquet_chunks(path, needed, size, skip=resumed.byte_offset)
    report_progress, close = _progress_callback(progress, total)
    status = "complete"
    try:
        with _deferred_sigint() as interrupted:
            while True:
                try:
                    chunk = next(chunks, None)
                except KeyboardInterrupt:
                    status = "interrupted"
                    break
                if chunk is None:
                    break
                if (cancel is not None and cancel()) or interrupted():
                    status = "interrupted"
                    break
                checkpoint = _Checkpoint.take(state)
                try:
                    state.process(chunk)
                    state.check_storm()
                    if sink is not None:
                        sink.commit(chunk, *checkpoint.counters[:3])
                except KeyboardInterrupt:
                    checkpoint.restore(state)
                    status = "interrupted"
                    break
                if report_progress is not None:
                    report_progress(state.rows_read, total, "ingest")
    finally:
        close()
    if status == "interrupted":
        notes.append("interrupted: rows after the last complete chunk were not read")
    if sink is not None:
        result = sink.finish(status=status, notes=notes)
    else:
        result = state.finish(status=status, notes=notes)
    if report_progress is not None:
        report_progress(state.rows_read, total, "done")
    return result


@contextlib.contextmanager
def _deferred_sigint() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C (SIGINT) into a stop at the next chunk boundary (SCL-03).

    Only in the main thread and only while Python's default handler is installed (a host
    application's own handler is left alone).  The handler restores the default one, so a
    second Ctrl-C raises KeyboardInterrupt at once (the chunk in flight is then dropped
    whole).  Yields a function telling whether a Ctrl-C arrived.
    """
    requested = False

    def requested_yet() -> bool:
        return requested

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield requested_yet
        return

    def handler(signum: int, frame: object) -> None:
        nonlocal requested
        del signum, frame
        requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested_yet
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, previous)


@attrs.frozen
class _Checkpoint:
    """The counters and list lengths of an ingest before a chunk, to drop it whole."""

    lengths: tuple[int, ...]
    counters: tuple[int, int, int, int]

    @classmethod
    def take(cls, state: _Ingestor) -> _Checkpoint:
        return cls(
            lengths=(
                len(state.accepted),
                len(state.quarantined),
                len(state.replaced_rows),
                len(state.seen.segments),
            ),
            counters=(state.rows_read, state.deduplicated, state.updated, state.chunks),
        )

    def restore(self, state: _Ingestor) -> None:
        accepted, quarantined, replaced, _ = self.lengths
        del state.accepted[accepted:]
        del state.superseded[accepted:]
        del state.replaced_by[accepted:]
        del state.quarantined[quarantined:]
        del state.replaced_rows[replaced:]
        state.staged.clear()
        state.rows_read, state.deduplicated, state.updated, state.chunks = self.counters


# -- ingesting into a store ------------------------------------------------------------------

#: Running counts kept in a checkpoint (besides ``quarantined:<reason>`` entries).
_COUNT_KEYS = (
    "rows_read",
    "accepted",
    "deduplicated",
    "quarantined",
    "zero_value",
    "refunds",
    "customers",
    "updated",
)
_HASH_BLOCK = 1 << 20


def _file_digest(path: Path, end: int | None = None) -> tuple[Any, int]:
    """Return a SHA-256 hasher fed with the first ``end`` bytes (all when ``None``)."""
    hasher = hashlib.sha256()
    done = 0
    with path.open("rb") as handle:
        while end is None or done < end:
            want = _HASH_BLOCK if end is None else min(_HASH_BLOCK, end - done)
            block = handle.read(want)
            if not block:
                break
            hasher.update(block)
            done += len(block)
    return hasher, done


def _store_rejects(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Return quarantined rows as a store keeps them: reason, line, JSON details, no raw text."""
    columns = quarantine["column"].astype(object).where(quarantine["column"].notna(), None)
    files = quarantine["file"].astype(object).where(quarantine["file"].notna(), None)
    details = [
        json.dumps({"column": column, "file": file}, sort_keys=True)
        for column, file in zip(columns, files, strict=True)
    ]
    return pd.DataFrame(
        {
            "reason": quarantine["reason"].astype(str).to_numpy(dtype=object),
            "line": quarantine["line"].astype("Int64"),
            "details": details,
        }
    )


@attrs.define
class _StoreSink:
    """Commits each chunk's rows, rejects and checkpoint to a store in one transaction."""

    store: Store
    state: _Ingestor
    on_conflict: str
    key: str | None
    path: Path | None
    parquet: bool
    counts: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(_COUNT_KEYS, 0))
    chunks: int = 0
    hasher: Any = None
    hashed: int = 0
    whole_digest: str = ""

    # -- resuming -------------------------------------------------------------------------

    def start(self, *, resume: bool) -> IngestCheckpoint | None:
        """Load the checkpoint (when resuming) and check the file against it."""
        if self.path is None or self.key is None:
            return None
        if self.parquet:
            hasher, _ = _file_digest(self.path)
            self.whole_digest = "sha256:" + hasher.hexdigest()
        checkpoint = self.store.checkpoint(self.key) if resume else None
        if checkpoint is None:
            if not self.parquet:
                self.hasher = hashlib.sha256()
            return None
        if self.parquet:
            current = self.whole_digest
        else:
            self.hasher, self.hashed = _file_digest(self.path, checkpoint.byte_offset)
            current = "sha256:" + self.hasher.hexdigest()
            if self.hashed < checkpoint.byte_offset:
                current = "truncated"
        if current != checkpoint.fingerprint:
            msg = (
                f"{self.path.name} changed since chunk {checkpoint.chunks} was committed "
                f"(up to line {checkpoint.line}); the rows stored so far came from another "
                "version of it. Pass resume=False to ingest the file from its start (stored "
                "orders are deduplicated), or restore the original file"
            )
            raise ResumeMismatchError(msg)
        self._restore(checkpoint)
        return checkpoint

    def _restore(self, checkpoint: IngestCheckpoint) -> None:
        for name in _COUNT_KEYS:
            self.counts[name] = int(checkpoint.counts.get(name, 0))
        for name, value in checkpoint.counts.items():
            if name.startswith("quarantined:"):
                self.counts[name] = int(value)
        self.chunks = checkpoint.chunks
        self.state.rows_read = self.counts["rows_read"]
        self.state.prior_quarantined = self.counts["quarantined"]

    # -- one chunk ------------------------------------------------------------------------

    def commit(
        self, chunk: RawChunk, rows_before: int, dedup_before: int, updated_before: int
    ) -> None:
        """Resolve the processed chunk against the store and commit it with its checkpoint."""
        state = self.state
        frame = state.accepted.pop()
        superseded = state.superseded.pop()
        state.replaced_by.pop()
        transactions = frame[~superseded].reset_index(drop=True)
        pieces = [part for part in state.quarantined if len(part)]
        state.quarantined.clear()
        state.replaced_rows.clear()
        state.seen = _Seen()
        stored_parents, refunded_before = self._refund_context(transactions)
        transactions, refund_quarantine = state._resolve_refunds(  # noqa: SLF001 - same module
            transactions, stored_parents=stored_parents, refunded_before=refunded_before
        )
        if len(refund_quarantine):
            pieces.append(refund_quarantine)
        quarantine = pd.concat(pieces, ignore_index=True) if pieces else _empty_quarantine()
        ids = transactions["order_id"].to_numpy(dtype=object)
        existing = self.store.purchases(order_ids=list(ids)) if len(ids) else None
        is_new = (
            ~transactions["order_id"].isin(existing["order_id"]).to_numpy(dtype=bool)
            if existing is not None and len(existing)
            else np.ones(len(transactions), dtype=bool)
        )
        new_rows = transactions[is_new]
        purchase = (new_rows["kind"] == "purchase").to_numpy(dtype=bool)
        delta = {
            "rows_read": state.rows_read - rows_before,
            "deduplicated": state.deduplicated - dedup_before,
            "updated": state.updated - updated_before,
            "zero_value": int((purchase & (new_rows["amount_minor"] == 0).to_numpy()).sum()),
            "refunds": int((~purchase).sum()),
        }
        reasons = Counter(str(reason) for reason in quarantine["reason"])
        after: dict[str, int] = {}
        from retention.storage.base import IngestCheckpoint  # noqa: PLC0415 - no SQL import for plain ingests

        def checkpoint_for(result: PurchaseWriteResult) -> IngestCheckpoint:
            after.update(self._counts_after(delta, reasons, result))
            return IngestCheckpoint(
                source=self.key or "",
                fingerprint=self._fingerprint(chunk),
                byte_offset=self._offset(chunk, after),
                line=self._line(chunk, after),
                chunks=self.chunks + 1,
                counts=dict(after),
            )

        result = self.store.add_purchases(
            transactions,
            on_conflict=cast("OnConflict", self.on_conflict),
            checkpoint=checkpoint_for if self.key is not None else None,
            quarantined=_store_rejects(quarantine) if len(quarantine) else None,
        )
        if not after:
            after.update(self._counts_after(delta, reasons, result))
        self.counts = after
        self.chunks += 1
        state.prior_quarantined = after["quarantined"]

    def _refund_context(
        self, transactions: pd.DataFrame
    ) -> tuple[pd.DataFrame | None, pd.Series | None]:
        refunds = transactions[(transactions["kind"] == "refund").to_numpy(dtype=bool)]
        if not len(refunds):
            return None, None
        parent_ids = list(pd.unique(refunds["refund_of"].to_numpy(dtype=object)))
        parents = self.store.purchases(order_ids=parent_ids)
        parents = parents[(parents["kind"] == "purchase").to_numpy(dtype=bool)]
        customers = list(pd.unique(refunds["customer_id"].to_numpy(dtype=object)))
        history = self.store.purchases(customer_ids=customers)
        earlier = history[
            (history["kind"] == "refund").to_numpy(dtype=bool)
            & history["refund_of"].isin(parent_ids).to_numpy(dtype=bool)
            & ~history["order_id"].isin(refunds["order_id"]).to_numpy(dtype=bool)
        ]
        refunded = (
            (-earlier["amount_minor"].astype(np.int64))
            .groupby(earlier["refund_of"].to_numpy(dtype=object))
            .sum()
        )
        return parents, refunded

    def _counts_after(
        self, delta: dict[str, int], reasons: Counter[str], result: PurchaseWriteResult
    ) -> dict[str, int]:
        after = dict(self.counts)
        for name, value in delta.items():
            after[name] += value
        after["accepted"] += result.stored - result.updated
        after["deduplicated"] += result.deduplicated + result.updated
        after["updated"] += result.updated
        after["customers"] += result.customers_created
        conflicts = len(result.conflicts)
        if conflicts:
            reasons = reasons + Counter({"duplicate_order_conflict": conflicts})
        after["quarantined"] += sum(reasons.values())
        for reason, count in reasons.items():
            after[f"quarantined:{reason}"] = after.get(f"quarantined:{reason}", 0) + count
        return after

    def _fingerprint(self, chunk: RawChunk) -> str:
        if self.parquet:
            return self.whole_digest
        end = chunk.end_offset
        if self.path is not None and end > self.hashed:
            with self.path.open("rb") as handle:
                handle.seek(self.hashed)
                remaining = end - self.hashed
                while remaining > 0:
                    block = handle.read(min(_HASH_BLOCK, remaining))
                    if not block:
                        break
                    self.hasher.update(block)
                    remaining -= len(block)
            self.hashed = end
        return "sha256:" + str(self.hasher.hexdigest())

    def _offset(self, chunk: RawChunk, after: dict[str, int]) -> int:
        return after["rows_read"] if self.parquet else chunk.end_offset

    def _line(self, chunk: RawChunk, after: dict[str, int]) -> int:
        return after["rows_read"] + 1 if self.parquet else chunk.next_line

    # -- the report -----------------------------------------------------------------------

    def finish(self, *, status: str, notes: list[str]) -> IngestResult:
        """Report on the whole file (all resumed runs together); the frames stay empty."""
        counts = self.counts
        by_reason = {
            name.removeprefix("quarantined:"): value
            for name, value in counts.items()
            if name.startswith("quarantined:") and value
        }
        report = IngestReport(
            rows_read=counts["rows_read"],
            accepted=counts["accepted"],
            deduplicated=counts["deduplicated"],
            quarantined=counts["quarantined"],
            quarantined_by_reason=by_reason,
            zero_value=counts["zero_value"],
            refunds=counts["refunds"],
            customers=counts["customers"],
            updated=counts["updated"],
            chunks=self.chunks,
            status="interrupted" if status == "interrupted" else "complete",
            source=self.state.file or "DataFrame",
            notes=tuple(notes),
        )
        empty = _empty_transactions(converted=False)
        return IngestResult(
            transactions=empty,
            quarantine=_empty_quarantine(),
            report=report,
            replaced=empty.assign(replaced_by_line=pd.Series([], dtype=np.int64)),
        )
