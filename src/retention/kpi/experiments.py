"""Experiments: design, analysis, campaign ROI, and the one-hypothesis-at-a-time guard.

Design
    :func:`assign_groups` splits customers into control and treatment, completely at
    random or stratified by segment, reproducibly from a seed.
    :func:`sample_size_proportions`, :func:`sample_size_means`,
    :func:`minimum_detectable_effect_proportions` and
    :func:`minimum_detectable_effect_means` size a test before it starts.
Analysis
    :func:`proportion_test` (conversion: two-proportion z test and interval),
    :func:`revenue_test` (revenue per customer: Welch's t test and a seeded bootstrap
    interval), both per segment with ``by``; :func:`campaign_roi` per campaign and channel.
The guard
    :class:`ExperimentRegistry` records each :class:`Experiment` (hypothesis, KPI,
    audience, dates) and refuses to start one whose audience overlaps a running
    experiment on the same KPI, unless the two are declared independent.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import TYPE_CHECKING

import attrs
import numpy as np
import pandas as pd
from scipy import optimize, stats

from retention._validation import describe_ids, require_columns
from retention.exceptions import NotFoundError, ValidationError
from retention.kpi._frame import check_single_currency

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "Experiment",
    "ExperimentRegistry",
    "SampleSize",
    "assign_groups",
    "campaign_roi",
    "minimum_detectable_effect_means",
    "minimum_detectable_effect_proportions",
    "proportion_test",
    "revenue_test",
    "sample_size_means",
    "sample_size_proportions",
]

CONTROL = "control"
TREATMENT = "treatment"


# ----------------------------------------------------------------------------- design


def _share(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        msg = f"{name} must be a number strictly between 0 and 1, got {value!r}"
        raise ValidationError(msg)
    return float(value)


def assign_groups(
    customers: pd.DataFrame,
    *,
    seed: int,
    control_share: float = 0.5,
    strata_col: str | None = None,
    customer_id_col: str = "customer_id",
) -> pd.DataFrame:
    """Assign customers to ``"control"`` or ``"treatment"``, reproducibly.

    Complete randomisation: within each stratum (the whole audience without
    ``strata_col``) exactly ``round(control_share * n)`` customers (half rounded up) go
    to control, chosen uniformly at random.  The draw depends only on ``seed`` and the
    set of customer ids (ids are sorted first), not on the row order.

    Parameters
    ----------
    customers
        One row per customer of the audience.
    seed
        Seed of :func:`numpy.random.default_rng`.
    control_share
        Share of each stratum held out as control (0 < share < 1).
    strata_col
        Column to stratify by (segment, region...); ``None`` for a simple random split.
    customer_id_col
        Customer id column.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (input order), column ``group`` and, when stratified,
        the stratum column.

    Examples
    --------
    >>> import pandas as pd
    >>> audience = pd.DataFrame({"customer_id": ["a", "b", "c", "d"]})
    >>> assign_groups(audience, seed=1)["group"].value_counts().to_dict()
    {'control': 2, 'treatment': 2}
    """
    share = _share(control_share, "control_share")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        msg = f"seed must be an integer, got {seed!r}"
        raise ValidationError(msg)
    require_columns(
        customers, frame_name="customers", customer_id_col=customer_id_col, strata_col=strata_col
    )
    ids = customers[customer_id_col]
    if ids.isna().any():
        msg = f"column {customer_id_col!r} (customer_id_col) has missing customer ids"
        raise ValidationError(msg)
    if ids.duplicated().any():
        dupes = ids[ids.duplicated()].astype(str).unique().tolist()
        msg = (
            f"column {customer_id_col!r} (customer_id_col) lists customers more than once "
            f"({describe_ids(dupes)}); pass each customer once"
        )
        raise ValidationError(msg)
    strata = (
        customers[strata_col].to_numpy()
        if strata_col is not None
        else np.zeros(len(customers), dtype=np.int64)
    )
    if strata_col is not None and customers[strata_col].isna().any():
        msg = f"column {strata_col!r} (strata_col) has missing strata; fill them first"
        raise ValidationError(msg)
    order = np.argsort(ids.astype(str).to_numpy(), kind="stable")
    keys = np.empty(len(ids), dtype=np.float64)
    keys[order] = np.random.default_rng(int(seed)).random(len(ids))
    frame = pd.DataFrame({"stratum": strata, "key": keys})
    rank = frame.groupby("stratum", sort=False)["key"].rank(method="first").to_numpy() - 1
    size = frame.groupby("stratum", sort=False)["key"].transform("size").to_numpy()
    n_control = np.floor(share * size + 0.5)
    groups = np.where(rank < n_control, CONTROL, TREATMENT)
    result = pd.DataFrame({"group": groups}, index=pd.Index(ids.to_numpy(), name=customer_id_col))
    if strata_col is not None:
        result[strata_col] = strata
    result["group"] = result["group"].astype(str)
    return result


@attrs.frozen
class SampleSize:
    """Customers needed per group.

    Attributes
    ----------
    control, treatment
        Customers in each group (rounded up).
    """

    control: int
    treatment: int

    @property
    def total(self) -> int:
        """Customers in both groups."""
        return self.control + self.treatment


def _z(alpha: float, power: float) -> tuple[float, float]:
    a = _share(alpha, "alpha")
    b = _share(power, "power")
    return float(stats.norm.ppf(1 - a / 2)), float(stats.norm.ppf(b))


def sample_size_proportions(
    baseline: float,
    minimum_effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    control_share: float = 0.5,
) -> SampleSize:
    """Sample size of a two-sided two-proportion z test.

    Definition: with control share ``c`` and treatment share ``t = 1 - c`` of ``N``
    customers, baseline conversion ``p1``, ``p2 = p1 + minimum_effect`` (an absolute
    difference) and ``p = c p1 + t p2``,
    ``N = (z(1-alpha/2) sqrt(p (1-p) (1/c + 1/t)) + z(power) sqrt(p1 (1-p1)/c + p2 (1-p2)/t))^2
    / minimum_effect^2``; each group gets its share of ``N``, rounded up.  With equal
    groups this is the classic pooled-variance formula (Fleiss).

    Examples
    --------
    >>> sample_size_proportions(0.10, 0.02)
    SampleSize(control=3841, treatment=3841)
    """
    p1 = _share(baseline, "baseline")
    p2 = p1 + float(minimum_effect)
    if minimum_effect == 0 or not 0 < p2 < 1:
        msg = (
            "minimum_effect must be a non-zero absolute difference that keeps "
            f"baseline + minimum_effect inside (0, 1); got {minimum_effect!r}"
        )
        raise ValidationError(msg)
    c = _share(control_share, "control_share")
    t = 1 - c
    za, zb = _z(alpha, power)
    pbar = c * p1 + t * p2
    root = za * math.sqrt(pbar * (1 - pbar) * (1 / c + 1 / t)) + zb * math.sqrt(
        p1 * (1 - p1) / c + p2 * (1 - p2) / t
    )
    total = root**2 / (p2 - p1) ** 2
    return SampleSize(control=math.ceil(total * c - 1e-9), treatment=math.ceil(total * t - 1e-9))


def sample_size_means(
    standard_deviation: float,
    minimum_effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    control_share: float = 0.5,
) -> SampleSize:
    """Sample size of a two-sided test of a difference in means (revenue per customer).

    Definition: ``N = (z(1-alpha/2) + z(power))^2 sigma^2 (1/c + 1/t) / minimum_effect^2``
    with ``sigma`` the standard deviation of the metric per customer and ``c``/``t`` the
    control/treatment shares; each group gets its share, rounded up.

    Examples
    --------
    >>> sample_size_means(20.0, 2.0)
    SampleSize(control=1570, treatment=1570)
    """
    sigma = float(standard_deviation)
    if not sigma > 0 or minimum_effect == 0:
        msg = "standard_deviation must be positive and minimum_effect non-zero"
        raise ValidationError(msg)
    c = _share(control_share, "control_share")
    t = 1 - c
    za, zb = _z(alpha, power)
    total = (za + zb) ** 2 * sigma**2 * (1 / c + 1 / t) / float(minimum_effect) ** 2
    return SampleSize(control=math.ceil(total * c - 1e-9), treatment=math.ceil(total * t - 1e-9))


def _positive_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 2:
        msg = f"{name} must be an integer of at least 2, got {value!r}"
        raise ValidationError(msg)
    return int(value)


def minimum_detectable_effect_means(
    standard_deviation: float,
    n_control: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Smallest difference in means a test of this size detects with ``power``.

    Definition: ``(z(1-alpha/2) + z(power)) * sigma * sqrt(1/n_control + 1/n_treatment)``.

    Examples
    --------
    >>> round(minimum_detectable_effect_means(20.0, 1570, 1570), 3)
    2.0
    """
    sigma = float(standard_deviation)
    if not sigma > 0:
        msg = "standard_deviation must be positive"
        raise ValidationError(msg)
    nc = _positive_count(n_control, "n_control")
    nt = _positive_count(n_treatment, "n_treatment")
    za, zb = _z(alpha, power)
    return (za + zb) * sigma * math.sqrt(1 / nc + 1 / nt)


