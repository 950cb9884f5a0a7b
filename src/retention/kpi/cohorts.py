"""Acquisition cohorts: the retention matrix of cohort x periods since first purchase."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

import numpy as np
import pandas as pd

from retention.exceptions import ValidationError
from retention.kpi._frame import ColumnOptions, period_index, period_ordinals
from retention.kpi.metrics import AsOf, _prep, counted_orders, firsts

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["cohort_matrix", "cohort_table"]

_VALUES = (
    "cohort_size",
    "active_customers",
    "active_share",
    "orders",
    "net_revenue",
    "revenue_per_customer",
    "cumulative_revenue",
    "cumulative_ltv",
)


def cohort_matrix(
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    by: str | Sequence[str] | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Acquisition-cohort retention matrix, in long (tidy) form.

    Definitions
    -----------
    A customer's ``cohort`` is the period of their first purchase (first counted order).
    ``periods_since`` = period of the activity minus the cohort period (0 is the
    acquisition period).  For each cohort and each ``periods_since`` up to the period
    holding ``as_of``:

    * ``cohort_size``: customers in the cohort;
    * ``active_customers``: cohort customers with a purchase in that period (all of them
      at ``periods_since == 0``); ``active_share = active_customers / cohort_size``;
    * ``orders``: counted orders of the cohort in that period;
    * ``net_revenue``: purchases minus refunds of the cohort's customers dated in that
      period; ``revenue_per_customer = net_revenue / cohort_size``;
    * ``cumulative_revenue``: net revenue from ``periods_since`` 0 up to this one;
      ``cumulative_ltv = cumulative_revenue / cohort_size`` (the cohort's historical LTV).

    Rows of customers without any counted purchase (only fully refunded orders) belong to
    no cohort; their net revenue is zero.  An order dated before the customer's first
    purchase can only be one that was later fully refunded; it and its refund count in
    period 0.  Summed over the matrix, ``net_revenue`` equals
    the net revenue of :func:`~retention.kpi.revenue`.

    Parameters
    ----------
    transactions, as_of, period, by, **columns
        As in :func:`retention.kpi.revenue`; with ``by`` each group has its own cohorts.

    Returns
    -------
    pandas.DataFrame
        Columns ``cohort`` (period), the ``by`` columns, ``periods_since`` (int) and the
        figures above, one row per cohort and elapsed period (a triangle).
    """
    prep = _prep(transactions, as_of, period, by, columns)
    table = firsts(prep)
    last = int(period_ordinals(pd.Series([prep.as_of]), prep.period)[0])
    group_keys = ["cohort", *prep.by, "periods_since"]
    if table.empty:
        empty = pd.DataFrame(columns=[*group_keys, *_VALUES])
        empty["cohort"] = pd.PeriodIndex([], freq=prep.period)
        return empty
    cohort_of = pd.Series(table["first_ordinal"].to_numpy(), index=table.index)
    orders = counted_orders(prep)
    orders = orders.assign(cohort=cohort_of.reindex(orders["unit"].to_numpy()).to_numpy())
    orders["periods_since"] = orders["ordinal"] - orders["cohort"]
    all_orders = prep.orders.assign(
        cohort=cohort_of.reindex(prep.orders["unit"].to_numpy()).to_numpy()
    )
    refunds = prep.refunds.assign(
        cohort=cohort_of.reindex(prep.refunds["unit"].to_numpy()).to_numpy()
    )
    gross_rows = all_orders[all_orders["cohort"].notna()]
    gross_rows = gross_rows.assign(
        periods_since=(gross_rows["ordinal"] - gross_rows["cohort"]).clip(lower=0)
    )
    refund_rows = refunds[refunds["cohort"].notna()]
    refund_rows = refund_rows.assign(
        periods_since=(refund_rows["ordinal"] - refund_rows["cohort"]).clip(lower=0)
    )

    sizes = table.groupby(["first_ordinal", *prep.by], sort=True).size()
    sizes.index = sizes.index.set_names(["cohort", *prep.by])
    cohorts = sizes.reset_index(name="cohort_size")
    spans = last - cohorts["cohort"].to_numpy() + 1
    full = cohorts.loc[cohorts.index.repeat(spans)].reset_index(drop=True)
    full["periods_since"] = np.concatenate([np.arange(n) for n in spans]).astype(np.int64)
    full = full.set_index(group_keys)

    active_pairs = orders.drop_duplicates(["unit", "ordinal"])
    active = active_pairs.groupby(group_keys).size()
    order_count = orders.groupby(group_keys).size()
    gross = gross_rows.groupby(group_keys)["amount"].sum()
    refunded = refund_rows.groupby(group_keys)["amount"].sum()

    def on_full(series: pd.Series) -> pd.Series:
        aligned = series.copy()
        aligned.index = pd.MultiIndex.from_arrays(
            [
                np.asarray(series.index.get_level_values(0), dtype=np.int64),
                *[series.index.get_level_values(name) for name in prep.by],
                np.asarray(series.index.get_level_values(-1), dtype=np.int64),
            ],
            names=group_keys,
        )
        return aligned.reindex(full.index, fill_value=0)

    result = full.copy()
    result["active_customers"] = on_full(active).astype(np.int64)
    size = result["cohort_size"].astype(np.float64)
    result["active_share"] = result["active_customers"] / size
    result["orders"] = on_full(order_count).astype(np.int64)
    result["net_revenue"] = (on_full(gross) - on_full(refunded)).astype(np.float64)
    result["revenue_per_customer"] = result["net_revenue"] / size
    result["cumulative_revenue"] = result.groupby(level=["cohort", *prep.by], sort=False)[
        "net_revenue"
    ].cumsum()
    result["cumulative_ltv"] = result["cumulative_revenue"] / size
    frame = result.reset_index()
    frame["cohort"] = period_index(frame["cohort"].to_numpy(), prep.period)
    frame = frame[[*group_keys, *_VALUES]]
    frame.attrs = {"as_of": prep.as_of, "period": prep.period, "currency": prep.currency}
    return frame


def cohort_table(matrix: pd.DataFrame, *, value: str = "active_share") -> pd.DataFrame:
    """Pivot :func:`cohort_matrix` into the classic triangle: cohorts x periods since.

    Parameters
    ----------
    matrix
        The output of :func:`cohort_matrix` (without ``by`` columns).
    value
        Which figure fills the cells: one of ``cohort_size``, ``active_customers``,
        ``active_share``, ``orders``, ``net_revenue``, ``revenue_per_customer``,
        ``cumulative_revenue``, ``cumulative_ltv``.

    Returns
    -------
    pandas.DataFrame
        Index ``cohort``, one column per ``periods_since``; cells after ``as_of`` are NaN.
    """
    if value not in _VALUES:
        msg = f"value must be one of {', '.join(map(repr, _VALUES))}; got {value!r}"
        raise ValidationError(msg)
    missing = {"cohort", "periods_since", value} - set(matrix.columns)
    if missing:
        msg = f"matrix has no column(s) {sorted(missing)}; pass the output of cohort_matrix"
        raise ValidationError(msg)
    return matrix.pivot_table(
        index="cohort", columns="periods_since", values=value, aggfunc="first", dropna=False
    )
