"""Purchase KPIs by period, segment and channel: repeat purchases, base, value, churn.

Every function takes a transactions frame (the canonical ingested frame by default,
any frame through the column keywords of :class:`~retention.kpi.ColumnOptions`), a
required ``as_of`` (rows after it are ignored) and a ``period`` (``"D"``, ``"W"``,
``"M"``, ``"Q"``, ``"Y"``), and returns a tidy frame with one row per period (and per
``by`` group), column ``period`` first.  Periods run from the first period with data to
the period holding ``as_of``; a period without purchases is a row of zeros (and NaN for
ratios whose denominator is zero).

With ``by`` (a column or list of columns of the transactions, such as a channel, a
source or a segment), each group is measured as if its rows were the whole frame: a
"customer" is then a (customer, group) pair, so ``new_customers`` by channel counts
first purchases *in that channel*.

Purchases, orders, refunds and revenue follow the definitions in :mod:`retention.kpi`:
an order counts as a purchase unless it is fully refunded; gross revenue sums purchase
rows, refunds are positive magnitudes, net revenue is gross minus refunds, each in the
period of its own date.  Money stays float
inside these numerics; the frame's ``attrs["currency"]`` names the one currency (if the
frame has a currency column).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Unpack

import numpy as np
import pandas as pd

from retention._validation import describe_ids, require_columns
from retention.exceptions import ValidationError
from retention.kpi._frame import (
    CANONICAL,
    ColumnOptions,
    Prepared,
    as_timestamp,
    normalise_datetimes,
    period_index,
    period_ordinals,
    prepare,
    require_period,
    require_positive,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "active_customers",
    "average_order_value",
    "churn_rate",
    "historical_ltv",
    "new_customer_repeat_share",
    "new_customers",
    "purchase_frequency",
    "repeat_customer_share",
    "repeat_revenue",
    "returning_buyer_share",
    "revenue",
    "segment_shares",
]

AsOf = datetime | date


# --------------------------------------------------------------------------- helpers


def keys(prep: Prepared) -> list[str]:
    """Group keys of the tidy output: the period ordinal and the ``by`` columns."""
    return ["ordinal", *prep.by]


def grid(prep: Prepared, *, extra: pd.DataFrame | None = None) -> pd.Index:
    """Every (period, group) from the first period with data to the ``as_of`` period."""
    last = int(period_ordinals(pd.Series([prep.as_of]), prep.period)[0])
    firsts = [int(t["ordinal"].min()) for t in (prep.orders, prep.refunds) if not t.empty]
    first = min([*firsts, last])
    ordinals = np.arange(first, last + 1, dtype=np.int64)
    if not prep.by:
        return pd.Index(ordinals, name="ordinal")
    tables = [prep.orders[list(prep.by)], prep.refunds[list(prep.by)]]
    if extra is not None:
        tables.append(extra[list(prep.by)])
    combos = pd.concat(tables, ignore_index=True).drop_duplicates()
    combos = combos.sort_values(list(prep.by), kind="stable").reset_index(drop=True)
    repeated = {name: np.tile(combos[name].to_numpy(), len(ordinals)) for name in prep.by}
    return pd.MultiIndex.from_arrays(
        [np.repeat(ordinals, len(combos)), *repeated.values()], names=keys(prep)
    )


def _per_period(
    ordinals: pd.Series,
    index: pd.Index,
    weights: NDArray[np.float64] | None = None,
    mask: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64] | NDArray[np.int64]:
    """Count (or sum ``weights``) per period of a contiguous ordinal ``index``."""
    offsets = ordinals.to_numpy(dtype=np.int64) - int(index[0])
    size = len(index)
    if len(offsets) and (int(offsets.min()) < 0 or int(offsets.max()) >= size):
        inside = (offsets >= 0) & (offsets < size)
        mask = inside if mask is None else mask & inside
    if mask is not None:
        offsets = offsets[mask]
        weights = None if weights is None else weights[mask]
    return np.bincount(offsets, weights=weights, minlength=size)


def count(
    frame: pd.DataFrame, prep: Prepared, index: pd.Index, by_key: str = "ordinal"
) -> pd.Series:
    """Rows of ``frame`` per (``by_key``, groups), reindexed on ``index`` with zeros."""
    if frame.empty:
        return pd.Series(0, index=index, dtype=np.int64)
    if not prep.by:
        return pd.Series(_per_period(frame[by_key], index).astype(np.int64), index=index)
    counts = frame.groupby([by_key, *prep.by], sort=False).size()
    counts.index = counts.index.set_names(keys(prep))
    return counts.reindex(index, fill_value=0).astype(np.int64)


def total(
    frame: pd.DataFrame, prep: Prepared, index: pd.Index, column: str = "amount"
) -> pd.Series:
    """Sum of ``column`` per (period, groups), reindexed on ``index`` with zeros."""
    if frame.empty:
        return pd.Series(0.0, index=index, dtype=np.float64)
    if not prep.by:
        weights = frame[column].to_numpy(dtype=np.float64)
        return pd.Series(
            _per_period(frame["ordinal"], index, weights).astype(np.float64), index=index
        )
    sums = frame.groupby(keys(prep), sort=False)[column].sum()
    return sums.reindex(index, fill_value=0.0).astype(np.float64)


def masked_total(
    frame: pd.DataFrame, mask: NDArray[np.bool_], prep: Prepared, index: pd.Index
) -> pd.Series:
    """Sum of ``amount`` over the rows of ``frame`` selected by ``mask``, per period."""
    if prep.by or frame.empty:
        return total(frame[mask], prep, index)
    weights = frame["amount"].to_numpy(dtype=np.float64)
    return pd.Series(
        _per_period(frame["ordinal"], index, weights, mask).astype(np.float64), index=index
    )


def ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``numerator / denominator`` with NaN where the denominator is zero."""
    den = denominator.astype(np.float64)
    return (numerator.astype(np.float64) / den.where(den != 0)).astype(np.float64)


