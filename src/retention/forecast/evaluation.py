"""Calibration/holdout splits and how well a model predicts the holdout period."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from retention._validation import require_columns, require_time_unit
from retention.exceptions import ValidationError

if TYPE_CHECKING:
    from datetime import date, datetime

    from retention.forecast._transaction import TransactionModel

__all__ = ["HoldoutEvaluation", "calibration_and_holdout", "evaluate_holdout"]

_PERIOD_FREQ = {"h": "h", "D": "D", "W": "W", "M": "M"}


def _naive(values: pd.Series, tz: str) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return pd.Series(values.dt.tz_convert(tz).dt.tz_localize(None))
    return values


def _naive_timestamp(value: object, tz: str, *, name: str) -> pd.Timestamp:
    try:
        parsed: object = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        msg = f"{name} must be a date or datetime, got {value!r}"
        raise ValidationError(msg) from error
    if not isinstance(parsed, pd.Timestamp) or pd.isna(parsed):
        msg = f"{name} must be a date or datetime, got {value!r}"
        raise ValidationError(msg)
    stamp = parsed
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(tz).tz_localize(None)
    return stamp


def calibration_and_holdout(
    transactions: pd.DataFrame,
    *,
    calibration_end: datetime | date | str | pd.Timestamp,
    observation_end: datetime | date | str | pd.Timestamp,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = None,
    time_unit: str = "D",
    time_scaler: float = 1.0,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Split transactions at ``calibration_end`` into a calibration summary and holdout counts.

    Customers are those who bought up to ``calibration_end``; the holdout part counts
    their purchases after the calibration end's period, up to ``observation_end``,
    aggregated to periods exactly as the calibration part (DESIGN.md decision 1).

    Parameters
    ----------
    transactions
        One row per purchase.
    calibration_end, observation_end
        End of the calibration part and of the whole observation (naive calendar time, or
        aware and converted to ``tz``, as :func:`retention.rfm_summary` reads them).
    customer_id_col, datetime_col, monetary_value_col
        Column names; with ``monetary_value_col`` the result has the monetary columns.
    time_unit, time_scaler
        Period of aggregation and divisor of the durations, as in
        :func:`retention.rfm_summary`.
    tz
        Zone in which aware datetimes are cut into periods.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id, with ``frequency_cal``, ``recency_cal``, ``T_cal``
        (and ``monetary_value_cal``), ``frequency_holdout`` (purchase periods in the
        holdout, first one included), ``monetary_value_holdout`` (mean per-period spend in
        the holdout, 0 without holdout purchases) and ``duration_holdout``.  ``attrs``
        records ``time_unit``, ``time_scaler``, ``calibration_end`` and ``observation_end``.

    Raises
    ------
    ValidationError
        When the calibration or holdout part is empty or the dates are out of order.
    """
    from retention.summary import rfm_summary  # noqa: PLC0415 - avoids an import cycle

    unit = require_time_unit(time_unit)
    require_columns(
        transactions,
        frame_name="transactions",
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_value_col=monetary_value_col,
    )
    calibration_stamp = _naive_timestamp(calibration_end, tz, name="calibration_end")
    observation_stamp = _naive_timestamp(observation_end, tz, name="observation_end")
    calibration_period = pd.Period(calibration_stamp, freq=_PERIOD_FREQ[unit])
    observation_period = pd.Period(observation_stamp, freq=_PERIOD_FREQ[unit])
    if observation_period <= calibration_period:
        msg = (
            f"observation_end ({observation_stamp}) must fall in a later {unit!r} period than "
            f"calibration_end ({calibration_stamp}); otherwise the holdout part is empty"
        )
        raise ValidationError(msg)
    when = _naive(pd.to_datetime(transactions[datetime_col]), tz)
    holdout_start = (calibration_period + 1).start_time
    in_calibration = when < holdout_start
    if not in_calibration.any():
        msg = f"no purchase falls on or before calibration_end ({calibration_stamp})"
        raise ValidationError(msg)
    calibration = rfm_summary(
        transactions[in_calibration.to_numpy()],
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_value_col=monetary_value_col,
        observation_period_end=calibration_stamp,
        time_unit=unit,
        time_scaler=time_scaler,
        tz=tz,
    )
    holdout_end = (observation_period + 1).start_time
    known = transactions[customer_id_col].isin(calibration.index).to_numpy()
    in_holdout = (when >= holdout_start).to_numpy() & (when < holdout_end).to_numpy() & known
    duration = _periods_between(calibration_period, observation_period) / time_scaler
    result = calibration.rename(columns=lambda column: f"{column}_cal")
    if in_holdout.any():
        holdout = rfm_summary(
            transactions[in_holdout],
            customer_id_col=customer_id_col,
            datetime_col=datetime_col,
            monetary_value_col=monetary_value_col,
            observation_period_end=observation_stamp,
            time_unit=unit,
            time_scaler=time_scaler,
            include_first_transaction=True,
            tz=tz,
        )
        result["frequency_holdout"] = holdout["frequency"].reindex(result.index).fillna(0.0)
        if monetary_value_col is not None:
            spend = holdout["monetary_value"].reindex(result.index).fillna(0.0)
            result["monetary_value_holdout"] = spend
    else:
        result["frequency_holdout"] = 0.0
        if monetary_value_col is not None:
            result["monetary_value_holdout"] = 0.0
    result["duration_holdout"] = float(duration)
    result.attrs = {
        "time_unit": unit,
        "time_scaler": float(time_scaler),
        "calibration_end": calibration_stamp,
        "observation_end": observation_stamp,
    }
    return result


