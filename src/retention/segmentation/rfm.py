"""RFM scores (quantile or fixed thresholds), the 27 / 125 cells and their named groups.

Quantile scores follow one formula that a database reproduces exactly::

    score = ceil(bins * rank_pct),   rank_pct = (number of customers with value <= x) / n

which is pandas' ``Series.rank(method="max", pct=True)`` and SQL's
``CEIL(bins * CUME_DIST() OVER (ORDER BY x))``: the storage layer pushes the same
computation down and gets identical scores.  Ties share the *highest* score of their
group (``method="max"``), so a value held by many customers can leave lower scores
empty (with lifetimes semantics every one-time buyer has ``frequency`` 0 and
``monetary_value`` 0 and they all share one score).  A constant column scores ``bins``
for everyone.

- **R** is scored on the time since the last purchase, ``T - recency``, so that the
  most recent customers score highest (DESIGN decision 5): ``x = recency - T``.
- **F** is scored on ``frequency`` and **M** on ``monetary_value``: more is higher.

The named groups (:data:`RFM_GROUPS`) follow the field's usual eleven; the default
mapping of every cell is :func:`default_segment_map`, and any complete
``{cell code: group}`` mapping can replace it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np
import pandas as pd

from retention._validation import require_columns
from retention.exceptions import SchemaError, ValidationError
from retention.segmentation._common import require_count, require_series

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "RFM_GROUPS",
    "RFMThresholds",
    "cell_code",
    "default_segment_map",
    "rfm_scores",
    "rfm_segments",
    "segment_shares",
]

#: The named groups of the default mapping, best first.
RFM_GROUPS: tuple[str, ...] = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cannot_lose",
    "hibernating",
    "lost",
)

_SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")


def _edges(value: object, *, name: str) -> tuple[float, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        msg = f"RFMThresholds.{name} must be a sequence of numbers, got {value!r}"
        raise ValidationError(msg)
    edges = tuple(float(edge) for edge in value)
    if not edges:
        msg = f"RFMThresholds.{name} needs at least one edge (two scores)"
        raise ValidationError(msg)
    if any(math.isnan(edge) for edge in edges) or any(
        later <= earlier for earlier, later in itertools.pairwise(edges)
    ):
        msg = f"RFMThresholds.{name} edges must be strictly increasing numbers, got {value!r}"
        raise ValidationError(msg)
    return edges


def _recency_edges(value: object) -> tuple[float, ...]:
    return _edges(value, name="recency")


def _frequency_edges(value: object) -> tuple[float, ...]:
    return _edges(value, name="frequency")


def _monetary_edges(value: object) -> tuple[float, ...]:
    return _edges(value, name="monetary")


@attrs.frozen
class RFMThresholds:
    """Fixed business thresholds instead of quantiles.

    Each field holds ``bins - 1`` strictly increasing edges, in the summary's units.

    - ``recency``: edges on the time since the last purchase (``T - recency``); a customer
      at or below the first edge scores ``bins``, above the last edge 1.
      ``recency=(30, 90)`` reads "at most 30 days -> 3, at most 90 days -> 2, else 1".
    - ``frequency`` and ``monetary``: a value at or above the *k*-th edge scores at least
      *k* + 1.  ``frequency=(1, 4)`` reads "0 -> 1, 1 to 3 -> 2, 4 or more -> 3".

    Examples
    --------
    >>> RFMThresholds(recency=(30, 90), frequency=(1, 4), monetary=(20, 100)).bins
    3
    """

    recency: tuple[float, ...] = attrs.field(converter=_recency_edges)
    frequency: tuple[float, ...] = attrs.field(converter=_frequency_edges)
    monetary: tuple[float, ...] = attrs.field(converter=_monetary_edges)

    def __attrs_post_init__(self) -> None:
        """Check that the three fields give the same number of scores."""
        lengths = {len(self.recency), len(self.frequency), len(self.monetary)}
        if len(lengths) != 1:
            msg = (
                "RFMThresholds needs the same number of edges for recency, frequency and "
                f"monetary, got {len(self.recency)}, {len(self.frequency)}, "
                f"{len(self.monetary)}"
            )
            raise ValidationError(msg)

    @property
    def bins(self) -> int:
        """Number of scores per dimension (edges + 1)."""
        return len(self.recency) + 1


def _validated_summary(summary: object) -> pd.DataFrame:
    if not isinstance(summary, pd.DataFrame):
        msg = f"summary must be a pandas DataFrame, got {type(summary).__name__}"
        raise ValidationError(msg)
    missing = [name for name in _SUMMARY_COLUMNS if name not in summary.columns]
    if missing:
        msg = (
            f"summary has no column {', '.join(map(repr, missing))}; columns present: "
            f"{', '.join(map(repr, map(str, summary.columns))) or '(none)'}. Pass the "
            "result of retention.rfm_summary (frequency, recency, T, monetary_value)"
        )
        raise SchemaError(msg)
    if len(summary) == 0:
        msg = "summary is empty; pass the summary of at least one customer"
        raise ValidationError(msg)
    if not summary.index.is_unique:
        msg = "summary has duplicate customer ids in its index; pass one row per customer"
        raise ValidationError(msg)
    for name in _SUMMARY_COLUMNS:
        column = summary[name]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(
            column.dtype
        ):
            msg = f"summary column {name!r} must be numeric, got {column.dtype}"
            raise ValidationError(msg)
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum())
            msg = (
                f"summary column {name!r} has {bad} missing or infinite value(s); "
                "drop or fill those customers"
            )
            raise ValidationError(msg)
    if (summary["recency"].to_numpy() > summary["T"].to_numpy()).any():
        msg = "summary has recency > T for some customers; recompute the summary"
        raise ValidationError(msg)
    return summary


_COMPARED_EDGES = 16  # up to this many bins, values are compared with each edge in turn


def _quantile_scores(values: NDArray[np.float64], bins: int) -> NDArray[np.int64]:
    """``ceil(bins * cume_dist)`` with ``cume_dist = #(v <= x) / n`` (rank method max)."""
    low = float(values.min())
    span = float(values.max()) - low
    if span < 4 * len(values) + 1024:
        offsets = values - low
        whole = offsets.astype(np.int64)
        if np.array_equal(whole, offsets):
            # integer values in a modest range (frequency, days since the last purchase):
            # count them directly, no sort at all
            at_most_value = np.cumsum(np.bincount(whole))
            return np.ceil(bins * (at_most_value[whole] / len(values))).astype(np.int64)
    # Any other values: the score only changes where the count crosses a bin edge, so
    # find the bins - 1 edge values in one sort and place every value among them.
    n = len(values)
    ordered = np.sort(values)
    edges = np.full(bins - 1, np.inf)
    for score in range(1, bins):
        at_most = _largest_count_scoring(score, n, bins)
        if at_most < n:
            # count(v <= x) > at_most exactly when x >= the (at_most + 1)-th smallest value
            edges[score - 1] = ordered[at_most]
    if bins > _COMPARED_EDGES:
        placed: NDArray[np.int64] = 1 + np.searchsorted(edges, values, side="right")
        return placed
    scores = np.ones(n, dtype=np.int64)
    for edge in edges:  # a few sequential comparisons beat a binary search per value
        scores += values >= edge
    return scores


