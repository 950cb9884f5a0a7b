"""BG/NBD: the beta-geometric / negative binomial distribution model.

Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers' the Easy
Way: An Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275-284.

While active, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; after each
repeat purchase the customer becomes inactive with probability ``p ~ Beta(a, b)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from retention.forecast._special import bg_expected_new, bg_pmf_new, frequency_levels
from retention.forecast._transaction import TransactionModel

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]

__all__ = ["BetaGeoModel"]


def initial_nbd_params(data: Mapping[str, FloatArray], weights: FloatArray) -> tuple[float, float]:
    """Start values ``(r, alpha)`` for the purchase-rate gamma: r = 1, mean rate matched."""
    mean_T = float((weights * data["T"]).sum()) / float(weights.sum())
    mean_x = float((weights * data["frequency"]).sum()) / float(weights.sum())
    alpha = max(mean_T, 1e-6) / max(mean_x, 0.05)
    return 1.0, alpha


class BetaGeoModel(TransactionModel):
    """BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    penalizer
        L2 penalty on the parameters, added to the mean negative log-likelihood per
        customer (``penalizer * sum(theta**2)``); 0 (default) gives the maximum likelihood
        estimate.
    on_convergence_failure
        ``"raise"`` (default) raises :class:`~retention.exceptions.ConvergenceError` when the
        optimiser fails or ends on a bound; ``"warn"`` keeps the estimate and issues a
        :class:`~retention.forecast.ConvergenceWarning`.
    max_iterations
        Iteration limit of the optimiser.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (purchase-rate gamma) and ``a``, ``b`` (dropout beta).
    log_likelihood_ : float
        Total log-likelihood (eq. 6 summed over customers).
    standard_errors_, confidence_intervals_, covariance_
        From the inverse Hessian of the log-likelihood.
    n_customers_ : int
        Customers the model was fitted on.
    time_unit_, time_scaler_
        Units of the summary the model was fitted on (``None`` if it did not record them).

    Notes
    -----
    Under BG/NBD a customer without repeat purchases is alive with probability 1 (the
    model lets customers drop out only after a repeat purchase); use
    :class:`~retention.forecast.ModifiedBetaGeoModel` when one-time buyers matter.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame(
    ...     {"frequency": [2.0, 0.0], "recency": [30.43, 0.0], "T": [38.86, 38.86]},
    ...     index=pd.Index(["a", "b"], name="customer_id"),
    ... )
    >>> model = BetaGeoModel.from_dict({"model": "BetaGeoModel", "format": 1,
    ...     "params": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}})
    >>> model.expected_purchases(39, summary).round(3).to_dict()
    {'a': 1.226, 'b': 0.195}
    """

    _param_names = ("r", "alpha", "a", "b")
    _has_gradient = True

    def _initial_params(self, data: Mapping[str, FloatArray], weights: FloatArray) -> FloatArray:
        r, alpha = initial_nbd_params(data, weights)
        return np.array([r, alpha, 1.0, 2.0])

    def _log_likelihood(self, theta: FloatArray, data: Mapping[str, FloatArray]) -> FloatArray:
        return self._log_likelihood_gradient(theta, data, gradient=False)[0]

    def _log_likelihood_gradient(
        self, theta: FloatArray, data: Mapping[str, FloatArray], *, gradient: bool = True
    ) -> tuple[FloatArray, FloatArray]:
        """Eq. 6 of FHL (2005) in log space, with its gradient in ``(r, alpha, a, b)``.

        Terms that depend on the frequency only are computed once per distinct frequency.
        """
        r, alpha, a, b = (float(v) for v in theta)
        x, t_x, T = data["frequency"], data["recency"], data["T"]
        levels, index = frequency_levels(data)
        repeat_level = levels > 0
        log_b_x1 = np.log(np.where(repeat_level, b + levels - 1, 1.0))
        constant = (
            special.gammaln(r + levels)
            - special.gammaln(r)
            + special.gammaln(a + b)
            + special.gammaln(b + levels)
            - special.gammaln(b)
            - special.gammaln(a + b + levels)
        )
        repeat = repeat_level[index]
        log_alpha_T = np.log(alpha + T)
        log_alpha_tx = np.log(alpha + t_x)
        A3 = -(r + x) * log_alpha_T
        A4 = np.where(repeat, np.log(a) - log_b_x1[index] - (r + x) * log_alpha_tx, -np.inf)
        mix = np.logaddexp(A3, A4)
        values = constant[index] + r * np.log(alpha) + mix
        if not gradient:
            return values, np.empty((0, 4))
        w = np.exp(A4 - mix)
        psi_r = (special.digamma(r + levels) - special.digamma(r))[index]
        d_r = psi_r + np.log(alpha) - (1 - w) * log_alpha_T - w * log_alpha_tx
        d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x))
        psi_ab = special.digamma(a + b)
        psi_abx = special.digamma(a + b + levels)
        d_a = (psi_ab - psi_abx)[index] + w / a
        d_b_level = psi_ab + special.digamma(b + levels) - special.digamma(b) - psi_abx
        d_b = d_b_level[index] - w * np.exp(-log_b_x1)[index]
        return values, np.vstack([d_r, d_alpha, d_a, d_b])

    # ------------------------------------------------------------------ formulas
    def _log_odds_dead(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = self._theta()
        repeat = x > 0
        b_x1 = np.where(repeat, b + x - 1, 1.0)
        odds = np.log(a) - np.log(b_x1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        return np.where(repeat, odds, -np.inf)

    def _alive(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """P(alive | x, t_x, T), FHL (2005) and Fader, Hardie & Lee (2008 note), eq. (1)."""
        return np.asarray(special.expit(-self._log_odds_dead(x, t_x, T)), dtype=np.float64)

    def _conditional_expected(
        self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        """FHL (2005) eq. 10: P(alive) times eq. 7 at the posterior parameters."""
        r, alpha, a, b = self._theta()
        return self._alive(x, t_x, T) * bg_expected_new(t, r + x, alpha + T, a, b + x)

    def _conditional_pmf(
        self, n: int, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        """P(X(T, T+t) = n | x, t_x, T): dead customers buy nothing, alive ones follow eq. 8."""
        r, alpha, a, b = self._theta()
        alive = self._alive(x, t_x, T)
        future = bg_pmf_new(n, t, r + x, alpha + T, a, b + x)
        return alive * future + (1 - alive) * (n == 0)

    def _new_expected(self, t: FloatArray) -> FloatArray:
        """FHL (2005) eq. 7."""
        r, alpha, a, b = self._theta()
        return bg_expected_new(t, r, alpha, a, b)

    def _new_pmf(self, n: int, t: FloatArray) -> FloatArray:
        """FHL (2005) eq. 8."""
        r, alpha, a, b = self._theta()
        return bg_pmf_new(n, t, r, alpha, a, b)
