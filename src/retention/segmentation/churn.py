"""Churn boundary per segment; who to reactivate and who to stop contacting.

A customer counts as churned (lapsed beyond hope of the normal cycle) when the periods
since the last purchase exceed the boundary of their segment:

- ``method="quantile"`` (default): the ``quantile`` (default 0.9) of every observed
  inter-purchase interval of the segment's customers, so that nine in ten repeat
  purchases of such customers came sooner;
- ``method="cycle"``: ``k`` (default 2) times the median of the customers' median
  intervals in the segment.

A segment without any interval (for example all one-time buyers) uses the boundary of the
whole population.  Churned customers are to be reactivated until ``max_attempts``
reactivation attempts made after their last purchase have failed; then they are to be
stopped.  A new purchase resets the count: only attempts after the last purchase count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retention._validation import require_columns
from retention.exceptions import ValidationError
from retention.segmentation._common import (
    _as_naive_wall_clock,
    check_ids,
    group_boundaries,
    grouped_median,
    localise,
    prepare_purchases,
    require_count,
    require_fraction,
    require_positive,
    require_series,
    sort_within_groups,
    to_period,
)
from retention.segmentation.cycle import distinct_periods, intervals_of

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from retention.segmentation._common import PreparedPurchases

__all__ = ["CHURN_ACTIONS", "churn_boundaries", "churn_status"]

#: Values of the ``action`` column of :func:`churn_status`.
CHURN_ACTIONS = ("active", "reactivate", "stop")

_POPULATION = "(population)"


def _grouped_quantile(
    sorted_values: NDArray[np.int64],
    counts: NDArray[np.int64],
    starts: NDArray[np.int64],
    q: float,
) -> NDArray[np.float64]:
    """Linear-interpolation quantile (numpy's default) of each within-group-sorted group."""
    result = np.full(len(counts), np.nan)
    has = counts > 0
    position = (counts[has] - 1) * q
    below = np.floor(position).astype(np.int64)
    above = np.ceil(position).astype(np.int64)
    low = sorted_values[starts[has] + below].astype(np.float64)
    high = sorted_values[starts[has] + above].astype(np.float64)
    result[has] = low + (high - low) * (position - below)
    return result


def _segment_codes(
    segments: pd.Series | None, customer_ids: pd.Index
) -> tuple[NDArray[np.int64], pd.Index]:
    if segments is None:
        return np.zeros(len(customer_ids), dtype=np.int64), pd.Index([_POPULATION])
    segments = require_series(segments, name="segments")
    if not segments.index.is_unique:
        msg = "segments has duplicate customer ids in its index; keep one label each"
        raise ValidationError(msg)
    codes, labels = pd.factorize(segments.reindex(customer_ids), sort=True)
    if isinstance(segments.dtype, pd.CategoricalDtype):
        labels = pd.Index(segments.cat.categories)
        codes = pd.Categorical(segments.reindex(customer_ids), categories=labels).codes.astype(
            np.int64
        )
    return codes.astype(np.int64), pd.Index(labels)


def _boundaries(
    prepared: PreparedPurchases,
    segment_codes: NDArray[np.int64],
    labels: pd.Index,
    *,
    method: str,
    quantile: float,
    k: float,
) -> pd.DataFrame:
    unit, period = distinct_periods(prepared.customer_codes, prepared.periods)
    gap_customer, gaps = intervals_of(unit, period)
    n_labels = len(labels)
    # group n_labels is the population
    gap_segment = segment_codes[gap_customer]
    gap_segment = np.where(gap_segment >= 0, gap_segment, n_labels)
    n_customers = len(prepared.customer_ids)
    if method == "quantile":
        groups = np.concatenate([gap_segment, np.full(len(gaps), n_labels + 1)])
        values = np.concatenate([gaps, gaps])
        counts, starts = group_boundaries(np.sort(groups), n_labels + 2)
        boundary = _grouped_quantile(sort_within_groups(groups, values), counts, starts, quantile)
        evidence = counts
    else:
        intervals, gap_starts = group_boundaries(gap_customer, n_customers)
        medians = grouped_median(sort_within_groups(gap_customer, gaps), intervals, gap_starts)
        has = intervals > 0
        customer_segment = np.where(segment_codes >= 0, segment_codes, n_labels)[has]
        # doubled medians are integers: sort them within segment, then halve
        doubled = np.rint(2 * medians[has]).astype(np.int64)
        groups = np.concatenate([customer_segment, np.full(len(doubled), n_labels + 1)])
        values = np.concatenate([doubled, doubled])
        counts, starts = group_boundaries(np.sort(groups), n_labels + 2)
        boundary = k * grouped_median(sort_within_groups(groups, values), counts, starts) / 2.0
        evidence = counts
    population = boundary[n_labels + 1]
    own = np.isfinite(boundary[: n_labels + 1])
    customers = np.bincount(
        np.where(segment_codes >= 0, segment_codes, n_labels), minlength=n_labels + 1
    )
    index = pd.Index([*labels, None], name="segment")
    frame = pd.DataFrame(
        {
            "boundary": np.where(own, boundary[: n_labels + 1], population),
            "customers": customers,
            "evidence": evidence[: n_labels + 1],
            "own_boundary": own,
        },
        index=index,
    )
    frame.attrs = {"method": method, "quantile": quantile, "k": k, "population": population}
    return frame


def _prepare(
    transactions: pd.DataFrame,
    *,
    as_of: object,
    customer_id_col: str,
    datetime_col: str,
    time_unit: str,
    tz: str | None,
    kind_col: str | None,
    refund_of_col: str | None,
) -> PreparedPurchases:
    return prepare_purchases(
        transactions,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_value_col=None,
        category_col=None,
        kind_col=kind_col,
        refund_of_col=refund_of_col,
        as_of=as_of,
        time_unit=time_unit,
        tz=tz,
    )


def _method(method: object, quantile: float, k: float) -> tuple[str, float, float]:
    if method not in {"quantile", "cycle"}:
        msg = f"method must be 'quantile' or 'cycle', got {method!r}"
        raise ValidationError(msg)
    q = require_fraction(quantile, name="quantile", closed=True)
    factor = require_positive(k, name="k")
    return str(method), q, factor


def churn_boundaries(
    transactions: pd.DataFrame,
    *,
    as_of: object,
    segments: pd.Series | None = None,
    method: str = "quantile",
    quantile: float = 0.9,
    k: float = 2.0,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    time_unit: str = "D",
    tz: str | None = None,
    kind_col: str | None = "kind",
    refund_of_col: str | None = "refund_of",
) -> pd.DataFrame:
    """Churn boundary (in periods since the last purchase) of each segment.

    Parameters
    ----------
    transactions, as_of, customer_id_col, datetime_col, time_unit, tz, kind_col, \
refund_of_col
        As in :func:`~retention.segmentation.repurchase_cycles`.
    segments
        Labels indexed by customer id (an RFM ``segment``, a ``regularity`` column...);
        default: one segment for everyone.  Customers without a label form the row
        labelled missing (``None``) and fall back to the population boundary when it has
        no interval.
    method
        ``"quantile"`` or ``"cycle"`` (see the module docstring).
    quantile
        Quantile of the intervals for ``method="quantile"``; default 0.9.
    k
        Multiple of the median cycle for ``method="cycle"``; default 2.

    Returns
    -------
    pandas.DataFrame
        Indexed by segment: ``boundary`` (periods), ``customers``, ``evidence`` (intervals
        for ``"quantile"``, customers with an interval for ``"cycle"``) and
        ``own_boundary`` (False where the population boundary was used).  ``attrs``
        holds the method, its parameters and the population boundary.
    """
    method, q, factor = _method(method, quantile, k)
    prepared = _prepare(
        transactions,
        as_of=as_of,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        time_unit=time_unit,
        tz=tz,
        kind_col=kind_col,
        refund_of_col=refund_of_col,
    )
    codes, labels = _segment_codes(segments, prepared.customer_ids)
    frame = _boundaries(prepared, codes, labels, method=method, quantile=q, k=factor)
    if segments is None or not (codes < 0).any():
        frame = frame.iloc[:-1]
    return frame


def churn_status(
    transactions: pd.DataFrame,
    *,
    as_of: object,
    segments: pd.Series | None = None,
    attempts: pd.DataFrame | None = None,
    max_attempts: int = 3,
    method: str = "quantile",
    quantile: float = 0.9,
    k: float = 2.0,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    attempt_datetime_col: str = "attempted_at",
    time_unit: str = "D",
    tz: str | None = None,
    kind_col: str | None = "kind",
    refund_of_col: str | None = "refund_of",
) -> pd.DataFrame:
    """Churned or not, and the action for each customer: active, reactivate or stop.

    Parameters
    ----------
    transactions, as_of, segments, method, quantile, k, customer_id_col, datetime_col, \
time_unit, tz, kind_col, refund_of_col
        As in :func:`churn_boundaries`.
    attempts
        Reactivation attempts, one row each, with ``customer_id_col`` and
        ``attempt_datetime_col``.  An attempt counts as failed when it falls after the
        customer's last purchase and on or before ``as_of`` (a purchase after it means it
        worked, and resets the count).  Its datetimes follow the transactions (naive with
        naive).
    max_attempts
        Failed attempts after which a churned customer is to be stopped; default 3.
    attempt_datetime_col
        Datetime column of ``attempts``.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id: ``segment``, ``last_purchase`` (the latest purchase
        instant), ``periods_since_last``, ``boundary``, ``churned``
        (``periods_since_last > boundary``), ``failed_attempts`` and ``action``
        (categorical of :data:`CHURN_ACTIONS`): ``stop`` for churned customers with at
        least ``max_attempts`` failed attempts, ``reactivate`` for the other churned ones,
        ``active`` otherwise.  The reactivate list is
        ``status.index[status["action"] == "reactivate"]``.

    Examples
    --------
    >>> import pandas as pd
    >>> purchases = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a", "b", "b"],
    ...     "date": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-21",
    ...                             "2024-01-01", "2024-01-11"]),
    ... })
    >>> attempts = pd.DataFrame({"customer_id": ["b"] * 3,
    ...                          "attempted_at": pd.to_datetime(["2024-02-01"] * 3)})
    >>> status = churn_status(purchases, as_of="2024-03-01", attempts=attempts)
    >>> status[["periods_since_last", "boundary", "failed_attempts", "action"]].to_dict("list")
    {'periods_since_last': [40, 50], 'boundary': [10.0, 10.0], 'failed_attempts': [0, 3], \
'action': ['reactivate', 'stop']}
    """
    method, q, factor = _method(method, quantile, k)
    max_attempts = require_count(max_attempts, name="max_attempts", minimum=1)
    prepared = _prepare(
        transactions,
        as_of=as_of,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        time_unit=time_unit,
        tz=tz,
        kind_col=kind_col,
        refund_of_col=refund_of_col,
    )
    codes, labels = _segment_codes(segments, prepared.customer_ids)
    boundaries = _boundaries(prepared, codes, labels, method=method, quantile=q, k=factor)
    n_customers = len(prepared.customer_ids)
    last_instant = (
        pd.Series(prepared.instants)
        .groupby(prepared.customer_codes, sort=True)
        .max()
        .to_numpy(dtype="datetime64[ns]")
    )
    last_period = to_period(last_instant, prepared.time_unit)
    since = prepared.as_of_period - last_period
    boundary = boundaries["boundary"].to_numpy()[np.where(codes >= 0, codes, len(labels))]
    churned = since > boundary
    failed = np.zeros(n_customers, dtype=np.int64)
    if attempts is not None:
        failed = _failed_attempts(
            attempts,
            prepared=prepared,
            last_instant=last_instant,
            customer_id_col=customer_id_col,
            attempt_datetime_col=attempt_datetime_col,
            tz=tz,
        )
    action = np.where(churned, np.where(failed >= max_attempts, 2, 1), 0).astype(np.int8)
    segment_values = pd.Categorical.from_codes(codes, categories=labels)
    index = prepared.customer_ids.copy()
    index.name = customer_id_col
    result = pd.DataFrame(
        {
            "segment": segment_values,
            "last_purchase": localise(last_instant, prepared.tz),
            "periods_since_last": since,
            "boundary": boundary,
            "churned": churned,
            "failed_attempts": failed,
            "action": pd.Categorical.from_codes(action, categories=pd.Index(CHURN_ACTIONS)),
        },
        index=index,
    )
    result.attrs = {
        "as_of": prepared.as_of,
        "time_unit": prepared.time_unit,
        "max_attempts": max_attempts,
        "boundaries": boundaries,
    }
    return result


def _failed_attempts(
    attempts: pd.DataFrame,
    *,
    prepared: PreparedPurchases,
    last_instant: NDArray[np.datetime64],
    customer_id_col: str,
    attempt_datetime_col: str,
    tz: str | None,
) -> NDArray[np.int64]:
    require_columns(
        attempts,
        frame_name="attempts",
        customer_id_col=customer_id_col,
        attempt_datetime_col=attempt_datetime_col,
    )
    n_customers = len(prepared.customer_ids)
    if len(attempts) == 0:
        return np.zeros(n_customers, dtype=np.int64)
    check_ids(attempts[customer_id_col], column=customer_id_col, frame_name="attempts")
    instants, zone = _as_naive_wall_clock(
        attempts[attempt_datetime_col], column=attempt_datetime_col, frame_name="attempts", tz=tz
    )
    if (zone is None) != (prepared.tz is None):
        msg = (
            f"attempts column {attempt_datetime_col!r} and the transactions' datetimes must "
            "both be naive or both be time-zone aware"
        )
        raise ValidationError(msg)
    if instants.isna().any():
        msg = (
            f"attempts column {attempt_datetime_col!r} has {int(instants.isna().sum())} "
            "missing datetime(s); drop or fill those rows"
        )
        raise ValidationError(msg)
    values = instants.to_numpy(dtype="datetime64[ns]")
    customer = prepared.customer_ids.get_indexer(pd.Index(attempts[customer_id_col]))
    known = customer >= 0
    counted = known.copy()
    counted[known] = values[known] > last_instant[customer[known]]
    counted &= to_period(values, prepared.time_unit) <= prepared.as_of_period
    return np.bincount(customer[counted], minlength=n_customers).astype(np.int64)