def _largest_count_scoring(score: int, n: int, bins: int) -> int:
    """Return the largest count ``c`` in 0..n with ``ceil(bins * (c / n)) <= score``.

    The float formula is the one the counting path evaluates, so both paths agree
    exactly, rounding included; it is non-decreasing in ``c``.
    """
    count = score * n // bins
    while count < n and math.ceil(bins * ((count + 1) / n)) <= score:
        count += 1
    while count > 0 and math.ceil(bins * (count / n)) > score:
        count -= 1
    return count


def _recency_values(summary: pd.DataFrame) -> NDArray[np.float64]:
    recency = summary["recency"].to_numpy(dtype=np.float64)
    since_start: NDArray[np.float64] = recency - summary["T"].to_numpy(dtype=np.float64)
    return since_start


def rfm_scores(
    summary: pd.DataFrame, bins: int | None = None, *, thresholds: RFMThresholds | None = None
) -> pd.DataFrame:
    """R, F and M scores from 1 to ``bins`` for each customer of a summary.

    Parameters
    ----------
    summary
        A customer summary (:func:`retention.rfm_summary`): index customer id, columns
        ``frequency``, ``recency``, ``T``, ``monetary_value``.
    bins
        Scores per dimension (3 gives the 27 cells, 5 the 125).  Default 3, or the
        number of scores of ``thresholds``.
    thresholds
        Fixed business thresholds instead of quantiles (:class:`RFMThresholds`).

    Returns
    -------
    pandas.DataFrame
        Same index as ``summary``, int64 columns ``r_score``, ``f_score``, ``m_score``.
        Quantile scores are ``ceil(bins * rank_pct)`` with pandas
        ``rank(method="max", pct=True)`` (SQL ``CUME_DIST``); recency is ranked on
        ``recency - T`` so that more recent scores higher.  ``attrs["bins"]`` holds bins.

    Raises
    ------
    SchemaError
        A summary column is missing.
    ValidationError
        Empty summary, NaN or infinite values, duplicate ids, ``recency > T``, a bad
        ``bins`` or ``bins`` that disagrees with ``thresholds``.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame(
    ...     {"frequency": [0.0, 2.0, 5.0], "recency": [0.0, 20.0, 80.0],
    ...      "T": [90.0, 90.0, 90.0], "monetary_value": [0.0, 30.0, 25.0]},
    ...     index=pd.Index(["a", "b", "c"], name="customer_id"))
    >>> rfm_scores(summary, bins=3)  # doctest: +NORMALIZE_WHITESPACE
                 r_score  f_score  m_score
    customer_id
    a                  1        1        1
    b                  2        2        3
    c                  3        3        2
    """
    summary = _validated_summary(summary)
    if thresholds is not None:
        given: object = thresholds
        if not isinstance(given, RFMThresholds):
            msg = f"thresholds must be an RFMThresholds, got {type(thresholds).__name__}"
            raise ValidationError(msg)
        if bins is not None and bins != thresholds.bins:
            msg = (
                f"bins={bins} disagrees with thresholds, which give {thresholds.bins} "
                "scores; drop bins or pass one edge fewer than bins"
            )
            raise ValidationError(msg)
        n = thresholds.bins
        since_last = -_recency_values(summary)
        r = n - np.searchsorted(np.asarray(thresholds.recency), since_last, side="left")
        f = 1 + np.searchsorted(
            np.asarray(thresholds.frequency), summary["frequency"].to_numpy(), side="right"
        )
        m = 1 + np.searchsorted(
            np.asarray(thresholds.monetary), summary["monetary_value"].to_numpy(), side="right"
        )
    else:
        n = require_count(3 if bins is None else bins, name="bins", minimum=2)
        r = _quantile_scores(_recency_values(summary), n)
        f = _quantile_scores(summary["frequency"].to_numpy(dtype=np.float64), n)
        m = _quantile_scores(summary["monetary_value"].to_numpy(dtype=np.float64), n)
    result = pd.DataFrame(
        {
            "r_score": np.asarray(r, dtype=np.int64),
            "f_score": np.asarray(f, dtype=np.int64),
            "m_score": np.asarray(m, dtype=np.int64),
        },
        index=summary.index,
    )
    result.attrs = {"bins": n, "method": "quantile" if thresholds is None else "thresholds"}
    return result


