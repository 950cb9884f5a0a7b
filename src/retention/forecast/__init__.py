"""Forecasting: who will buy again, how much, and what customers are worth.

Purchase-count models (fit on an :func:`retention.rfm_summary` frame):

* :class:`BetaGeoModel` - BG/NBD (Fader, Hardie & Lee 2005);
* :class:`ModifiedBetaGeoModel` - MBG/NBD (Batislam, Denizel & Filiztekin 2007);
* :class:`ParetoNBDModel` - Pareto/NBD (Schmittlein, Morrison & Colombo 1987);
* :class:`BetaGeoBetaBinomModel` - BG/BB for discrete opportunities (Fader, Hardie & Shang 2010).

Spend: :class:`GammaGammaModel`; value: :func:`customer_lifetime_value`; validation:
:func:`calibration_and_holdout` and :func:`evaluate_holdout`; figures (matplotlib, the
``plot`` extra): ``plot_*``.

Every model follows scikit-learn's contract: ``fit(summary)`` returns the model,
learned values end in ``_`` (``params_`` with the papers' names, ``log_likelihood_``,
``standard_errors_``, ``confidence_intervals_``), and predictions are Series keyed by
customer id.
"""

from __future__ import annotations

from retention.forecast._base import ConvergenceWarning
from retention.forecast.bgbb import BetaGeoBetaBinomModel
from retention.forecast.bgnbd import BetaGeoModel
from retention.forecast.clv import DAYS_PER_TIME_UNIT, customer_lifetime_value
from retention.forecast.evaluation import (
    HoldoutEvaluation,
    calibration_and_holdout,
    evaluate_holdout,
)
from retention.forecast.gammagamma import GammaGammaModel
from retention.forecast.mbgnbd import ModifiedBetaGeoModel
from retention.forecast.paretonbd import ParetoNBDModel
from retention.forecast.plotting import (
    plot_calibration_purchases_vs_holdout_purchases,
    plot_frequency_recency_matrix,
    plot_period_transactions,
    plot_probability_alive_matrix,
)

__all__ = [
    "DAYS_PER_TIME_UNIT",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "ConvergenceWarning",
    "GammaGammaModel",
    "HoldoutEvaluation",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "calibration_and_holdout",
    "customer_lifetime_value",
    "evaluate_holdout",
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_frequency_recency_matrix",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
]
