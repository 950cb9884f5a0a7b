"""Per-customer frequency, recency, age and spend: the input of every BTYD model.

:func:`rfm_summary` reproduces the semantics of lifetimes'
``summary_data_from_transaction_data`` (and pymc-marketing's ``rfm_summary``):

* purchases are first aggregated to periods of ``time_unit`` (several purchases on one
  day count as one daily "period" purchase, their amounts summed);
* ``frequency`` is the number of *repeat* periods (distinct periods minus one);
* ``recency`` is the time between the first and the last purchase period, and ``T``
  the time between the first purchase period and the end of observation, both in
  periods divided by ``time_scaler``;
* ``monetary_value`` is the mean of the per-period sums over the repeat periods (the
  first period is excluded), 0 for customers without a repeat purchase.

The computation is vectorised: customer ids are factorised once, periods are integer
ordinals, and one sort of the (customer, period) keys yields every figure with
``reduceat``; no per-customer Python runs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Final, cast

import numpy as np
import pandas as pd

from retention._validation import describe_ids, require_columns, require_time_unit
from retention.exceptions import ValidationError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["SUMMARY_COLUMNS", "rfm_summary"]

#: Columns of the summary frame, in order.
SUMMARY_COLUMNS: Final = ("frequency", "recency", "T", "monetary_value")

_NS_PER_HOUR: Final = 3_600_000_000_000
_NS_PER_DAY: Final = 24 * _NS_PER_HOUR
# 1970-01-01 was a Thursday; pandas' weekly periods (W-SUN) start on Monday 1969-12-29.
_DAYS_FROM_MONDAY_TO_EPOCH: Final = 3


def _is_ingest_result(value: object) -> bool:
    return all(hasattr(value, name) for name in ("transactions", "quarantine", "report"))


def rfm_summary(
    transactions: pd.DataFrame | object,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = "amount",
    observation_period_end: datetime | date | str | pd.Timestamp | None = None,
    time_unit: str = "D",
    time_scaler: float = 1.0,
    include_first_transaction: bool = False,
    datetime_format: str | None = None,
    order_id_col: str | None = None,
    refund_of_col: str | None = None,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Summarise a transaction log into one row per customer.

    Parameters
    ----------
    transactions
        One row per purchase, or an ``IngestResult`` from :func:`retention.ingest`
        (then the canonical columns are used and refunds are netted automatically).
    customer_id_col, datetime_col, monetary_value_col
        Column names. ``monetary_value_col=None`` leaves out ``monetary_value``.
    observation_period_end
        End of observation. Defaults to the latest purchase (as lifetimes does); the
        value used is recorded in ``result.attrs["observation_period_end"]``.
        Purchases in periods after it are left out and counted in
        ``result.attrs["rows_after_observation_period_end"]``.
    time_unit
        Period purchases are aggregated to: ``"h"``, ``"D"``, ``"W"`` or ``"M"``.
    time_scaler
        Divides recency and ``T``: ``time_unit="D", time_scaler=7`` gives weeks with
        daily aggregation, as in the BG/NBD and Pareto/NBD papers.
    include_first_transaction
        Count the first period in ``frequency`` and ``monetary_value`` (lifetimes'
        option; leave it False for the BTYD models).
    datetime_format
        ``strptime`` format for a text date column; ISO 8601 when omitted.
    order_id_col, refund_of_col
        When both are given, rows whose ``refund_of_col`` names an order are refunds:
        their (negative) amounts are netted into the parent order and they never count
        as purchases; a fully refunded order stops counting as a purchase.
    tz
        Zone in which an aware datetime column is cut into periods (default UTC).
        A naive column is read as calendar time as it stands.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted), with float columns ``frequency``,
        ``recency``, ``T`` and, unless ``monetary_value_col`` is None,
        ``monetary_value``. ``attrs`` holds ``time_unit``, ``time_scaler``,
        ``observation_period_end``, ``include_first_transaction`` and
        ``rows_after_observation_period_end``.

    Raises
    ------
    SchemaError
        If a named column is missing.
    ValidationError
        For an empty frame, missing ids, dates or amounts, mixed naive and aware
        datetimes, negative amounts that are not linked refunds, a non-positive
        ``time_scaler``, or an observation end before the first purchase.

    Examples
    --------
    >>> import pandas as pd
    >>> transactions = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b"],
    ...     "date": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-05"]),
    ...     "amount": [10.0, 20.0, 5.0],
    ... })
    >>> rfm_summary(transactions, observation_period_end="2024-01-31")
                 frequency  recency     T  monetary_value
    customer_id
    a                  1.0     10.0  30.0            20.0
    b                  0.0      0.0  26.0             0.0
    """
    frame: pd.DataFrame
    if _is_ingest_result(transactions):
        frame = getattr(transactions, "transactions")  # noqa: B009 - an IngestResult
        customer_id_col, datetime_col = "customer_id", "purchased_at"
        monetary_value_col = "amount" if monetary_value_col is not None else None
        order_id_col, refund_of_col = "order_id", "refund_of"
    else:
        require_columns(transactions, frame_name="transactions")
        frame = cast("pd.DataFrame", transactions)
    require_columns(
        frame,
        frame_name="transactions",
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_value_col=monetary_value_col,
        order_id_col=order_id_col,
        refund_of_col=refund_of_col,
    )
    if (order_id_col is None) != (refund_of_col is None):
        msg = "pass both order_id_col and refund_of_col to net refunds, or neither"
        raise ValidationError(msg)
    unit = require_time_unit(time_unit)
    scaler = _check_scaler(time_scaler)
    if len(frame) == 0:
        msg = "transactions is empty; a summary needs at least one purchase"
        raise ValidationError(msg)

    customers = _customer_ids(frame[customer_id_col], customer_id_col)
    moments, naive = _instants(frame[datetime_col], datetime_col, datetime_format, tz)
    amounts = (
        None
        if monetary_value_col is None
        else _amounts(frame[monetary_value_col], frame, customer_id_col, monetary_value_col)
    )
    keep = np.ones(len(frame), dtype=bool)
    if refund_of_col is not None and order_id_col is not None:
        keep, amounts = _net_refunds(frame, order_id_col, refund_of_col, amounts)
    elif amounts is not None and (amounts < 0).any():
        bad = frame.loc[amounts < 0, customer_id_col].unique()
        msg = (
            f"{monetary_value_col} has negative amounts (customers {describe_ids(bad)}); "
            "refunds must be linked to their order: pass order_id_col and refund_of_col, "
            "or ingest the data with retention.ingest(..., refund_of_col=...)"
        )
        raise ValidationError(msg)

    periods = _period_ordinals(moments, unit)
    end_moment = _observation_end(observation_period_end, moments, keep, naive=naive, tz=tz)
    del moments
    end_period = int(_period_ordinals(np.array([end_moment], dtype=np.int64), unit)[0])
    inside = keep & (periods <= end_period)
    rows_after = int((keep & ~inside).sum())
    if not inside.any():
        msg = "no purchase lies on or before observation_period_end; choose a later end"
        raise ValidationError(msg)
    if not inside.all():  # copy only when something is left out
        customers, periods = customers[inside], periods[inside]
        amounts = None if amounts is None else amounts[inside]

    result = _summarise(
        customers,
        periods,
        amounts,
        end_period=end_period,
        scaler=scaler,
        include_first=include_first_transaction,
    )
    result.attrs.update(
        {
            "time_unit": unit,
            "time_scaler": scaler,
            "observation_period_end": _as_timestamp(end_moment, naive=naive, tz=tz),
            "include_first_transaction": include_first_transaction,
            "rows_after_observation_period_end": rows_after,
        }
    )
    return result


