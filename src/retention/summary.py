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

The computation is vectorised: :func:`retention.purchase_history` factorises the customer
ids once, cuts integer period ordinals and sorts the (customer, period) keys once; every
figure then follows with ``reduceat``; no per-customer Python runs.  Pass a
:class:`~retention.PurchaseHistory` instead of the frame to reuse that work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from retention.exceptions import ValidationError
from retention.history import (
    PurchaseHistory,
    check_history_options,
    customer_starts,
    period_of,
    purchase_history,
    select_periods,
)

if TYPE_CHECKING:
    from datetime import date, datetime

    from numpy.typing import NDArray

__all__ = ["SUMMARY_COLUMNS", "rfm_summary"]

#: Columns of the summary frame, in order.
SUMMARY_COLUMNS: Final = ("frequency", "recency", "T", "monetary_value")


def rfm_summary(
    transactions: pd.DataFrame | object,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = "amount",
    observation_period_end: datetime | date | str | pd.Timestamp | None = None,
    time_unit: str | None = None,
    time_scaler: float = 1.0,
    include_first_transaction: bool = False,
    datetime_format: str | None = None,
    order_id_col: str | None = None,
    refund_of_col: str | None = None,
    tz: str | None = None,
) -> pd.DataFrame:
    """Summarise a transaction log into one row per customer.

    Parameters
    ----------
    transactions
        One row per purchase, an ``IngestResult`` from :func:`retention.ingest`
        (then the canonical columns are used and refunds are netted automatically), or
        a :class:`~retention.PurchaseHistory` (then the column, date-format and refund
        options were given to :func:`~retention.purchase_history` and are ignored here).
    customer_id_col, datetime_col, monetary_value_col
        Column names. ``monetary_value_col=None`` leaves out ``monetary_value`` (as does
        a history built without amounts).
    observation_period_end
        End of observation. Defaults to the latest purchase (as lifetimes does); the
        value used is recorded in ``result.attrs["observation_period_end"]``.
        Purchases in periods after it are left out and counted in
        ``result.attrs["rows_after_observation_period_end"]``.
    time_unit
        Period purchases are aggregated to: ``"h"``, ``"D"`` (the default), ``"W"`` or
        ``"M"``.  A history keeps the unit it was built with; another one is an error.
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
        A naive column is read as calendar time as it stands.  A history keeps its zone.

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
    scaler = _check_scaler(time_scaler)
    if isinstance(transactions, PurchaseHistory):
        history = transactions
        check_history_options(history, time_unit=time_unit, tz=tz)
        if monetary_value_col is not None and history.amount is None:
            monetary_value_col = None
    else:
        history = purchase_history(
            transactions,
            customer_id_col=customer_id_col,
            datetime_col=datetime_col,
            monetary_value_col=monetary_value_col,
            time_unit="D" if time_unit is None else time_unit,
            datetime_format=datetime_format,
            order_id_col=order_id_col,
            refund_of_col=refund_of_col,
            tz="UTC" if tz is None else tz,
        )
    unit = history.time_unit
    naive = history.tz is None
    zone = history.tz or "UTC"
    end_moment = _observation_end(observation_period_end, history, naive=naive, tz=zone)
    end_period = period_of(end_moment, unit)
    customer, period, amount, rows_after = select_periods(history, end_period)
    if len(period) == 0:
        msg = "no purchase lies on or before observation_period_end; choose a later end"
        raise ValidationError(msg)
    result = _summarise(
        history.customer_ids,
        customer,
        period,
        amount if monetary_value_col is not None else None,
        end_period=end_period,
        scaler=scaler,
        include_first=include_first_transaction,
    )
    result.attrs.update(
        {
            "time_unit": unit,
            "time_scaler": scaler,
            "observation_period_end": _as_timestamp(end_moment, naive=naive, tz=zone),
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


def _observation_end(
    value: datetime | date | str | pd.Timestamp | None,
    history: PurchaseHistory,
    *,
    naive: bool,
    tz: str,
) -> int:
    first = history.first_instant
    if value is None:
        return history.last_instant
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
    customer_ids: pd.Index,
    customer: NDArray[np.int64],
    period: NDArray[np.int64],
    amount: NDArray[np.float64] | None,
    *,
    end_period: int,
    scaler: float,
    include_first: bool,
) -> pd.DataFrame:
    """Fold each customer's sorted (customer, period) pairs into the summary columns."""
    customer_start = customer_starts(customer)
    periods_bought = np.diff(np.append(customer_start, len(customer)))
    first_period = period[customer_start]
    last_period = period[customer_start + periods_bought - 1]
    frequency = periods_bought if include_first else periods_bought - 1
    columns: dict[str, NDArray[np.float64]] = {
        "frequency": frequency.astype(np.float64),
        "recency": (last_period - first_period) / scaler,
        "T": (end_period - first_period) / scaler,
    }
    if amount is not None:
        if include_first:
            counted = periods_bought
            total = np.add.reduceat(amount, customer_start)
        else:
            counted = periods_bought - 1
            repeat = amount.copy()
            repeat[customer_start] = 0.0  # the first period's spend is not a repeat
            total = np.add.reduceat(repeat, customer_start)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["monetary_value"] = np.where(counted > 0, total / np.maximum(counted, 1), 0.0)
    index = customer_ids.take(customer[customer_start])
    index.name = "customer_id"
    return pd.DataFrame(columns, index=index, copy=False)
