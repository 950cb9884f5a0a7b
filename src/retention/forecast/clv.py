"""Discounted customer lifetime value from a purchase model and a spend model."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retention._validation import require_time_unit
from retention.exceptions import ValidationError
from retention.forecast._transaction import TransactionModel
from retention.forecast.gammagamma import GammaGammaModel

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["DAYS_PER_TIME_UNIT", "customer_lifetime_value"]

#: Length of each time unit in days, for converting a CLV horizon into model time.
#: A month is the mean Gregorian month (365.25 / 12 days).
DAYS_PER_TIME_UNIT: dict[str, float] = {"h": 1 / 24, "D": 1.0, "W": 7.0, "M": 365.25 / 12}


def _step_in_model_units(model: TransactionModel, time_unit: str | None) -> float:
    if time_unit is None:
        return 1.0
    unit = require_time_unit(time_unit)
    model_unit, scaler = model.time_unit_, model.time_scaler_
    if model_unit is None:
        msg = (
            f"{type(model).__name__} does not know the time unit of the summary it was fitted "
            "on (fit it on an rfm_summary frame, whose attrs record it), so a horizon in "
            f"time_unit={time_unit!r} cannot be converted; pass time_unit=None to give the "
            "horizon in the model's own time units"
        )
        raise ValidationError(msg)
    model_days = DAYS_PER_TIME_UNIT[model_unit] * (1.0 if scaler is None else scaler)
    return DAYS_PER_TIME_UNIT[unit] / model_days


def customer_lifetime_value(  # noqa: PLR0917 - the issue's positional signature
    transaction_model: TransactionModel,
    spend_model: GammaGammaModel,
    frame: pd.DataFrame,
    horizon: int,
    time_unit: str | None = "M",
    discount_rate: float = 0.0,
    *,
    frequency_col: str = "frequency",
    recency_col: str = "recency",
    T_col: str = "T",
    monetary_value_col: str = "monetary_value",
) -> pd.Series:
    """Return the discounted value of each customer's purchases over the next ``horizon`` periods.

    ``CLV = sum over i = 1..horizon of (E[X(t_i)] - E[X(t_(i-1))]) * E[spend] / (1 + d)^i``,
    with ``t_i`` the end of the i-th period in the model's time, ``E[X]`` the transaction
    model's conditional expected purchases and ``E[spend]`` the spend model's expected spend
    per transaction.

    Parameters
    ----------
    transaction_model
        A fitted :class:`~retention.forecast.BetaGeoModel`, ``ParetoNBDModel``,
        ``ModifiedBetaGeoModel`` or ``BetaGeoBetaBinomModel``.
    spend_model
        A fitted :class:`~retention.forecast.GammaGammaModel`.
    frame
        Customer summary with ``frequency``, ``recency``, ``T`` and ``monetary_value``,
        indexed by customer id, in the transaction model's time units.
    horizon
        Number of periods of ``time_unit`` to add up (a whole number >= 0).
    time_unit
        Unit of ``horizon`` and of ``discount_rate``: ``"h"``, ``"D"``, ``"W"`` or ``"M"``
        (default, months of 365.25/12 days); ``None`` means the model's own time units.
    discount_rate
        Discount rate per period of ``time_unit`` (0.01 = 1 % a month), >= 0.
    frequency_col, recency_col, T_col, monetary_value_col
        Column names of ``frame``.

    Returns
    -------
    pandas.Series
        ``clv`` (>= 0, in the currency of ``monetary_value``), indexed like ``frame``.

    Raises
    ------
    ValidationError
        For a bad horizon, unit or rate, unfitted models, or a frame the models refuse.
    """
    given: tuple[object, object, object] = (transaction_model, spend_model, horizon)
    if not isinstance(given[0], TransactionModel):
        msg = (
            "transaction_model must be a BetaGeoModel, ParetoNBDModel, ModifiedBetaGeoModel "
            f"or BetaGeoBetaBinomModel, got {type(transaction_model).__name__}"
        )
        raise ValidationError(msg)
    if not isinstance(given[1], GammaGammaModel):
        msg = f"spend_model must be a GammaGammaModel, got {type(spend_model).__name__}"
        raise ValidationError(msg)
    if isinstance(given[2], bool) or not isinstance(given[2], (int, np.integer)) or given[2] < 0:
        msg = f"horizon must be a whole number of periods >= 0, got {horizon!r}"
        raise ValidationError(msg)
    rate = float(discount_rate)
    if not math.isfinite(rate) or rate < 0:
        msg = f"discount_rate must be a finite number >= 0, got {discount_rate!r}"
        raise ValidationError(msg)
    step = _step_in_model_units(transaction_model, time_unit)
    if transaction_model._discrete and step != round(step):  # noqa: SLF001 - same package
        msg = (
            "a discrete-time model counts whole opportunities; pass time_unit=None and the "
            "horizon in opportunities"
        )
        raise ValidationError(msg)
    columns = {"frequency_col": frequency_col, "recency_col": recency_col, "T_col": T_col}
    spend = spend_model.expected_spend(
        frame, frequency_col=frequency_col, monetary_value_col=monetary_value_col
    ).to_numpy()
    total: NDArray[np.float64] = np.zeros(len(frame))
    previous: NDArray[np.float64] = np.zeros(len(frame))
    for period in range(1, int(horizon) + 1):
        current = transaction_model.expected_purchases(period * step, frame, **columns).to_numpy()
        increment = np.maximum(current - previous, 0.0)
        total += increment * spend / (1 + rate) ** period
        previous = current
    return pd.Series(np.maximum(total, 0.0), index=frame.index, name="clv")
