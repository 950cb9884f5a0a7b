"""Shared preparation of transaction frames for the segmentation functions.

Transactions are reduced to integer purchase periods per customer (or per customer and
category) with numpy only: no per-customer Python, no ``groupby.apply``.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import numpy as np
import pandas as pd

from retention._validation import is_ingest_result, require_columns, require_time_unit
from retention.exceptions import ValidationError
from retention.history import period_ordinals

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "DAYS_PER_MONTH",
    "PreparedPurchases",
    "period_length",
    "period_start",
    "prepare_purchases",
    "rounded_period_start",
    "to_period",
    "whole_period_start",
]

#: Mean length of a Gregorian month in days, used to turn fractional months into dates.
DAYS_PER_MONTH = 365.2425 / 12

_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR
_EPOCH_WEEKDAY_OFFSET = 3  # 1970-01-01 is a Thursday; weeks start on Monday (pandas "W")


@attrs.frozen
class PreparedPurchases:
    """Purchases reduced to integer periods, one row per transaction kept."""

    customer_ids: pd.Index
    """Sorted unique customer ids (the index of every per-customer result)."""
    customer_codes: NDArray[np.int64]
    """Position of each kept row's customer in ``customer_ids``."""
    periods: NDArray[np.int64]
    """Period ordinal of each kept row (days, hours, weeks or months since the epoch)."""
    instants: NDArray[np.datetime64]
    """Naive wall-clock datetime of each kept row (in ``tz`` when the column was aware)."""
    as_of_period: int
    as_of: pd.Timestamp
    """``as_of`` as a naive wall-clock timestamp, comparable with ``instants``."""
    time_unit: str
    tz: str | None
    """The zone results are localised to, or None when the column was naive."""
    amounts: NDArray[np.float64] | None
    categories: pd.Series | None
    customer_id_col: str


