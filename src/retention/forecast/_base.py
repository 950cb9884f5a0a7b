"""The machinery every forecast model shares.

* reading and checking a customer summary (``frequency``, ``recency``, ``T``) with
  errors that name the customers at fault;
* compressing identical rows into weights, so a million customers with daily data
  cost as much as their few hundred thousand distinct histories;
* maximum likelihood in log-parameter space (BFGS inside a box of 1e-8 .. 1e8), an
  optional L2 penalty, and a convergence check that raises
  :class:`~retention.exceptions.ConvergenceError` (or warns, with
  ``on_convergence_failure="warn"``);
* standard errors and confidence intervals from the Hessian of the log-likelihood;
* the scikit-learn estimator contract (``get_params``, ``set_params``, fitted
  attributes ending in ``_``) and JSON-able ``to_dict`` / ``from_dict``.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import optimize, special

from retention._validation import describe_ids, require_columns
from retention.exceptions import ConvergenceError, NotFittedError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]

__all__ = ["ConvergenceWarning"]

#: Parameters are optimised as logarithms inside these bounds (1e-8 .. 1e8).
_LOG_BOUND = math.log(1e8)
#: An estimate within this (in log space, plus 2) of a bound counts as "on the bound".
_BOUND_MARGIN = 1e-3
_FORMAT_VERSION = 1


class ConvergenceWarning(UserWarning):
    """The optimiser did not converge cleanly but the caller asked to keep the estimate.

    Raised as a warning instead of :class:`~retention.exceptions.ConvergenceError` when a
    model is built with ``on_convergence_failure="warn"``.
    """


def frame_time_unit(frame: pd.DataFrame) -> tuple[str | None, float | None]:
    """Return the ``(time_unit, time_scaler)`` recorded in ``frame.attrs``, if any."""
    unit = frame.attrs.get("time_unit")
    scaler = frame.attrs.get("time_scaler")
    return (
        None if unit is None else str(unit),
        None if scaler is None else float(scaler),
    )


def _numeric_column(frame: pd.DataFrame, column: str, *, frame_name: str) -> FloatArray:
    series = frame[column]
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        msg = (
            f"{frame_name} column {column!r} must be numeric, got dtype {series.dtype}; "
            "convert it with pandas.to_numeric first"
        )
        raise ValidationError(msg)
    return np.asarray(series, dtype=np.float64)


def _refuse(
    frame: pd.DataFrame, mask: NDArray[np.bool_], problem: str, fix: str, name: str
) -> None:
    if mask.any():
        ids = describe_ids(frame.index[mask])
        count = int(mask.sum())
        msg = f"{name} has {problem} for {count} customer(s): {ids}; {fix}"
        raise ValidationError(msg)


def read_columns(
    frame: object,
    *,
    frame_name: str,
    columns: Mapping[str, str | None],
) -> tuple[pd.DataFrame, dict[str, FloatArray]]:
    """Check ``frame`` and return it with its named columns as float arrays.

    Refuses a non-frame, missing columns, an empty frame, duplicated customer ids,
    non-numeric columns and NaN or infinite values, naming the customers at fault.
    """
    require_columns(frame, frame_name=frame_name, **columns)
    assert isinstance(frame, pd.DataFrame)  # noqa: S101 - require_columns checked it
    if len(frame) == 0:
        msg = f"{frame_name} has no customers (no rows); pass a summary with at least one row"
        raise ValidationError(msg)
    if frame.index.has_duplicates:
        duplicated = np.asarray(frame.index.duplicated(keep=False))
        _refuse(
            frame,
            duplicated,
            "duplicated customer ids in its index",
            "predictions are keyed by customer id, so each customer needs exactly one row",
            frame_name,
        )
    arrays: dict[str, FloatArray] = {}
    for keyword, column in columns.items():
        if column is None:
            continue
        values = _numeric_column(frame, column, frame_name=frame_name)
        _refuse(
            frame,
            ~np.isfinite(values),
            f"a missing or infinite {column!r} ({keyword})",
            "drop or repair these rows before fitting or predicting",
            frame_name,
        )
        arrays[keyword] = values
    return frame, arrays


def check_rfm(
    frame: pd.DataFrame,
    arrays: Mapping[str, FloatArray],
    *,
    frame_name: str,
    discrete: bool = False,
) -> None:
    """Check the BTYD summary invariants (lifetimes' ``_check_inputs`` and more).

    ``frequency`` is a non-negative integer; ``recency`` and ``T`` are non-negative with
    ``recency <= T``; ``recency`` is 0 when ``frequency`` is 0.  For discrete-time data
    (``discrete=True``) ``recency`` and ``T`` are whole periods and ``frequency <= recency``.
    """
    x, t_x, T = arrays["frequency"], arrays["recency"], arrays["T"]
    _refuse(
        frame,
        (x < 0) | (x != np.floor(x)),
        "a negative or non-integer frequency",
        "frequency counts repeat purchase periods (0, 1, 2, ...)",
        frame_name,
    )
    _refuse(
        frame,
        (t_x < 0) | (T < 0),
        "a negative recency or T",
        "recency and T are durations since the first purchase",
        frame_name,
    )
    _refuse(
        frame,
        t_x > T * (1 + 1e-12) + 1e-12,
        "recency greater than T",
        "recency (first to last purchase) cannot exceed T (first purchase to the end of "
        "observation); rebuild the summary with rfm_summary",
        frame_name,
    )
    _refuse(
        frame,
        (x == 0) & (t_x != 0),
        "a positive recency with frequency 0",
        "a customer without repeat purchases has recency 0",
        frame_name,
    )
    if discrete:
        _refuse(
            frame,
            (t_x != np.floor(t_x)) | (np.floor(T) != T),
            "a non-integer recency or number of periods",
            "discrete-time models take whole transaction opportunities",
            frame_name,
        )
        _refuse(
            frame,
            x > t_x,
            "more transactions than the period of the last one (frequency > recency)",
            "in discrete time, frequency <= recency <= periods",
            frame_name,
        )


def read_weights(frame: pd.DataFrame, weights_col: str | None, *, frame_name: str) -> FloatArray:
    """Return the row weights (all ones without ``weights_col``), refusing bad values."""
    if weights_col is None:
        return np.ones(len(frame))
    weights = _numeric_column(frame, weights_col, frame_name=frame_name)
    _refuse(
        frame,
        ~np.isfinite(weights) | (weights < 0),
        f"a missing, infinite or negative weight ({weights_col!r})",
        "weights count customers and must be finite and >= 0",
        frame_name,
    )
    if weights.sum() <= 0:
        msg = f"{frame_name} weights ({weights_col!r}) sum to 0; at least one must be positive"
        raise ValidationError(msg)
    return weights


def compress(
    arrays: Mapping[str, FloatArray], weights: FloatArray
) -> tuple[dict[str, FloatArray], FloatArray]:
    """Merge identical rows, summing their weights (rows of weight 0 are dropped)."""
    keys = list(arrays)
    table = pd.DataFrame({**{key: arrays[key] for key in keys}, "__weight": weights})
    table = table[table["__weight"] > 0]
    grouped = table.groupby(keys, sort=False)["__weight"].sum()
    levels = {
        key: np.asarray(grouped.index.get_level_values(i), dtype=np.float64)
        for i, key in enumerate(keys)
    }
    return levels, np.asarray(grouped.to_numpy(), dtype=np.float64)


def expm1_ratio(k: FloatArray | float, length: FloatArray | float) -> FloatArray:
    """Return ``(1 - exp(-k * length)) / k``, with its limit ``length`` at ``k = 0``."""
    k_arr = np.asarray(k, dtype=np.float64)
    length_arr = np.asarray(length, dtype=np.float64)
    product = k_arr * length_arr
    small = np.abs(product) < 1e-8
    safe_k = np.where(small, 1.0, k_arr)
    exact = -np.expm1(-product) / safe_k
    series = length_arr * (1 - product / 2)
    return np.asarray(np.where(small, series, exact), dtype=np.float64)


class BaseModel:
    """Maximum-likelihood estimation shared by every forecast model.

    Subclasses set ``_param_names`` and implement ``_prepare`` (frame -> arrays),
    ``_log_likelihood`` (per row) and ``_initial_params``; they may implement
    ``_log_likelihood_gradient`` for an analytic gradient.
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _uses_time: ClassVar[bool] = True
    _has_gradient: ClassVar[bool] = False

    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: int
    standard_errors_: dict[str, float]
    confidence_intervals_: pd.DataFrame
    covariance_: pd.DataFrame
    time_unit_: str | None
    time_scaler_: float | None

    def __init__(
        self,
        *,
        penalizer: float = 0.0,
        on_convergence_failure: str = "raise",
        max_iterations: int = 1000,
    ) -> None:
        self.penalizer = penalizer
        self.on_convergence_failure = on_convergence_failure
        self.max_iterations = max_iterations

    # ----------------------------------------------------------------- estimator API
    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 - sklearn API
        """Return the constructor parameters (scikit-learn's ``get_params``)."""
        return {
            "penalizer": self.penalizer,
            "on_convergence_failure": self.on_convergence_failure,
            "max_iterations": self.max_iterations,
        }

    def set_params(self, **params: object) -> Self:
        """Set constructor parameters (scikit-learn's ``set_params``) and return ``self``."""
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                msg = (
                    f"{type(self).__name__} has no parameter {name!r}; "
                    f"valid ones are {', '.join(sorted(valid))}"
                )
                raise ValidationError(msg)
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """Show the constructor parameters, as scikit-learn does."""
        shown = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({shown})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            msg = f"{type(self).__name__} is not fitted yet; call fit(summary) first"
            raise NotFittedError(msg)

    def _check_settings(self) -> None:
        penalizer: object = self.penalizer
        if not isinstance(penalizer, (int, float)) or not math.isfinite(penalizer) or penalizer < 0:
            msg = f"penalizer must be a finite number >= 0, got {penalizer!r}"
            raise ValidationError(msg)
        if self.on_convergence_failure not in {"raise", "warn"}:
            msg = (
                "on_convergence_failure must be 'raise' or 'warn', "
                f"got {self.on_convergence_failure!r}"
            )
            raise ValidationError(msg)
        iterations: object = self.max_iterations
        if not isinstance(iterations, int) or iterations < 1:
            msg = f"max_iterations must be a positive integer, got {self.max_iterations!r}"
            raise ValidationError(msg)

    # -------------------------------------------------------------- model interface
    def _log_likelihood(self, theta: FloatArray, data: Mapping[str, FloatArray]) -> FloatArray:
        raise NotImplementedError

    def _log_likelihood_gradient(
        self, theta: FloatArray, data: Mapping[str, FloatArray]
    ) -> tuple[FloatArray, FloatArray]:
        raise NotImplementedError

    def _initial_params(self, data: Mapping[str, FloatArray], weights: FloatArray) -> FloatArray:
        raise NotImplementedError

    # ------------------------------------------------------------------- estimation
    def _estimate(
        self,
        data: Mapping[str, FloatArray],
        weights: FloatArray,
        *,
        n_customers: int,
        initial_params: Mapping[str, float] | None,
    ) -> None:
        """Maximise the weighted log-likelihood and set the fitted attributes."""
        self._check_settings()
        names = self._param_names
        if initial_params is None:
            theta0 = self._initial_params(data, weights)
        else:
            missing = [name for name in names if name not in initial_params]
            if missing:
                msg = f"initial_params lacks {', '.join(missing)}; give all of {', '.join(names)}"
                raise ValidationError(msg)
            theta0 = np.array([float(initial_params[name]) for name in names])
            if not np.all(np.isfinite(theta0)) or np.any(theta0 <= 0):
                msg = f"initial_params must be finite and > 0, got {dict(initial_params)!r}"
                raise ValidationError(msg)
        phi0 = np.clip(np.log(theta0), -_LOG_BOUND + 1, _LOG_BOUND - 1)
        total_weight = float(weights.sum())
        penalizer = float(self.penalizer)

        def total(phi: FloatArray) -> float:
            with np.errstate(all="ignore"):
                value = float((weights * self._log_likelihood(np.exp(phi), data)).sum())
            return value if math.isfinite(value) else -math.inf

        def objective(phi: FloatArray) -> tuple[float, FloatArray]:
            if np.any(np.abs(phi) > _LOG_BOUND):
                return 1e300, np.zeros_like(phi)  # outside the box: the line search backs off
            theta = np.exp(phi)
            if self._has_gradient:
                with np.errstate(all="ignore"):
                    values, gradient = self._log_likelihood_gradient(theta, data)
                value = float((weights * values).sum())
                grad_phi = (gradient * weights).sum(axis=1) * theta
            else:
                value = total(phi)
                grad_phi = _central_gradient(total, phi)
            if not math.isfinite(value) or not np.all(np.isfinite(grad_phi)):
                return 1e300, np.zeros_like(phi)
            scaled = -value / total_weight + penalizer * float((theta * theta).sum())
            grad = -grad_phi / total_weight + 2 * penalizer * theta * theta
            return scaled, grad

        # BFGS on log-parameters: a handful of parameters, so its dense updates cost nothing
        # and, unlike L-BFGS-B, it makes no multi-threaded BLAS calls (slow on busy machines).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            result = optimize.minimize(
                objective,
                phi0,
                jac=True,
                method="BFGS",
                options={
                    "maxiter": self.max_iterations,
                    "gtol": 1e-9 if self._has_gradient else 1e-7,
                },
            )
        phi = np.asarray(result.x, dtype=np.float64)
        _, final_gradient = objective(phi)
        theta = np.exp(phi)
        # Curvature of the penalised total log-likelihood (the penalty adds -4 W c theta^2).
        hessian = self._hessian(phi, total, data, weights)
        hessian = hessian - np.diag(4 * total_weight * penalizer * theta**2)
        covariance_phi = _inverse_or_nan(-hessian)
        self._check_convergence(
            result, phi, final_gradient, identified=bool(np.all(np.isfinite(covariance_phi)))
        )
        log_likelihood = total(phi)
        jacobian = np.diag(theta)
        covariance = jacobian @ covariance_phi @ jacobian
        self._set_fitted(
            theta=theta,
            log_likelihood=log_likelihood,
            n_customers=n_customers,
            covariance=covariance,
        )

    def _hessian(
        self,
        phi: FloatArray,
        total: Callable[[FloatArray], float],
        data: Mapping[str, FloatArray],
        weights: FloatArray,
    ) -> FloatArray:
        """Hessian of the (unpenalised) total log-likelihood in log-parameter space."""
        k = len(phi)
        if self._has_gradient:

            def gradient(point: FloatArray) -> FloatArray:
                theta = np.exp(point)
                with np.errstate(all="ignore"):
                    _, grad = self._log_likelihood_gradient(theta, data)
                return np.asarray((grad * weights).sum(axis=1) * theta, dtype=np.float64)

            step = 1e-5
            columns = []
            for j in range(k):
                shift = np.zeros(k)
                shift[j] = step
                columns.append((gradient(phi + shift) - gradient(phi - shift)) / (2 * step))
            hessian = np.column_stack(columns)
        else:
            step = 1e-4
            hessian = np.empty((k, k))
            centre = total(phi)
            for i in range(k):
                e_i = np.zeros(k)
                e_i[i] = step
                hessian[i, i] = (total(phi + e_i) - 2 * centre + total(phi - e_i)) / step**2
                for j in range(i):
                    e_j = np.zeros(k)
                    e_j[j] = step
                    value = (
                        total(phi + e_i + e_j)
                        - total(phi + e_i - e_j)
                        - total(phi - e_i + e_j)
                        + total(phi - e_i - e_j)
                    ) / (4 * step**2)
                    hessian[i, j] = hessian[j, i] = value
        return np.asarray((hessian + hessian.T) / 2, dtype=np.float64)

    def _check_convergence(
        self,
        result: optimize.OptimizeResult,
        phi: FloatArray,
        gradient: FloatArray,
        *,
        identified: bool,
    ) -> None:
        name = type(self).__name__
        problems = []
        on_bound = np.abs(phi) > _LOG_BOUND - _BOUND_MARGIN - 2
        if on_bound.any():
            which = ", ".join(
                f"{self._param_names[i]}={math.exp(phi[i]):.3g}" for i in np.flatnonzero(on_bound)
            )
            problems.append(
                f"the estimate ran to the edge of the parameter space ({which}), so the data "
                "do not identify the model (too few repeat buyers, or a time unit far too "
                "small or large)"
            )
        grad_norm = float(np.max(np.abs(gradient))) if gradient.size else 0.0
        if not result.success and grad_norm > 1e-5:
            problems.append(f"the optimiser stopped early ({result.message})")
        elif grad_norm > 1e-3 and not on_bound.any():
            problems.append(f"the gradient is still {grad_norm:.2g} at the estimate")
        if not identified and not on_bound.any():
            problems.append(
                "the log-likelihood is flat in some direction at the estimate (its Hessian is "
                "not negative definite), so the data do not identify every parameter"
            )
        if not problems:
            return
        msg = (
            f"{name} did not converge: {'; '.join(problems)}. Try penalizer=0.001 (or larger), "
            "check the summary's time unit and time_scaler, pass initial_params near a known "
            "fit, or use another model; on_convergence_failure='warn' keeps the estimate with "
            "a warning"
        )
        if self.on_convergence_failure == "warn":
            warnings.warn(msg, ConvergenceWarning, stacklevel=4)
            return
        raise ConvergenceError(msg)

    def _set_fitted(
        self,
        *,
        theta: FloatArray,
        log_likelihood: float,
        n_customers: int,
        covariance: FloatArray,
    ) -> None:
        names = list(self._param_names)
        self.params_ = {name: float(value) for name, value in zip(names, theta, strict=True)}
        self.log_likelihood_ = float(log_likelihood)
        self.n_customers_ = int(n_customers)
        self.covariance_ = pd.DataFrame(covariance, index=names, columns=names)
        variances = np.diag(covariance)
        errors = np.sqrt(np.where(variances >= 0, variances, np.nan))
        self.standard_errors_ = {
            name: float(value) for name, value in zip(names, errors, strict=True)
        }
        self.confidence_intervals_ = self.confidence_intervals(0.95)

    def confidence_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals for the parameters, computed on the log scale.

        Parameters
        ----------
        level
            Coverage, between 0 and 1 (default 0.95).

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter name, with columns ``estimate``, ``standard_error``,
            ``lower`` and ``upper``.  The interval is ``exp(log(theta) -/+ z * se / theta)``,
            so it stays positive; it is NaN when the Hessian is not invertible.
        """
        self._check_fitted()
        if not 0 < level < 1:
            msg = f"level must be between 0 and 1, got {level!r}"
            raise ValidationError(msg)
        z = float(special.ndtri(0.5 + level / 2))
        names = list(self._param_names)
        theta = np.array([self.params_[name] for name in names])
        errors = np.array([self.standard_errors_[name] for name in names])
        spread = z * errors / theta
        return pd.DataFrame(
            {
                "estimate": theta,
                "standard_error": errors,
                "lower": theta * np.exp(-spread),
                "upper": theta * np.exp(spread),
            },
            index=pd.Index(names, name="parameter"),
        )

    # ----------------------------------------------------------------- time units
    def _remember_units(self, frame: pd.DataFrame) -> None:
        self.time_unit_, self.time_scaler_ = frame_time_unit(frame)

    def _check_units(self, frame: pd.DataFrame, *, frame_name: str) -> None:
        if not self._uses_time:
            return
        unit, scaler = frame_time_unit(frame)
        mine = (self.time_unit_, self.time_scaler_)
        if unit is None or mine[0] is None:
            return
        if unit != mine[0] or (
            scaler is not None and mine[1] is not None and not math.isclose(scaler, mine[1])
        ):
            msg = (
                f"{frame_name} is in time_unit={unit!r}, time_scaler={scaler!r} but "
                f"{type(self).__name__} was fitted on time_unit={mine[0]!r}, "
                f"time_scaler={mine[1]!r}; rebuild the summary with rfm_summary(..., "
                f"time_unit={mine[0]!r}, time_scaler={mine[1]!r}) or refit the model"
            )
            raise ValidationError(msg)

    # -------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as a JSON-able dict (see :meth:`from_dict`)."""
        self._check_fitted()
        covariance = self.covariance_.to_numpy()
        return {
            "model": type(self).__name__,
            "format": _FORMAT_VERSION,
            "init": self.get_params(),
            "params": dict(self.params_),
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
            "time_unit": self.time_unit_,
            "time_scaler": self.time_scaler_,
            "covariance": [
                [float(value) if math.isfinite(value) else None for value in row]
                for row in covariance
            ],
            **self._extra_state(),
        }

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, data: Mapping[str, Any]) -> None:
        """Restore what ``_extra_state`` saved (nothing by default)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_dict` output.

        Raises
        ------
        ValidationError
            When the dict describes another model, another format version, or lacks
            parameters.
        """
        if data.get("model") != cls.__name__:
            msg = f"the dict describes a {data.get('model')!r}, not a {cls.__name__}"
            raise ValidationError(msg)
        if data.get("format") != _FORMAT_VERSION:
            msg = (
                f"unsupported {cls.__name__} format {data.get('format')!r}; "
                f"this version reads format {_FORMAT_VERSION}"
            )
            raise ValidationError(msg)
        params = data.get("params", {})
        missing = [name for name in cls._param_names if name not in params]
        if missing:
            msg = f"the dict lacks parameters {', '.join(missing)}"
            raise ValidationError(msg)
        model = cls(**data.get("init", {}))
        theta = np.array([float(params[name]) for name in cls._param_names])
        raw = data.get("covariance")
        k = len(cls._param_names)
        covariance = (
            np.full((k, k), np.nan)
            if raw is None
            else np.array([[np.nan if v is None else v for v in row] for row in raw], dtype=float)
        )
        model._set_fitted(
            theta=theta,
            log_likelihood=float(data.get("log_likelihood", np.nan)),
            n_customers=int(data.get("n_customers", 0)),
            covariance=covariance,
        )
        model.time_unit_ = data.get("time_unit")
        scaler = data.get("time_scaler")
        model.time_scaler_ = None if scaler is None else float(scaler)
        model._load_extra_state(data)
        return model


