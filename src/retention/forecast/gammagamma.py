"""Gamma-Gamma model of the spend per transaction.

Fader, P. S. and Hardie, B. G. S. (2013), "The Gamma-Gamma Model of Monetary Value",
http://brucehardie.com/notes/025/; after Colombo, R. and Jiang, W. (1999), "A stochastic
RFM model", *Journal of Interactive Marketing* 13(3), 2-12.

Each transaction's value is ``Gamma(p, nu)`` with ``nu ~ Gamma(q, v)`` across customers; a
customer's mean spend ``m`` over ``x`` transactions informs the posterior of ``nu``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
from scipy import special

from retention._validation import describe_ids
from retention.exceptions import ValidationError
from retention.forecast._base import BaseModel, compress, read_columns, read_weights

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]

__all__ = ["GammaGammaModel"]

_NONPOSITIVE_CHOICES = ("raise", "exclude")


class GammaGammaModel(BaseModel):
    """Gamma-Gamma spend model (Fader & Hardie 2013 note; Colombo & Jiang 1999).

    Parameters
    ----------
    nonpositive_spend
        What to do with repeat buyers whose ``monetary_value`` is 0 or negative (free
        orders, refunds netted away), which the model cannot describe: ``"raise"``
        (default) raises :class:`~retention.exceptions.ValidationError` naming them;
        ``"exclude"`` leaves them out of the fit (their ids are kept in
        ``excluded_customers_``) and predicts the population mean spend for them.
    penalizer, on_convergence_failure, max_iterations
        As for :class:`~retention.forecast.BetaGeoModel`.

    Attributes
    ----------
    params_ : dict
        ``p`` (shape of the spend per transaction) and ``q``, ``v`` (gamma of its scale).
    log_likelihood_ : float
        Total log-likelihood of the mean spends (note, eq. 5), comparable with the note.
    standard_errors_, confidence_intervals_, covariance_
        From the inverse Hessian.
    n_customers_ : int
        Repeat buyers the model was fitted on.
    excluded_customers_ : list
        Ids left out under ``nonpositive_spend="exclude"``.

    Notes
    -----
    Only customers with ``frequency > 0`` enter the fit, with ``monetary_value`` the mean
    value of their repeat transactions, as :func:`retention.rfm_summary` computes it (the
    note's 946 CDNOW customers).  The model assumes spend and purchase frequency are
    independent; check the correlation of ``frequency`` and ``monetary_value`` among repeat
    buyers before relying on it.

    Examples
    --------
    >>> import pandas as pd
    >>> model = GammaGammaModel.from_dict({"model": "GammaGammaModel", "format": 1,
    ...     "params": {"p": 6.25, "q": 3.74, "v": 15.44}})
    >>> summary = pd.DataFrame({"frequency": [2.0, 0.0], "monetary_value": [50.0, 0.0]},
    ...                        index=["a", "b"])
    >>> model.expected_spend(summary).round(2).to_dict()
    {'a': 47.34, 'b': 35.22}
    """

    _param_names = ("p", "q", "v")
    _uses_time = False
    _has_gradient = True

    excluded_customers_: list[Any]

    def __init__(
        self,
        *,
        nonpositive_spend: str = "raise",
        penalizer: float = 0.0,
        on_convergence_failure: str = "raise",
        max_iterations: int = 1000,
    ) -> None:
        super().__init__(
            penalizer=penalizer,
            on_convergence_failure=on_convergence_failure,
            max_iterations=max_iterations,
        )
        self.nonpositive_spend = nonpositive_spend

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor parameters (scikit-learn's ``get_params``)."""
        return {"nonpositive_spend": self.nonpositive_spend, **super().get_params(deep)}

    def _read_spend(
        self, frame: object, frequency_col: str, monetary_value_col: str, weights_col: str | None
    ) -> tuple[pd.DataFrame, FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
        if self.nonpositive_spend not in _NONPOSITIVE_CHOICES:
            msg = f"nonpositive_spend must be 'raise' or 'exclude', got {self.nonpositive_spend!r}"
            raise ValidationError(msg)
        columns = {"frequency": frequency_col, "monetary_value": monetary_value_col}
        checked, arrays = read_columns(frame, frame_name="summary", columns=columns)
        x, m = arrays["frequency"], arrays["monetary_value"]
        bad = (x < 0) | (x != np.floor(x))
        if bad.any():
            msg = (
                f"summary has a negative or non-integer frequency for {int(bad.sum())} "
                f"customer(s): {describe_ids(checked.index[bad])}; frequency counts repeat "
                "purchase periods (0, 1, 2, ...)"
            )
            raise ValidationError(msg)
        weights = read_weights(checked, weights_col, frame_name="summary")
        nonpositive = (x > 0) & (m <= 0)
        if nonpositive.any() and self.nonpositive_spend == "raise":
            msg = (
                f"summary has a zero or negative {monetary_value_col!r} for "
                f"{int(nonpositive.sum())} repeat buyer(s): "
                f"{describe_ids(checked.index[nonpositive])}; the Gamma-Gamma model needs "
                "positive spend. Remove them, or pass GammaGammaModel(nonpositive_spend="
                "'exclude') to leave them out of the fit and predict the mean spend for them"
            )
            raise ValidationError(msg)
        return checked, x, m, weights, nonpositive

    def fit(
        self,
        summary: pd.DataFrame,
        *,
        frequency_col: str = "frequency",
        monetary_value_col: str = "monetary_value",
        weights_col: str | None = None,
        initial_params: Mapping[str, float] | None = None,
    ) -> Self:
        """Estimate ``p``, ``q``, ``v`` from the repeat buyers of ``summary``; return ``self``.

        Parameters
        ----------
        summary
            One row per customer, indexed by customer id; customers with ``frequency`` 0
            are ignored.
        frequency_col, monetary_value_col
            Column names: repeat transactions and their mean value.
        weights_col
            Optional column counting customers per row.
        initial_params
            Starting values ``p``, ``q``, ``v`` for the optimiser.

        Returns
        -------
        Self
            The fitted model.

        Raises
        ------
        ValidationError
            For bad input (naming the customers), or when no repeat buyer is left.
        ConvergenceError
            When the optimiser fails (unless ``on_convergence_failure="warn"``).
        """
        checked, x, m, weights, nonpositive = self._read_spend(
            summary, frequency_col, monetary_value_col, weights_col
        )
        used = (x > 0) & ~nonpositive
        if not used.any():
            msg = (
                "summary has no repeat buyers with positive spend; the Gamma-Gamma model is "
                "fitted on customers with frequency > 0"
            )
            raise ValidationError(msg)
        data, compressed = compress(
            {"frequency": x[used], "monetary_value": m[used]}, weights[used]
        )
        n_customers = round(float(weights[used].sum()))
        self._estimate(data, compressed, n_customers=n_customers, initial_params=initial_params)
        self.excluded_customers_ = list(checked.index[nonpositive])
        self.time_unit_, self.time_scaler_ = None, None
        return self

    def _initial_params(self, data: Mapping[str, FloatArray], weights: FloatArray) -> FloatArray:
        mean = float((weights * data["monetary_value"]).sum()) / float(weights.sum())
        return np.array([1.0, 2.0, max(mean, 1e-6)])

    def _log_likelihood(self, theta: FloatArray, data: Mapping[str, FloatArray]) -> FloatArray:
        return self._log_likelihood_gradient(theta, data, gradient=False)[0]

    def _log_likelihood_gradient(
        self, theta: FloatArray, data: Mapping[str, FloatArray], *, gradient: bool = True
    ) -> tuple[FloatArray, FloatArray]:
        """Note eq. 5 (density of the mean spend) in log space, with its gradient."""
        p, q, v = (float(value) for value in theta)
        x, m = data["frequency"], data["monetary_value"]
        px = p * x
        log_vxm = np.log(v + x * m)
        values = (
            special.gammaln(px + q)
            - special.gammaln(px)
            - special.gammaln(q)
            + q * np.log(v)
            + (px - 1) * np.log(m)
            + px * np.log(x)
            - (px + q) * log_vxm
        )
        if not gradient:
            return values, np.empty((0, 3))
        psi = special.digamma(px + q)
        d_p = x * (psi - special.digamma(px) + np.log(m) + np.log(x) - log_vxm)
        d_q = psi - special.digamma(q) + np.log(v) - log_vxm
        d_v = q / v - (px + q) / (v + x * m)
        return values, np.vstack([d_p, d_q, d_v])

    def _extra_state(self) -> dict[str, Any]:
        return {"excluded_customers": [str(value) for value in self.excluded_customers_]}

    def _load_extra_state(self, data: Mapping[str, Any]) -> None:
        self.excluded_customers_ = list(data.get("excluded_customers", []))

    # --------------------------------------------------------------- predictions
    def mean_spend(self) -> float:
        """Return the population mean spend per transaction, ``p v / (q - 1)`` (needs ``q > 1``)."""
        self._check_fitted()
        p, q, v = (self.params_[name] for name in self._param_names)
        if q <= 1:
            msg = (
                f"the fitted q = {q:.3g} <= 1, so the mean spend per transaction is infinite; "
                "the spend data are too heavy-tailed for the Gamma-Gamma model"
            )
            raise ValidationError(msg)
        return p * v / (q - 1)

    def expected_spend(
        self,
        frame: pd.DataFrame,
        *,
        frequency_col: str = "frequency",
        monetary_value_col: str = "monetary_value",
    ) -> pd.Series:
        """Return the expected spend per transaction of each customer (note, eq. 6).

        ``E[M | m, x] = (p (v + x m)) / (p x + q - 1)``, a weighted mean of the population
        mean ``p v / (q - 1)`` and the customer's own mean ``m``.  Customers without a repeat
        purchase (and, under ``nonpositive_spend="exclude"``, those with non-positive spend)
        get the population mean.

        Parameters
        ----------
        frame
            Customer summary, indexed by customer id.
        frequency_col, monetary_value_col
            Column names of the summary.

        Returns
        -------
        pandas.Series
            ``expected_spend`` (> 0), indexed like ``frame``.
        """
        self._check_fitted()
        checked, x, m, _, nonpositive = self._read_spend(
            frame, frequency_col, monetary_value_col, None
        )
        p, q, v = (self.params_[name] for name in self._param_names)
        population = self.mean_spend()
        own = (x > 0) & ~nonpositive
        safe_x, safe_m = np.where(own, x, 0.0), np.where(own, m, 0.0)
        values = np.where(own, p * (v + safe_x * safe_m) / (p * safe_x + q - 1), population)
        return pd.Series(values, index=checked.index, name="expected_spend")