def cumulative(series: pd.Series, prep: Prepared) -> pd.Series:
    """Return the running total over periods (within each ``by`` group)."""
    if not prep.by:
        return series.cumsum()
    return series.groupby(level=list(prep.by), sort=False).cumsum()


def finish(prep: Prepared, columns: Mapping[str, pd.Series], index: pd.Index) -> pd.DataFrame:
    """Assemble the tidy output: ``period``, the ``by`` columns, then ``columns``."""
    frame = pd.DataFrame(dict(columns), index=index).reset_index()
    frame.insert(0, "period", period_index(frame.pop("ordinal").to_numpy(), prep.period))
    frame.attrs = {"as_of": prep.as_of, "period": prep.period, "currency": prep.currency}
    return frame


def pair_key(orders: pd.DataFrame) -> pd.Series:
    """One int64 per (period, unit) pair, for hash-based de-duplication."""
    span = np.int64(int(orders["unit"].max()) + 1) if len(orders) else np.int64(1)
    low = int(orders["ordinal"].min()) if len(orders) else 0
    return pd.Series((orders["ordinal"].to_numpy() - low) * span + orders["unit"].to_numpy())


def counted_orders(prep: Prepared) -> pd.DataFrame:
    """Orders that count as purchases (not fully refunded)."""
    return prep.counted


_NEVER = np.iinfo(np.int64).max


