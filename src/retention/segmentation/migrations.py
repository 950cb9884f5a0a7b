"""How customers move between groups: a transition matrix between two dates.

Give the membership at two dates (two Series of group labels indexed by customer id,
for example ``rfm_segments(summary_then)["segment"]`` and the same for now), or let
:func:`segment_migration` compute both from the transactions with any segmenting
function.  Customers present at one date only are counted in an ``absent`` row
(new customers) or column (customers who left the scheme).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np
import pandas as pd

from retention.exceptions import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Transitions", "segment_migration", "transition_matrix"]


@attrs.frozen
class Transitions:
    """Counts and shares of customers moving from each group (rows) to each (columns)."""

    counts: pd.DataFrame
    """Customers in row group at the first date and column group at the second."""
    shares: pd.DataFrame
    """Each row divided by its total: where the customers of a group went (rows sum to 1;
    an empty row is all zeros)."""
    overall_shares: pd.DataFrame
    """Counts divided by the number of customers in the table (the whole sums to 1)."""

    @property
    def stayed(self) -> float:
        """Share of customers present at both dates who kept their group."""
        common = [label for label in self.counts.index if label in self.counts.columns]
        both = self.counts.loc[
            [label for label in common if label != self.counts.attrs.get("absent")],
            [label for label in common if label != self.counts.attrs.get("absent")],
        ]
        total = float(both.to_numpy().sum())
        if total == 0:
            return float("nan")
        return float(np.trace(both.to_numpy())) / total


def _labels(series: object, *, name: str) -> pd.Series:
    if not isinstance(series, pd.Series):
        msg = f"{name} must be a Series of group labels indexed by customer id"
        raise ValidationError(msg)
    if not series.index.is_unique:
        msg = f"{name} has duplicate customer ids in its index; keep one label each"
        raise ValidationError(msg)
    if series.isna().any():
        msg = f"{name} has {int(series.isna().sum())} customer(s) without a group label"
        raise ValidationError(msg)
    return series


def _order(before: pd.Series, after: pd.Series) -> list[object]:
    """Group order: categories of categorical labels first, then sorted others."""
    ordered: list[object] = []
    for series in (before, after):
        if isinstance(series.dtype, pd.CategoricalDtype):
            ordered.extend(series.cat.categories)
    seen = set(ordered)
    rest = pd.Index(pd.concat([before.astype(object), after.astype(object)]).unique())
    extra = [label for label in rest if label not in seen]
    try:
        extra = sorted(extra)
    except TypeError:
        extra = sorted(extra, key=str)
    return list(dict.fromkeys([*ordered, *extra]))


def transition_matrix(
    before: pd.Series, after: pd.Series, *, absent: str = "absent"
) -> Transitions:
    """Transition matrix of group membership between two dates.

    Parameters
    ----------
    before, after
        Group label of each customer at the first and the second date, indexed by
        customer id.
    absent
        Label of the row for customers only in ``after`` and of the column for customers
        only in ``before``; those appear only when such customers exist.

    Returns
    -------
    Transitions
        ``counts``, row ``shares`` and ``overall_shares``; rows are the groups at the
        first date, columns at the second, every group of either side (categories of a
        categorical included) in both.

    Examples
    --------
    >>> import pandas as pd
    >>> then = pd.Series({"a": "loyal", "b": "loyal", "c": "lost"})
    >>> now = pd.Series({"a": "loyal", "b": "lost", "d": "new"})
    >>> transition_matrix(then, now).counts.to_dict("index")
    {'lost': {'lost': 0, 'loyal': 0, 'new': 0, 'absent': 1}, \
'loyal': {'lost': 1, 'loyal': 1, 'new': 0, 'absent': 0}, \
'new': {'lost': 0, 'loyal': 0, 'new': 0, 'absent': 0}, \
'absent': {'lost': 0, 'loyal': 0, 'new': 1, 'absent': 0}}
    """
    before = _labels(before, name="before")
    after = _labels(after, name="after")
    groups = _order(before, after)
    if absent in groups:
        msg = f"absent={absent!r} is also a group label; pass another absent= label"
        raise ValidationError(msg)
    customers = before.index.union(after.index)
    start = before.astype(object).reindex(customers)
    end = after.astype(object).reindex(customers)
    rows = [*groups, absent] if end.notna().to_numpy()[start.isna().to_numpy()].any() else groups
    columns = [*groups, absent] if start.notna().to_numpy()[end.isna().to_numpy()].any() else groups
    row_position = {label: i for i, label in enumerate(rows)}
    column_position = {label: i for i, label in enumerate(columns)}
    row_codes = start.fillna(absent).map(row_position).to_numpy(dtype=np.int64)
    column_codes = end.fillna(absent).map(column_position).to_numpy(dtype=np.int64)
    flat = np.bincount(row_codes * len(columns) + column_codes, minlength=len(rows) * len(columns))
    counts = pd.DataFrame(
        flat.reshape(len(rows), len(columns)),
        index=pd.Index(rows, name="from"),
        columns=pd.Index(columns, name="to"),
    )
    counts.attrs = {"absent": absent}
    totals = counts.sum(axis=1).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts.div(np.where(totals > 0, totals, 1.0), axis=0)
    overall = counts / float(len(customers))
    return Transitions(counts=counts, shares=shares, overall_shares=overall)


def segment_migration(
    transactions: pd.DataFrame,
    *,
    start: object,
    end: object,
    segment_by: Callable[[pd.DataFrame, object], pd.Series],
    absent: str = "absent",
) -> Transitions:
    """Transition matrix of a segmenting function evaluated at two dates.

    Parameters
    ----------
    transactions
        Purchases, passed unchanged to ``segment_by``.
    start, end
        The two ``as_of`` dates (``start`` before ``end``).
    segment_by
        ``segment_by(transactions, as_of)`` returns group labels indexed by customer id,
        for example
        ``lambda frame, as_of: regularity(frame, as_of=as_of)["regularity"]``.
    absent
        As in :func:`transition_matrix` (customers who first bought after ``start``).

    Returns
    -------
    Transitions
    """
    if pd.Timestamp(start) >= pd.Timestamp(end):  # type: ignore[arg-type]
        msg = f"start ({start}) must be before end ({end})"
        raise ValidationError(msg)
    return transition_matrix(
        segment_by(transactions, start), segment_by(transactions, end), absent=absent
    )
