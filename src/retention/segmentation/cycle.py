r"""Each customer's repurchase cycle, shrunk toward its peers, and the next purchase date.

The cycle is read from the intervals between a customer's distinct purchase periods
(two purchases on the same day count once with ``time_unit="D"``, as lifetimes counts
``frequency``).  Few purchases make a noisy cycle, so the estimate is shrunk toward
comparable customers with an empirical-Bayes log-normal model:

.. math::

    \log x_{ij} \sim \mathcal N(\mu_i, \sigma_g^2), \qquad
    \mu_i \sim \mathcal N(m_g, \tau_g^2)

where :math:`x_{ij}` is customer *i*'s *j*-th interval (in periods) and *g* its peer
group (the product category when cycles are per category, crossed with ``peer_groups``
when given).  The hyperparameters are method-of-moments estimates over the group's
customers (Morris 1983, "Parametric empirical Bayes inference"):

- :math:`\sigma_g^2` pools the within-customer variance of log intervals,
  :math:`\sum_i \sum_j (y_{ij} - \bar y_i)^2 / \sum_i (n_i - 1)`;
- :math:`m_g` is the mean of the customers' mean log intervals :math:`\bar y_i`;
- :math:`\tau_g^2 = \max(0, \operatorname{Var}(\bar y_i) - \sigma_g^2
  \,\overline{1/n_i})`, since :math:`\operatorname{Var}(\bar y_i) = \tau^2 + \sigma^2/n_i`.

A group with fewer than ``min_peers`` customers with an interval borrows the
hyperparameters of the whole population.  The posterior of :math:`\mu_i` is normal
with weight :math:`w_i = \tau^2 / (\tau^2 + \sigma^2 / n_i)` on the customer's own
mean (0 for one-time buyers) and variance :math:`w_i \sigma^2 / n_i` (:math:`\tau^2`
without intervals).  The next interval is log-normal with median
:math:`e^{\hat\mu_i}` (the reported ``cycle``) and log-scale standard deviation
:math:`\sqrt{\sigma^2 + \operatorname{Var}\mu_i}`, which gives the interval for the
next purchase date.  That interval does not condition on the time already elapsed
without a purchase; the lapse flag of :func:`~retention.segmentation.regularity` uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np
import pandas as pd
from scipy.special import ndtri

from retention.exceptions import ValidationError
from retention.history import PurchaseHistory, check_history_options, period_of, select_periods
from retention.segmentation._common import (
    as_of_wall_clock,
    localise,
    prepare_purchases,
    require_count,
    require_fraction,
    require_series,
    rounded_period_start,
    sort_keys,
    sort_within_groups,
    whole_period_start,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from retention.segmentation._common import PreparedPurchases

__all__ = ["CYCLE_COLUMNS", "repurchase_cycles"]

#: Columns of :func:`repurchase_cycles` in order (``revenue`` and ``peer_group`` are
#: added when ``monetary_value_col`` / ``peer_groups`` are given).
CYCLE_COLUMNS = (
    "purchases",
    "intervals",
    "first_purchase",
    "last_purchase",
    "median_interval",
    "mean_interval",
    "std_interval",
    "mad_interval",
    "cv",
    "robust_cv",
    "cycle",
    "cycle_lower",
    "cycle_upper",
    "shrinkage",
    "periods_since_last",
    "next_purchase",
    "next_purchase_lower",
    "next_purchase_upper",
)

_MAD_TO_SD = 1.482602218505602  # 1 / Phi^-1(3/4): MAD of a normal sample estimates sigma


def repurchase_cycles(
    transactions: pd.DataFrame | PurchaseHistory,
    *,
    as_of: object,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = None,
    category_col: str | None = None,
    peer_groups: pd.Series | None = None,
    time_unit: str | None = None,
    tz: str | None = None,
    interval_level: float = 0.8,
    min_peers: int = 30,
    kind_col: str | None = "kind",
    refund_of_col: str | None = "refund_of",
) -> pd.DataFrame:
    """Repurchase cycle of each customer (or customer and category) as of a date.

    Parameters
    ----------
    transactions
        One row per purchase.  The canonical frame of :func:`retention.ingest` works as it
        is (pass ``datetime_col="purchased_at"``), and so does an ``IngestResult`` (its
        canonical column names are then used): rows whose ``kind_col`` is not
        ``"purchase"`` or whose ``refund_of_col`` is set are refunds and are ignored.
        Or a :class:`~retention.PurchaseHistory` from :func:`retention.purchase_history`,
        the sorted (customer, period) pairs :func:`retention.rfm_summary` also takes:
        the cycles then skip the validation and the sort.  A history nets refunds into
        their orders (a fully refunded order is no purchase, and ``revenue`` is net); it
        has no categories and keeps its ``time_unit`` and zone.
    as_of
        The analysis date: purchases in later periods are ignored and
        ``periods_since_last`` counts up to it.  A datetime follows the column (naive
        with naive, aware with aware); a ``date`` or ISO string is calendar time.
    customer_id_col, datetime_col
        Column names of the customer id and the purchase time.
    monetary_value_col
        Optional amount column; adds ``revenue``, the sum of purchase amounts up to
        ``as_of`` (refund rows are left out, not netted: use ``rfm_summary`` or a
        history for net figures).  With a history, any non-None value adds ``revenue``.
    category_col
        Optional product category: one cycle per (customer, category), and the category
        is the peer group of the shrinkage (a client buys coffee monthly and a machine
        every few years).
    peer_groups
        Optional labels of comparable customers (a Series indexed by customer id, for
        example an RFM segment or a region); the prior is estimated per label (crossed
        with the category).  Customers without a label use the population prior.
    time_unit
        Period purchases are aggregated to: ``"h"``, ``"D"`` (the default), ``"W"``
        (Monday weeks) or ``"M"``.  Every interval statistic is in these periods.
    tz
        Zone aware datetimes are converted to before periods are cut (default UTC).
    interval_level
        Probability covered by ``cycle_lower``..``cycle_upper`` and the next-purchase
        interval (default 0.8: the 10th to the 90th percentile).
    min_peers
        Fewest customers with an interval a peer group needs for its own prior; smaller
        groups use the population prior (default 30).
    kind_col, refund_of_col
        Refund markers, used only when the frame has these columns.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (whatever ``customer_id_col`` is called, as
        :func:`retention.rfm_summary`), plus the category level with ``category_col``;
        sorted, with columns

        - ``purchases``: distinct purchase periods; ``intervals`` = purchases - 1;
        - ``first_purchase``, ``last_purchase``: start of the first and last period;
        - ``median_interval``, ``mean_interval``, ``std_interval`` (sample, NaN below two
          intervals), ``mad_interval`` (median absolute deviation), ``cv``
          (std / mean) and ``robust_cv`` (1.4826 MAD / median);
        - ``cycle``: the shrunk cycle (median of the next interval; NaN for everyone
          when no customer has bought twice), with
          ``cycle_lower`` / ``cycle_upper`` at ``interval_level`` and ``shrinkage``, the
          weight of the customer's own data (0 for one-time buyers);
        - ``periods_since_last``: whole periods from the last purchase to ``as_of``;
        - ``next_purchase`` (start of the period last purchase + cycle, rounded to whole
          periods), ``next_purchase_lower``, ``next_purchase_upper`` likewise;
        - ``revenue`` with ``monetary_value_col``, ``peer_group`` with ``peer_groups``.

        ``attrs`` holds ``time_unit``, ``as_of`` and ``priors`` (a frame of the
        hyperparameters ``m``, ``tau2``, ``sigma2`` and ``customers`` per peer group).

    Raises
    ------
    SchemaError
        A named column is missing.
    ValidationError
        Empty frame, missing ids, dates or amounts, a bad ``time_unit`` or
        ``interval_level``, or no purchase on or before ``as_of``.

    Examples
    --------
    >>> import pandas as pd
    >>> purchases = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a", "b"],
    ...     "date": pd.to_datetime(["2024-01-01", "2024-01-31", "2024-03-01", "2024-02-10"]),
    ... })
    >>> cycles = repurchase_cycles(purchases, as_of="2024-03-31")
    >>> columns = ["purchases", "median_interval", "periods_since_last"]
    >>> cycles[columns]  # doctest: +NORMALIZE_WHITESPACE
                 purchases  median_interval  periods_since_last
    customer_id
    a                    3             30.0                  30
    b                    1              NaN                  50
    """
    level = require_fraction(interval_level, name="interval_level")
    min_peers = require_count(min_peers, name="min_peers", minimum=1)
    if isinstance(transactions, PurchaseHistory):
        basis = _basis_of_history(
            transactions,
            as_of=as_of,
            datetime_col=datetime_col,
            monetary=monetary_value_col is not None,
            category_col=category_col,
            time_unit=time_unit,
            tz=tz,
        )
    else:
        prepared = prepare_purchases(
            transactions,
            customer_id_col=customer_id_col,
            datetime_col=datetime_col,
            monetary_value_col=monetary_value_col,
            category_col=category_col,
            kind_col=kind_col,
            refund_of_col=refund_of_col,
            as_of=as_of,
            time_unit="D" if time_unit is None else time_unit,
            tz=tz,
        )
        basis = _basis_of_frame(prepared, category_col)
    stats = basis.stats
    peer_codes, peer_labels = _peer_codes(
        peer_groups, basis.customer_ids, basis.unit_customer, basis.unit_category
    )
    mu, spread, weight, priors = _shrink(stats, peer_codes, min_peers=min_peers)

    z = float(ndtri(0.5 + level / 2.0))
    cycle = np.exp(mu)
    factor = np.exp(z * spread)  # exp(mu -/+ z spread) = cycle / factor, cycle * factor
    cycle_lower = cycle / factor
    cycle_upper = cycle * factor
    last = stats["last"].astype(np.float64)
    unit = basis.time_unit

    def dates(periods: NDArray[np.float64]) -> pd.DatetimeIndex:
        # expected dates are whole periods: the period the purchase is expected in
        return localise(rounded_period_start(periods, unit), basis.tz)

    def purchase_dates(periods: NDArray[np.int64]) -> pd.DatetimeIndex:
        return localise(whole_period_start(periods, unit), basis.tz)

    columns: dict[str, object] = {
        "purchases": stats["purchases"],
        "intervals": stats["intervals"],
        "first_purchase": purchase_dates(stats["first"].astype(np.int64, copy=False)),
        "last_purchase": purchase_dates(stats["last"].astype(np.int64, copy=False)),
        "median_interval": stats["median"],
        "mean_interval": stats["mean"],
        "std_interval": stats["std"],
        "mad_interval": stats["mad"],
        "cv": stats["std"] / stats["mean"],
        "robust_cv": _MAD_TO_SD * stats["mad"] / stats["median"],
        "cycle": cycle,
        "cycle_lower": cycle_lower,
        "cycle_upper": cycle_upper,
        "shrinkage": weight,
        "periods_since_last": basis.as_of_period - stats["last"],
        "next_purchase": dates(last + cycle),
        "next_purchase_lower": dates(last + cycle_lower),
        "next_purchase_upper": dates(last + cycle_upper),
    }
    if basis.revenue is not None:
        columns["revenue"] = basis.revenue
    if peer_groups is not None:
        n_labels = max(len(peer_labels), 1)
        columns["peer_group"] = pd.Categorical.from_codes(
            np.where(peer_codes >= 0, peer_codes % n_labels, -1), categories=peer_labels
        )
    # every column is a fresh array: adopt them instead of consolidating (a 2-D copy)
    result = pd.DataFrame(columns, index=basis.units, copy=False)
    result.attrs = {
        "time_unit": basis.time_unit,
        "as_of": basis.as_of,
        "interval_level": level,
        "priors": _describe_priors(
            priors,
            peer_labels=peer_labels,
            categories=basis.categories,
            by_peer=peer_groups is not None,
        ),
    }
    return result


@attrs.frozen
class _Basis:
    """The analysis units of one call and the statistics of their intervals."""

    units: pd.Index
    customer_ids: pd.Index
    """Customers the peer labels are aligned to; ``unit_customer`` points into it."""
    unit_customer: NDArray[np.int64]
    unit_category: NDArray[np.int64] | None
    categories: pd.Index | None
    stats: dict[str, NDArray[np.float64] | NDArray[np.int64]]
    revenue: NDArray[np.float64] | None
    as_of_period: int
    as_of: pd.Timestamp
    time_unit: str
    tz: str | None


def _basis_of_frame(prepared: PreparedPurchases, category_col: str | None) -> _Basis:
    """Units (customers, or customer x category) of a validated transaction frame."""
    n_customers = len(prepared.customer_ids)
    unit_category: NDArray[np.int64] | None = None
    categories: pd.Index | None = None
    if category_col is None or prepared.categories is None:
        units = prepared.customer_ids.copy()
        units.name = "customer_id"  # like rfm_summary, whatever the column is called
        unit_customer = np.arange(n_customers, dtype=np.int64)
        unit_of_row = prepared.customer_codes
    else:
        category_codes, category_values = pd.factorize(prepared.categories, sort=True)
        n_categories = len(category_values)
        keys = prepared.customer_codes * n_categories + category_codes
        unique_keys, inverse = np.unique(keys, return_inverse=True)
        unit_of_row = inverse.astype(np.int64)
        unit_customer = unique_keys // n_categories
        unit_category = unique_keys % n_categories
        categories = pd.Index(category_values)
        units = pd.MultiIndex.from_arrays(
            [prepared.customer_ids.take(unit_customer), categories.take(unit_category)],
            names=["customer_id", category_col],
        )
    revenue: NDArray[np.float64] | None = None
    if prepared.amounts is not None:
        revenue = np.bincount(unit_of_row, weights=prepared.amounts, minlength=len(units)).astype(
            np.float64, copy=False
        )
    return _Basis(
        units=units,
        customer_ids=prepared.customer_ids,
        unit_customer=unit_customer,
        unit_category=unit_category,
        categories=categories,
        stats=_interval_statistics(unit_of_row, prepared.periods),
        revenue=revenue,
        as_of_period=prepared.as_of_period,
        as_of=prepared.as_of,
        time_unit=prepared.time_unit,
        tz=prepared.tz,
    )


def _basis_of_history(
    history: PurchaseHistory,
    *,
    as_of: object,
    datetime_col: str,
    monetary: bool,
    category_col: str | None,
    time_unit: str | None,
    tz: str | None,
) -> _Basis:
    """Build the customer units of a :class:`~retention.PurchaseHistory` without re-sorting it."""
    if category_col is not None:
        msg = (
            "a purchase history holds no categories; pass the transaction frame for "
            "cycles per category"
        )
        raise ValidationError(msg)
    check_history_options(history, time_unit=time_unit, tz=tz)
    if monetary and history.amount is None:
        msg = (
            "the purchase history was built without amounts; build it with "
            "monetary_value_col=... or leave monetary_value_col out"
        )
        raise ValidationError(msg)
    stamp = as_of_wall_clock(as_of, zone=history.tz, column=datetime_col)
    as_of_period = period_of(stamp.as_unit("ns").value, history.time_unit)
    customer, period, amount, _ = select_periods(history, as_of_period)
    if len(period) == 0:
        msg = (
            f"transactions has no purchase on or before as_of={stamp.isoformat()}; "
            "pass a later as_of"
        )
        raise ValidationError(msg)
    new_unit = np.empty(len(customer), dtype=bool)
    new_unit[0] = True
    np.not_equal(customer[1:], customer[:-1], out=new_unit[1:])
    starts = np.flatnonzero(new_unit)
    first = period[starts]
    last = period[np.append(starts[1:], len(period)) - 1]
    span = int((last - first).max()) + 1
    units = history.customer_ids.take(customer[starts])
    units.name = "customer_id"
    return _Basis(
        units=units,
        customer_ids=units,
        unit_customer=np.arange(len(units), dtype=np.int64),
        unit_category=None,
        categories=None,
        stats=_run_statistics(period, new_unit, starts, first, last, span),
        revenue=None if not monetary or amount is None else np.add.reduceat(amount, starts),
        as_of_period=as_of_period,
        as_of=stamp,
        time_unit=history.time_unit,
        tz=history.tz,
    )


def _sorted_distinct_keys(
    unit_of_row: NDArray[np.int64], periods: NDArray[np.int64]
) -> tuple[NDArray[np.int64] | NDArray[np.uint32], int, int]:
    """Sorted distinct keys ``unit * span + (period - low)`` with ``span`` and ``low``.

    The keys are uint32 when every key fits (about 2.9 million customers over eight
    years of days): sorting them takes well under half the time of int64 keys.
    Callers cast what they derive from them to int64.
    """
    low = int(periods.min())
    span = int(periods.max()) - low + 1
    wide = unit_of_row * span
    wide += periods
    wide -= low
    n_units = int(unit_of_row.max()) + 1 if len(unit_of_row) else 0
    keys: NDArray[np.int64] | NDArray[np.uint32]
    keys = sort_keys(wide.astype(np.uint32)) if n_units * span <= _UINT32_KEYS else sort_keys(wide)
    del wide
    distinct = np.empty(len(keys), dtype=bool)
    distinct[0] = True
    np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
    return keys[distinct], span, low


def distinct_periods(
    unit_of_row: NDArray[np.int64], periods: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct (unit, period) pairs sorted by unit then period (one int64 sort)."""
    keys, span, low = _sorted_distinct_keys(unit_of_row, periods)
    unit, offset = np.divmod(keys.astype(np.int64, copy=False), span)
    return unit, offset + low