def firsts(prep: Prepared) -> pd.DataFrame:
    """Per unit: first and second purchase (time, period ordinal, order code).

    The first purchase is the counted order with the earliest time (ties: the lowest
    order code); the second is the earliest other counted order.  Indexed by unit code.
    """
    orders = counted_orders(prep)
    columns = ["first_at", "first_ordinal", "first_order", "second_at", "second_ordinal"]
    if orders.empty:
        empty = pd.DataFrame(
            {
                "first_at": np.array([], dtype="datetime64[ns]"),
                "first_ordinal": np.array([], dtype=np.int64),
                "first_order": np.array([], dtype=np.int64),
                "customer": np.array([], dtype=np.int64),
                **{name: orders[name].to_numpy() for name in prep.by},
                "second_at": np.array([], dtype="datetime64[ns]"),
                "second_ordinal": pd.array([], dtype="Int64"),
            },
            index=pd.Index([], dtype=np.int64, name="unit"),
        )
        return empty[[*columns, *prep.by, "customer"]]
    unit = orders["unit"].to_numpy()
    at = orders["at"].to_numpy().view(np.int64)
    order = orders["order"].to_numpy()
    first_at = np.full(prep.n_units, _NEVER, dtype=np.int64)
    np.minimum.at(first_at, unit, at)
    tie = at == first_at[unit]
    first_order = np.full(prep.n_units, _NEVER, dtype=np.int64)
    np.minimum.at(first_order, unit[tie], order[tie])
    is_first = tie & (order == first_order[unit])
    second_at = np.full(prep.n_units, _NEVER, dtype=np.int64)
    np.minimum.at(second_at, unit[~is_first], at[~is_first])
    positions = np.flatnonzero(is_first)
    first_row = np.zeros(prep.n_units, dtype=np.int64)
    first_row[unit[positions]] = positions
    units = np.flatnonzero(first_at != _NEVER)
    rows = first_row[units]
    table = pd.DataFrame(
        {
            "first_at": first_at[units].view("datetime64[ns]"),
            "first_ordinal": orders["ordinal"].to_numpy()[rows],
            "first_order": first_order[units],
            "customer": orders["customer"].to_numpy()[rows],
            **{name: orders[name].to_numpy()[rows] for name in prep.by},
        },
        index=pd.Index(units, name="unit"),
        copy=False,
    )
    seconds = second_at[units]
    has_second = seconds != _NEVER
    table["second_at"] = np.where(has_second, seconds, np.iinfo(np.int64).min).view(
        "datetime64[ns]"
    )
    second_ordinal = np.zeros(len(units), dtype=np.int64)
    if has_second.any():
        second_ordinal[has_second] = period_ordinals(
            pd.Series(seconds[has_second].view("datetime64[ns]")), prep.period
        )
    table["second_ordinal"] = pd.arrays.IntegerArray(second_ordinal, mask=~has_second)
    return table


def _prep(
    transactions: pd.DataFrame,
    as_of: AsOf,
    period: str,
    by: str | Sequence[str] | None,
    columns: ColumnOptions,
) -> Prepared:
    return prepare(transactions, as_of=as_of, period=period, by=by, options=dict(columns))


# --------------------------------------------------------------------- computations
# Each ``compute_*`` works on a Prepared frame and returns named Series on the grid;
# the public functions wrap them, and kpi.report calls them once on one Prepared frame.


def compute_revenue(prep: Prepared, index: pd.Index) -> dict[str, pd.Series]:
    """Gross, refunds, net revenue and counted orders per period."""
    gross = total(prep.orders, prep, index)
    refunds = total(prep.refunds, prep, index)
    return {
        "orders": count(counted_orders(prep), prep, index),
        "gross_revenue": gross,
        "refunds": refunds,
        "net_revenue": gross - refunds,
    }


def compute_active(prep: Prepared, index: pd.Index, only: Sequence[int] | None = None) -> pd.Series:
    """Distinct units with at least one counted order per period (``only``: these periods)."""
    orders = counted_orders(prep)
    if orders.empty:
        return pd.Series(0, index=index, dtype=np.int64)
    wanted = list(index) if only is None else list(only)
    if prep.by or len(wanted) > 64:
        return count(orders[~pair_key(orders).duplicated().to_numpy()], prep, index)
    ordinals = orders["ordinal"].to_numpy()
    units = orders["unit"].to_numpy()
    values = np.zeros(len(index), dtype=np.int64)
    first = int(index[0])
    for ordinal in wanted:
        inside = ordinals == ordinal
        if inside.any():
            values[int(ordinal) - first] = np.count_nonzero(np.bincount(units[inside]))
    return pd.Series(values, index=index)


def compute_new(prep: Prepared, index: pd.Index, table: pd.DataFrame) -> pd.Series:
    """Units whose first purchase falls in the period."""
    return count(table, prep, index, by_key="first_ordinal")


def compute_repeat_share(
    prep: Prepared, index: pd.Index, table: pd.DataFrame
) -> dict[str, pd.Series]:
    """Cumulative customers and repeat customers (2+ purchases) up to each period end."""
    customers = cumulative(compute_new(prep, index, table), prep)
    seconds = table[table["second_ordinal"].notna()].astype({"second_ordinal": np.int64})
    repeaters = cumulative(count(seconds, prep, index, by_key="second_ordinal"), prep)
    return {
        "customers": customers,
        "repeat_customers": repeaters,
        "repeat_customer_share": ratio(repeaters, customers),
    }


