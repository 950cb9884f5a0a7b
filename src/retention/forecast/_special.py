"""Closed forms shared by the BG/NBD family (BG/NBD and MBG/NBD).

A BG/NBD customer who is alive at some moment behaves from then on like a new BG/NBD
customer whose parameters are the posterior ones.  So the conditional expectation and
the conditional probability mass function of both models reduce to the two functions
here, evaluated at updated parameters (Fader, Hardie & Lee 2005, eqs. 7, 8 and 10;
Batislam, Denizel & Filiztekin 2007 for the MBG/NBD).
"""

from __future__ import annotations

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
_JACOBI_NODES = 96


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
    """Gauss ``2F1(a, b; c; z)`` for ``0 <= z < 1``, broadcast.

    SciPy's ``hyp2f1`` is accurate in this region where it returns a finite value, but it
    returns ``inf`` in parts of it (large ``c`` with ``z`` near 1: ``2F1(1, 2; 101; 0.91)``);
    those values are recomputed from the power series.
    """
    a_, b_, c_, z_ = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    values = np.array(special.hyp2f1(a_, b_, c_, z_), dtype=np.float64)
    failed = ~np.isfinite(values) & (z_ < 1)
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
    """Eq. 7 of Fader, Hardie & Lee (2005) after an Euler transformation.

    ``(a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; z)]`` with
    ``z = t/(alpha+t)`` equals ``(a+b-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b-1; z)]``;
    the second form never multiplies a huge hypergeometric value by a tiny power.
    """
    z = t / (alpha + t)
    c = a + b - 1
    hyp = hyp2f1(c - r, a - 1, c, z)
    inner = -np.expm1((a - 1) * np.log1p(-z) + np.log(hyp))
    return np.asarray(c / (a - 1) * inner, dtype=np.float64)


def _jacobi_expected(
    t: FloatArray, r: FloatArray, alpha: FloatArray, a: float, b: float
) -> FloatArray:
    """Eq. 7 by Gauss-Jacobi quadrature over p ~ Beta(a, b): E = E_p[(1 - (a/(a+pt))^r) / p]."""
    nodes, weights = special.roots_jacobi(_JACOBI_NODES, b - 1, a - 1)
    p = (1 + nodes) / 2
    weights = weights / weights.sum()
    t_col, r_col, alpha_col = (np.asarray(v, dtype=np.float64)[..., None] for v in (t, r, alpha))
    values = -np.expm1(-r_col * np.log1p(p * t_col / alpha_col)) / p
    return np.asarray(np.dot(values, weights), dtype=np.float64)


def bg_expected_new(
    t: ArrayLike, r: ArrayLike, alpha: ArrayLike, a: ArrayLike, b: ArrayLike
) -> FloatArray:
    """Return the expected purchases in ``(0, t]`` of a new BG/NBD customer (FHL 2005, eq. 7).

    All arguments broadcast.  Where ``a`` is within 1e-4 of 1 (a removable 0/0) the value is
    the mean of the values at ``a -/+ 1e-4``; where ``a + b <= 1`` (no hypergeometric form)
    it is computed by Gauss-Jacobi quadrature over the dropout probability.
    """
    t_, r_, alpha_, a_, b_ = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (t, r, alpha, a, b))
    )
    result = np.zeros(t_.shape, dtype=np.float64)
    positive = t_ > 0
    near_one = np.abs(a_ - 1) < _A_NEAR_ONE
    no_closed_form = a_ + b_ <= 1 + 1e-9
    plain = positive & ~near_one & ~no_closed_form
    with np.errstate(divide="ignore", invalid="ignore"):
        result[plain] = _bracket(t_[plain], r_[plain], alpha_[plain], a_[plain], b_[plain])
        shifted = positive & near_one & ~no_closed_form
        if shifted.any():
            args = (t_[shifted], r_[shifted], alpha_[shifted])
            low = _bracket(*args, 1 - _A_NEAR_ONE + 0 * b_[shifted], b_[shifted])
            high = _bracket(*args, 1 + _A_NEAR_ONE + 0 * b_[shifted], b_[shifted])
            result[shifted] = (low + high) / 2
    quadrature = positive & no_closed_form
    if quadrature.any():
        pairs = np.stack([a_[quadrature], b_[quadrature]], axis=1)
        unique_pairs, inverse = np.unique(pairs, axis=0, return_inverse=True)
        values = np.empty(int(quadrature.sum()))
        t_q, r_q, alpha_q = t_[quadrature], r_[quadrature], alpha_[quadrature]
        for index, (a_value, b_value) in enumerate(unique_pairs):
            rows = inverse.ravel() == index
            values[rows] = _jacobi_expected(
                t_q[rows], r_q[rows], alpha_q[rows], float(a_value), float(b_value)
            )
        result[quadrature] = values
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