def cell_code(r: int, f: int, m: int, *, bins: int) -> str:
    """Return the code of one RFM cell: ``"543"`` (bins up to 9) or ``"10-3-7"`` (more bins)."""
    if bins <= 9:
        return f"{r}{f}{m}"
    return f"{r}-{f}-{m}"


def _all_cells(bins: int) -> list[tuple[int, int, int]]:
    scores = range(1, bins + 1)
    return [(r, f, m) for r in scores for f in scores for m in scores]


def _group_of_3(r: int, f: int, m: int) -> str:  # noqa: PLR0911 - one return per rule
    """Return the default group of a 3x3x3 cell."""
    if r == 3:
        if f == 3:
            return "champions" if m >= 2 else "loyal"
        if f == 2:
            return "potential_loyalists"
        return "new" if m == 1 else "promising"
    if r == 2:
        return {3: "loyal", 2: "need_attention", 1: "about_to_sleep"}[f]
    if f == 3:
        return "cannot_lose" if m == 3 else "at_risk"
    if f == 2:
        return "at_risk" if m >= 2 else "hibernating"
    return "lost"


def _group_of_5(r: int, f: int, m: int) -> str:
    """Return the default group of a 5x5x5 cell, from R and FM = floor((F + M) / 2)."""
    fm = (f + m) // 2
    if r == 5:
        return "champions" if fm >= 4 else ("potential_loyalists" if fm >= 2 else "new")
    if r == 4:
        return "loyal" if fm >= 4 else ("potential_loyalists" if fm >= 2 else "promising")
    if r == 3:
        return "loyal" if fm >= 4 else ("need_attention" if fm == 3 else "about_to_sleep")
    if fm == 5:
        return "cannot_lose"
    if fm >= 3:
        return "at_risk"
    return "hibernating" if r == 2 else "lost"


def _to_five(score: int, bins: int) -> int:
    """Map a score of 1..bins linearly onto 1..5 (1 -> 1, bins -> 5, halves round up)."""
    return 1 + math.floor((score - 1) * 4 / (bins - 1) + 0.5)