def compute_repeat_revenue(
    prep: Prepared, index: pd.Index, table: pd.DataFrame
) -> dict[str, pd.Series]:
    """Net revenue of first orders and of all other orders per period."""
    orders, refunds = prep.orders, prep.refunds
    flags = np.zeros(int(orders["order"].max()) + 1 if len(orders) else 0, dtype=bool)
    flags[table["first_order"].to_numpy(dtype=np.int64)] = True
    first_mask = flags[orders["order"].to_numpy()]
    parents = refunds["parent"].to_numpy()
    first_refund = np.zeros(len(refunds), dtype=bool)
    first_refund[parents >= 0] = flags[parents[parents >= 0]]
    first_net = masked_total(orders, first_mask, prep, index) - masked_total(
        refunds, first_refund, prep, index
    )
    net = total(orders, prep, index) - total(refunds, prep, index)
    repeat_net = net - first_net
    return {
        "first_purchase_revenue": first_net,
        "repeat_revenue": repeat_net,
        "net_revenue": net,
        "repeat_revenue_share": ratio(repeat_net, net.where(net > 0, 0.0)),
    }


# -------------------------------------------------------------------------- public


def revenue(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Gross revenue, refunds and net revenue per period (RELIABILITY ING-03).

    Definitions
    -----------
    ``gross_revenue``: sum of the amounts of purchase rows dated in the period.
    ``refunds``: sum of the absolute amounts of refund rows dated in the period.
    ``net_revenue`` = ``gross_revenue - refunds``.
    ``orders``: purchase orders dated in the period that are not fully refunded.

    Parameters
    ----------
    transactions
        One row per purchase (or order line) or refund.
    as_of
        Rows after this instant are ignored (a date means the end of that day).
    period
        ``"D"``, ``"W"``, ``"M"``, ``"Q"`` or ``"Y"``.
    by
        Column(s) of ``transactions`` to break the figures down by (channel, source...).
    **columns
        Column keywords, see :class:`~retention.kpi.ColumnOptions`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``orders``, ``gross_revenue``,
        ``refunds``, ``net_revenue``.

    Examples
    --------
    >>> import pandas as pd
    >>> from retention import kpi
    >>> frame = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...     "purchased_at": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-02-03"]),
    ...     "amount": [100.0, 50.0, 20.0]})
    >>> kpi.revenue(frame, as_of=pd.Timestamp("2024-02-29"))[["period", "net_revenue"]]
        period  net_revenue
    0  2024-01        100.0
    1  2024-02         70.0
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, compute_revenue(prep, index), index)


def active_customers(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Active customers per period.

    Definition: ``active_customers`` = number of distinct customers with at least one
    purchase (a counted order) dated in the period.  Parameters as in :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``active_customers``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, {"active_customers": compute_active(prep, index)}, index)