def _as_naive_wall_clock(
    values: pd.Series, *, column: str, frame_name: str, tz: str | None
) -> tuple[pd.Series, str | None]:
    """Return naive datetimes (aware ones converted to ``tz``) and the zone used."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(
        values.dtype
    ):
        try:
            values = pd.to_datetime(values, format="ISO8601")
        except (ValueError, TypeError) as error:
            msg = (
                f"{frame_name} column {column!r} must hold datetimes (naive or all with a "
                "time zone); convert it with pandas.to_datetime, passing utc=True if rows "
                "carry different offsets"
            )
            raise ValidationError(msg) from error
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        zone = tz or "UTC"
        return values.dt.tz_convert(zone).dt.tz_localize(None), zone
    return values, None


def as_of_wall_clock(as_of: object, *, zone: str | None, column: str) -> pd.Timestamp:
    """``as_of`` as a naive wall-clock timestamp in the analysis zone.

    A datetime must match the column (naive with naive, aware with aware); a plain
    ``date`` or an ISO string without offset is read as calendar time in the zone.
    """
    if not isinstance(as_of, datetime | date | str):
        msg = f"as_of must be a datetime, date or ISO string, got {type(as_of).__name__}"
        raise ValidationError(msg)
    try:
        stamp = pd.Timestamp(as_of)
    except (ValueError, TypeError) as error:
        msg = f"as_of {as_of!r} is not a valid date or datetime"
        raise ValidationError(msg) from error
    parsed: object = stamp
    if parsed is pd.NaT:
        msg = "as_of is missing (NaT); pass the date the analysis is made for"
        raise ValidationError(msg)
    aware = stamp.tzinfo is not None
    calendar = not isinstance(as_of, datetime)  # a date or a string
    if zone is None:
        if aware and not calendar:
            msg = (
                f"as_of is time-zone aware but column {column!r} holds naive datetimes; "
                "pass a naive as_of (calendar time, like the column)"
            )
            raise ValidationError(msg)
        return stamp.tz_localize(None) if aware else stamp
    if aware:
        return stamp.tz_convert(zone).tz_localize(None)
    if not calendar:
        msg = (
            f"as_of is a naive datetime but column {column!r} is time-zone aware; pass an "
            "aware as_of, for example datetime(2024, 1, 31, tzinfo=UTC)"
        )
        raise ValidationError(msg)
    return stamp


def to_period(values: NDArray[np.datetime64], time_unit: str) -> NDArray[np.int64]:
    """Period ordinals of naive datetimes: hours, days, Monday-weeks or months since 1970."""
    nanoseconds = values.astype("datetime64[ns]", copy=False).view(np.int64)
    return period_ordinals(nanoseconds, time_unit)


def period_start(periods: NDArray[np.float64], time_unit: str) -> NDArray[np.datetime64]:
    """Naive start instant (nanoseconds) of fractional period ordinals.

    Whole ordinals give the period's first instant; a fractional part adds that share of
    a period (a month counts :data:`DAYS_PER_MONTH` days).  NaN gives NaT.
    """
    whole = np.floor(periods)
    finite = np.isfinite(whole)
    if np.array_equal(whole, periods) and finite.all():
        return _whole_period_start(whole.astype(np.int64), time_unit)
    safe = np.where(finite, whole, 0).astype(np.int64)
    if time_unit == "h":
        base = safe.astype("datetime64[h]")
    elif time_unit == "D":
        base = safe.astype("datetime64[D]")
    elif time_unit == "W":
        base = (safe * 7 - _EPOCH_WEEKDAY_OFFSET).astype("datetime64[D]")
    else:
        base = safe.astype("datetime64[M]")
    base_ns = base.astype("datetime64[ns]")
    fraction_ns = np.where(finite, (periods - whole) * period_length(time_unit).value, 0.0)
    result: NDArray[np.datetime64] = base_ns + np.round(fraction_ns).astype(np.int64).astype(
        "timedelta64[ns]"
    )
    result[~finite] = np.datetime64("NaT")
    return result


def rounded_period_start(periods: NDArray[np.float64], time_unit: str) -> NDArray[np.datetime64]:
    """Start instant of the period each value rounds to (``np.rint``); NaN gives NaT.

    The same as ``period_start(np.rint(periods), time_unit)``, without its checks for
    fractional parts.
    """
    whole = np.rint(periods)
    finite = np.isfinite(whole)
    if finite.all():
        return _whole_period_start(whole.astype(np.int64), time_unit)
    result = _whole_period_start(np.where(finite, whole, 0.0).astype(np.int64), time_unit)
    result[~finite] = np.datetime64("NaT")
    return result


def whole_period_start(periods: NDArray[np.int64], time_unit: str) -> NDArray[np.datetime64]:
    """Start instant of whole period ordinals."""
    return _whole_period_start(periods, time_unit)


def _whole_period_start(periods: NDArray[np.int64], time_unit: str) -> NDArray[np.datetime64]:
    if time_unit == "M":
        months: NDArray[np.datetime64] = periods.astype("datetime64[M]").astype("datetime64[ns]")
        return months
    if time_unit == "W":
        periods = periods * 7 - _EPOCH_WEEKDAY_OFFSET
    step = _NS_PER_HOUR if time_unit == "h" else _NS_PER_DAY
    instants: NDArray[np.datetime64] = (periods * step).view("datetime64[ns]")
    return instants


def period_length(time_unit: str) -> pd.Timedelta:
    """Length of one period (a month counts :data:`DAYS_PER_MONTH` days)."""
    if time_unit == "h":
        return pd.Timedelta(hours=1)
    if time_unit == "D":
        return pd.Timedelta(days=1)
    if time_unit == "W":
        return pd.Timedelta(weeks=1)
    return pd.Timedelta(days=DAYS_PER_MONTH)


def localise(values: NDArray[np.datetime64], tz: str | None) -> pd.DatetimeIndex:
    """Naive wall-clock instants as a DatetimeIndex, localised to ``tz`` when given."""
    index = pd.DatetimeIndex(values)
    if tz is None:
        return index
    return index.tz_localize(
        tz, ambiguous=np.zeros(len(index), dtype=bool), nonexistent="shift_forward"
    )


def check_ids(ids: pd.Series, *, column: str, frame_name: str) -> None:
    """Refuse missing customer ids, naming the column and the first bad rows."""
    missing = ids.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)[:5].tolist()
        msg = (
            f"{frame_name} column {column!r} has {int(missing.sum())} missing customer "
            f"id(s) (row positions {rows}); drop or fill those rows"
        )
        raise ValidationError(msg)


def prepare_purchases(  # noqa: C901, PLR0912, PLR0915 - one linear run of input checks
    transactions: object,
    *,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None,
    category_col: str | None,
    kind_col: str | None,
    refund_of_col: str | None,
    as_of: object,
    time_unit: str,
    tz: str | None,
    frame_name: str = "transactions",
) -> PreparedPurchases:
    """Validate a transactions frame and reduce it to integer purchase periods.

    Refund rows (``kind_col`` other than ``"purchase"``, or a non-missing
    ``refund_of_col``) are dropped when those columns exist, so the canonical ingested
    frame works as it is; an ``IngestResult`` is read through its canonical columns.
    Rows after ``as_of`` are ignored.
    """
    if is_ingest_result(transactions):
        # an IngestResult: its canonical frame and column names
        transactions = getattr(transactions, "transactions")  # noqa: B009
        customer_id_col, datetime_col = "customer_id", "purchased_at"
        monetary_value_col = "amount" if monetary_value_col is not None else None
        kind_col, refund_of_col = "kind", "refund_of"
    require_columns(
        transactions,
        frame_name=frame_name,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_value_col=monetary_value_col,
        category_col=category_col,
    )
    assert isinstance(transactions, pd.DataFrame)  # noqa: S101 - require_columns checked it
    time_unit = require_time_unit(time_unit)
    if len(transactions) == 0:
        msg = f"{frame_name} is empty; pass at least one purchase"
        raise ValidationError(msg)
    keep = np.ones(len(transactions), dtype=bool)
    if kind_col is not None and kind_col in transactions.columns:
        keep &= (transactions[kind_col] == "purchase").to_numpy(dtype=bool, na_value=False)
    if refund_of_col is not None and refund_of_col in transactions.columns:
        keep &= transactions[refund_of_col].isna().to_numpy()
    frame = transactions if keep.all() else transactions.loc[keep]

    ids = frame[customer_id_col]
    check_ids(ids, column=customer_id_col, frame_name=frame_name)
    instants, zone = _as_naive_wall_clock(
        frame[datetime_col], column=datetime_col, frame_name=frame_name, tz=tz
    )
    if instants.isna().any():
        rows = np.flatnonzero(instants.isna().to_numpy())[:5].tolist()
        msg = (
            f"{frame_name} column {datetime_col!r} has {int(instants.isna().sum())} missing "
            f"datetime(s) (row positions {rows}); drop or fill those rows"
        )
        raise ValidationError(msg)
    as_of_stamp = as_of_wall_clock(as_of, zone=zone, column=datetime_col)
    values = instants.to_numpy(dtype="datetime64[ns]")
    periods = to_period(values, time_unit)
    as_of_period = int(to_period(np.array([as_of_stamp.to_datetime64()]), time_unit)[0])
    on_or_before = periods <= as_of_period
    if not on_or_before.any():
        msg = (
            f"{frame_name} has no purchase on or before as_of={as_of_stamp.isoformat()}; "
            "pass a later as_of"
        )
        raise ValidationError(msg)

    amounts: NDArray[np.float64] | None = None
    if monetary_value_col is not None:
        raw = frame[monetary_value_col]
        if not pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
            msg = (
                f"{frame_name} column {monetary_value_col!r} (monetary_value_col) must be "
                f"numeric, got {raw.dtype}"
            )
            raise ValidationError(msg)
        amounts = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(amounts).any():
            msg = (
                f"{frame_name} column {monetary_value_col!r} has "
                f"{int(np.isnan(amounts).sum())} missing amount(s); drop or fill those rows"
            )
            raise ValidationError(msg)
        amounts = amounts if on_or_before.all() else amounts[on_or_before]

    categories: pd.Series | None = None
    if category_col is not None:
        categories = frame[category_col]
        if categories.isna().any():
            msg = (
                f"{frame_name} column {category_col!r} (category_col) has "
                f"{int(categories.isna().sum())} missing categories; fill them "
                "(for example with 'unknown') or drop those rows"
            )
            raise ValidationError(msg)
        if not on_or_before.all():
            categories = categories[on_or_before]
        categories = categories.reset_index(drop=True)

    everything = bool(on_or_before.all())
    if not everything:
        ids = ids[on_or_before]
        values = values[on_or_before]
        periods = periods[on_or_before]
    codes, uniques = factorize_sorted(ids)
    return PreparedPurchases(
        customer_ids=pd.Index(uniques, name="customer_id"),
        customer_codes=codes,
        periods=periods,
        instants=values,
        as_of_period=as_of_period,
        as_of=as_of_stamp,
        time_unit=time_unit,
        tz=zone,
        amounts=amounts,
        categories=categories,
        customer_id_col=customer_id_col,
    )


def factorize_sorted(values: pd.Series) -> tuple[NDArray[np.int64], pd.Index]:
    """Codes into the sorted unique values (``pd.factorize(sort=True)``, faster).

    Integer ids in a range at most four times the number of rows are counted directly
    (no hashing); otherwise hashing first and sorting only the uniques beats sorting
    every row.
    """
    if pd.api.types.is_signed_integer_dtype(values.dtype) and len(values):
        raw = values.to_numpy(dtype=np.int64)
        low, high = int(raw.min()), int(raw.max())
        if high - low < 4 * len(raw) + 1024:
            offsets = raw - low
            present = np.bincount(offsets, minlength=high - low + 1) > 0
            rank = np.cumsum(present) - 1
            dense = pd.Index(np.flatnonzero(present) + low, dtype=values.dtype)
            return rank[offsets], dense
    codes, uniques = pd.factorize(values)
    unique_index = pd.Index(uniques)
    order = unique_index.argsort()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank[codes], unique_index.take(order)


def group_boundaries(
    sorted_codes: NDArray[np.int64], n_groups: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the counts and start offsets of each group in an array sorted by group code."""
    counts = np.bincount(sorted_codes, minlength=n_groups).astype(np.int64)
    starts = np.cumsum(counts) - counts
    return counts, starts


