"""MBG/NBD: the modified BG/NBD model; customers may also drop out after their first purchase.

Batislam, E. P., Denizel, M. and Filiztekin, A. (2007), "Empirical validation and comparison
of models for customer base analysis", *International Journal of Research in Marketing*
24(3), 201-209.

As BG/NBD, but the dropout coin ``p ~ Beta(a, b)`` is also tossed at time 0, so a
customer without repeat purchases is not certainly alive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from retention.forecast._special import bg_expected_new, bg_pmf_new, frequency_levels
from retention.forecast._transaction import TransactionModel
from retention.forecast.bgnbd import initial_nbd_params

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]

__all__ = ["ModifiedBetaGeoModel"]


class ModifiedBetaGeoModel(TransactionModel):
    """MBG/NBD model of repeat purchases (Batislam, Denizel & Filiztekin 2007).

    Parameters
    ----------
    penalizer
        L2 penalty on the parameters (see :class:`~retention.forecast.BetaGeoModel`).
    on_convergence_failure
        ``"raise"`` (default) or ``"warn"``.
    max_iterations
        Iteration limit of the optimiser.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (purchase-rate gamma) and ``a``, ``b`` (dropout beta).
    log_likelihood_, standard_errors_, confidence_intervals_, covariance_, n_customers_
        As for :class:`~retention.forecast.BetaGeoModel`.
    time_unit_, time_scaler_
        Units of the summary the model was fitted on.

    Notes
    -----
    The individual likelihood is ``(1-p)^(x+1) lambda^x e^(-lambda T) +
    p (1-p)^x lambda^x e^(-lambda t_x)``; integrated over the mixing distributions it gives
    ``B(a, b+x+1)/B(a, b) NBD(T) + B(a+1, b+x)/B(a, b) NBD(t_x)`` (Batislam et al., eq. 2).
    A customer alive at ``T`` behaves like a new BG/NBD customer with parameters
    ``(r+x, alpha+T, a, b+x+1)``, which gives the conditional expectation (eq. 4) and the
    conditional distribution of future purchases.
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
        """Log of Batislam et al. (2007) eq. 2 and its gradient in ``(r, alpha, a, b)``."""
        r, alpha, a, b = (float(v) for v in theta)
        x, t_x, T = data["frequency"], data["recency"], data["T"]
        levels, index = frequency_levels(data)
        constant = (
            special.gammaln(r + levels)
            - special.gammaln(r)
            + special.gammaln(a + b)
            + special.gammaln(b + levels + 1)
            - special.gammaln(b)
            - special.gammaln(a + b + levels + 1)
        )
        log_b_x = np.log(b + levels)
        log_alpha_T = np.log(alpha + T)
        log_alpha_tx = np.log(alpha + t_x)
        A3 = -(r + x) * log_alpha_T
        A4 = np.log(a) - log_b_x[index] - (r + x) * log_alpha_tx
        mix = np.logaddexp(A3, A4)
        values = constant[index] + r * np.log(alpha) + mix
        if not gradient:
            return values, np.empty((0, 4))
        w = np.exp(A4 - mix)
        psi_r = (special.digamma(r + levels) - special.digamma(r))[index]
        d_r = psi_r + np.log(alpha) - (1 - w) * log_alpha_T - w * log_alpha_tx
        d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x))
        psi_ab = special.digamma(a + b)
        psi_abx = special.digamma(a + b + levels + 1)
        d_a = (psi_ab - psi_abx)[index] + w / a
        d_b_level = psi_ab + special.digamma(b + levels + 1) - special.digamma(b) - psi_abx
        d_b = d_b_level[index] - w / (b + x)
        return values, np.vstack([d_r, d_alpha, d_a, d_b])

    # ------------------------------------------------------------------ formulas
    def _alive(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """Batislam et al. (2007) eq. 5: ``1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))``."""
        r, alpha, a, b = self._theta()
        odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        return np.asarray(special.expit(-odds), dtype=np.float64)

    def _conditional_expected(
        self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        """Batislam et al. (2007) eq. 4."""
        r, alpha, a, b = self._theta()
        return self._alive(x, t_x, T) * bg_expected_new(t, r + x, alpha + T, a, b + x + 1)

    def _conditional_pmf(
        self, n: int, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        r, alpha, a, b = self._theta()
        alive = self._alive(x, t_x, T)
        future = bg_pmf_new(n, t, r + x, alpha + T, a, b + x + 1)
        return alive * future + (1 - alive) * (n == 0)

    def _new_expected(self, t: FloatArray) -> FloatArray:
        """Batislam et al. (2007) eq. 3: ``b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r,b+1;a+b;z)]``."""
        r, alpha, a, b = self._theta()
        return b / (a + b) * bg_expected_new(t, r, alpha, a, b + 1)

    def _new_pmf(self, n: int, t: FloatArray) -> FloatArray:
        r, alpha, a, b = self._theta()
        return a / (a + b) * (n == 0) + b / (a + b) * bg_pmf_new(n, t, r, alpha, a, b + 1)