def new_customers(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """New-customer inflow per period.

    Definition: ``new_customers`` = number of customers whose first purchase (earliest
    counted order up to ``as_of``) is dated in the period.  Summed over all periods it
    equals the number of customers with a purchase.  Parameters as in :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``new_customers``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, {"new_customers": compute_new(prep, index, firsts(prep))}, index)


def returning_buyer_share(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Share of a period's buyers who are returning customers.

    Definition: among the customers with a purchase in the period (``buyers``), those
    whose first purchase is in an earlier period are ``returning_buyers``;
    ``returning_share = returning_buyers / buyers`` (NaN without buyers), and
    ``new_buyers = buyers - returning_buyers``.  Parameters as in :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``buyers``, ``new_buyers``,
        ``returning_buyers``, ``returning_share``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    buyers = compute_active(prep, index)
    new = compute_new(prep, index, firsts(prep))
    return finish(
        prep,
        {
            "buyers": buyers,
            "new_buyers": new,
            "returning_buyers": buyers - new,
            "returning_share": ratio(buyers - new, buyers),
        },
        index,
    )


def repeat_customer_share(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Share of customers with two or more purchases (repeat-purchase rate), to date.

    Definition: at the end of each period (or at ``as_of`` for the last one),
    ``customers`` = customers with at least one purchase so far, ``repeat_customers`` =
    those with at least two purchases (two counted orders) so far, and
    ``repeat_customer_share = repeat_customers / customers``.  Parameters as in
    :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``customers``, ``repeat_customers``,
        ``repeat_customer_share``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, compute_repeat_share(prep, index, firsts(prep)), index)


def repeat_revenue(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Repeat revenue and its share of net revenue per period.

    Definition: ``first_purchase_revenue`` = amounts of each customer's first order dated
    in the period minus refunds (dated in the period) that name that order;
    ``repeat_revenue`` = every other purchase amount minus every other refund, so
    ``first_purchase_revenue + repeat_revenue = net_revenue``;
    ``repeat_revenue_share = repeat_revenue / net_revenue`` (NaN when net revenue is not
    positive).  Refunds that name no known order count as repeat revenue.  Parameters as
    in :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``first_purchase_revenue``,
        ``repeat_revenue``, ``net_revenue``, ``repeat_revenue_share``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, compute_repeat_revenue(prep, index, firsts(prep)), index)


def compute_repeat_within(
    prep: Prepared, index: pd.Index, table: pd.DataFrame, days: float
) -> dict[str, pd.Series]:
    """Count new customers, those whose window closed, and those who bought again in it."""
    window = pd.Timedelta(days=days)
    eligible = table[(table["first_at"] + window <= prep.as_of).to_numpy()]
    gap = eligible["second_at"] - eligible["first_at"]
    repeated = eligible[(gap <= window).to_numpy(dtype=bool, na_value=False)]
    new = count(table, prep, index, by_key="first_ordinal")
    eligible_count = count(eligible, prep, index, by_key="first_ordinal")
    repeated_count = count(repeated, prep, index, by_key="first_ordinal")
    return {
        "new_customers": new,
        "eligible_customers": eligible_count,
        "repeat_customers": repeated_count,
        "repeat_share": ratio(repeated_count, eligible_count),
    }


def new_customer_repeat_share(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    days: float,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Share of new customers who buy again within ``days`` of their first purchase.

    Definition: customers are grouped by the period of their first purchase
    (``new_customers``).  Those whose window ``first purchase + days`` ends on or before
    ``as_of`` are ``eligible_customers`` (the others could still buy again, so they are
    left out rather than counted as not repeating); ``repeat_customers`` are the eligible
    ones whose second purchase is at most ``days`` after the first;
    ``repeat_share = repeat_customers / eligible_customers``.

    Parameters
    ----------
    days
        The window length in days (positive).
    transactions, as_of, period, by, **columns
        As in :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``new_customers``,
        ``eligible_customers``, ``repeat_customers``, ``repeat_share``.
    """
    require_positive(days, name="days (the window in days)")
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, compute_repeat_within(prep, index, firsts(prep), float(days)), index)


def compute_aov(prep: Prepared, index: pd.Index) -> dict[str, pd.Series]:
    """Orders, net revenue and AOV per period."""
    figures = compute_revenue(prep, index)
    return {
        "orders": figures["orders"],
        "net_revenue": figures["net_revenue"],
        "average_order_value": ratio(figures["net_revenue"], figures["orders"]),
    }


def average_order_value(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Average order value (AOV) per period, overall or per segment, channel or source.

    Definition: ``average_order_value = net_revenue / orders`` for the period, where
    ``net_revenue`` is purchases minus refunds dated in the period and ``orders`` the
    counted (not fully refunded) orders dated in it; NaN without orders.  Pass
    ``by="channel"`` (or a segment or source column) for the breakdown.  Parameters as
    in :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``orders``, ``net_revenue``,
        ``average_order_value``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, compute_aov(prep, index), index)


def compute_frequency(prep: Prepared, index: pd.Index) -> dict[str, pd.Series]:
    """Orders, active customers and orders per active customer."""
    orders = count(counted_orders(prep), prep, index)
    active = compute_active(prep, index)
    return {
        "orders": orders,
        "active_customers": active,
        "purchase_frequency": ratio(orders, active),
    }