def _periods_between(start: pd.Period, end: pd.Period) -> int:
    offset: Any = end - start
    return int(offset.n)


@attrs.frozen
class HoldoutEvaluation:
    """How a model's predictions for the holdout period compare with what happened.

    Attributes
    ----------
    by_frequency
        Indexed by calibration frequency (the last bucket holds ``max_frequency`` and
        more), with ``customers``, ``actual`` and ``expected`` mean holdout purchases.
    per_customer
        Indexed by customer id, with ``actual`` and ``expected`` holdout purchases.
    total_actual, total_expected
        Holdout purchases over all customers.
    mean_absolute_error, root_mean_squared_error
        Per-customer errors of the expected holdout purchases.
    correlation
        Pearson correlation of expected and actual per-customer purchases (NaN when
        either is constant).
    """

    by_frequency: pd.DataFrame
    per_customer: pd.DataFrame
    total_actual: float
    total_expected: float
    mean_absolute_error: float
    root_mean_squared_error: float
    correlation: float


def evaluate_holdout(
    model: TransactionModel,
    calibration_holdout: pd.DataFrame,
    *,
    max_frequency: int = 7,
) -> HoldoutEvaluation:
    """Compare expected with actual holdout purchases, overall and by calibration frequency.

    Parameters
    ----------
    model
        A transaction model fitted on the calibration part (``frequency_cal``... renamed
        back, or any summary in the same units).
    calibration_holdout
        Output of :func:`calibration_and_holdout`.
    max_frequency
        Calibration frequencies at or above it are pooled in one bucket.

    Returns
    -------
    HoldoutEvaluation
        The comparison tables and error figures.
    """
    require_columns(
        calibration_holdout,
        frame_name="calibration_holdout",
        frequency_col="frequency_cal",
        recency_col="recency_cal",
        T_col="T_cal",
        holdout_col="frequency_holdout",
        duration_col="duration_holdout",
    )
    durations = calibration_holdout["duration_holdout"].unique()
    if len(durations) != 1:
        msg = "calibration_holdout must have one duration_holdout for every customer"
        raise ValidationError(msg)
    expected = model.expected_purchases(
        float(durations[0]),
        calibration_holdout,
        frequency_col="frequency_cal",
        recency_col="recency_cal",
        T_col="T_cal",
    )
    actual = calibration_holdout["frequency_holdout"].astype(np.float64)
    per_customer = pd.DataFrame({"actual": actual, "expected": expected})
    bucket = np.minimum(calibration_holdout["frequency_cal"].to_numpy(), max_frequency)
    grouped = per_customer.groupby(pd.Index(bucket, name="frequency_cal"))
    by_frequency = pd.DataFrame(
        {
            "customers": grouped.size(),
            "actual": grouped["actual"].mean(),
            "expected": grouped["expected"].mean(),
        }
    )
    error = per_customer["expected"] - per_customer["actual"]
    if actual.std() > 0 and expected.std() > 0:
        correlation = float(np.corrcoef(actual, expected)[0, 1])
    else:
        correlation = math.nan
    return HoldoutEvaluation(
        by_frequency=by_frequency,
        per_customer=per_customer,
        total_actual=float(actual.sum()),
        total_expected=float(expected.sum()),
        mean_absolute_error=float(error.abs().mean()),
        root_mean_squared_error=float(np.sqrt((error**2).mean())),
        correlation=correlation,
    )
