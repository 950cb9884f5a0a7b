"""BG/BB: the beta-geometric / beta-Bernoulli model for discrete transaction opportunities.

Fader, P. S., Hardie, B. G. S. and Shang, J. (2010), "Customer-Base Analysis in a
Discrete-Time Noncontractual Setting", *Marketing Science* 29(6), 1086-1108.

At each of ``n`` opportunities an active customer transacts with probability
``p ~ Beta(alpha, beta)``; at the start of each opportunity after the first the customer
becomes inactive with probability ``theta ~ Beta(gamma, delta)``.  The input summary
counts whole opportunities: ``frequency`` = transactions ``x``, ``recency`` = the
opportunity ``t_x`` of the last one (0 if none), ``T`` = the number of opportunities ``n``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from retention.forecast._transaction import TransactionModel

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]

__all__ = ["BetaGeoBetaBinomModel"]


def _log_binomial(n: FloatArray | float, k: FloatArray | float) -> FloatArray:
    return np.asarray(
        special.gammaln(np.asarray(n) + 1)
        - special.gammaln(np.asarray(k) + 1)
        - special.gammaln(np.asarray(n) - np.asarray(k) + 1),
        dtype=np.float64,
    )


def bgbb_parts(
    theta: Sequence[float] | FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    n: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Return ``(log alive part, log dead part)`` of FHS (2010) eq. 5.

    The alive part is ``B(alpha+x, beta+n-x)/B(alpha,beta) * B(gamma, delta+n)/B(gamma,delta)``;
    the dead part is the sum over the opportunity of death ``t_x + i + 1`` (``i`` from 0 to
    ``n - t_x - 1``), accumulated with ``logaddexp`` over ``i`` (a loop over opportunities,
    vectorised over customers).
    """
    alpha, beta, gamma, delta = (float(v) for v in theta)
    base_pb = special.betaln(alpha, beta)
    base_td = special.betaln(gamma, delta)
    alive = (
        special.betaln(alpha + x, beta + n - x)
        - base_pb
        + special.betaln(gamma, delta + n)
        - base_td
    )
    dead = np.full(x.shape, -np.inf)
    gaps = n - t_x
    longest = int(gaps.max()) if gaps.size else 0
    for i in range(longest):
        term = (
            special.betaln(alpha + x, beta + t_x - x + i)
            - base_pb
            + special.betaln(gamma + 1, delta + t_x + i)
            - base_td
        )
        dead = np.where(i < gaps, np.logaddexp(dead, term), dead)
    return np.asarray(alive, dtype=np.float64), dead


def bgbb_new_pmf(
    count: int, periods: FloatArray, theta: Sequence[FloatArray | float]
) -> FloatArray:
    """FHS (2010) eq. 8: P(X(n) = x) for a new customer over ``n`` opportunities (broadcast)."""
    alpha, beta, gamma, delta = (np.asarray(v, dtype=np.float64) for v in theta)
    n_ = np.asarray(periods, dtype=np.float64)
    alpha, beta, gamma, delta, n_ = np.broadcast_arrays(alpha, beta, gamma, delta, n_)
    base = special.betaln(alpha, beta) + special.betaln(gamma, delta)
    with np.errstate(invalid="ignore"):
        first = np.where(
            count <= n_,
            np.exp(
                _log_binomial(n_, count)
                + special.betaln(alpha + count, beta + n_ - count)
                + special.betaln(gamma, delta + n_)
                - base
            ),
            0.0,
        )
    total = np.asarray(first, dtype=np.float64)
    longest = int(n_.max()) if n_.size else 0
    for i in range(count, longest):
        term = np.exp(
            _log_binomial(i, count)
            + special.betaln(alpha + count, beta + i - count)
            + special.betaln(gamma + 1, delta + i)
            - base
        )
        total = total + np.where(i < n_, term, 0.0)
    return total