def purchase_frequency(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "Y",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Purchase frequency: average purchases per active customer, per year by default.

    Definition: ``purchase_frequency = orders / active_customers`` over the period, where
    ``orders`` are counted orders dated in the period and ``active_customers`` the
    distinct customers among them.  With ``period="Y"`` (default) this is the average
    number of purchases per customer per calendar year.  Parameters as in
    :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``orders``, ``active_customers``,
        ``purchase_frequency``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, compute_frequency(prep, index), index)


def compute_ltv(prep: Prepared, index: pd.Index, table: pd.DataFrame) -> dict[str, pd.Series]:
    """Period and cumulative net revenue per customer."""
    net = compute_revenue(prep, index)["net_revenue"]
    active = compute_active(prep, index)
    net_to_date = cumulative(net, prep)
    customers_to_date = cumulative(compute_new(prep, index, table), prep)
    return {
        "active_customers": active,
        "net_revenue": net,
        "ltv": ratio(net, active),
        "customers_to_date": customers_to_date,
        "net_revenue_to_date": net_to_date,
        "ltv_to_date": ratio(net_to_date, customers_to_date),
    }


def historical_ltv(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "Y",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Historical LTV: net revenue per customer for each year, and all-time to date.

    Definitions
    -----------
    ``ltv`` (for the period, a year by default) = ``net_revenue`` of the period /
    ``active_customers`` of the period.
    ``ltv_to_date`` (all-time) = ``net_revenue_to_date`` (all net revenue up to the
    period end) / ``customers_to_date`` (customers with a first purchase up to the
    period end).  Parameters as in :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``active_customers``, ``net_revenue``,
        ``ltv``, ``customers_to_date``, ``net_revenue_to_date``, ``ltv_to_date``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    return finish(prep, compute_ltv(prep, index, firsts(prep)), index)


# --------------------------------------------------------------------------- churn


def _boundary_days(boundary: object) -> float:
    if isinstance(boundary, timedelta | pd.Timedelta):
        value = pd.Timedelta(boundary) / pd.Timedelta(days=1)
    elif isinstance(boundary, int | float) and not isinstance(boundary, bool):
        value = float(boundary)
    else:
        msg = f"the churn boundary must be a number of days or a timedelta, got {boundary!r}"
        raise ValidationError(msg)
    if not value > 0:
        msg = f"the churn boundary must be positive, got {boundary!r}"
        raise ValidationError(msg)
    return value


def unit_boundaries(
    prep: Prepared,
    table: pd.DataFrame,
    boundary: float | timedelta | Mapping[str, float | timedelta],
    segments: pd.Series | None,
) -> tuple[NDArray[np.float64], pd.Series | None]:
    """Return the churn boundary in days of each unit of ``table`` and its segment label."""
    if not isinstance(boundary, Mapping):
        days = np.full(len(table), _boundary_days(boundary))
        if segments is None:
            return days, None
    if segments is None:
        msg = (
            "a per-segment churn boundary needs segments=<Series of segment labels "
            "indexed by customer id>"
        )
        raise ValidationError(msg)
    given: object = segments
    if not isinstance(given, pd.Series):
        msg = f"segments must be a pandas Series indexed by customer id, got {type(segments)}"
        raise ValidationError(msg)
    labels = segments.reindex(prep.customers[table["customer"].to_numpy()])
    if labels.isna().any():
        msg = (
            f"segments has no segment for {int(labels.isna().sum())} customer(s) with "
            "purchases; give every customer a segment (e.g. 'unknown')"
        )
        raise ValidationError(msg)
    labels = labels.astype(str)
    labels.index = table.index
    if not isinstance(boundary, Mapping):
        return np.full(len(table), _boundary_days(boundary)), labels
    known = {str(key): _boundary_days(value) for key, value in boundary.items()}
    missing = sorted(set(labels.unique()) - set(known))
    if missing:
        msg = (
            f"the churn boundary mapping has no entry for segment(s) {describe_ids(missing)}; "
            "add them to the mapping"
        )
        raise ValidationError(msg)
    limits = np.asarray(labels.map(known).to_numpy(dtype=np.float64), dtype=np.float64)
    named: pd.Series = labels
    return limits, named


def compute_churn(
    prep: Prepared,
    index: pd.Index,
    table: pd.DataFrame,
    boundary: float | timedelta | Mapping[str, float | timedelta],
    segments: pd.Series | None,
    *,
    ordinals: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Count customers not churned at each period start and churned at its end."""
    limit_days, labels = unit_boundaries(prep, table, boundary, segments)
    units_of_table = table.index.to_numpy(dtype=np.int64)
    limit = np.zeros(prep.n_units, dtype=np.int64)
    limit[units_of_table] = np.round(limit_days * 86_400e9).astype(np.int64)
    group_cols = [*prep.by, *(["segment"] if labels is not None else [])]
    attributes = table[list(prep.by)].assign(**({"segment": labels} if labels is not None else {}))
    if group_cols:
        combos, combo_codes = _combos(attributes, group_cols)
    else:
        combos, combo_codes = pd.DataFrame(index=[0]), np.zeros(len(table), dtype=np.int64)
    group_of = np.zeros(prep.n_units, dtype=np.int64)
    group_of[units_of_table] = combo_codes
    orders = counted_orders(prep)
    order_ordinals = orders["ordinal"].to_numpy()
    order_units = orders["unit"].to_numpy()
    order_at = orders["at"].to_numpy().view(np.int64)
    wanted = sorted(int(v) for v in (index if ordinals is None else ordinals))
    never = np.iinfo(np.int64).min
    last = np.full(prep.n_units, never, dtype=np.int64)
    as_of_ns = prep.as_of.value
    previous: int | None = None
    base_counts, churn_counts = [], []
    for ordinal in wanted:
        step = order_ordinals < ordinal
        if previous is not None:
            step &= order_ordinals >= previous
        np.maximum.at(last, order_units[step], order_at[step])
        start = period_index([ordinal], prep.period)[0].start_time.value
        end = min(period_index([ordinal + 1], prep.period)[0].start_time.value, as_of_ns)
        base = (last != never) & (start - last < limit)
        inside = order_ordinals == ordinal
        last_end = last.copy()
        np.maximum.at(last_end, order_units[inside], order_at[inside])
        churned = base & (end - last_end >= limit)
        base_counts.append(np.bincount(group_of[base], minlength=len(combos)))
        churn_counts.append(np.bincount(group_of[churned], minlength=len(combos)))
        previous = ordinal
    repeated = {name: np.tile(combos[name].to_numpy(), len(wanted)) for name in group_cols}
    levels = [np.repeat(np.asarray(wanted, dtype=np.int64), len(combos)), *repeated.values()]
    result_index = (
        pd.MultiIndex.from_arrays(levels, names=["ordinal", *group_cols])
        if group_cols
        else pd.Index(levels[0], name="ordinal")
    )
    size = len(wanted) * len(combos)
    at_start = np.concatenate(base_counts).astype(np.int64) if wanted else np.zeros(size, np.int64)
    lost = np.concatenate(churn_counts).astype(np.int64) if wanted else np.zeros(size, np.int64)
    result = pd.DataFrame(
        {"customers_at_start": at_start, "churned_customers": lost}, index=result_index
    )
    result["churn_rate"] = ratio(result["churned_customers"], result["customers_at_start"])
    return result


def _combos(attributes: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    """Distinct value combinations of ``columns`` (sorted) and each row's combination code."""
    grouped = attributes.groupby(columns, sort=True, dropna=False)
    codes = np.asarray(grouped.ngroup(), dtype=np.int64)
    combos = grouped.size().index.to_frame(index=False)
    return combos, codes


def churn_rate(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    boundary: float | timedelta | Mapping[str, float | timedelta],
    segments: pd.Series | None = None,
    period: str = "Y",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Churn rate per period (per year by default) by a churn boundary.

    Definition: a customer counts as churned at an instant ``t`` when ``t`` minus the
    last purchase up to ``t`` is at least the churn boundary.  For a period starting at
    ``s`` and ending at ``e`` (the next period's start, or ``as_of`` for the current
    period), ``customers_at_start`` are customers with a purchase before ``s`` who are not
    churned at ``s``; ``churned_customers`` are those of them churned at ``e``;
    ``churn_rate = churned_customers / customers_at_start`` (NaN for an empty base).
    Customers acquired during the period are not in its base.

    Parameters
    ----------
    boundary
        Days (number or timedelta), or a mapping segment label -> days (the
        per-segment churn boundary); a mapping needs ``segments``.
    segments
        Segment label per customer (Series indexed by customer id); when given, the
        output is broken down by a ``segment`` column.
    transactions, as_of, period, by, **columns
        As in :func:`revenue`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, the ``by`` columns, ``segment`` (with ``segments``),
        ``customers_at_start``, ``churned_customers``, ``churn_rate``.
    """
    prep = _prep(transactions, as_of, period, by, columns)
    index = grid(prep)
    table = firsts(prep)
    result = compute_churn(prep, index, table, boundary, segments)
    frame = result.reset_index()
    frame.insert(0, "period", period_index(frame.pop("ordinal").to_numpy(), prep.period))
    frame.attrs = {"as_of": prep.as_of, "period": prep.period, "currency": prep.currency}
    return frame


# ------------------------------------------------------------------ segment shares


def segment_shares(
    frame: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    segment_col: str = "segment",
    customer_id_col: str = CANONICAL["customer_id_col"],
    datetime_col: str = CANONICAL["datetime_col"],
    tz: str | None = None,
) -> pd.DataFrame:
    """Share of customers in each segment per period (regularity groups, RFM groups...).

    Definition: in each period, every customer with a row dated in it is counted once,
    in the segment of their latest row of that period; ``customers`` counts them per
    segment and ``share = customers / customers in the period`` (the shares of a period
    sum to 1; NaN in a period without customers).  ``frame`` is either a transactions
    frame carrying a segment column, or snapshots (one row per customer and date, e.g.
    ``rfm_segments`` computed at several dates with a date column added).

    Parameters
    ----------
    frame
        Rows with a customer id, a datetime and a segment label.
    as_of
        Rows after it are ignored.
    period
        ``"D"``, ``"W"``, ``"M"``, ``"Q"`` or ``"Y"``.
    segment_col, customer_id_col, datetime_col
        Column names.
    tz
        Zone aware datetimes are converted to (default UTC).

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``segment``, ``customers``, ``share``; every segment seen
        appears in every period.
    """
    period = require_period(period)
    require_columns(
        frame,
        frame_name="frame",
        segment_col=segment_col,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
    )
    aware = isinstance(frame[datetime_col].dtype, pd.DatetimeTZDtype)
    at = normalise_datetimes(frame[datetime_col], column=datetime_col, tz=tz)
    cutoff = as_timestamp(as_of, name="as_of", column_is_aware=aware, tz=tz)
    for column, keyword in ((segment_col, "segment_col"), (customer_id_col, "customer_id_col")):
        if frame[column].isna().any():
            msg = f"column {column!r} ({keyword}) has missing values"
            raise ValidationError(msg)
    rows = pd.DataFrame(
        {
            "customer": frame[customer_id_col].to_numpy(),
            "segment": frame[segment_col].to_numpy(),
            "at": at.to_numpy(),
        }
    )[(at <= cutoff).to_numpy()]
    last = int(period_ordinals(pd.Series([cutoff]), period)[0])
    rows["ordinal"] = period_ordinals(rows["at"], period)
    latest = rows.sort_values("at", kind="stable").drop_duplicates(
        ["ordinal", "customer"], keep="last"
    )
    counts = latest.groupby(["ordinal", "segment"], sort=True).size()
    first = int(rows["ordinal"].min()) if not rows.empty else last
    segments = sorted(pd.unique(rows["segment"]), key=str)
    full = pd.MultiIndex.from_product(
        [np.arange(first, last + 1, dtype=np.int64), segments], names=["ordinal", "segment"]
    )
    counts = counts.reindex(full, fill_value=0).astype(np.int64)
    per_period = counts.groupby(level="ordinal").transform("sum")
    result = pd.DataFrame({"customers": counts, "share": ratio(counts, per_period)}).reset_index()
    result.insert(0, "period", period_index(result.pop("ordinal").to_numpy(), period))
    result.attrs = {"as_of": cutoff, "period": period}
    return result