def default_segment_map(bins: int = 3) -> dict[str, str]:
    """Return the default ``{cell code: group}`` mapping for ``bins`` scores per dimension.

    Every one of the ``bins**3`` cells gets exactly one of :data:`RFM_GROUPS`.

    - **3x3x3** (27 cells), by R first:
      R3: F3 -> champions (M >= 2) or loyal (M1); F2 -> potential_loyalists;
      F1 -> new (M1) or promising (M >= 2).
      R2: F3 -> loyal; F2 -> need_attention; F1 -> about_to_sleep.
      R1: F3 -> cannot_lose (M3) or at_risk; F2 -> at_risk (M >= 2) or hibernating (M1);
      F1 -> lost.
    - **5x5x5** (125 cells), by R and FM = floor((F + M) / 2):
      R5: FM >= 4 champions, 2-3 potential_loyalists, 1 new.
      R4: FM >= 4 loyal, 2-3 potential_loyalists, 1 promising.
      R3: FM >= 4 loyal, 3 need_attention, 1-2 about_to_sleep.
      R1-2: FM 5 cannot_lose, 3-4 at_risk, 1-2 hibernating (R2) or lost (R1).
    - Other ``bins``: scores are first mapped linearly onto 1..5,
      ``1 + round_half_up(4 * (score - 1) / (bins - 1))``, and the 5x5x5 rule applies.

    Copy, edit and pass the result as ``mapping=`` to :func:`rfm_segments` to rename or
    regroup cells.

    Examples
    --------
    >>> mapping = default_segment_map(5)
    >>> len(mapping), mapping["555"], mapping["111"], mapping["511"]
    (125, 'champions', 'lost', 'new')
    """
    bins = require_count(bins, name="bins", minimum=2)
    mapping: dict[str, str] = {}
    for r, f, m in _all_cells(bins):
        if bins == 3:
            group = _group_of_3(r, f, m)
        else:
            group = _group_of_5(*(_to_five(score, bins) for score in (r, f, m)))
        mapping[cell_code(r, f, m, bins=bins)] = group
    return mapping


def _check_mapping(mapping: object, bins: int) -> None:
    if not isinstance(mapping, Mapping):
        msg = f"mapping must be a dict of cell code -> group name, got {type(mapping).__name__}"
        raise ValidationError(msg)
    cells = {cell_code(*cell, bins=bins) for cell in _all_cells(bins)}
    unknown = sorted(set(mapping) - cells)
    if unknown:
        msg = (
            f"mapping has cell codes that do not exist with bins={bins}: "
            f"{', '.join(map(repr, unknown[:5]))}; codes look like "
            f"{cell_code(bins, 1, 1, bins=bins)!r} (R, F, M scores)"
        )
        raise ValidationError(msg)
    missing = sorted(cells - set(mapping))
    if missing:
        msg = (
            f"mapping leaves {len(missing)} of the {len(cells)} cells without a group "
            f"(for example {', '.join(map(repr, missing[:5]))}); start from "
            f"default_segment_map({bins}) and edit it"
        )
        raise ValidationError(msg)
    bad = sorted(code for code, name in mapping.items() if not isinstance(name, str) or not name)
    if bad:
        msg = f"mapping gives cells {', '.join(map(repr, bad[:5]))} no group name (a string)"
        raise ValidationError(msg)


