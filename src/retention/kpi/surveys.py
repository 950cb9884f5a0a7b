"""Survey KPIs: Net Promoter Score and the Customer Satisfaction Index, with intervals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from retention._validation import require_columns
from retention.exceptions import ValidationError
from retention.kpi._frame import (
    as_timestamp,
    normalise_datetimes,
    period_index,
    period_ordinals,
    require_period,
    require_positive,
)

if TYPE_CHECKING:
    from datetime import date, datetime

__all__ = ["csi", "nps"]


def _confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, float | int):
        msg = f"confidence must be a number between 0 and 1, got {confidence!r}"
        raise ValidationError(msg)
    if not 0 < confidence < 1:
        msg = f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}"
        raise ValidationError(msg)
    return float(confidence)


def _group_keys(
    responses: pd.DataFrame,
    *,
    as_of: datetime | date,
    period: str | None,
    datetime_col: str,
    by: Sequence[str],
    tz: str | None,
) -> tuple[pd.DataFrame, list[str]]:
    """Rows up to ``as_of`` with an ``ordinal`` column when ``period`` is given."""
    if period is None and datetime_col not in responses.columns:
        return responses, list(by)
    require_columns(responses, frame_name="responses", datetime_col=datetime_col)
    aware = isinstance(responses[datetime_col].dtype, pd.DatetimeTZDtype)
    at = normalise_datetimes(responses[datetime_col], column=datetime_col, tz=tz)
    cutoff = as_timestamp(as_of, name="as_of", column_is_aware=aware, tz=tz)
    kept = responses[(at <= cutoff).to_numpy()]
    if period is None:
        return kept, list(by)
    period = require_period(period)
    kept = kept.assign(_ordinal=period_ordinals(at[(at <= cutoff).to_numpy()], period))
    return kept, ["_ordinal", *by]


def _finish(result: pd.DataFrame, period: str | None) -> pd.DataFrame:
    frame = result.reset_index()
    if "_ordinal" in frame.columns and period is not None:
        frame.insert(0, "period", period_index(frame.pop("_ordinal").to_numpy(), period))
    elif "index" in frame.columns:
        frame = frame.drop(columns="index")
    return frame


def nps(
    responses: pd.DataFrame,
    *,
    as_of: datetime | date,
    score_col: str = "score",
    datetime_col: str = "answered_at",
    period: str | None = None,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    tz: str | None = None,
) -> pd.DataFrame:
    """Net Promoter Score with a confidence interval.

    Definitions
    -----------
    Each response is a score 0..10 to "how likely are you to recommend us".  Promoters
    answer 9 or 10, detractors 0 to 6, passives 7 or 8.  With ``n`` responses,
    ``p = promoters / n`` and ``d = detractors / n``:

    * ``nps = 100 * (p - d)`` (from -100 to 100);
    * the responses are multinomial, so the variance of ``p - d`` is
      ``(p + d - (p - d) ** 2) / n`` and ``standard_error = 100 * sqrt(that)``;
    * ``ci_low``/``ci_high`` = ``nps -/+ z * standard_error`` with ``z`` the normal
      quantile of ``confidence`` (two-sided), clipped to [-100, 100].

    Parameters
    ----------
    responses
        One row per answer.
    as_of
        Answers after it are ignored (only checked when the datetime column exists).
    score_col
        Integer scores 0..10.
    datetime_col
        When of the answer; needed with ``period``.
    period
        ``None`` (one figure up to ``as_of``) or ``"D"``, ``"W"``, ``"M"``, ``"Q"``, ``"Y"``.
    by
        Column(s) to break the score down by (touchpoint, store, segment...).
    confidence
        Two-sided confidence level of the interval.
    tz
        Zone aware datetimes are converted to (default UTC).

    Returns
    -------
    pandas.DataFrame
        Columns ``period`` (with ``period``), the ``by`` columns, ``responses``,
        ``promoters``, ``passives``, ``detractors``, ``nps``, ``standard_error``,
        ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> import pandas as pd
    >>> from datetime import date
    >>> answers = pd.DataFrame({"score": [10, 9, 8, 6, 10]})
    >>> float(nps(answers, as_of=date(2024, 1, 31))["nps"].iloc[0])
    40.0
    """
    level = _confidence(confidence)
    by_cols = [by] if isinstance(by, str) else list(by or [])
    require_columns(responses, frame_name="responses", score_col=score_col)
    require_columns(
        responses, frame_name="responses", **{f"by[{i}]": c for i, c in enumerate(by_cols)}
    )
    rows, keys = _group_keys(
        responses, as_of=as_of, period=period, datetime_col=datetime_col, by=by_cols, tz=tz
    )
    scores = rows[score_col]
    if not pd.api.types.is_numeric_dtype(scores.dtype) or pd.api.types.is_bool_dtype(scores.dtype):
        msg = f"column {score_col!r} (score_col) must hold numbers 0..10, got dtype {scores.dtype}"
        raise ValidationError(msg)
    values = scores.to_numpy(dtype=np.float64, na_value=np.nan)
    valid = ~np.isnan(values)
    if ((values[valid] < 0) | (values[valid] > 10) | (values[valid] % 1 != 0)).any():
        msg = f"column {score_col!r} (score_col) must hold whole numbers from 0 to 10"
        raise ValidationError(msg)
    if not valid.all():
        msg = (
            f"column {score_col!r} (score_col) has {int((~valid).sum())} missing scores; "
            "drop unanswered rows first"
        )
        raise ValidationError(msg)
    frame = pd.DataFrame(
        {
            "promoters": values >= 9,
            "passives": (values >= 7) & (values <= 8),
            "detractors": values <= 6,
        },
        index=rows.index,
    )
    for key in keys:
        frame[key] = rows[key].to_numpy()
    if keys:
        grouped = frame.groupby(keys, sort=True)
        counts = grouped[["promoters", "passives", "detractors"]].sum()
        counts.insert(0, "responses", grouped.size())
    else:
        counts = pd.DataFrame(
            {
                "responses": [len(frame)],
                "promoters": [int(frame["promoters"].sum())],
                "passives": [int(frame["passives"].sum())],
                "detractors": [int(frame["detractors"].sum())],
            }
        )
    counts = counts.astype(np.int64)
    n = counts["responses"].astype(np.float64).where(counts["responses"] > 0)
    p = counts["promoters"] / n
    d = counts["detractors"] / n
    score = 100 * (p - d)
    standard_error = 100 * np.sqrt((p + d - (p - d) ** 2) / n)
    z = float(stats.norm.ppf(0.5 + level / 2))
    counts["nps"] = score
    counts["standard_error"] = standard_error
    counts["ci_low"] = (score - z * standard_error).clip(lower=-100)
    counts["ci_high"] = (score + z * standard_error).clip(upper=100)
    result = _finish(counts, period)
    result.attrs = {"confidence": level}
    return result


def _ratings(rows: pd.DataFrame, names: list[str], low: float, high: float) -> np.ndarray:
    """Return the rated attributes as a float matrix (NaN = not rated), on the scale."""
    ratings = np.empty((len(rows), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        column = rows[name]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(
            column.dtype
        ):
            msg = f"column {name!r} (a rated attribute) must be numeric, got dtype {column.dtype}"
            raise ValidationError(msg)
        ratings[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    rated = ~np.isnan(ratings)
    if ((ratings[rated] < low) | (ratings[rated] > high)).any():
        msg = f"ratings must lie on the scale {low:g}..{high:g}; check columns {names}"
        raise ValidationError(msg)
    return ratings


def csi(
    responses: pd.DataFrame,
    *,
    as_of: datetime | date,
    weights: Mapping[str, float],
    scale: tuple[float, float] = (1.0, 5.0),
    datetime_col: str = "answered_at",
    period: str | None = None,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    tz: str | None = None,
) -> pd.DataFrame:
    """Compute the Customer Satisfaction Index (weighted satisfaction) with a CI.

    Definitions
    -----------
    Each response rates some attributes (one column per attribute, on ``scale``, e.g.
    1..5; a missing value means "not rated").  With importance ``weights`` ``w_a``:

    * each rating is put on 0..100: ``s_a = 100 * (rating - low) / (high - low)``;
    * a respondent's index is the weighted mean over the attributes *they rated*:
      ``sum(w_a * s_a) / sum(w_a)`` over those attributes (respondents who rated none are
      left out);
    * ``csi`` is the mean of the respondents' indices; the interval is Student's t
      interval of that mean: ``csi -/+ t(n - 1) * sd / sqrt(n)`` (NaN for one respondent);
    * ``attribute_<name>`` columns give each attribute's mean score on 0..100.

    Parameters
    ----------
    responses
        One row per respondent, one column per attribute.
    as_of
        Answers after it are ignored (only checked when the datetime column exists).
    weights
        Attribute column -> importance (positive; they need not sum to 1).
    scale
        Lowest and highest possible rating.
    datetime_col, period, by, confidence, tz
        As in :func:`nps`.

    Returns
    -------
    pandas.DataFrame
        Columns ``period`` (with ``period``), the ``by`` columns, ``respondents``,
        ``csi``, ``standard_error``, ``ci_low``, ``ci_high`` and ``attribute_<name>``.
    """
    level = _confidence(confidence)
    given: object = weights
    if not isinstance(given, Mapping) or not given:
        msg = "weights must map at least one attribute column to its importance"
        raise ValidationError(msg)
    low, high = (float(scale[0]), float(scale[1]))
    if not high > low:
        msg = f"scale must be (lowest, highest) with highest > lowest, got {scale!r}"
        raise ValidationError(msg)
    by_cols = [by] if isinstance(by, str) else list(by or [])
    require_columns(
        responses,
        frame_name="responses",
        **{f"weights[{name!r}]": str(name) for name in weights},
        **{f"by[{i}]": c for i, c in enumerate(by_cols)},
    )
    for name, weight in weights.items():
        require_positive(weight, name=f"the weight of attribute {name!r}")
    rows, keys = _group_keys(
        responses, as_of=as_of, period=period, datetime_col=datetime_col, by=by_cols, tz=tz
    )
    names = [str(name) for name in weights]
    ratings = _ratings(rows, names, low, high)
    rated = ~np.isnan(ratings)
    scores = 100 * (ratings - low) / (high - low)
    w = np.array([float(weights[name]) for name in weights], dtype=np.float64)
    weight_sum = (rated * w).sum(axis=1)
    index_values = np.where(rated, scores * w, 0.0).sum(axis=1) / np.where(
        weight_sum > 0, weight_sum, np.nan
    )
    frame = pd.DataFrame({"index": index_values}, index=rows.index)
    for j, name in enumerate(names):
        frame[f"attribute_{name}"] = scores[:, j]
    for key in keys:
        frame[key] = rows[key].to_numpy()
    frame = frame[~np.isnan(index_values)]
    if keys:
        grouped = frame.groupby(keys, sort=True)
        result = pd.DataFrame(
            {
                "respondents": grouped.size(),
                "csi": grouped["index"].mean(),
                "_sd": grouped["index"].std(ddof=1),
            }
        )
        attributes = grouped[[f"attribute_{name}" for name in names]].mean()
        result = result.join(attributes)
    else:
        result = pd.DataFrame(
            {
                "respondents": [len(frame)],
                "csi": [frame["index"].mean() if len(frame) else np.nan],
                "_sd": [frame["index"].std(ddof=1) if len(frame) > 1 else np.nan],
                **{f"attribute_{n}": [frame[f"attribute_{n}"].mean()] for n in names},
            }
        )
    n = result["respondents"].astype(np.float64)
    standard_error: pd.Series = result.pop("_sd") / np.sqrt(n)
    t = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
    t = np.where(n > 1, t, np.nan)
    result.insert(2, "standard_error", standard_error)
    result.insert(3, "ci_low", result["csi"] - t * standard_error)
    result.insert(4, "ci_high", result["csi"] + t * standard_error)
    result["respondents"] = result["respondents"].astype(np.int64)
    out = _finish(result, period)
    out.attrs = {"confidence": level, "scale": (low, high)}
    return out