def intervals_of(
    unit: NDArray[np.int64], period: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the unit and length of each interval between consecutive distinct periods."""
    same_unit = unit[1:] == unit[:-1]
    return unit[1:][same_unit], (period[1:] - period[:-1])[same_unit]


_UINT32_KEYS = 2**32  # (customer, period) keys below this sort as uint32
_SORTED_FROM = 5  # units with 3 or 4 intervals use sorting networks instead of sorts


def _compare_exchange(values: list[NDArray[np.int64]], first: int, second: int) -> None:
    low = np.minimum(values[first], values[second])
    values[second] = np.maximum(values[first], values[second])
    values[first] = low


def _small_median_and_mad(
    gaps: NDArray[np.int64],
    intervals: NDArray[np.int64],
    gap_starts: NDArray[np.int64],
    median: NDArray[np.float64],
    mad: NDArray[np.float64],
) -> None:
    """Fill median and MAD of units with three or four intervals, column-wise.

    Sorted a <= b <= c: median b, MAD min(b - a, c - b).  Sorted a <= b <= c <= d:
    median m = (b + c) / 2; the deviations sorted are (c - b) / 2 twice, then
    min(m - a, d - m), so the MAD is ((c - b) / 2 + min(m - a, d - m)) / 2.
    """
    units = np.flatnonzero(intervals == 3)
    if len(units):
        first = gap_starts[units]
        v = [gaps[first], gaps[first + 1], gaps[first + 2]]
        for pair in ((0, 1), (1, 2), (0, 1)):
            _compare_exchange(v, *pair)
        median[units] = v[1]
        mad[units] = np.minimum(v[1] - v[0], v[2] - v[1])
    units = np.flatnonzero(intervals == 4)
    if len(units):
        first = gap_starts[units]
        v = [gaps[first], gaps[first + 1], gaps[first + 2], gaps[first + 3]]
        for pair in ((0, 1), (2, 3), (0, 2), (1, 3), (1, 2)):
            _compare_exchange(v, *pair)
        middle = (v[1] + v[2]) / 2.0
        median[units] = middle
        mad[units] = ((v[2] - v[1]) / 2.0 + np.minimum(middle - v[0], v[3] - middle)) / 2.0


def _median_and_mad(
    gaps: NDArray[np.int64],
    intervals: NDArray[np.int64],
    gap_starts: NDArray[np.int64],
    mean: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Median and median absolute deviation of each unit's intervals.

    One or two intervals have closed forms (median = mean; MAD 0 or half the
    difference), three or four go through sorting networks; only units with five or
    more intervals need the within-unit sorts.
    """
    median = np.where(intervals > 0, mean, np.nan)
    mad = np.where(intervals > 0, 0.0, np.nan)
    pairs = np.flatnonzero(intervals == 2)
    first_of_pair = gap_starts[pairs]
    mad[pairs] = np.abs(gaps[first_of_pair] - gaps[first_of_pair + 1]) / 2.0
    _small_median_and_mad(gaps, intervals, gap_starts, median, mad)
    many_units = np.flatnonzero(intervals >= _SORTED_FROM)
    if len(many_units) == 0:
        return median, mad
    counts = intervals[many_units]
    starts = np.cumsum(counts) - counts
    # gaps are grouped by unit, in order
    selected = np.repeat(intervals >= _SORTED_FROM, intervals)
    values = gaps[selected]
    compact = np.repeat(np.arange(len(many_units), dtype=np.int64), counts)
    low = starts + (counts - 1) // 2
    high = starts + counts // 2
    ordered = sort_within_groups(compact, values)
    doubled_median = ordered[low] + ordered[high]  # twice the median: an integer
    median[many_units] = doubled_median / 2.0
    # twice the absolute deviation from the median is an integer too: sort it as one
    doubled = np.abs(2 * values - np.repeat(doubled_median, counts))
    ordered = sort_within_groups(compact, doubled)
    mad[many_units] = (ordered[low] + ordered[high]) / 4.0
    return median, mad


def _interval_statistics(
    unit_of_row: NDArray[np.int64], periods: NDArray[np.int64]
) -> dict[str, NDArray[np.float64] | NDArray[np.int64]]:
    """Distinct purchase periods per unit and the statistics of their intervals.

    Every unit has at least one row, so the sorted distinct keys hold each unit as one
    contiguous run; the intervals are the key differences inside a run.
    """
    keys, span, low = _sorted_distinct_keys(unit_of_row, periods)
    unit = keys // span
    new_unit = np.empty(len(keys), dtype=bool)
    new_unit[0] = True
    np.not_equal(unit[1:], unit[:-1], out=new_unit[1:])
    del unit
    starts = np.flatnonzero(new_unit)
    ends = np.append(starts[1:], len(keys)) - 1
    first = (keys[starts] % span).astype(np.int64) + low
    last = (keys[ends] % span).astype(np.int64) + low
    return _run_statistics(keys, new_unit, starts, first, last, span)


def _run_statistics(  # noqa: PLR0917 - the parts of one sorted run layout
    ordinals: NDArray[np.int64] | NDArray[np.uint32],
    new_unit: NDArray[np.bool_],
    starts: NDArray[np.int64],
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    span: int,
) -> dict[str, NDArray[np.float64] | NDArray[np.int64]]:
    """Interval statistics of runs of strictly ascending ordinals, one run per unit.

    ``ordinals`` differ by the interval inside a run (packed keys or plain periods);
    ``new_unit`` marks each run's start, ``starts`` lists them, ``first`` and ``last``
    are each unit's first and last period, and every gap is below ``span``.
    """
    n_units = len(starts)
    purchases = np.diff(np.append(starts, len(ordinals)))
    inside = ~new_unit[1:]
    # ordinals ascend strictly within a run, so the gaps are positive in either type
    gaps = np.subtract(ordinals[1:], ordinals[:-1], dtype=np.int64)[inside]
    intervals = purchases - 1
    gap_starts = starts - np.arange(n_units)
    with_gaps = intervals > 0
    first_gap = gap_starts[with_gaps]

    def per_unit(values: NDArray[np.float64] | NDArray[np.int64]) -> NDArray[np.float64]:
        # gaps are grouped by unit in order: one sequential reduceat, no scatter
        out = np.zeros(n_units)
        if len(values):
            out[with_gaps] = np.add.reduceat(values, first_gap)
        return out

    # gaps are whole periods below span: look their logarithms up in a table of span
    # entries (the same values np.log gives, without evaluating it for every gap)
    log_table = np.zeros(span + 1)
    np.log(np.arange(1, span + 1, dtype=np.float64), out=log_table[1:])
    log_gaps = log_table.take(gaps)
    with np.errstate(invalid="ignore", divide="ignore"):
        # the gaps of a unit add up to last - first; integer sums of squares are exact
        # and so is their float64 value (< 2**53)
        total = (last - first).astype(np.float64)
        mean = total / intervals
        squares = np.maximum(per_unit(gaps * gaps) - total * mean, 0.0)
        std = np.where(intervals >= 2, np.sqrt(squares / (intervals - 1)), np.nan)
        log_total = per_unit(log_gaps)
        log_mean = log_total / intervals
        log_squares = np.maximum(per_unit(log_gaps * log_gaps) - log_total * log_mean, 0.0)
    median, mad = _median_and_mad(gaps, intervals, gap_starts, mean)
    return {
        "purchases": purchases,
        "intervals": intervals,
        "first": first,
        "last": last,
        "mean": mean,
        "std": std,
        "median": median,
        "mad": mad,
        "log_mean": log_mean,
        "log_squares": log_squares,
    }


def _peer_codes(
    peer_groups: pd.Series | None,
    customer_ids: pd.Index,
    unit_customer: NDArray[np.int64],
    unit_category: NDArray[np.int64] | None,
) -> tuple[NDArray[np.int64], pd.Index]:
    """Prior-group code of each unit (-1: population prior) and the peer labels."""
    n_units = len(unit_customer)
    labels = pd.Index([])
    label_codes = np.zeros(n_units, dtype=np.int64)
    if peer_groups is not None:
        peer_groups = require_series(peer_groups, name="peer_groups")
        if not peer_groups.index.is_unique:
            msg = "peer_groups has duplicate customer ids in its index; keep one label each"
            raise ValidationError(msg)
        aligned = peer_groups.reindex(customer_ids)
        codes, labels = pd.factorize(aligned, sort=True)
        label_codes = codes.astype(np.int64).take(unit_customer)
    if unit_category is None:
        if peer_groups is None:
            label_codes = np.full(n_units, -1, dtype=np.int64)
        return label_codes, pd.Index(labels)
    n_labels = max(len(labels), 1)
    combined = np.where(label_codes >= 0, unit_category * n_labels + label_codes, -1)
    return combined, pd.Index(labels)


def _population_moments(
    n: NDArray[np.float64], ybar: NDArray[np.float64], squares: NDArray[np.float64]
) -> tuple[float, float, float, int]:
    """Method-of-moments (m, tau2, sigma2, customers) over every unit with an interval."""
    has = n > 0
    customers = int(np.count_nonzero(has))
    if customers == 0:
        return np.nan, np.nan, np.nan, 0
    within_dof = float(np.sum(n[has] - 1))
    sigma2 = float(np.sum(squares[has]) / within_dof) if within_dof > 0 else 0.0
    means = ybar[has]
    m = float(means.mean())
    if customers < 2:
        return m, 0.0, sigma2, customers
    inverse_n = float(np.mean(1.0 / n[has]))
    tau2 = max(0.0, float(means.var(ddof=1)) - sigma2 * inverse_n)
    return m, tau2, sigma2, customers


def _group_moments(
    n: NDArray[np.float64],
    ybar: NDArray[np.float64],
    squares: NDArray[np.float64],
    peer_codes: NDArray[np.int64],
) -> pd.DataFrame:
    """Compute the same moments per peer group (groups with at least one interval)."""
    n_groups = int(peer_codes.max()) + 1
    use = (peer_codes >= 0) & (n > 0)
    codes = np.where(use, peer_codes, 0)

    def total(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        sums: NDArray[np.float64] = np.bincount(
            codes, weights=np.where(use, weights, 0.0), minlength=n_groups
        ).astype(np.float64)
        return sums

    customers = total(np.ones(len(n)))
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = total(n - 1)
        sigma2 = np.where(dof > 0, total(squares) / dof, np.nan)
        m = total(ybar) / customers
        centred = ybar - m[codes]
        variance = total(centred * centred) / (customers - 1)
        tau2 = np.maximum(0.0, variance - sigma2 * total(1.0 / np.maximum(n, 1)) / customers)
    frame = pd.DataFrame(
        {"m": m, "tau2": tau2, "sigma2": sigma2, "customers": customers.astype(np.int64)}
    )
    return frame[frame["customers"] > 0]


def _shrink(
    stats: dict[str, NDArray[np.float64] | NDArray[np.int64]],
    peer_codes: NDArray[np.int64],
    *,
    min_peers: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], pd.DataFrame]:
    """Posterior mean, predictive log-scale spread and data weight of each unit.

    Also returns the hyperparameters: one row for the population (group -1), then one
    per peer group with ``own_prior`` telling whether the group used its own.
    """
    n = stats["intervals"].astype(np.float64)
    has = n > 0
    ybar = np.where(has, stats["log_mean"], 0.0)
    squares = np.where(has, stats["log_squares"], 0.0)
    m_all, tau2_all, sigma2_all, customers_all = _population_moments(n, ybar, squares)
    m = np.full(len(n), m_all)
    tau2 = np.full(len(n), tau2_all)
    sigma2 = np.full(len(n), sigma2_all)
    priors = pd.DataFrame(
        {
            "m": [m_all],
            "tau2": [tau2_all],
            "sigma2": [sigma2_all],
            "customers": [customers_all],
            "own_prior": [True],
        },
        index=pd.Index([-1], name="group"),
    )
    if len(peer_codes) and int(peer_codes.max()) >= 0:
        groups = _group_moments(n, ybar, squares, peer_codes)
        groups["own_prior"] = (groups["customers"] >= max(min_peers, 2)) & np.isfinite(
            groups["sigma2"]
        )
        chosen = groups[groups["own_prior"]]
        position = np.full(int(peer_codes.max()) + 1, -1, dtype=np.int64)
        position[chosen.index.to_numpy()] = np.arange(len(chosen))
        row = np.where(peer_codes >= 0, position[np.maximum(peer_codes, 0)], -1)
        if len(chosen):
            use = row >= 0
            m = np.where(use, chosen["m"].to_numpy()[np.maximum(row, 0)], m)
            tau2 = np.where(use, chosen["tau2"].to_numpy()[np.maximum(row, 0)], tau2)
            sigma2 = np.where(use, chosen["sigma2"].to_numpy()[np.maximum(row, 0)], sigma2)
        priors = pd.concat([priors, groups.rename_axis("group")])
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = sigma2 / np.maximum(n, 1)
        weight = np.where(tau2 + noise > 0, tau2 / (tau2 + noise), 1.0)
        weight = np.where(has, weight, 0.0)
        mu = weight * ybar + (1.0 - weight) * m
        variance = np.where(has, weight * noise, tau2)
    spread = np.sqrt(np.nan_to_num(sigma2, nan=0.0) + variance)
    return mu, spread, weight, priors


def _describe_priors(
    priors: pd.DataFrame, *, peer_labels: pd.Index, categories: pd.Index | None, by_peer: bool
) -> pd.DataFrame:
    """Name the prior groups by category and peer label (one row per group, not customer)."""
    n_labels = max(len(peer_labels), 1)
    codes = priors.index.to_numpy()
    described = priors.reset_index(drop=True)
    described.insert(0, "scope", ["population" if code < 0 else "group" for code in codes])
    if categories is not None:
        described.insert(
            1,
            "category",
            [None if code < 0 else categories[code // n_labels] for code in codes],
        )
    if by_peer:
        described.insert(
            1,
            "peer_group",
            [None if code < 0 else peer_labels[code % n_labels] for code in codes],
        )
    return described