def minimum_detectable_effect_proportions(
    baseline: float,
    n_control: int,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Smallest absolute uplift over ``baseline`` a two-proportion test of this size detects.

    Definition: the positive ``d`` that solves the equation of
    :func:`sample_size_proportions` for the given group sizes (found by root finding).

    Examples
    --------
    >>> round(minimum_detectable_effect_proportions(0.10, 3841, 3841), 4)
    0.02
    """
    p1 = _share(baseline, "baseline")
    nc = _positive_count(n_control, "n_control")
    nt = _positive_count(n_treatment, "n_treatment")
    za, zb = _z(alpha, power)

    def gap(d: float) -> float:
        p2 = p1 + d
        pbar = (nc * p1 + nt * p2) / (nc + nt)
        se0 = math.sqrt(pbar * (1 - pbar) * (1 / nc + 1 / nt))
        se1 = math.sqrt(p1 * (1 - p1) / nc + p2 * (1 - p2) / nt)
        return d - (za * se0 + zb * se1)

    upper = 1 - p1 - 1e-12
    if gap(upper) < 0:
        msg = "no uplift within (0, 1 - baseline) is detectable with these group sizes"
        raise ValidationError(msg)
    return float(optimize.brentq(gap, 1e-12, upper, xtol=1e-12))


# --------------------------------------------------------------------------- analysis


def _groups(
    outcomes: pd.DataFrame, group_col: str, by: Sequence[str]
) -> tuple[pd.Series, pd.Series]:
    labels = outcomes[group_col]
    bad = ~labels.isin([CONTROL, TREATMENT])
    if bad.any():
        found = sorted({str(v) for v in labels[bad].unique()})
        msg = (
            f"column {group_col!r} (group_col) must hold 'control' or 'treatment'; found "
            f"{describe_ids(found)}"
        )
        raise ValidationError(msg)
    for column in by:
        if outcomes[column].isna().any():
            msg = f"column {column!r} (by) has missing values; fill them first"
            raise ValidationError(msg)
    return labels == CONTROL, labels == TREATMENT


def proportion_test(
    outcomes: pd.DataFrame,
    *,
    converted_col: str = "converted",
    group_col: str = "group",
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Conversion difference between treatment and control: two-proportion z test.

    Definitions
    -----------
    With ``x`` conversions among ``n`` customers per group, ``p = x / n``:

    * ``difference = p_treatment - p_control``; ``relative_lift = difference / p_control``;
    * ``z = difference / sqrt(q (1 - q) (1/n_control + 1/n_treatment))`` with the pooled
      ``q = (x_control + x_treatment) / (n_control + n_treatment)``, and the two-sided
      ``p_value = 2 (1 - Phi(|z|))``;
    * the interval is the Wald interval of the difference:
      ``difference -/+ z(confidence) sqrt(p_c (1-p_c)/n_c + p_t (1-p_t)/n_t)``.

    Parameters
    ----------
    outcomes
        One row per customer in the test: group label and whether they converted
        (bool or 0/1).
    converted_col, group_col
        Column names; groups are ``"control"`` and ``"treatment"``.
    by
        Column(s) for results per segment (one row per segment).
    confidence
        Two-sided level of the interval.

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, ``n_control``, ``n_treatment``, ``conversions_control``,
        ``conversions_treatment``, ``rate_control``, ``rate_treatment``, ``difference``,
        ``ci_low``, ``ci_high``, ``relative_lift``, ``z``, ``p_value``.
    """
    level = _share(confidence, "confidence")
    by_cols = [by] if isinstance(by, str) else list(by or [])
    require_columns(
        outcomes,
        frame_name="outcomes",
        converted_col=converted_col,
        group_col=group_col,
        **{f"by[{i}]": c for i, c in enumerate(by_cols)},
    )
    control, treatment = _groups(outcomes, group_col, by_cols)
    converted = outcomes[converted_col]
    values = (
        converted.to_numpy(dtype=np.float64, na_value=np.nan)
        if (pd.api.types.is_numeric_dtype(converted.dtype))
        else np.full(len(converted), np.nan)
    )
    if np.isnan(values).any() or not np.isin(values, [0.0, 1.0]).all():
        msg = f"column {converted_col!r} (converted_col) must hold booleans or 0/1 without gaps"
        raise ValidationError(msg)
    frame = pd.DataFrame(
        {
            "n_control": control.to_numpy(dtype=np.int64),
            "n_treatment": treatment.to_numpy(dtype=np.int64),
            "conversions_control": (values * control.to_numpy()).astype(np.int64),
            "conversions_treatment": (values * treatment.to_numpy()).astype(np.int64),
        }
    )
    for column in by_cols:
        frame[column] = outcomes[column].to_numpy()
    counts = frame.groupby(by_cols, sort=True).sum() if by_cols else frame.sum().to_frame().T
    counts = counts.astype(np.int64)
    empty = (counts["n_control"] == 0) | (counts["n_treatment"] == 0)
    if empty.any():
        msg = (
            "every segment needs customers in both control and treatment; "
            f"{int(empty.sum())} segment(s) lack one group"
        )
        raise ValidationError(msg)
    nc = counts["n_control"].astype(np.float64)
    nt = counts["n_treatment"].astype(np.float64)
    pc = counts["conversions_control"] / nc
    pt = counts["conversions_treatment"] / nt
    difference = pt - pc
    pooled = (counts["conversions_control"] + counts["conversions_treatment"]) / (nc + nt)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
    z = difference / se0.where(se0 > 0)
    se1 = np.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    q = float(stats.norm.ppf(0.5 + level / 2))
    result = counts.copy()
    result["rate_control"] = pc
    result["rate_treatment"] = pt
    result["difference"] = difference
    result["ci_low"] = difference - q * se1
    result["ci_high"] = difference + q * se1
    result["relative_lift"] = difference / pc.where(pc > 0)
    result["z"] = z
    result["p_value"] = 2 * stats.norm.sf(np.abs(z))
    out = result.reset_index(drop=not by_cols)
    out.attrs = {"confidence": level}
    return out


def _bootstrap_difference(
    control: np.ndarray, treatment: np.ndarray, *, n_bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """Means of ``n_bootstrap`` resamples of treatment minus control (chunked)."""
    out = np.empty(n_bootstrap, dtype=np.float64)
    chunk = max(1, 4_000_000 // max(len(control), len(treatment), 1))
    for start in range(0, n_bootstrap, chunk):
        stop = min(n_bootstrap, start + chunk)
        size = stop - start
        t_idx = rng.integers(0, len(treatment), size=(size, len(treatment)))
        c_idx = rng.integers(0, len(control), size=(size, len(control)))
        out[start:stop] = treatment[t_idx].mean(axis=1) - control[c_idx].mean(axis=1)
    return out


def revenue_test(
    outcomes: pd.DataFrame,
    *,
    seed: int,
    value_col: str = "revenue",
    group_col: str = "group",
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
) -> pd.DataFrame:
    """Revenue per customer, treatment vs control: Welch's t test and a bootstrap interval.

    Definitions
    -----------
    * ``mean_control``, ``mean_treatment``: revenue per customer (customers without a
      purchase count with 0, so pass them); ``difference = mean_treatment - mean_control``;
    * Welch's t test: ``t = difference / sqrt(s_t^2/n_t + s_c^2/n_c)`` with the
      Welch-Satterthwaite degrees of freedom ``df``; two-sided ``p_value``;
      ``ci_low``/``ci_high`` = ``difference -/+ t(df) * standard error``;
    * ``bootstrap_low``/``bootstrap_high``: percentile interval of ``n_bootstrap``
      differences of means of resamples drawn with replacement within each group,
      from ``numpy.random.default_rng(seed)`` (segments use the generator in turn, in
      sorted order, so results are reproducible).

    Parameters
    ----------
    outcomes
        One row per customer in the test: group and revenue in the test window.
    seed
        Seed of the bootstrap.
    value_col, group_col
        Column names.
    by
        Column(s) for results per segment.
    confidence
        Two-sided level of both intervals.
    n_bootstrap
        Bootstrap resamples (at least 100).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, ``n_control``, ``n_treatment``, ``mean_control``,
        ``mean_treatment``, ``difference``, ``standard_error``, ``df``, ``t``,
        ``p_value``, ``ci_low``, ``ci_high``, ``bootstrap_low``, ``bootstrap_high``.
    """
    level = _share(confidence, "confidence")
    count: object = n_bootstrap
    if isinstance(count, bool) or not isinstance(count, int) or count < 100:
        msg = f"n_bootstrap must be an integer of at least 100, got {n_bootstrap!r}"
        raise ValidationError(msg)
    by_cols = [by] if isinstance(by, str) else list(by or [])
    require_columns(
        outcomes,
        frame_name="outcomes",
        value_col=value_col,
        group_col=group_col,
        **{f"by[{i}]": c for i, c in enumerate(by_cols)},
    )
    control, _ = _groups(outcomes, group_col, by_cols)
    column = outcomes[value_col]
    if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        msg = f"column {value_col!r} (value_col) must be numeric, got dtype {column.dtype}"
        raise ValidationError(msg)
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        msg = (
            f"column {value_col!r} (value_col) has missing values; customers without "
            "revenue count with 0"
        )
        raise ValidationError(msg)
    rng = np.random.default_rng(seed)
    # One test per segment: a handful of groups, not a loop over customers.
    segments = outcomes[by_cols].drop_duplicates().sort_values(by_cols)
    keys = segments.itertuples(index=False, name=None) if by_cols else [()]  # few segments
    records = []
    is_control = control.to_numpy()
    for key in keys:
        mask = np.ones(len(outcomes), dtype=bool)
        for name, value in zip(by_cols, key, strict=True):
            mask &= (outcomes[name] == value).to_numpy()
        c = values[mask & is_control]
        t = values[mask & ~is_control]
        if len(c) < 2 or len(t) < 2:
            msg = (
                "each group needs at least two customers per segment for Welch's test; "
                f"segment {dict(zip(by_cols, key, strict=True))} has {len(c)} control and "
                f"{len(t)} treatment"
            )
            raise ValidationError(msg)
        vc, vt = c.var(ddof=1) / len(c), t.var(ddof=1) / len(t)
        se = math.sqrt(vc + vt)
        difference = float(t.mean() - c.mean())
        if se > 0:
            df = (vc + vt) ** 2 / (vc**2 / (len(c) - 1) + vt**2 / (len(t) - 1))
            t_stat = difference / se
            p_value = float(2 * stats.t.sf(abs(t_stat), df))
            half = float(stats.t.ppf(0.5 + level / 2, df)) * se
        else:
            df, t_stat, p_value, half = float("nan"), float("nan"), float("nan"), float("nan")
        boots = _bootstrap_difference(c, t, n_bootstrap=n_bootstrap, rng=rng)
        low, high = np.quantile(boots, [0.5 - level / 2, 0.5 + level / 2])
        records.append(
            {
                **dict(zip(by_cols, key, strict=True)),
                "n_control": len(c),
                "n_treatment": len(t),
                "mean_control": float(c.mean()),
                "mean_treatment": float(t.mean()),
                "difference": difference,
                "standard_error": se,
                "df": df,
                "t": t_stat,
                "p_value": p_value,
                "ci_low": difference - half,
                "ci_high": difference + half,
                "bootstrap_low": float(low),
                "bootstrap_high": float(high),
            }
        )
    result = pd.DataFrame(records)
    result.attrs = {"confidence": level, "n_bootstrap": n_bootstrap, "seed": seed}
    return result


def _roi_numbers(outcomes: pd.DataFrame, columns: dict[str, str | None]) -> dict[str, np.ndarray]:
    """Revenue and cost columns as float arrays (zeros for an unnamed cost column)."""
    numbers: dict[str, np.ndarray] = {}
    for keyword, name in columns.items():
        if name is None:
            numbers[keyword] = np.zeros(len(outcomes))
            continue
        column = outcomes[name]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(
            column.dtype
        ):
            msg = f"column {name!r} ({keyword}) must be numeric, got dtype {column.dtype}"
            raise ValidationError(msg)
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(values).any():
            msg = f"column {name!r} ({keyword}) has missing values; use 0 for none"
            raise ValidationError(msg)
        if keyword != "revenue_col" and (values < 0).any():
            msg = f"column {name!r} ({keyword}) has negative costs"
            raise ValidationError(msg)
        numbers[keyword] = values
    return numbers


def _roi_table(result: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """Add control figures, incremental revenue, cost and ROI to the treated sums."""
    campaign_of = result.index.get_level_values("campaign")
    result["n_control"] = controls["size"].reindex(campaign_of).to_numpy().astype(np.int64)
    result["revenue_per_customer_treatment"] = result["revenue_treatment"] / result["n_treatment"]
    result["revenue_per_customer_control"] = controls["mean"].reindex(campaign_of).to_numpy()
    result["incremental_revenue"] = (
        result["revenue_per_customer_treatment"] - result["revenue_per_customer_control"]
    ) * result["n_treatment"]
    result["cost"] = result["offer_cost"] + result["message_cost"]
    free = result.index[result["cost"] <= 0]
    if len(free):
        names = [str(k) if not isinstance(k, tuple) else "/".join(map(str, k)) for k in free]
        msg = (
            f"campaign ROI is undefined for {describe_ids(names)}: its cost is zero (ROI "
            "would be infinite); record the offer cost (discounts, bonuses) and message costs"
        )
        raise ValidationError(msg)
    result["roi"] = (result["incremental_revenue"] - result["cost"]) / result["cost"]
    columns = [
        "n_treatment",
        "n_control",
        "revenue_treatment",
        "revenue_per_customer_treatment",
        "revenue_per_customer_control",
        "incremental_revenue",
        "offer_cost",
        "message_cost",
        "cost",
        "roi",
    ]
    return result[columns].reset_index()


def campaign_roi(
    outcomes: pd.DataFrame,
    *,
    campaign_col: str = "campaign",
    channel_col: str | None = None,
    group_col: str = "group",
    revenue_col: str = "revenue",
    offer_cost_col: str | None = "offer_cost",
    message_cost_col: str | None = "message_cost",
    currency_col: str | None = None,
) -> pd.DataFrame:
    """Campaign ROI against a control group, per campaign (and channel).

    Definitions
    -----------
    ``outcomes`` has one row per customer of a campaign's audience: the group, the
    revenue in the campaign's attribution window (0 without purchases) and, for treated
    customers, what the campaign cost for them.  Per campaign (and per channel of the
    treated customers, each compared with the campaign's whole control group):

    * ``revenue_per_customer_treatment`` and ``..._control``: mean revenue per customer;
    * ``incremental_revenue = (revenue_per_customer_treatment -
      revenue_per_customer_control) * n_treatment``;
    * ``cost = offer_cost + message_cost`` summed over the treated customers; the offer
      cost is the cost of the offer itself (discounts given, bonuses granted), the message
      cost what sending cost (DESIGN decision 9);
    * ``roi = (incremental_revenue - cost) / cost``.

    Raises
    ------
    ValidationError
        If a campaign has no control group, no treated customers, or a total cost of
        zero (ROI would be infinite: record the offer and message costs), if a control
        row carries a cost, or a column is bad (naming it).
    MixedCurrencyError
        If ``currency_col`` holds more than one currency.

    Returns
    -------
    pandas.DataFrame
        ``campaign`` (and ``channel``), ``n_treatment``, ``n_control``,
        ``revenue_treatment``, ``revenue_per_customer_treatment``,
        ``revenue_per_customer_control``, ``incremental_revenue``, ``offer_cost``,
        ``message_cost``, ``cost``, ``roi``.
    """
    if offer_cost_col is None and message_cost_col is None:
        msg = "name at least one cost column (offer_cost_col or message_cost_col)"
        raise ValidationError(msg)
    require_columns(
        outcomes,
        frame_name="outcomes",
        campaign_col=campaign_col,
        channel_col=channel_col,
        group_col=group_col,
        revenue_col=revenue_col,
        offer_cost_col=offer_cost_col,
        message_cost_col=message_cost_col,
        currency_col=currency_col,
    )
    if currency_col is not None:
        check_single_currency(outcomes[currency_col], column=currency_col)
    control, treatment = _groups(outcomes, group_col, [campaign_col])
    numbers = _roi_numbers(
        outcomes,
        {
            "revenue_col": revenue_col,
            "offer_cost_col": offer_cost_col,
            "message_cost_col": message_cost_col,
        },
    )
    is_control = control.to_numpy()
    costly_control = is_control & ((numbers["offer_cost_col"] + numbers["message_cost_col"]) > 0)
    if costly_control.any():
        msg = (
            "control rows carry offer or message costs; control customers receive nothing, "
            "so their costs must be 0 (check the group column)"
        )
        raise ValidationError(msg)
    frame = pd.DataFrame(
        {
            "campaign": outcomes[campaign_col].to_numpy(),
            "control": is_control,
            "revenue": numbers["revenue_col"],
            "offer_cost": numbers["offer_cost_col"],
            "message_cost": numbers["message_cost_col"],
        }
    )
    controls = frame[is_control].groupby("campaign")["revenue"].agg(["size", "mean"])
    treated = frame[treatment.to_numpy()]
    keys = ["campaign"]
    if channel_col is not None:
        if outcomes[channel_col][treatment].isna().any():
            msg = f"column {channel_col!r} (channel_col) is missing on treated rows"
            raise ValidationError(msg)
        treated = treated.assign(channel=outcomes[channel_col][treatment].to_numpy())
        keys.append("channel")
    grouped = treated.groupby(keys, sort=True)
    result = pd.DataFrame(
        {
            "n_treatment": grouped.size(),
            "revenue_treatment": grouped["revenue"].sum(),
            "offer_cost": grouped["offer_cost"].sum(),
            "message_cost": grouped["message_cost"].sum(),
        }
    )
    campaigns = pd.unique(frame["campaign"])
    no_control = [str(c) for c in campaigns if c not in controls.index]
    no_treatment = [
        str(c) for c in campaigns if c not in set(result.index.get_level_values("campaign"))
    ]
    if no_control or no_treatment:
        msg = (
            "every campaign needs a control group and treated customers; "
            f"without control: {describe_ids(no_control)}; "
            f"without treatment: {describe_ids(no_treatment)}"
        )
        raise ValidationError(msg)
    return _roi_table(result, controls)


# ------------------------------------------------------------------------------ guard


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    msg = f"experiment dates must be dates, got {type(value).__name__}"
    raise ValidationError(msg)


def _non_empty(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        msg = f"an experiment needs a non-empty {attribute.name}"
        raise ValidationError(msg)


def _audience(value: Iterable[object]) -> frozenset[str]:
    if isinstance(value, str):
        msg = "audience must be a collection of customer ids, not one string"
        raise ValidationError(msg)
    return frozenset(str(item) for item in value)


def _names(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset([value])
    return frozenset(value)


@attrs.frozen
class Experiment:
    """One hypothesis under test.

    Attributes
    ----------
    name
        Unique name in the registry.
    hypothesis
        What the change is expected to do ("a 10 % offer on day 25 raises repeat rate").
    kpi
        The KPI it is judged on (compared case-insensitively, e.g. ``"repeat_rate"``).
    audience
        Customer ids the experiment may touch (control and treatment).
    start, end
        First and last day (inclusive).
    independent_of
        Names of experiments declared independent of this one: the guard lets them
        overlap on the same KPI.
    """

    name: str = attrs.field(validator=_non_empty)
    hypothesis: str = attrs.field(validator=_non_empty)
    kpi: str = attrs.field(validator=_non_empty)
    audience: frozenset[str] = attrs.field(converter=_audience)
    start: date = attrs.field(converter=_as_date)
    end: date = attrs.field(converter=_as_date)
    independent_of: frozenset[str] = attrs.field(default=frozenset(), converter=_names)

    def __attrs_post_init__(self) -> None:
        """Check the dates and the audience."""
        if self.end < self.start:
            msg = f"experiment {self.name!r} ends ({self.end}) before it starts ({self.start})"
            raise ValidationError(msg)
        if not self.audience:
            msg = f"experiment {self.name!r} has an empty audience"
            raise ValidationError(msg)

    def overlaps_in_time(self, other: Experiment, *, other_end: date | None = None) -> bool:
        """Whether the two date ranges share a day (``other_end`` overrides ``other.end``)."""
        end = other.end if other_end is None else other_end
        return self.start <= end and other.start <= self.end


@attrs.define
class ExperimentRegistry:
    """In-memory record of experiments enforcing one hypothesis at a time per KPI.

    ``start`` refuses an experiment when a running one (started, not stopped, with
    overlapping dates) is judged on the same KPI and shares at least one audience
    customer, unless either declares the other in ``independent_of``.

    Examples
    --------
    >>> from datetime import date
    >>> registry = ExperimentRegistry()
    >>> first = Experiment(name="day25-offer", hypothesis="offer lifts repeat rate",
    ...     kpi="repeat_rate", audience={"a", "b"}, start=date(2024, 3, 1),
    ...     end=date(2024, 3, 31))
    >>> _ = registry.start(first)
    >>> second = attrs.evolve(first, name="sms-reminder", audience={"b", "c"})
    >>> registry.start(second)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    retention.exceptions.ValidationError: experiment 'sms-reminder' overlaps ...
    """

    _experiments: dict[str, Experiment] = attrs.field(factory=dict, alias="experiments")
    _stopped: dict[str, date] = attrs.field(factory=dict, alias="stopped")

    def conflicts(self, experiment: Experiment) -> list[Experiment]:
        """Return the running experiments that ``experiment`` may not overlap with."""
        kpi = experiment.kpi.strip().casefold()
        found = []
        for other in self._experiments.values():
            if other.name == experiment.name or other.kpi.strip().casefold() != kpi:
                continue
            if other.name in experiment.independent_of or experiment.name in other.independent_of:
                continue
            stopped = self._stopped.get(other.name)
            end = min(other.end, stopped) if stopped is not None else other.end
            if stopped is not None and stopped < other.start:
                continue
            if experiment.overlaps_in_time(other, other_end=end) and not (
                experiment.audience.isdisjoint(other.audience)
            ):
                found.append(other)
        return found

    def start(self, experiment: Experiment) -> Experiment:
        """Record ``experiment`` as running, or refuse it.

        Raises
        ------
        ValidationError
            If the name is taken, or the experiment overlaps a running experiment on the
            same KPI (names it, the KPI and how many customers are shared).
        """
        if experiment.name in self._experiments:
            msg = f"an experiment named {experiment.name!r} is already registered; pick a new name"
            raise ValidationError(msg)
        clashes = self.conflicts(experiment)
        if clashes:
            details = "; ".join(
                f"{other.name!r} ({other.start} to {other.end}, "
                f"{len(experiment.audience & other.audience)} shared customers)"
                for other in clashes
            )
            msg = (
                f"experiment {experiment.name!r} overlaps running experiment(s) on KPI "
                f"{experiment.kpi!r}: {details}. Test one hypothesis at a time: exclude the "
                "shared customers, move the dates, or declare the experiments independent "
                "with independent_of=..."
            )
            raise ValidationError(msg)
        self._experiments[experiment.name] = experiment
        return experiment

    def stop(self, name: str, *, as_of: date) -> None:
        """Stop experiment ``name`` on ``as_of`` (it runs no more after that day).

        Raises
        ------
        NotFoundError
            If no experiment has this name.
        """
        self.get(name)
        self._stopped[name] = _as_date(as_of)

    def get(self, name: str) -> Experiment:
        """Return the experiment called ``name``.

        Raises
        ------
        NotFoundError
            If no experiment has this name.
        """
        try:
            return self._experiments[name]
        except KeyError:
            known = describe_ids(sorted(self._experiments))
            msg = f"no experiment named {name!r}; registered: {known}"
            raise NotFoundError(msg) from None

    def running(self, *, as_of: date) -> list[Experiment]:
        """Experiments running on day ``as_of`` (started, within dates, not stopped)."""
        day = _as_date(as_of)
        return [
            experiment
            for experiment in self._experiments.values()
            if experiment.start <= day <= experiment.end
            and (experiment.name not in self._stopped or day <= self._stopped[experiment.name])
        ]

    def stopped_on(self, name: str) -> date | None:
        """Return the day ``name`` was stopped, or ``None``."""
        self.get(name)
        return self._stopped.get(name)

    def __iter__(self) -> Iterator[Experiment]:
        """Every registered experiment in start order."""
        return iter(list(self._experiments.values()))

    def __len__(self) -> int:
        """Return the number of registered experiments."""
        return len(self._experiments)

    def __contains__(self, name: object) -> bool:
        """Whether an experiment of that name is registered."""
        return name in self._experiments
