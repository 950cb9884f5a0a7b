"""The public surface shared by the purchase-count models (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

import numpy as np
import pandas as pd

from retention.exceptions import ValidationError
from retention.forecast._base import (
    BaseModel,
    as_count,
    as_time,
    check_rfm,
    compress,
    read_columns,
    read_weights,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import ArrayLike, NDArray

    FloatArray = NDArray[np.float64]

__all__ = ["TransactionModel"]


class TransactionModel(BaseModel):
    """A model of how many purchases each customer makes and whether they are still active.

    Input summaries hold one row per customer, indexed by customer id, with ``frequency``
    (repeat purchases), ``recency`` (time of the last purchase since the first) and ``T``
    (time since the first purchase to the end of observation), as :func:`retention.rfm_summary`
    returns them.  All times are in the summary's units; a model remembers the
    ``time_unit`` and ``time_scaler`` recorded in ``summary.attrs`` and refuses a frame in
    another unit.
    """

    _discrete: ClassVar[bool] = False

    def fit(
        self,
        summary: pd.DataFrame,
        *,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        T_col: str = "T",
        weights_col: str | None = None,
        initial_params: Mapping[str, float] | None = None,
    ) -> Self:
        """Estimate the parameters by maximum likelihood and return ``self``.

        Parameters
        ----------
        summary
            One row per customer (or per pattern, with ``weights_col``), indexed by
            customer id.
        frequency_col, recency_col, T_col
            Column names of the summary.
        weights_col
            Optional column counting how many customers share the row.
        initial_params
            Starting values for the optimiser, by parameter name.

        Returns
        -------
        Self
            The fitted model, with ``params_``, ``log_likelihood_``, ``standard_errors_``,
            ``confidence_intervals_``, ``covariance_``, ``n_customers_``, ``time_unit_``
            and ``time_scaler_`` set.

        Raises
        ------
        ValidationError
            For bad input, naming the customers.
        ConvergenceError
            When the optimiser fails or ends on a bound (unless
            ``on_convergence_failure="warn"``).
        """
        columns = {"frequency": frequency_col, "recency": recency_col, "T": T_col}
        frame, arrays = read_columns(summary, frame_name="summary", columns=columns)
        check_rfm(frame, arrays, frame_name="summary", discrete=self._discrete)
        weights = read_weights(frame, weights_col, frame_name="summary")
        data, compressed_weights = compress(arrays, weights)
        self._augment(data)
        n_customers = round(float(weights.sum())) if weights_col is not None else len(frame)
        self._estimate(
            data, compressed_weights, n_customers=n_customers, initial_params=initial_params
        )
        self._remember_units(frame)
        return self

    # ------------------------------------------------------------------ helpers
    def _augment(self, data: dict[str, FloatArray]) -> None:
        """Precompute what the likelihood reuses at every evaluation (frequency levels)."""
        levels, index = np.unique(data["frequency"], return_inverse=True)
        # Functions of the frequency alone (gammaln, digamma...) are evaluated per level.
        data["x_levels"], data["x_index"] = levels, index.reshape(-1).astype(np.float64)

    def _theta(self) -> tuple[float, ...]:
        self._check_fitted()
        return tuple(self.params_[name] for name in self._param_names)

    def _read(
        self, frame: pd.DataFrame, frequency_col: str, recency_col: str, T_col: str
    ) -> tuple[pd.DataFrame, FloatArray, FloatArray, FloatArray]:
        self._check_fitted()
        columns = {"frequency": frequency_col, "recency": recency_col, "T": T_col}
        checked, arrays = read_columns(frame, frame_name="frame", columns=columns)
        check_rfm(checked, arrays, frame_name="frame", discrete=self._discrete)
        self._check_units(checked, frame_name="frame")
        return checked, arrays["frequency"], arrays["recency"], arrays["T"]

    def _as_horizon(self, t: object) -> float:
        value = as_time(t)
        if self._discrete and value != int(value):
            msg = f"t must be a whole number of periods for a discrete-time model, got {t!r}"
            raise ValidationError(msg)
        return value

    # --------------------------------------------------------------- predictions
    def probability_alive(
        self,
        frame: pd.DataFrame,
        *,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        T_col: str = "T",
    ) -> pd.Series:
        """Probability that each customer is still active at the end of observation.

        Parameters
        ----------
        frame
            Customer summary, indexed by customer id.
        frequency_col, recency_col, T_col
            Column names of the summary.

        Returns
        -------
        pandas.Series
            ``probability_alive`` in [0, 1], indexed like ``frame``.
        """
        checked, x, t_x, T = self._read(frame, frequency_col, recency_col, T_col)
        with np.errstate(all="ignore"):
            values = np.clip(self._alive(x, t_x, T), 0.0, 1.0)
        return pd.Series(values, index=checked.index, name="probability_alive")

    def expected_purchases(
        self,
        t: float,
        frame: pd.DataFrame,
        *,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        T_col: str = "T",
    ) -> pd.Series:
        """Return the expected number of purchases of each customer in the next ``t`` time units.

        This is the conditional expectation given the customer's history
        (``frequency``, ``recency``, ``T``).

        Parameters
        ----------
        t
            Horizon in the summary's time units (whole periods for BG/BB).
        frame
            Customer summary, indexed by customer id.
        frequency_col, recency_col, T_col
            Column names of the summary.

        Returns
        -------
        pandas.Series
            ``expected_purchases`` (>= 0, increasing in ``t``), indexed like ``frame``.
        """
        horizon = self._as_horizon(t)
        checked, x, t_x, T = self._read(frame, frequency_col, recency_col, T_col)
        with np.errstate(all="ignore"):
            values = np.maximum(self._conditional_expected(horizon, x, t_x, T), 0.0)
        return pd.Series(values, index=checked.index, name="expected_purchases")

    def probability_of_purchases(
        self,
        n: int,
        t: float,
        frame: pd.DataFrame,
        *,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        T_col: str = "T",
    ) -> pd.Series:
        """Probability that each customer makes exactly ``n`` purchases in the next ``t``.

        Parameters
        ----------
        n
            Number of purchases (0, 1, 2, ...).
        t
            Horizon in the summary's time units (whole periods for BG/BB).
        frame
            Customer summary, indexed by customer id.
        frequency_col, recency_col, T_col
            Column names of the summary.

        Returns
        -------
        pandas.Series
            ``probability_of_purchases`` in [0, 1], indexed like ``frame``.
        """
        count = as_count(n)
        horizon = self._as_horizon(t)
        checked, x, t_x, T = self._read(frame, frequency_col, recency_col, T_col)
        with np.errstate(all="ignore"):
            values = np.clip(self._conditional_pmf(count, horizon, x, t_x, T), 0.0, 1.0)
        return pd.Series(values, index=checked.index, name="probability_of_purchases")

    def expected_purchases_new_customer(self, t: ArrayLike) -> FloatArray:
        """Return the expected purchases of a customer just acquired, within ``t`` time units.

        Parameters
        ----------
        t
            One horizon or an array of them, in the fitted summary's time units.

        Returns
        -------
        numpy.ndarray
            Expected repeat purchases (same shape as ``t``).
        """
        horizons = self._horizons(t)
        with np.errstate(all="ignore"):
            return np.maximum(self._new_expected(horizons), 0.0)

    def probability_of_purchases_new_customer(self, n: int, t: ArrayLike) -> FloatArray:
        """Probability that a customer just acquired makes ``n`` repeat purchases within ``t``.

        Parameters
        ----------
        n
            Number of repeat purchases.
        t
            One horizon or an array of them, in the fitted summary's time units.

        Returns
        -------
        numpy.ndarray
            Probabilities (same shape as ``t``).
        """
        count = as_count(n)
        horizons = self._horizons(t)
        with np.errstate(all="ignore"):
            return np.clip(self._new_pmf(count, horizons), 0.0, 1.0)

    def _horizons(self, t: ArrayLike) -> FloatArray:
        self._check_fitted()
        try:
            values = np.asarray(t, dtype=np.float64)
        except (TypeError, ValueError):
            values = np.array(np.nan)
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            msg = f"t must hold finite numbers >= 0 (in the summary's time units), got {t!r}"
            raise ValidationError(msg)
        if self._discrete and np.any(values != np.floor(values)):
            msg = f"t must hold whole numbers of periods for a discrete-time model, got {t!r}"
            raise ValidationError(msg)
        return values

    # ------------------------------------------------------------ model formulas
    def _alive(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _conditional_expected(
        self, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        raise NotImplementedError

    def _conditional_pmf(
        self, n: int, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        raise NotImplementedError

    def _new_expected(self, t: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _new_pmf(self, n: int, t: FloatArray) -> FloatArray:
        raise NotImplementedError
