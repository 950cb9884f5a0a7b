"""One call from a customer summary to a per-customer forecast table (used by the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pandas as pd

from retention.exceptions import ValidationError
from retention.forecast.bgnbd import BetaGeoModel
from retention.forecast.clv import customer_lifetime_value
from retention.forecast.gammagamma import GammaGammaModel
from retention.forecast.mbgnbd import ModifiedBetaGeoModel
from retention.forecast.paretonbd import ParetoNBDModel

if TYPE_CHECKING:
    from retention.forecast._transaction import TransactionModel

__all__ = ["MODELS", "CustomerForecast", "forecast_customers"]

#: Purchase models by the short names the command line uses.
MODELS: dict[str, type[TransactionModel]] = {
    "bgnbd": BetaGeoModel,
    "mbgnbd": ModifiedBetaGeoModel,
    "paretonbd": ParetoNBDModel,
}


@attrs.frozen
class CustomerForecast:
    """Result of :func:`forecast_customers`.

    Attributes
    ----------
    table
        Indexed by customer id, with ``probability_alive``, ``expected_purchases`` and,
        when the summary has ``monetary_value`` and repeat buyers, ``expected_spend`` and
        ``clv``.
    transaction_model
        The fitted purchase model.
    spend_model
        The fitted Gamma-Gamma model, or None without monetary values.
    """

    table: pd.DataFrame
    transaction_model: TransactionModel
    spend_model: GammaGammaModel | None


def forecast_customers(
    summary: pd.DataFrame,
    *,
    model: str = "bgnbd",
    t: float,
    clv_horizon: int = 12,
    clv_time_unit: str | None = "M",
    discount_rate: float = 0.01,
    penalizer: float = 0.0,
    nonpositive_spend: str = "exclude",
) -> CustomerForecast:
    """Fit a purchase model (and a spend model) on ``summary`` and predict every customer.

    Parameters
    ----------
    summary
        Output of :func:`retention.rfm_summary`, indexed by customer id.
    model
        ``"bgnbd"`` (default), ``"mbgnbd"`` or ``"paretonbd"``.
    t
        Horizon of ``expected_purchases``, in the summary's time units.
    clv_horizon, clv_time_unit, discount_rate
        Passed to :func:`~retention.forecast.customer_lifetime_value`.
    penalizer
        L2 penalty of the purchase model.
    nonpositive_spend
        Passed to :class:`~retention.forecast.GammaGammaModel` (default ``"exclude"``:
        free orders do not stop the forecast).

    Returns
    -------
    CustomerForecast
        The table and the fitted models.

    Raises
    ------
    ValidationError
        For an unknown model name or bad input.
    ConvergenceError
        When a model does not converge.
    """
    if model not in MODELS:
        msg = f"model must be one of {', '.join(sorted(MODELS))}, got {model!r}"
        raise ValidationError(msg)
    transaction_model = MODELS[model](penalizer=penalizer).fit(summary)
    table = pd.DataFrame(
        {
            "probability_alive": transaction_model.probability_alive(summary),
            "expected_purchases": transaction_model.expected_purchases(t, summary),
        }
    )
    spend_model: GammaGammaModel | None = None
    has_spend = "monetary_value" in summary.columns and bool((summary["frequency"] > 0).any())
    if has_spend:
        spend_model = GammaGammaModel(nonpositive_spend=nonpositive_spend).fit(summary)
        table["expected_spend"] = spend_model.expected_spend(summary)
        table["clv"] = customer_lifetime_value(
            transaction_model, spend_model, summary, clv_horizon, clv_time_unit, discount_rate
        )
    return CustomerForecast(
        table=table, transaction_model=transaction_model, spend_model=spend_model
    )