def rfm_segments(
    summary: pd.DataFrame,
    bins: int | None = None,
    *,
    thresholds: RFMThresholds | None = None,
    mapping: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """RFM scores, the cell code and exactly one named group per customer.

    Parameters
    ----------
    summary
        A customer summary (see :func:`rfm_scores`).
    bins, thresholds
        As in :func:`rfm_scores`.
    mapping
        ``{cell code: group name}`` covering every cell (``"311"`` for R=3, F=1, M=1);
        default :func:`default_segment_map`.

    Returns
    -------
    pandas.DataFrame
        Same index as ``summary``: ``r_score``, ``f_score``, ``m_score``, ``rfm_cell``
        (categorical of all ``bins**3`` codes) and ``segment`` (categorical; with the
        default mapping its categories are :data:`RFM_GROUPS` in that order, otherwise
        the mapping's names in first-seen order).

    Raises
    ------
    ValidationError
        As :func:`rfm_scores`, or a mapping with unknown or missing cells.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame(
    ...     {"frequency": [0.0, 2.0, 5.0], "recency": [0.0, 20.0, 80.0],
    ...      "T": [90.0, 90.0, 90.0], "monetary_value": [0.0, 30.0, 25.0]},
    ...     index=pd.Index(["a", "b", "c"], name="customer_id"))
    >>> rfm_segments(summary)[["rfm_cell", "segment"]]  # doctest: +NORMALIZE_WHITESPACE
                rfm_cell              segment
    customer_id
    a                111                 lost
    b                223       need_attention
    c                332            champions
    """
    scores = rfm_scores(summary, bins, thresholds=thresholds)
    n = int(scores.attrs["bins"])
    if mapping is None:
        mapping = default_segment_map(n)
        names = list(RFM_GROUPS)
    else:
        _check_mapping(mapping, n)
        names = list(dict.fromkeys(mapping.values()))
    cells = _all_cells(n)
    codes = [cell_code(*cell, bins=n) for cell in cells]
    position = {name: i for i, name in enumerate(names)}
    group_of_cell = np.array([position[mapping[code]] for code in codes], dtype=np.int64)
    cell = ((scores["r_score"].to_numpy() - 1) * n + (scores["f_score"].to_numpy() - 1)) * n + (
        scores["m_score"].to_numpy() - 1
    )
    result = scores.copy()
    result["rfm_cell"] = pd.Categorical.from_codes(cell, categories=pd.Index(codes))
    result["segment"] = pd.Categorical.from_codes(group_of_cell[cell], categories=pd.Index(names))
    result.attrs = dict(scores.attrs)
    return result


def segment_shares(
    segments: pd.DataFrame | pd.Series,
    *,
    revenue: pd.Series | None = None,
    segment_col: str = "segment",
) -> pd.DataFrame:
    """Count, share of customers and share of revenue of each group.

    Parameters
    ----------
    segments
        A frame with a group column (:func:`rfm_segments`, or a regularity result with
        ``segment_col="regularity"``), or a Series of group labels indexed by customer.
    revenue
        Optional revenue per customer, indexed like ``segments`` (for a lifetimes-style
        summary, ``summary["frequency"] * summary["monetary_value"]`` is the repeat
        revenue; ``repurchase_cycles(..., monetary_value_col=...)["revenue"]`` the total).
        Customers missing from it count as zero revenue.
    segment_col
        The group column of a frame.

    Returns
    -------
    pandas.DataFrame
        Indexed by group (every category of a categorical column, including empty ones):
        ``customers``, ``customer_share``, and with ``revenue`` also ``revenue`` and
        ``revenue_share``.  Shares sum to 1 (revenue shares are NaN when revenue sums to 0).

    Examples
    --------
    >>> import pandas as pd
    >>> groups = pd.Series(["loyal", "lost", "loyal"], index=["a", "b", "c"])
    >>> revenue = pd.Series({"a": 30.0, "b": 0.0, "c": 10.0})
    >>> segment_shares(groups, revenue=revenue)  # doctest: +NORMALIZE_WHITESPACE
             customers  customer_share  revenue  revenue_share
    segment
    lost             1        0.333333      0.0            0.0
    loyal            2        0.666667     40.0            1.0
    """
    if isinstance(segments, pd.DataFrame):
        require_columns(segments, frame_name="segments", segment_col=segment_col)
        labels = segments[segment_col]
    else:
        labels = require_series(segments, name="segments")
    if len(labels) == 0:
        msg = "segments is empty; pass at least one customer"
        raise ValidationError(msg)
    if labels.isna().any():
        msg = f"segments has {int(labels.isna().sum())} customer(s) without a group"
        raise ValidationError(msg)
    counts = labels.value_counts(sort=False)
    if not isinstance(labels.dtype, pd.CategoricalDtype):
        counts = counts.sort_index()
    result = pd.DataFrame({"customers": counts.to_numpy(dtype=np.int64)}, index=counts.index)
    result.index.name = segment_col
    result["customer_share"] = result["customers"] / len(labels)
    if revenue is not None:
        revenue = require_series(revenue, name="revenue")
        if not revenue.index.is_unique:
            msg = "revenue has duplicate customer ids in its index; pass one value each"
            raise ValidationError(msg)
        aligned = revenue.reindex(labels.index).fillna(0.0).to_numpy(dtype=np.float64)
        totals = (
            pd.Series(aligned, index=labels.index).groupby(labels, observed=False, sort=False).sum()
        )
        result["revenue"] = totals.reindex(result.index).fillna(0.0).to_numpy()
        whole = float(aligned.sum())
        result["revenue_share"] = result["revenue"] / whole if whole != 0 else np.nan
    return result
