r"""REGULAR / PERIODIC / ERRATIC / ONE_TIME: the field's four-way split by regularity.

Every customer gets exactly one group, decided from the repurchase-cycle statistics of
:func:`~retention.segmentation.repurchase_cycles`:

1. ``ONE_TIME``: one purchase period (two purchases on the same day are one period with
   ``time_unit="D"``).
2. ``ERRATIC``: a repeat buyer with fewer than ``min_intervals`` intervals (too few to
   tell a cycle from chance), or whose dispersion exceeds ``max_periodic_dispersion``.
3. ``REGULAR``: at least ``min_intervals`` intervals and dispersion at most
   ``max_regular_dispersion``.
4. ``PERIODIC``: at least ``min_intervals`` intervals, dispersion above
   ``max_regular_dispersion`` (buys repeatedly, but the intervals vary a lot).

The dispersion is the robust coefficient of variation, 1.4826 x MAD / median of the
intervals, by default (``dispersion="cv"`` uses standard deviation / mean).  The robust
form keeps one long pause from turning a monthly buyer into a PERIODIC one.  Defaults and
why:

- ``min_intervals=3`` (four purchases): with one or two intervals a dispersion is one
  difference and says nothing about a cycle.
- ``max_regular_dispersion=0.5``: a gamma renewal process of shape *k* has CV
  :math:`1/\sqrt{k}`; 0.5 is shape 4, clearly more regular than purchases at random
  times (a Poisson process has CV 1, and robust CV about 1.03).
- ``max_periodic_dispersion=inf``: every repeat buyer with enough intervals is REGULAR or
  PERIODIC; set it (for example to 2.0) to call extremely dispersed buyers ERRATIC.

A customer is ``lapsed`` when the periods since the last purchase exceed
``lapse_factor`` (default 2) times the shrunk ``cycle``; one-time buyers are measured
against their peers' cycle.
"""

from __future__ import annotations

import enum
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retention._validation import require_columns
from retention.exceptions import ValidationError
from retention.segmentation._common import require_count, require_positive
from retention.segmentation.cycle import repurchase_cycles

if TYPE_CHECKING:
    from retention.history import PurchaseHistory

__all__ = ["Regularity", "classify_regularity", "regularity"]


class Regularity(enum.StrEnum):
    """The four regularity groups; values are the strings stored in result frames."""

    REGULAR = "REGULAR"
    """Buys on a stable cycle; the cycle predicts the next purchase well."""
    PERIODIC = "PERIODIC"
    """Buys repeatedly, but the intervals vary a lot."""
    ERRATIC = "ERRATIC"
    """A few purchases with no usable cycle."""
    ONE_TIME = "ONE_TIME"
    """Bought once and never came back."""


_DISPERSIONS = {"robust_cv": "robust_cv", "cv": "cv"}

#: Ordered categories of the ``regularity`` column.
REGULARITY_DTYPE = pd.CategoricalDtype([str(group) for group in Regularity], ordered=False)