def _check_scaler(time_scaler: object) -> float:
    if isinstance(time_scaler, bool) or not isinstance(time_scaler, (int, float)):
        msg = f"time_scaler must be a positive number, got {time_scaler!r}"
        raise ValidationError(msg)
    scaler = float(time_scaler)
    if not np.isfinite(scaler) or scaler <= 0:
        msg = f"time_scaler must be a positive number, got {time_scaler!r}"
        raise ValidationError(msg)
    return scaler


def _customer_ids(column: pd.Series, name: str) -> pd.Series:
    missing = column.isna()
    if missing.any():
        rows = list(column.index[missing.to_numpy()])
        msg = f"{name} is missing on rows {describe_ids(rows)}; every purchase needs a customer"
        raise ValidationError(msg)
    return column


def _instants(
    column: pd.Series, name: str, datetime_format: str | None, tz: str
) -> tuple[NDArray[np.int64], bool]:
    """Return nanoseconds since the epoch in local calendar time, and naive-ness."""
    values = column
    if not isinstance(values.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(
        values.dtype
    ):
        values = _parse_dates(values, name, datetime_format)
    if values.isna().any():
        rows = list(values.index[values.isna().to_numpy()])
        msg = f"{name} is missing or unparseable on rows {describe_ids(rows)}; fix or drop them"
        raise ValidationError(msg)
    naive = not isinstance(values.dtype, pd.DatetimeTZDtype)
    if not naive:
        values = values.dt.tz_convert(tz).dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64), naive


