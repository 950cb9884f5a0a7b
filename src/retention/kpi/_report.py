"""``kpi.report``: every applicable purchase KPI for one period, beside the previous one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Unpack

import numpy as np
import pandas as pd

from retention.exceptions import ValidationError
from retention.kpi._frame import (
    ColumnOptions,
    Prepared,
    period_index,
    period_ordinals,
    prepare,
    require_positive,
)
from retention.kpi.metrics import (
    AsOf,
    compute_active,
    compute_churn,
    compute_new,
    compute_repeat_revenue,
    compute_repeat_share,
    compute_repeat_within,
    compute_revenue,
    counted_orders,
    cumulative,
    firsts,
    grid,
    ratio,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import timedelta

__all__ = ["DEFINITIONS", "report"]

#: The definition printed beside each metric of :func:`report`.
DEFINITIONS: Final[dict[str, str]] = {
    "gross_revenue": "sum of purchase amounts dated in the period",
    "refunds": "sum of refund amounts (as a positive figure) dated in the period",
    "net_revenue": "gross_revenue - refunds",
    "orders": "purchase orders dated in the period that are not fully refunded",
    "active_customers": "distinct customers with at least one purchase in the period",
    "new_customers": "customers whose first purchase is in the period (inflow)",
    "returning_buyer_share": (
        "share of the period's buyers whose first purchase is in an earlier period"
    ),
    "repeat_customer_share": (
        "customers with 2+ purchases / customers with 1+ purchase, to the period end"
    ),
    "repeat_revenue": (
        "net revenue of every order except each customer's first purchase, in the period"
    ),
    "repeat_revenue_share": "repeat_revenue / net_revenue (NaN when net revenue <= 0)",
    "average_order_value": "net_revenue / orders",
    "purchase_frequency": "orders / active_customers in the period",
    "purchase_frequency_per_year": (
        "orders in the 365 days before the period end / distinct customers buying in them"
    ),
    "ltv_period": "net_revenue / active_customers in the period",
    "ltv_to_date": (
        "all net revenue up to the period end / customers acquired up to the period end"
    ),
    "new_customer_repeat_share": (
        "share of the period's new customers, among those whose window has closed by "
        "as_of, who bought again within {days:g} days of their first purchase"
    ),
    "churn_rate": (
        "customers not churned at the period start (churned = no purchase for the churn "
        "boundary) who are churned at its end / customers not churned at its start"
    ),
    "segment_share": (
        "share of the period's active customers in the segment (their segment on their "
        "latest purchase of the period)"
    ),
}

_COLUMNS: Final = (
    "metric",
    "dimension",
    "group",
    "definition",
    "period",
    "value",
    "previous_period",
    "previous_value",
    "change",
    "relative_change",
)


def _pick(series: pd.Series, ordinals: tuple[int, int]) -> tuple[float, float]:
    values = series.reindex(pd.Index(ordinals))
    return float(values.iloc[0]), float(values.iloc[1])


def _yearly_frequency(prep: Prepared, ordinal: int) -> float:
    """Orders per buyer over the 365 days before the end of period ``ordinal``."""
    end = period_index([ordinal + 1], prep.period)[0].start_time
    orders = counted_orders(prep)
    at = orders["at"].to_numpy()
    inside = (at >= np.datetime64(end - pd.Timedelta(days=365))) & (at < np.datetime64(end))
    buyers = int(np.count_nonzero(np.bincount(orders["unit"].to_numpy()[inside])))
    return float(inside.sum()) / buyers if buyers else float("nan")


def _by_dimension(
    prep: Prepared, column: str, ordinals: tuple[int, int]
) -> list[dict[str, object]]:
    """AOV per group of ``column`` for the two periods."""
    rows: list[dict[str, object]] = []
    orders, refunds = prep.orders, prep.refunds
    in_two = orders["ordinal"].isin(ordinals).to_numpy()
    counted = orders[in_two & orders["counted"].to_numpy()]
    keys = ["ordinal", column]
    order_count = counted.groupby(keys, sort=True).size()
    gross = orders[in_two].groupby(keys, sort=True)["amount"].sum()
    refunded = refunds[refunds["ordinal"].isin(ordinals).to_numpy()].groupby(keys)["amount"].sum()
    groups = sorted(
        set(gross.index.get_level_values(1)) | set(refunded.index.get_level_values(1)), key=str
    )
    full = pd.MultiIndex.from_product([list(ordinals), groups], names=keys)
    net = gross.reindex(full, fill_value=0.0) - refunded.reindex(full, fill_value=0.0)
    aov = ratio(net, order_count.reindex(full, fill_value=0))
    for group in groups:
        current, previous = (
            float(aov.loc[(ordinals[0], group)]),
            float(aov.loc[(ordinals[1], group)]),
        )
        rows.append(_row("average_order_value", column, group, current, previous))
    return rows


def _segment_shares(
    prep: Prepared, column: str, ordinals: tuple[int, int]
) -> list[dict[str, object]]:
    orders = counted_orders(prep)
    orders = orders[orders["ordinal"].isin(ordinals).to_numpy()]
    latest = orders.sort_values("at", kind="stable").drop_duplicates(
        ["ordinal", "unit"], keep="last"
    )
    counts = latest.groupby(["ordinal", column], sort=True).size()
    groups = sorted(set(counts.index.get_level_values(1)), key=str)
    full = pd.MultiIndex.from_product([list(ordinals), groups], names=["ordinal", column])
    counts = counts.reindex(full, fill_value=0)
    shares = ratio(counts, counts.groupby(level="ordinal").transform("sum"))
    return [
        _row(
            "segment_share",
            column,
            group,
            float(shares.loc[(ordinals[0], group)]),
            float(shares.loc[(ordinals[1], group)]),
        )
        for group in groups
    ]


def _row(
    metric: str, dimension: str, group: object, current: float, previous: float
) -> dict[str, object]:
    change = current - previous
    relative = change / abs(previous) if previous != 0.0 and not np.isnan(previous) else np.nan
    return {
        "metric": metric,
        "dimension": dimension,
        "group": group,
        "value": current,
        "previous_value": previous,
        "change": change,
        "relative_change": relative,
    }


def report(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    segment_col: str | None = None,
    channel_col: str | None = None,
    source_col: str | None = None,
    churn_boundary: float | timedelta | Mapping[str, float | timedelta] | None = None,
    segments: pd.Series | None = None,
    repeat_within_days: float | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """One table of every applicable KPI for the period holding ``as_of``.

    The reported period is the one that contains ``as_of`` (rows after ``as_of`` are
    ignored, so pass the period's last day for a complete period); the previous period
    is beside it.  Each row carries its metric's exact definition (:data:`DEFINITIONS`).

    Rows, dimension ``"all"``: gross revenue, refunds, net revenue, orders, active
    customers, new customers, returning buyer share, repeat customer share, repeat revenue
    and its share, average order value, purchase frequency (in the period and per year:
    the 365 days up to the period end), LTV of the period and to date; with
    ``repeat_within_days`` the share of new customers buying again within that many days;
    with ``churn_boundary`` the churn rate of the period.  AOV is broken down by
    ``segment_col``, ``channel_col`` and ``source_col`` (dimension = the column name,
    group = its value), and with ``segment_col`` each segment's share of the active
    customers is added.

    Parameters
    ----------
    transactions
        The transactions frame (the canonical ingested frame by default).
    as_of
        End of the data; required (the library reads no clock).
    period
        ``"D"``, ``"W"``, ``"M"`` (default), ``"Q"`` or ``"Y"``.
    segment_col, channel_col, source_col
        Optional columns of ``transactions`` for the breakdowns.
    churn_boundary, segments
        As ``boundary`` and ``segments`` of :func:`~retention.kpi.churn_rate`.
    repeat_within_days
        Window of :func:`~retention.kpi.new_customer_repeat_share`.
    **columns
        Column keywords, see :class:`~retention.kpi.ColumnOptions`.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric``, ``dimension``, ``group``, ``definition``, ``period``,
        ``value``, ``previous_period``, ``previous_value``, ``change`` (value minus
        previous value) and ``relative_change`` (change / |previous value|, NaN when the
        previous value is 0 or NaN).  ``attrs`` hold ``as_of``, ``period`` and
        ``currency``.
    """
    carry = {
        key: value
        for key, value in (
            ("segment_col", segment_col),
            ("channel_col", channel_col),
            ("source_col", source_col),
        )
        if value is not None
    }
    if repeat_within_days is not None:
        require_positive(repeat_within_days, name="repeat_within_days")
    prep = prepare(transactions, as_of=as_of, period=period, carry=carry, options=dict(columns))
    current = int(period_ordinals(pd.Series([prep.as_of]), prep.period)[0])
    ordinals = (current, current - 1)
    index = grid(prep)
    index = pd.Index(
        np.arange(min(int(index[0]), current - 1), current + 1, dtype=np.int64), name="ordinal"
    )
    table = firsts(prep)

    figures = compute_revenue(prep, index)
    active = compute_active(prep, index, only=ordinals)
    new = compute_new(prep, index, table)
    share = compute_repeat_share(prep, index, table)
    repeat = compute_repeat_revenue(prep, index, table)
    net_to_date = cumulative(figures["net_revenue"], prep)
    series: dict[str, pd.Series] = {
        "gross_revenue": figures["gross_revenue"],
        "refunds": figures["refunds"],
        "net_revenue": figures["net_revenue"],
        "orders": figures["orders"],
        "active_customers": active,
        "new_customers": new,
        "returning_buyer_share": ratio(active - new, active),
        "repeat_customer_share": share["repeat_customer_share"],
        "repeat_revenue": repeat["repeat_revenue"],
        "repeat_revenue_share": repeat["repeat_revenue_share"],
        "average_order_value": ratio(figures["net_revenue"], figures["orders"]),
        "purchase_frequency": ratio(figures["orders"], active),
        "ltv_period": ratio(figures["net_revenue"], active),
        "ltv_to_date": ratio(net_to_date, share["customers"]),
    }
    rows = [_row(name, "all", "all", *_pick(values, ordinals)) for name, values in series.items()]
    yearly = [_yearly_frequency(prep, ordinal) for ordinal in ordinals]
    rows.append(_row("purchase_frequency_per_year", "all", "all", yearly[0], yearly[1]))
    definitions = dict(DEFINITIONS)
    if repeat_within_days is not None:
        within = compute_repeat_within(prep, index, table, float(repeat_within_days))
        rows.append(
            _row(
                "new_customer_repeat_share", "all", "all", *_pick(within["repeat_share"], ordinals)
            )
        )
        definitions["new_customer_repeat_share"] = DEFINITIONS["new_customer_repeat_share"].format(
            days=float(repeat_within_days)
        )
    if churn_boundary is not None:
        churn = compute_churn(prep, index, table, churn_boundary, segments, ordinals=list(ordinals))
        if segments is not None:
            overall = churn.groupby(level="ordinal")[
                ["customers_at_start", "churned_customers"]
            ].sum()
            rate = ratio(overall["churned_customers"], overall["customers_at_start"])
        else:
            rate = churn["churn_rate"]
        rows.append(_row("churn_rate", "all", "all", *_pick(rate, ordinals)))
        if segments is not None:
            by_segment = churn["churn_rate"]
            rows.extend(
                _row(
                    "churn_rate",
                    "segment",
                    label,
                    float(by_segment.loc[(ordinals[0], label)]),
                    float(by_segment.loc[(ordinals[1], label)]),
                )
                for label in sorted(set(by_segment.index.get_level_values("segment")), key=str)
            )
    elif segments is not None:
        msg = "segments is only used with churn_boundary; pass churn_boundary=<days or mapping>"
        raise ValidationError(msg)
    for column in dict.fromkeys(carry.values()):
        rows.extend(_by_dimension(prep, column, ordinals))
    if segment_col is not None:
        rows.extend(_segment_shares(prep, segment_col, ordinals))

    frame = pd.DataFrame(rows)
    periods = period_index(list(ordinals), prep.period)
    frame["definition"] = frame["metric"].map(definitions)
    frame["period"] = pd.Series([periods[0]] * len(frame), dtype=periods.dtype)
    frame["previous_period"] = pd.Series([periods[1]] * len(frame), dtype=periods.dtype)
    frame = frame[list(_COLUMNS)]
    frame.attrs = {"as_of": prep.as_of, "period": prep.period, "currency": prep.currency}
    return frame