class BetaGeoBetaBinomModel(TransactionModel):
    """BG/BB model of discrete-time repeat transactions (Fader, Hardie & Shang 2010).

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
        ``alpha``, ``beta`` (transaction-probability beta) and ``gamma``, ``delta``
        (dropout-probability beta).
    log_likelihood_, standard_errors_, confidence_intervals_, covariance_, n_customers_
        As for :class:`~retention.forecast.BetaGeoModel`.

    Notes
    -----
    ``fit`` takes the summary as patterns with a ``weights_col`` (as the paper's
    ``donations`` data: ``frequency``, ``recency``, ``periods``, ``weights``), or one row per
    customer.  Horizons ``t`` of the predictions are whole numbers of opportunities.
    ``probability_alive`` is the probability of being active at opportunity ``n + 1``
    (eq. 11).

    Examples
    --------
    >>> import pandas as pd
    >>> model = BetaGeoBetaBinomModel.from_dict({"model": "BetaGeoBetaBinomModel",
    ...     "format": 1, "params": {"alpha": 1.204, "beta": 0.750, "gamma": 0.657,
    ...     "delta": 2.783}})
    >>> donors = pd.DataFrame({"frequency": [6.0], "recency": [6.0], "T": [6.0]}, index=["a"])
    >>> round(float(model.probability_alive(donors)["a"]), 2)
    0.93
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _discrete = True

    def _initial_params(self, data: Mapping[str, FloatArray], weights: FloatArray) -> FloatArray:
        del data, weights
        return np.array([1.0, 1.0, 1.0, 1.0])

    def _log_likelihood(self, theta: FloatArray, data: Mapping[str, FloatArray]) -> FloatArray:
        """FHS (2010) eq. 5, in log space."""
        alive, dead = bgbb_parts(theta, data["frequency"], data["recency"], data["T"])
        return np.asarray(np.logaddexp(alive, dead), dtype=np.float64)

    # ------------------------------------------------------------------ formulas
    def _log_alive_next(self, x: FloatArray, t_x: FloatArray, n: FloatArray) -> FloatArray:
        _, _, gamma, delta = self._theta()
        alive, dead = bgbb_parts(self._theta(), x, t_x, n)
        step = special.betaln(gamma, delta + n + 1) - special.betaln(gamma, delta + n)
        return np.asarray(alive + step - np.logaddexp(alive, dead), dtype=np.float64)

    def _alive(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """FHS (2010) eq. 11: P(active at opportunity n + 1 | x, t_x, n)."""
        return np.exp(self._log_alive_next(x, t_x, T))

    def _conditional_expected(
        self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        """FHS (2010) eq. 13: expected transactions in opportunities n+1 .. n+t."""
        alpha, beta, gamma, delta = self._theta()
        alive_now, dead = bgbb_parts(self._theta(), x, t_x, T)
        log_front = (
            special.betaln(alpha + x + 1, beta + T - x)
            - special.betaln(alpha, beta)
            - np.logaddexp(alive_now, dead)
            + np.log(delta)
            + special.gammaln(gamma + delta)
            - special.gammaln(1 + delta)
        )
        return np.asarray(np.exp(log_front) * _gamma_ratio_drop(gamma, delta, T, t))

    def _conditional_pmf(
        self, n: int, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        """Active at opportunity n: then as a new customer with posterior parameters."""
        alpha, beta, gamma, delta = self._theta()
        alive_now, dead = bgbb_parts(self._theta(), x, t_x, T)
        active = np.exp(alive_now - np.logaddexp(alive_now, dead))
        future = bgbb_new_pmf(n, np.full_like(x, t), (alpha + x, beta + T - x, gamma, delta + T))
        return np.asarray(active * future + (1 - active) * (n == 0), dtype=np.float64)

    def _new_expected(self, t: FloatArray) -> FloatArray:
        """FHS (2010) eq. 9: ``alpha/(alpha+beta) * delta/(gamma-1) * [1 - ...]``."""
        alpha, beta, gamma, delta = self._theta()
        log_front = (
            np.log(alpha)
            - np.log(alpha + beta)
            + np.log(delta)
            + special.gammaln(gamma + delta)
            - special.gammaln(1 + delta)
        )
        return np.asarray(np.exp(log_front) * _gamma_ratio_drop(gamma, delta, 0.0, t))

    def _new_pmf(self, n: int, t: FloatArray) -> FloatArray:
        return bgbb_new_pmf(n, t, self._theta())


def _gamma_ratio_drop(
    gamma: float, delta: float, start: FloatArray | float, t: FloatArray | float
) -> FloatArray:
    """Return ``[g(start) - g(start+t)] / (gamma-1)``, ``g(m) = G(1+delta+m)/G(gamma+delta+m)``.

    Written as ``g(start) * K * exprel((1 - gamma) K)`` where
    ``K = (log g(start + t) - log g(start)) / (1 - gamma)`` (its limit at ``gamma = 1`` is
    ``digamma(1+delta+start+t) - digamma(1+delta+start)``), so it is finite, >= 0, and
    exact at ``gamma = 1``.
    """
    start_ = np.asarray(start, dtype=np.float64)
    end_ = start_ + np.asarray(t, dtype=np.float64)

    def log_g(m: FloatArray) -> FloatArray:
        return np.asarray(
            special.gammaln(1 + delta + m) - special.gammaln(gamma + delta + m), dtype=np.float64
        )

    if abs(1 - gamma) > 1e-6:
        k = (log_g(end_) - log_g(start_)) / (1 - gamma)
    else:
        k = special.digamma(1 + delta + end_) - special.digamma(1 + delta + start_)
    return np.asarray(np.exp(log_g(start_)) * k * special.exprel((1 - gamma) * k), dtype=np.float64)
