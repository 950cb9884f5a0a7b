"""Pareto/NBD: Poisson purchases with an exponential lifetime, both gamma-mixed.

Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987), "Counting Your Customers: Who
Are They and What Will They Do Next?", *Management Science* 33(1), 1-24; the formulas
follow Fader, P. S. and Hardie, B. G. S. (2005), "A Note on Deriving the Pareto/NBD Model
and Related Expressions", http://brucehardie.com/notes/009/.

While alive, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; the lifetime is
exponential with rate ``mu ~ Gamma(s, beta)``.

Numerics.  The likelihood is
``Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) A0 ]``
(note, eq. 22) where ``A0`` is a difference of two Gauss hypergeometric terms, with one
form for ``alpha >= beta`` and one for ``alpha < beta``.  Both terms are rewritten with
Euler's transformation as ``(alpha+t)^-(r+x) (beta+t)^-s H(t)``, where ``H`` is a
``2F1(1, b; c; z)`` with ``0 <= z < 1`` and positive series terms, so nothing overflows
and nothing is raised to huge powers; the difference is taken in log space with
``log1p``, and the two parts of the bracket are combined with ``logaddexp``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from retention.forecast._base import expm1_ratio
from retention.forecast._special import hyp2f1_one, nbd_pmf_log
from retention.forecast._transaction import TransactionModel
from retention.forecast.bgnbd import initial_nbd_params

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]

__all__ = ["ParetoNBDModel"]

_QUADRATURE_NODES = 128
_CHUNK = 8192


def _log_term(  # noqa: PLR0917 - the paper's parameters
    t: FloatArray, r: float, alpha: float, s: float, beta: float, x: FloatArray
) -> FloatArray:
    """``log[(r+s+x) * integral from t to infinity of (alpha+u)^-(r+x) (beta+u)^-(s+1) du]``."""
    c = r + s + x + 1
    if alpha >= beta:
        h = hyp2f1_one(r + x, c, (alpha - beta) / (alpha + t))
        log_h = np.log(h)
    else:
        h = hyp2f1_one(s + 1, c, (beta - alpha) / (beta + t))
        log_h = np.log(h) + np.log(alpha + t) - np.log(beta + t)
    return np.asarray(-(r + x) * np.log(alpha + t) - s * np.log(beta + t) + log_h, dtype=np.float64)


def pareto_parts(
    theta: Sequence[float] | FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ``(log constant, log alive part, log dead part)`` of the likelihood."""
    r, alpha, s, beta = (float(v) for v in theta)
    constant = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    upper = _log_term(t_x, r, alpha, s, beta, x)
    lower = _log_term(T, r, alpha, s, beta, x)
    with np.errstate(divide="ignore"):
        dead = (
            np.log(s)
            - np.log(r + s + x)
            + upper
            + np.log1p(-np.exp(np.minimum(lower - upper, 0.0)))
        )
    return constant, alive, dead


@cache
def _unit_legendre() -> tuple[FloatArray, FloatArray]:
    """Gauss-Legendre nodes and weights on [0, 1], computed once."""
    nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
    return (nodes + 1) / 2, weights / 2


def pareto_new_pmf(  # noqa: PLR0917 - the paper's parameters, broadcast
    n: int,
    t: FloatArray | float,
    r: FloatArray | float,
    alpha: FloatArray | float,
    s: float,
    beta: FloatArray | float,
) -> FloatArray:
    """P(X(t) = n) for a new Pareto/NBD customer, arguments broadcast.

    ``P = NBD(n; t) (beta/(beta+t))^s + integral over the death time tau in (0, t) of
    NBD(n; tau)``, the integral taken over ``u = 1 - (beta/(beta+tau))^s`` (the lifetime
    distribution function) by Gauss-Legendre quadrature.
    """
    t_, r_, alpha_, beta_ = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (t, r, alpha, beta))
    )
    shape = t_.shape
    t_f, r_f, alpha_f, beta_f = (v.ravel() for v in (t_, r_, alpha_, beta_))
    survive = np.exp(nbd_pmf_log(n, t_f, r_f, alpha_f) - s * np.log1p(t_f / beta_f))
    unit_nodes, unit_weights = _unit_legendre()
    dead = np.empty_like(survive)
    for start in range(0, len(t_f), _CHUNK):
        part = slice(start, start + _CHUNK)
        upper = -np.expm1(-s * np.log1p(t_f[part] / beta_f[part]))[:, None]
        u = upper * unit_nodes
        tau = beta_f[part, None] * np.expm1(-np.log1p(-u) / s)
        values = np.exp(nbd_pmf_log(n, tau, r_f[part, None], alpha_f[part, None]))
        dead[part] = np.dot(values, unit_weights) * upper[:, 0]
    return np.asarray((survive + dead).reshape(shape), dtype=np.float64)


