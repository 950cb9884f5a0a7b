"""Closed forms shared by the BG/NBD family (BG/NBD and MBG/NBD).

A BG/NBD customer who is alive at some moment behaves from then on like a new BG/NBD
customer whose parameters are the posterior ones.  So the conditional expectation and
the conditional probability mass function of both models reduce to the two functions
here, evaluated at updated parameters (Fader, Hardie & Lee 2005, eqs. 7, 8 and 10;
Batislam, Denizel & Filiztekin 2007 for the MBG/NBD).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import ArrayLike, NDArray

    FloatArray = NDArray[np.float64]

__all__ = [
    "bg_expected_new",
    "bg_pmf_new",
    "frequency_levels",
    "hyp2f1",
    "hyp2f1_one",
    "nbd_pmf_log",
]

#: Below this distance from a = 1 the 0/0 of eq. 7 is resolved by symmetric averaging.
_A_NEAR_ONE = 1e-4
_QUANTILE_NODES = 256
_CHUNK = 4096


_SERIES_BLOCK = 128
_SERIES_MAX_TERMS = 1 << 22


def _series(a: FloatArray, b: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """``2F1(a, b; c; z)`` for ``0 <= z < 1`` by its power series, summed in blocks of terms."""
    total = np.ones_like(z)
    term = np.ones_like(z)
    active = np.flatnonzero(z > 0)
    start = 0
    while active.size and start < _SERIES_MAX_TERMS:
        k = start + np.arange(_SERIES_BLOCK, dtype=np.float64)
        a_, b_, c_ = a[active, None], b[active, None], c[active, None]
        ratios = (a_ + k) * (b_ + k) / ((c_ + k) * (k + 1)) * z[active, None]
        terms = term[active, None] * np.cumprod(ratios, axis=1)
        total[active] += terms.sum(axis=1)
        term[active] = terms[:, -1]
        settled = (np.abs(terms[:, -1]) < 1e-17 * np.abs(total[active])) & (
            np.abs(ratios[:, -1]) < 1
        )
        active = active[~settled & np.isfinite(total[active])]
        start += _SERIES_BLOCK
    total[active] = np.nan  # did not converge: z is too close to 1 for the series
    return total


def hyp2f1(a: ArrayLike, b: ArrayLike, c: ArrayLike, z: ArrayLike) -> FloatArray:
    """Gauss ``2F1(a, b; c; z)`` for ``0 <= z < 1`` where it is positive, broadcast.

    SciPy's ``hyp2f1`` returns ``inf``, or even negative values, in parts of this region
    (large parameters with ``z`` near 1: ``2F1(1, 2; 101; 0.91)``); such values are
    recomputed from the power series.
    """
    a_, b_, c_, z_ = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    values = np.array(special.hyp2f1(a_, b_, c_, z_), dtype=np.float64)
    # Every caller takes the logarithm of a positive 2F1: anything else is a failure too.
    failed = ~(np.isfinite(values) & (values > 0)) & (z_ < 1)
    if failed.any():
        values[failed] = _series(a_[failed], b_[failed], c_[failed], z_[failed])
    return values


def hyp2f1_one(b: ArrayLike, c: ArrayLike, z: ArrayLike) -> FloatArray:
    """``2F1(1, b; c; z)`` for ``0 <= z < 1`` (see :func:`hyp2f1`)."""
    return hyp2f1(1.0, b, c, z)


def frequency_levels(data: Mapping[str, FloatArray]) -> tuple[FloatArray, NDArray[np.intp]]:
    """Return the distinct frequencies and each row's position among them.

    Fitting precomputes them (``x_levels``, ``x_index``); other callers get them here.
    """
    if "x_levels" in data:
        return data["x_levels"], data["x_index"].astype(np.intp)
    levels, index = np.unique(data["frequency"], return_inverse=True)
    return np.asarray(levels, dtype=np.float64), index.reshape(-1).astype(np.intp)


def _bracket(
    t: FloatArray, r: FloatArray, alpha: FloatArray, a: FloatArray, b: FloatArray
) -> FloatArray:
    """Eq. 7 of Fader, Hardie & Lee (2005), in a form whose series converges at ``z = 1``.

    ``c/(a-1) * [1 - (1-z)^r 2F1(r, b; c; z)]`` with ``z = t/(alpha+t)`` and
    ``c = a+b-1``.  When ``a > r + 1`` that 2F1 has positive terms and stays bounded as
    ``z -> 1``, and it is used as it is; otherwise Euler's transformation gives
    ``c/(a-1) * [1 - (1-z)^(a-1) 2F1(c-r, a-1; c; z)]``, whose 2F1 is bounded then
    (callers use it only where ``c - r > -1``, so that its series does not alternate).
    """
    z = t / (alpha + t)
    c = a + b - 1
    log_part = np.empty_like(z)
    plain = a - 1 - r > 0
    log_part[plain] = r[plain] * np.log1p(-z[plain]) + np.log(
        hyp2f1(r[plain], b[plain], c[plain], z[plain])
    )
    euler = ~plain
    log_part[euler] = (a[euler] - 1) * np.log1p(-z[euler]) + np.log(
        hyp2f1(c[euler] - r[euler], a[euler] - 1, c[euler], z[euler])
    )
    inner = -np.expm1(log_part)
    return np.asarray(c / (a - 1) * inner, dtype=np.float64)


def _quantile_expected(
    t: FloatArray, r: FloatArray, alpha: FloatArray, a: FloatArray, b: FloatArray
) -> FloatArray:
    """Eq. 7 by quadrature over the dropout probability's quantiles.

    ``E = E_p[(1 - (alpha/(alpha+p t))^r) / p]`` with ``p ~ Beta(a, b)``, written as an
    integral over ``u`` in (0, 1) of the integrand at ``p = F^-1(u)`` and taken by
    Gauss-Legendre quadrature: valid for every ``a, b > 0`` (no closed form needed), each
    node's integrand increases with ``t``, so the result does too.
    """
    nodes, weights = _unit_legendre()
    out = np.empty(t.shape, dtype=np.float64)
    for start in range(0, t.size, _CHUNK):
        part = slice(start, start + _CHUNK)
        p = special.betaincinv(a[part, None], b[part, None], nodes)
        p = np.maximum(p, 1e-300)
        values = -np.expm1(-r[part, None] * np.log1p(p * t[part, None] / alpha[part, None])) / p
        out[part] = (values * weights).sum(axis=1)
    return out


@cache
def _unit_legendre() -> tuple[FloatArray, FloatArray]:
    """Gauss-Legendre nodes and weights on [0, 1], computed once."""
    nodes, weights = np.polynomial.legendre.leggauss(_QUANTILE_NODES)
    return (nodes + 1) / 2, weights / 2


def bg_expected_new(
    t: ArrayLike, r: ArrayLike, alpha: ArrayLike, a: ArrayLike, b: ArrayLike
) -> FloatArray:
    """Return the expected purchases in ``(0, t]`` of a new BG/NBD customer (FHL 2005, eq. 7).

    All arguments broadcast.  Where ``a`` is within 1e-4 of 1 (a removable 0/0) the value is
    the mean of the values at ``a -/+ 1e-4``; where ``a + b <= 1`` (no hypergeometric form)
    or both forms would cancel, or a result breaks the model's bounds, it is computed by
    quadrature over the dropout probability.
    """
    t_, r_, alpha_, a_, b_ = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (t, r, alpha, a, b))
    )
    result = np.zeros(t_.shape, dtype=np.float64)
    positive = t_ > 0
    near_one = np.abs(a_ - 1) < _A_NEAR_ONE
    # No usable closed form: c = a+b-1 <= 0 (no 2F1), or c - r <= -1 (an alternating series
    # whose cancellation, like SciPy's transformations near z = 1, loses accuracy).
    no_closed_form = (a_ + b_ <= 1 + 1e-9) | (
        (a_ - 1 - r_ <= 0) & (a_ + b_ - 1 - r_ <= -1 + _A_NEAR_ONE)
    )
    plain = positive & ~near_one & ~no_closed_form
    with np.errstate(divide="ignore", invalid="ignore"):
        result[plain] = _bracket(t_[plain], r_[plain], alpha_[plain], a_[plain], b_[plain])
        shifted = positive & near_one & ~no_closed_form
        if shifted.any():
            args = (t_[shifted], r_[shifted], alpha_[shifted])
            low = _bracket(*args, 1 - _A_NEAR_ONE + 0 * b_[shifted], b_[shifted])
            high = _bracket(*args, 1 + _A_NEAR_ONE + 0 * b_[shifted], b_[shifted])
            result[shifted] = (low + high) / 2
    # Where no closed form applies, or it broke the bounds E <= r t / alpha (no dropout)
    # and E <= (a+b-1)/(a-1) (a > 1: the limit as t grows), integrate over the dropout
    # probability instead.
    with np.errstate(divide="ignore", invalid="ignore"):
        ceiling = np.minimum(r_ * t_ / alpha_, np.where(a_ > 1, (a_ + b_ - 1) / (a_ - 1), np.inf))
    broken = ~np.isfinite(result) | (result < 0) | (result > ceiling * (1 + 1e-9))
    quadrature = positive & (no_closed_form | broken)
    if quadrature.any():
        result[quadrature] = _quantile_expected(
            t_[quadrature], r_[quadrature], alpha_[quadrature], a_[quadrature], b_[quadrature]
        )
    return np.maximum(result, 0.0)


def nbd_pmf_log(n: ArrayLike, t: ArrayLike, r: ArrayLike, alpha: ArrayLike) -> FloatArray:
    """Log of the NBD probability of ``n`` events in ``(0, t]`` (gamma-mixed Poisson)."""
    n_, t_, r_, alpha_ = (np.asarray(v, dtype=np.float64) for v in (n, t, r, alpha))
    return np.asarray(
        special.gammaln(r_ + n_)
        - special.gammaln(r_)
        - special.gammaln(n_ + 1)
        + r_ * (np.log(alpha_) - np.log(alpha_ + t_))
        + special.xlogy(n_, t_ / (alpha_ + t_)),
        dtype=np.float64,
    )


def bg_pmf_new(  # noqa: PLR0917 - the paper's parameters, broadcast
    n: ArrayLike, t: ArrayLike, r: ArrayLike, alpha: ArrayLike, a: ArrayLike, b: ArrayLike
) -> FloatArray:
    """P(X(t) = n) for a new BG/NBD customer (FHL 2005, eq. 8), all arguments broadcast.

    The finite sum of eq. 8 is the NBD distribution function, written as a regularised
    incomplete beta function so that large ``n`` costs nothing extra.
    """
    n_, t_, r_, alpha_, a_, b_ = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (n, t, r, alpha, a, b))
    )
    log_beta = special.betaln(a_, b_)
    alive = np.exp(special.betaln(a_, b_ + n_) - log_beta + nbd_pmf_log(n_, t_, r_, alpha_))
    repeat = n_ > 0
    n_safe = np.where(repeat, n_, 1.0)
    tail = special.betainc(n_safe, r_, t_ / (alpha_ + t_))
    dead = np.where(repeat, np.exp(special.betaln(a_ + 1, b_ + n_safe - 1) - log_beta) * tail, 0.0)
    return np.asarray(np.clip(alive + dead, 0.0, 1.0), dtype=np.float64)