def _parse_dates(values: pd.Series, name: str, datetime_format: str | None) -> pd.Series:
    sample = values.dropna()
    has_tz = sample.map(
        lambda value: isinstance(value, (datetime, pd.Timestamp)) and value.tzinfo is not None
    )
    if has_tz.any() and not has_tz.all():
        msg = (
            f"{name} mixes naive and time-zone-aware datetimes; make them all aware "
            "(for example with tz_localize) or all naive"
        )
        raise ValidationError(msg)
    try:
        parsed = pd.to_datetime(values, format=datetime_format or "ISO8601", utc=bool(has_tz.any()))
    except (ValueError, TypeError) as error:
        msg = (
            f"{name} holds values that are not dates ({error}); pass datetime_format=... "
            "or convert the column with pandas.to_datetime first"
        )
        raise ValidationError(msg) from None
    return pd.Series(parsed, index=values.index)


def _amounts(
    column: pd.Series, frame: pd.DataFrame, customer_id_col: str, name: str
) -> NDArray[np.float64]:
    try:
        amounts = pd.to_numeric(column, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError):
        msg = (
            f"{name} holds values that are not numbers; clean it or ingest it with retention.ingest"
        )
        raise ValidationError(msg) from None
    bad = ~np.isfinite(amounts)
    if bad.any():
        customers = frame.loc[bad, customer_id_col].unique()
        msg = (
            f"{name} is missing or not finite for customers {describe_ids(customers)}; "
            "a missing amount is never read as 0 - fill or drop those rows first"
        )
        raise ValidationError(msg)
    return amounts


def _net_refunds(
    frame: pd.DataFrame,
    order_id_col: str,
    refund_of_col: str,
    amounts: NDArray[np.float64] | None,
) -> tuple[NDArray[np.bool_], NDArray[np.float64] | None]:
    """Fold refund rows into their parent orders; drop refunds and fully refunded orders."""
    refund_of = frame[refund_of_col]
    is_refund = refund_of.notna().to_numpy()
    if not is_refund.any():
        if amounts is not None and (amounts < 0).any():
            msg = "negative amounts must be refunds that name their order in refund_of_col"
            raise ValidationError(msg)
        return ~is_refund, amounts
    orders = frame[order_id_col].astype(str).to_numpy()
    parents = refund_of[is_refund].astype(str).to_numpy()
    position = pd.Index(orders[~is_refund]).get_indexer(pd.Index(parents))
    if (position < 0).any():
        unknown = parents[position < 0]
        msg = (
            f"refunds name orders that are not in the data ({describe_ids(unknown)}); "
            "ingest with retention.ingest to quarantine them"
        )
        raise ValidationError(msg)
    keep = ~is_refund
    if amounts is None:
        return keep, None
    purchase_rows = np.flatnonzero(~is_refund)
    refunded = np.zeros(len(purchase_rows))
    np.add.at(refunded, position, amounts[is_refund])
    netted = amounts.copy()
    netted[purchase_rows] += refunded
    fully = (refunded != 0) & (netted[purchase_rows] <= 0)
    keep[purchase_rows[fully]] = False
    return keep, netted


def _period_ordinals(moments: NDArray[np.int64], unit: str) -> NDArray[np.int64]:
    """Integer period numbers; differences of them are whole periods."""
    if unit == "h":
        return np.floor_divide(moments, _NS_PER_HOUR)
    days = np.floor_divide(moments, _NS_PER_DAY)
    if unit == "D":
        return days
    if unit == "W":
        weeks: NDArray[np.int64] = np.floor_divide(days + _DAYS_FROM_MONDAY_TO_EPOCH, 7)
        return weeks
    months = moments.view("datetime64[ns]").astype("datetime64[M]")
    return cast("NDArray[np.int64]", months.view(np.int64))