class ParetoNBDModel(TransactionModel):
    """Pareto/NBD model of repeat purchases (Schmittlein, Morrison & Colombo 1987).

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
        ``r``, ``alpha`` (purchase-rate gamma) and ``s``, ``beta`` (dropout-rate gamma).
    log_likelihood_, standard_errors_, confidence_intervals_, covariance_, n_customers_
        As for :class:`~retention.forecast.BetaGeoModel`.
    time_unit_, time_scaler_
        Units of the summary the model was fitted on.

    Notes
    -----
    The gradient is taken by central differences of the stable log-likelihood (the
    hypergeometric terms have no closed-form parameter derivatives in SciPy); identical
    histories are compressed first, so this costs little.
    """

    _param_names = ("r", "alpha", "s", "beta")

    def _initial_params(self, data: Mapping[str, FloatArray], weights: FloatArray) -> FloatArray:
        r, alpha = initial_nbd_params(data, weights)
        mean_T = float((weights * data["T"]).sum()) / float(weights.sum())
        return np.array([r, alpha, 1.0, max(mean_T, 1e-6)])

    def _log_likelihood(self, theta: FloatArray, data: Mapping[str, FloatArray]) -> FloatArray:
        """Fader & Hardie (2005 note) eq. 22, in log space."""
        if "upper_index" not in data:
            constant, alive, dead = pareto_parts(
                theta, data["frequency"], data["recency"], data["T"]
            )
            return np.asarray(constant + np.logaddexp(alive, dead), dtype=np.float64)
        # Fitting: everything but the t_x term depends on (x, T) only, so it is computed
        # once per distinct pair.  With k = s/(r+s+x) and G the hypergeometric term,
        # L = C [e^A - k e^G(T)] + C k e^G(t_x); the bracket is positive (it is the
        # probability-like mass of dying after T), computed with log1p.
        r, alpha, s, beta = (float(v) for v in theta)
        x_low, t_low = data["lower_x"], data["lower_t"]
        constant = (
            special.gammaln(r + x_low) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        )
        alive = -(r + x_low) * np.log(alpha + t_low) - s * np.log(beta + t_low)
        log_k = np.log(s) - np.log(r + s + x_low)
        lower = _log_term(t_low, r, alpha, s, beta, x_low)
        with np.errstate(divide="ignore"):
            remainder = alive + np.log1p(-np.exp(np.minimum(log_k + lower - alive, 0.0)))
        upper = _log_term(data["upper_t"], r, alpha, s, beta, data["upper_x"])
        lower_index = data["lower_index"].astype(np.intp)
        upper_index = data["upper_index"].astype(np.intp)
        first = (constant + remainder)[lower_index]
        second = (constant + log_k)[lower_index] + upper[upper_index]
        return np.asarray(np.logaddexp(first, second), dtype=np.float64)

    def _augment(self, data: dict[str, FloatArray]) -> None:
        """Index the distinct ``(x, t_x)`` and ``(x, T)`` pairs of the compressed data."""
        super()._augment(data)
        for name, column in (("upper", "recency"), ("lower", "T")):
            stacked = np.column_stack([data["frequency"], data[column]])
            unique, index = np.unique(stacked, axis=0, return_inverse=True)
            data[f"{name}_x"], data[f"{name}_t"] = unique[:, 0], unique[:, 1]
            data[f"{name}_index"] = index.reshape(-1).astype(np.float64)

    # ------------------------------------------------------------------ formulas
    def _alive(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """Fader & Hardie (2005 note) eq. 26: the alive part's share of the likelihood."""
        _, alive, dead = pareto_parts(self._theta(), x, t_x, T)
        return np.asarray(np.exp(alive - np.logaddexp(alive, dead)), dtype=np.float64)

    def _conditional_expected(
        self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        """Fader & Hardie (2005 note) eq. 27, with ``s = 1`` handled as the limit."""
        r, alpha, s, beta = self._theta()
        rate = (r + x) / (alpha + T) * (beta + T)
        horizon = expm1_ratio(s - 1, np.log1p(t / (beta + T)))
        return self._alive(x, t_x, T) * rate * horizon

    def _conditional_pmf(
        self, n: int, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        r, alpha, s, beta = self._theta()
        alive = self._alive(x, t_x, T)
        future = pareto_new_pmf(n, np.full_like(x, t), r + x, alpha + T, s, beta + T)
        return alive * future + (1 - alive) * (n == 0)

    def _new_expected(self, t: FloatArray) -> FloatArray:
        """Fader & Hardie (2005 note) eq. 17: ``r beta/(alpha(s-1)) [1-(beta/(beta+t))^(s-1)]``."""
        r, alpha, s, beta = self._theta()
        return r / alpha * beta * expm1_ratio(s - 1, np.log1p(t / beta))

    def _new_pmf(self, n: int, t: FloatArray) -> FloatArray:
        r, alpha, s, beta = self._theta()
        return pareto_new_pmf(n, t, r, alpha, s, beta)