def _central_gradient(function: Callable[[FloatArray], float], phi: FloatArray) -> FloatArray:
    step = 1e-6
    gradient = np.empty_like(phi)
    for i in range(len(phi)):
        shift = np.zeros_like(phi)
        shift[i] = step
        gradient[i] = (function(phi + shift) - function(phi - shift)) / (2 * step)
    return gradient


def _inverse_or_nan(matrix: FloatArray) -> FloatArray:
    """Inverse of a symmetric positive definite matrix; NaN if it is not (clearly) one."""
    if not np.all(np.isfinite(matrix)):
        return np.full_like(matrix, np.nan)
    eigenvalues = np.linalg.eigvalsh(matrix)
    if eigenvalues[0] <= 1e-9 * max(float(eigenvalues[-1]), 0.0) or eigenvalues[0] <= 0:
        return np.full_like(matrix, np.nan)
    return np.asarray(np.linalg.inv(matrix), dtype=np.float64)


def as_time(t: object, *, name: str = "t") -> float:
    """Return ``t`` as a finite float >= 0, or raise :class:`ValidationError`."""
    try:
        value = float(t)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        msg = f"{name} must be a finite number >= 0 (in the summary's time units), got {t!r}"
        raise ValidationError(msg)
    return value


def as_count(n: object, *, name: str = "n") -> int:
    """Return ``n`` as an int >= 0, or raise :class:`ValidationError`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        msg = f"{name} must be a whole number >= 0, got {n!r}"
        raise ValidationError(msg)
    return int(n)