def _observation_end(
    value: datetime | date | str | pd.Timestamp | None,
    moments: NDArray[np.int64],
    keep: NDArray[np.bool_],
    *,
    naive: bool,
    tz: str,
) -> int:
    first = int(moments.min(where=keep, initial=np.iinfo(np.int64).max))
    if value is None:
        return int(moments.max(where=keep, initial=np.iinfo(np.int64).min))
    try:
        parsed: object = pd.Timestamp(value)
    except (ValueError, TypeError):
        msg = f"observation_period_end {value!r} is not a date"
        raise ValidationError(msg) from None
    if not isinstance(parsed, pd.Timestamp):  # NaT
        msg = "observation_period_end is missing (NaT); pass a date or None"
        raise ValidationError(msg)
    stamp = parsed
    if naive and stamp.tzinfo is not None:
        msg = (
            "observation_period_end is time-zone aware but the date column is naive; "
            "pass a naive observation_period_end (decision: it follows the column)"
        )
        raise ValidationError(msg)
    if not naive:
        if stamp.tzinfo is None:
            msg = (
                "observation_period_end is naive but the date column is time-zone aware; "
                f"pass an aware value, for example pd.Timestamp('...', tz='{tz}')"
            )
            raise ValidationError(msg)
        stamp = stamp.tz_convert(tz).tz_localize(None)
    end = int(stamp.as_unit("ns").value)
    if end < first:
        msg = (
            f"observation_period_end {value!r} is before the first purchase; "
            "choose an end on or after it"
        )
        raise ValidationError(msg)
    return end


def _as_timestamp(moment: int, *, naive: bool, tz: str) -> pd.Timestamp:
    stamp = pd.Timestamp(moment, unit="ns")
    return stamp if naive else stamp.tz_localize(tz)


def _summarise(
    customers: pd.Series,
    periods: NDArray[np.int64],
    amounts: NDArray[np.float64] | None,
    *,
    end_period: int,
    scaler: float,
    include_first: bool,
) -> pd.DataFrame:
    codes, uniques = pd.factorize(customers, sort=True)
    low = int(periods.min())
    span = int(periods.max()) - low + 1
    # key = customer code * span + period offset: sorting it groups customers, then periods.
    key = codes.astype(np.int64, copy=False)
    key *= span
    key += periods
    key -= low
    del codes
    sorted_amounts: NDArray[np.float64] | None = None
    if amounts is None:
        key.sort()
    else:
        order = np.argsort(key, kind="stable" if len(key) < 2**16 else "quicksort")
        key = key[order]
        sorted_amounts = amounts[order]
        del order
    # One (customer, period) group starts wherever the sorted key changes.
    change = np.empty(len(key), dtype=bool)
    change[0] = True
    np.not_equal(key[1:], key[:-1], out=change[1:])
    group_start = np.flatnonzero(change)
    del change
    group_customer, group_period = np.divmod(key[group_start], span)
    del key
    # One customer starts wherever the group's customer changes.
    customer_start = np.flatnonzero(np.r_[True, group_customer[1:] != group_customer[:-1]])
    periods_bought = np.diff(np.r_[customer_start, len(group_start)])
    first_period = group_period[customer_start]
    last_period = np.maximum.reduceat(group_period, customer_start)
    frequency = periods_bought if include_first else periods_bought - 1
    columns: dict[str, NDArray[np.float64]] = {
        "frequency": frequency.astype(np.float64),
        "recency": (last_period - first_period) / scaler,
        "T": (end_period - low - first_period) / scaler,
    }
    if sorted_amounts is not None:
        group_sum = np.add.reduceat(sorted_amounts, group_start)
        del sorted_amounts
        if include_first:
            counted = periods_bought
        else:
            counted = periods_bought - 1
            group_sum[customer_start] = 0.0  # the first period's spend is not a repeat
        total = np.add.reduceat(group_sum, customer_start)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["monetary_value"] = np.where(counted > 0, total / np.maximum(counted, 1), 0.0)
    index = pd.Index(uniques, name="customer_id")
    return pd.DataFrame(columns, index=index)