def classify_regularity(
    cycles: pd.DataFrame,
    *,
    min_intervals: int = 3,
    max_regular_dispersion: float = 0.5,
    max_periodic_dispersion: float = math.inf,
    dispersion: str = "robust_cv",
    lapse_factor: float = 2.0,
) -> pd.DataFrame:
    """Assign each row of a :func:`repurchase_cycles` frame one :class:`Regularity` group.

    Parameters
    ----------
    cycles
        The result of :func:`~retention.segmentation.repurchase_cycles` (per customer or
        per customer and category).
    min_intervals
        Fewest intervals (purchases - 1) for REGULAR or PERIODIC; default 3.
    max_regular_dispersion
        Highest dispersion of a REGULAR customer; default 0.5.
    max_periodic_dispersion
        Highest dispersion of a PERIODIC customer; above it ERRATIC.  Default infinity.
    dispersion
        ``"robust_cv"`` (1.4826 x MAD / median, default) or ``"cv"`` (std / mean).
    lapse_factor
        ``lapsed`` when ``periods_since_last > lapse_factor * cycle``; default 2.

    Returns
    -------
    pandas.DataFrame
        ``cycles`` with three more columns: ``regularity`` (categorical of the
        :class:`Regularity` values), ``dispersion`` (the statistic that decided, NaN
        below two intervals) and ``lapsed`` (bool).  ``attrs`` gains the thresholds used.

    Raises
    ------
    SchemaError
        ``cycles`` lacks a column of :func:`repurchase_cycles`.
    ValidationError
        A threshold is out of range.
    """
    min_intervals = require_count(min_intervals, name="min_intervals", minimum=1)
    regular = require_positive(max_regular_dispersion, name="max_regular_dispersion")
    periodic = require_positive(
        max_periodic_dispersion, name="max_periodic_dispersion", allow_inf=True
    )
    if periodic < regular:
        msg = (
            f"max_periodic_dispersion ({periodic}) must be at least max_regular_dispersion "
            f"({regular})"
        )
        raise ValidationError(msg)
    if dispersion not in _DISPERSIONS:
        msg = f"dispersion must be 'robust_cv' or 'cv', got {dispersion!r}"
        raise ValidationError(msg)
    lapse = require_positive(lapse_factor, name="lapse_factor")
    require_columns(
        cycles,
        frame_name="cycles",
        purchases="purchases",
        intervals="intervals",
        cycle="cycle",
        periods_since_last="periods_since_last",
        dispersion=_DISPERSIONS[dispersion],
    )
    intervals = cycles["intervals"].to_numpy(dtype=np.int64)
    spread = cycles[_DISPERSIONS[dispersion]].to_numpy(dtype=np.float64)
    enough = intervals >= min_intervals
    with np.errstate(invalid="ignore"):
        is_regular = enough & (spread <= regular)
        is_erratic_spread = enough & (spread > periodic)
    # codes follow REGULARITY_DTYPE: REGULAR, PERIODIC, ERRATIC, ONE_TIME
    codes = np.where(
        intervals == 0,
        3,
        np.where(~enough | is_erratic_spread, 2, np.where(is_regular, 0, 1)),
    ).astype(np.int8)
    cycle = cycles["cycle"].to_numpy(dtype=np.float64)
    since = cycles["periods_since_last"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lapsed = since > lapse * cycle
    result = cycles.copy(deep=False)  # new columns only: the input stays untouched
    result["regularity"] = pd.Categorical.from_codes(codes, dtype=REGULARITY_DTYPE)
    result["dispersion"] = np.where(intervals >= 2, spread, np.nan)
    result["lapsed"] = lapsed
    result.attrs = {
        **cycles.attrs,
        "regularity_thresholds": {
            "min_intervals": min_intervals,
            "max_regular_dispersion": regular,
            "max_periodic_dispersion": periodic,
            "dispersion": dispersion,
            "lapse_factor": lapse,
        },
    }
    return result


def regularity(
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
    min_intervals: int = 3,
    max_regular_dispersion: float = 0.5,
    max_periodic_dispersion: float = math.inf,
    dispersion: str = "robust_cv",
    lapse_factor: float = 2.0,
    interval_level: float = 0.8,
    min_peers: int = 30,
    kind_col: str | None = "kind",
    refund_of_col: str | None = "refund_of",
) -> pd.DataFrame:
    r"""REGULAR / PERIODIC / ERRATIC / ONE_TIME for every customer of a transactions frame.

    Shorthand for ``classify_regularity(repurchase_cycles(transactions, ...), ...)``; see
    the module docstring for the rules and the defaults.

    Parameters
    ----------
    transactions, as_of, customer_id_col, datetime_col, monetary_value_col, category_col, \
peer_groups, time_unit, tz, interval_level, min_peers, kind_col, refund_of_col
        As in :func:`~retention.segmentation.repurchase_cycles`.
    min_intervals, max_regular_dispersion, max_periodic_dispersion, dispersion, lapse_factor
        As in :func:`classify_regularity`.

    Returns
    -------
    pandas.DataFrame
        The cycle statistics plus ``regularity``, ``dispersion`` and ``lapsed``, one row
        per customer (or customer and category).

    Examples
    --------
    >>> import pandas as pd
    >>> purchases = pd.DataFrame({
    ...     "customer_id": ["a"] * 5 + ["b", "b", "c"],
    ...     "date": pd.to_datetime(["2024-01-01", "2024-01-31", "2024-03-01", "2024-03-31",
    ...                             "2024-04-30", "2024-01-05", "2024-02-20", "2024-03-03"]),
    ... })
    >>> groups = regularity(purchases, as_of="2024-05-15")
    >>> groups["regularity"].tolist()
    ['REGULAR', 'ERRATIC', 'ONE_TIME']
    """
    cycles = repurchase_cycles(
        transactions,
        as_of=as_of,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_value_col=monetary_value_col,
        category_col=category_col,
        peer_groups=peer_groups,
        time_unit=time_unit,
        tz=tz,
        interval_level=interval_level,
        min_peers=min_peers,
        kind_col=kind_col,
        refund_of_col=refund_of_col,
    )
    return classify_regularity(
        cycles,
        min_intervals=min_intervals,
        max_regular_dispersion=max_regular_dispersion,
        max_periodic_dispersion=max_periodic_dispersion,
        dispersion=dispersion,
        lapse_factor=lapse_factor,
    )