def grouped_median(
    sorted_values: NDArray[Any], counts: NDArray[np.int64], starts: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Median of each group of a grouped, within-group-sorted array (NaN for empty groups)."""
    result = np.full(len(counts), np.nan)
    has = counts > 0
    low = starts[has] + (counts[has] - 1) // 2
    high = starts[has] + counts[has] // 2
    result[has] = (sorted_values[low].astype(np.float64) + sorted_values[high]) / 2.0
    return result


_Integer = TypeVar("_Integer", np.int64, np.uint32)


def sort_keys(keys: NDArray[_Integer]) -> NDArray[_Integer]:
    """Sort int64 (or uint32) keys, choosing the algorithm by how ordered they already are.

    Logs exported by customer (or a summary's own order) are mostly ascending, where
    timsort (numpy's stable sort) runs in near-linear time; shuffled keys go to
    quicksort, which timsort would be several times slower than.
    """
    if len(keys) < 2:
        return np.sort(keys)
    descents = np.count_nonzero(keys[1:] < keys[:-1])
    if descents <= len(keys) // 8:
        return np.sort(keys, kind="stable")
    return np.sort(keys, kind="quicksort")


def sort_within_groups(
    group_codes: NDArray[np.int64], values: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Sort non-negative integer ``values`` within groups of ``group_codes`` (one int64 sort)."""
    if len(values) == 0:
        return values
    span = int(values.max()) + 1
    if len(group_codes) and int(group_codes.max()) > (2**62) // span:
        order = np.lexsort((values, group_codes))
        return values[order]
    keys = group_codes * span
    keys += values
    if len(group_codes) and (int(group_codes.max()) + 1) * span <= 2**32:
        # uint32 keys: numpy's vectorised quicksort takes about half the time of int64
        narrow = np.sort(keys.astype(np.uint32))
        return (narrow % span).astype(np.int64)
    # the keys arrive grouped (ascending by group): timsort's runs make this near-linear
    keys.sort(kind="stable")
    return keys % span


def require_fraction(value: object, *, name: str, closed: bool = False) -> float:
    """Return ``value`` as a float strictly between 0 and 1 (or in [0, 1] if ``closed``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} must be a number between 0 and 1, got {value!r}"
        raise ValidationError(msg)
    number = float(value)
    inside = 0.0 <= number <= 1.0 if closed else 0.0 < number < 1.0
    if not inside or math.isnan(number):
        bounds = "[0, 1]" if closed else "(0, 1)"
        msg = f"{name} must lie in {bounds}, got {value!r}"
        raise ValidationError(msg)
    return number


def require_positive(value: object, *, name: str, allow_inf: bool = False) -> float:
    """Return ``value`` as a positive float, naming the parameter otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} must be a positive number, got {value!r}"
        raise ValidationError(msg)
    number = float(value)
    if math.isnan(number) or number <= 0 or (math.isinf(number) and not allow_inf):
        msg = f"{name} must be a positive{'' if allow_inf else ' finite'} number, got {value!r}"
        raise ValidationError(msg)
    return number


def require_count(value: object, *, name: str, minimum: int) -> int:
    """Return ``value`` as an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ValidationError(msg)
    if int(value) < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise ValidationError(msg)
    return int(value)


def require_series(value: object, *, name: str) -> pd.Series:
    """Return ``value`` if it is a Series (labels or values indexed by customer id)."""
    if not isinstance(value, pd.Series):
        msg = f"{name} must be a pandas Series indexed by customer id, got {type(value).__name__}"
        raise ValidationError(msg)
    return value
