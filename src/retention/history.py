"""A transaction log reduced to one row per (customer, period): the summary's first step.

:func:`purchase_history` validates a transaction log, nets refunds into their orders,
cuts every purchase into its period and sorts the distinct (customer, period) pairs
once.  :func:`retention.rfm_summary` and
:func:`retention.segmentation.repurchase_cycles` both accept the result, so a notebook
or a nightly job that needs the summary, the repurchase cycles and the RFM segments of
the same log pays for the validation, the id hashing and the sort once::

    history = retention.purchase_history(transactions)
    summary = retention.rfm_summary(history, observation_period_end="2024-12-31")
    cycles = repurchase_cycles(history, as_of="2024-12-31")

Passing the transaction frame to each function gives the same numbers; it only repeats
that work.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final, cast

import attrs
import numpy as np
import pandas as pd

from retention._validation import (
    describe_ids,
    is_ingest_result,
    require_columns,
    require_time_unit,
)
from retention.exceptions import ValidationError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["PurchaseHistory", "purchase_history"]

_NS_PER_HOUR: Final = 3_600_000_000_000
_NS_PER_DAY: Final = 24 * _NS_PER_HOUR
# 1970-01-01 was a Thursday; pandas' weekly periods (W-SUN) start on Monday 1969-12-29.
_DAYS_FROM_MONDAY_TO_EPOCH: Final = 3


@attrs.frozen(eq=False, repr=False)
class PurchaseHistory:
    """Purchases per customer and period, sorted; built by :func:`purchase_history`.

    Every array has one entry per distinct (customer, period) pair, sorted by customer
    and then by period.  Treat the arrays as read-only.
    """

    customer_ids: pd.Index
    """Sorted ids of the customers with at least one purchase (fully refunded orders
    are not purchases)."""
    customer: NDArray[np.int64]
    """Position of each pair's customer in :attr:`customer_ids` (ascending)."""
    period: NDArray[np.int64]
    """Period ordinal of each pair (hours, days, Monday weeks or months since 1970)."""
    amount: NDArray[np.float64] | None
    """Net amount bought in each pair's period, or None without an amount column."""
    rows: NDArray[np.int64]
    """Purchase rows folded into each pair."""
    time_unit: str
    """``"h"``, ``"D"``, ``"W"`` or ``"M"``."""
    tz: str | None
    """Zone an aware datetime column was cut into periods in; None for a naive column."""
    first_instant: int
    """Earliest purchase, nanoseconds since 1970 in wall-clock time (in :attr:`tz`)."""
    last_instant: int
    """Latest purchase, likewise."""

    @property
    def n_customers(self) -> int:
        """Number of customers."""
        return len(self.customer_ids)

    @property
    def n_periods(self) -> int:
        """Number of distinct (customer, period) pairs."""
        return len(self.period)

    def __repr__(self) -> str:
        """Name the shape, never the ids."""
        zone = "naive" if self.tz is None else self.tz
        amounts = "with amounts" if self.amount is not None else "without amounts"
        return (
            f"PurchaseHistory({self.n_customers:,} customers, {self.n_periods:,} "
            f"customer-periods of {self.time_unit!r}, {zone}, {amounts})"
        )


def purchase_history(
    transactions: pd.DataFrame | object,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = "amount",
    time_unit: str = "D",
    datetime_format: str | None = None,
    order_id_col: str | None = None,
    refund_of_col: str | None = None,
    tz: str = "UTC",
) -> PurchaseHistory:
    """Validate a transaction log and group it by customer and period, sorted.

    Parameters
    ----------
    transactions
        One row per purchase, or an ``IngestResult`` from :func:`retention.ingest`
        (then the canonical columns are used and refunds are netted automatically).
    customer_id_col, datetime_col, monetary_value_col
        Column names. ``monetary_value_col=None`` keeps no amounts.
    time_unit
        Period purchases are aggregated to: ``"h"``, ``"D"``, ``"W"`` (Monday weeks) or
        ``"M"``.
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
    PurchaseHistory
        The sorted (customer, period) pairs with their net amounts and row counts.

    Raises
    ------
    SchemaError
        If a named column is missing.
    ValidationError
        For an empty frame, missing ids, dates or amounts, mixed naive and aware
        datetimes, negative amounts that are not linked refunds, or refunds of unknown
        orders.

    Examples
    --------
    >>> import pandas as pd
    >>> transactions = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a", "b"],
    ...     "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-05"]),
    ...     "amount": [10.0, 5.0, 20.0, 5.0],
    ... })
    >>> history = purchase_history(transactions)
    >>> history
    PurchaseHistory(2 customers, 3 customer-periods of 'D', naive, with amounts)
    >>> history.amount.tolist(), history.rows.tolist()
    ([15.0, 20.0, 5.0], [2, 1, 1])
    """
    frame: pd.DataFrame
    if is_ingest_result(transactions):
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
    _check_zone(tz)
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
    keep: NDArray[np.bool_] | None = None
    if refund_of_col is not None and order_id_col is not None:
        kept, amounts = _net_refunds(frame, order_id_col, refund_of_col, amounts)
        keep = None if kept.all() else kept
    elif amounts is not None and (amounts < 0).any():
        bad = frame.loc[amounts < 0, customer_id_col].unique()
        msg = (
            f"{monetary_value_col} has negative amounts (customers {describe_ids(bad)}); "
            "refunds must be linked to their order: pass order_id_col and refund_of_col, "
            "or ingest the data with retention.ingest(..., refund_of_col=...)"
        )
        raise ValidationError(msg)
    if keep is not None:
        if not keep.any():
            msg = "every order in transactions is fully refunded; there is no purchase to summarise"
            raise ValidationError(msg)
        customers, moments = customers[keep], moments[keep]
        amounts = None if amounts is None else amounts[keep]
    first_instant, last_instant = int(moments.min()), int(moments.max())
    periods = period_ordinals(moments, unit)
    del moments
    return _group(
        customers,
        periods,
        amounts,
        time_unit=unit,
        tz=None if naive else tz,
        first_instant=first_instant,
        last_instant=last_instant,
    )


def _check_zone(tz: object) -> None:
    if not isinstance(tz, str) or not tz:
        msg = f"tz must be an IANA time zone name such as 'UTC' or 'Europe/Berlin', got {tz!r}"
        raise ValidationError(msg)


def _group(
    customers: pd.Series,
    periods: NDArray[np.int64],
    amounts: NDArray[np.float64] | None,
    *,
    time_unit: str,
    tz: str | None,
    first_instant: int,
    last_instant: int,
) -> PurchaseHistory:
    """Sort the (customer, period) keys once and fold each pair's rows together."""
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
    # One (customer, period) pair starts wherever the sorted key changes.
    change = np.empty(len(key), dtype=bool)
    change[0] = True
    np.not_equal(key[1:], key[:-1], out=change[1:])
    pair_start = np.flatnonzero(change)
    del change
    customer, period = np.divmod(key[pair_start], span)
    period += low
    rows = np.diff(np.append(pair_start, len(key)))
    del key
    amount = None if sorted_amounts is None else np.add.reduceat(sorted_amounts, pair_start)
    for array in (customer, period, amount, rows):
        if array is not None:
            array.flags.writeable = False  # shared by every consumer of the history
    return PurchaseHistory(
        customer_ids=pd.Index(uniques, name="customer_id"),
        customer=customer,
        period=period,
        amount=amount,
        rows=rows,
        time_unit=time_unit,
        tz=tz,
        first_instant=first_instant,
        last_instant=last_instant,
    )


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


def period_ordinals(moments: NDArray[np.int64], unit: str) -> NDArray[np.int64]:
    """Period ordinals of wall-clock nanoseconds: hours, days, Monday weeks or months.

    Counted from 1970; differences of them are whole periods.  The one definition of a
    period that the summary, the cycles and the churn boundary share.
    """
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


def check_history_options(
    history: PurchaseHistory, *, time_unit: str | None, tz: str | None
) -> None:
    """Refuse options that contradict how a history was built."""
    if time_unit is not None and require_time_unit(time_unit) != history.time_unit:
        msg = (
            f"the purchase history was cut into {history.time_unit!r} periods, not "
            f"{time_unit!r}; build it with purchase_history(..., time_unit={time_unit!r}) "
            "or leave time_unit out"
        )
        raise ValidationError(msg)
    if tz is not None and history.tz is not None and tz != history.tz:
        msg = (
            f"the purchase history was cut into periods in {history.tz!r}, not {tz!r}; "
            f"build it with purchase_history(..., tz={tz!r}) or leave tz out"
        )
        raise ValidationError(msg)


def period_of(moment: int, unit: str) -> int:
    """Period ordinal of one wall-clock instant (nanoseconds since 1970)."""
    return int(period_ordinals(np.array([moment], dtype=np.int64), unit)[0])


def select_periods(
    history: PurchaseHistory, last_period: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64] | None, int]:
    """Pairs on or before ``last_period``: customer codes, periods, amounts, rows left out."""
    inside = history.period <= last_period
    if inside.all():
        return history.customer, history.period, history.amount, 0
    rows_after = int(history.rows[~inside].sum())
    amount = None if history.amount is None else history.amount[inside]
    return history.customer[inside], history.period[inside], amount, rows_after


def customer_starts(customer: NDArray[np.int64]) -> NDArray[np.int64]:
    """Positions where a new customer starts in pairs sorted by customer."""
    if len(customer) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(customer), dtype=bool)
    change[0] = True
    np.not_equal(customer[1:], customer[:-1], out=change[1:])
    return np.flatnonzero(change)
