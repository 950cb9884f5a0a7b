"""Diagnostic figures for the forecast models (needs the ``plot`` extra: matplotlib).

matplotlib is imported inside each function, so ``import retention`` never loads it.
Every function draws on ``ax`` when given one and otherwise on a new figure, and
returns the :class:`matplotlib.axes.Axes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retention.exceptions import ValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from retention.forecast._transaction import TransactionModel

__all__ = [
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_frequency_recency_matrix",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
]


def _axes(ax: Axes | None) -> Axes:
    try:
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional dependency, loaded lazily
    except ImportError as error:  # pragma: no cover - depends on the environment
        msg = "plots need matplotlib: pip install 'retention-crm[plot]'"
        raise ImportError(msg) from error
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _grid(
    model: TransactionModel, max_frequency: int | None, max_T: float | None
) -> tuple[pd.DataFrame, int, float]:
    model._check_fitted()  # noqa: SLF001 - same package
    frequency = 50 if max_frequency is None else int(max_frequency)
    horizon = 52.0 if max_T is None else float(max_T)
    if frequency < 1 or horizon <= 0:
        msg = "max_frequency must be >= 1 and max_T > 0"
        raise ValidationError(msg)
    recency = np.linspace(0, horizon, 101)
    if model._discrete:  # noqa: SLF001 - same package
        recency = np.arange(0, int(horizon) + 1, dtype=np.float64)
    x_grid, t_grid = np.meshgrid(np.arange(frequency + 1, dtype=np.float64), recency)
    valid = (x_grid > 0) == (t_grid > 0)
    if model._discrete:  # noqa: SLF001 - same package
        valid &= x_grid <= t_grid
    frame = pd.DataFrame(
        {
            "frequency": x_grid[valid],
            "recency": t_grid[valid],
            "T": np.full(int(valid.sum()), horizon),
        }
    )
    frame.attrs = {"time_unit": model.time_unit_, "time_scaler": model.time_scaler_}
    return frame, frequency, horizon


def _matrix(frame: pd.DataFrame, values: pd.Series) -> pd.DataFrame:
    table = pd.DataFrame(
        {"frequency": frame["frequency"], "recency": frame["recency"], "value": values.to_numpy()}
    )
    return table.pivot_table(index="recency", columns="frequency", values="value")


def _draw_matrix(ax: Axes, matrix: pd.DataFrame, title: str, label: str) -> Axes:
    image = ax.imshow(
        matrix.to_numpy()[::-1],
        aspect="auto",
        extent=(
            float(matrix.columns.min()),
            float(matrix.columns.max()),
            float(matrix.index.min()),
            float(matrix.index.max()),
        ),
    )
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("frequency (repeat purchases)")
    ax.set_ylabel("recency (time of the last purchase)")
    ax.set_title(title)
    return ax


def plot_frequency_recency_matrix(
    model: TransactionModel,
    *,
    t: float = 1.0,
    max_frequency: int | None = None,
    max_T: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the expected purchases in the next ``t`` by frequency and recency (age ``max_T``).

    Parameters
    ----------
    model
        A fitted transaction model.
    t
        Horizon of the expectation, in the model's time units.
    max_frequency
        Largest frequency shown (default 50).
    max_T
        Customer age ``T`` (and largest recency) of the matrix (default 52).
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    frame, _, horizon = _grid(model, max_frequency, max_T)
    values = model.expected_purchases(t, frame)
    return _draw_matrix(
        _axes(ax),
        _matrix(frame, values),
        f"Expected purchases in the next {t:g} (customer age {horizon:g})",
        "expected purchases",
    )


def plot_probability_alive_matrix(
    model: TransactionModel,
    *,
    max_frequency: int | None = None,
    max_T: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the probability of being alive by frequency and recency, for customers of age ``max_T``.

    Parameters
    ----------
    model
        A fitted transaction model.
    max_frequency
        Largest frequency shown (default 50).
    max_T
        Customer age ``T`` (and largest recency) of the matrix (default 52).
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    frame, _, horizon = _grid(model, max_frequency, max_T)
    values = model.probability_alive(frame)
    return _draw_matrix(
        _axes(ax),
        _matrix(frame, values),
        f"Probability alive (customer age {horizon:g})",
        "P(alive)",
    )


def plot_calibration_purchases_vs_holdout_purchases(
    model: TransactionModel,
    calibration_holdout: pd.DataFrame,
    *,
    max_frequency: int = 7,
    ax: Axes | None = None,
) -> Axes:
    """Draw the mean actual and expected holdout purchases by calibration frequency.

    Parameters
    ----------
    model
        A transaction model fitted on the calibration part.
    calibration_holdout
        Output of :func:`~retention.forecast.calibration_and_holdout`.
    max_frequency
        Calibration frequencies at or above it are pooled.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    from retention.forecast.evaluation import evaluate_holdout  # noqa: PLC0415 - no cycle

    table = evaluate_holdout(model, calibration_holdout, max_frequency=max_frequency).by_frequency
    ax = _axes(ax)
    ax.plot(table.index, table["actual"], marker="o", label="actual")
    ax.plot(table.index, table["expected"], marker="s", linestyle="--", label="model")
    ax.set_xlabel(f"purchases in the calibration period ({max_frequency} = {max_frequency}+)")
    ax.set_ylabel("mean purchases in the holdout period")
    ax.set_title("Calibration vs holdout purchases")
    ax.legend()
    return ax


def plot_period_transactions(
    model: TransactionModel,
    summary: pd.DataFrame,
    *,
    max_frequency: int = 7,
    ax: Axes | None = None,
) -> Axes:
    """Draw the customers by number of repeat purchases: actual vs expected.

    The expected count for ``k`` purchases is the sum over customers of the new-customer
    probability of ``k`` purchases within the customer's own age ``T``.

    Parameters
    ----------
    model
        A fitted transaction model.
    summary
        The summary the model was fitted on.
    max_frequency
        Frequencies at or above it are pooled in the last bar.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    model._check_fitted()  # noqa: SLF001 - same package
    ages = np.asarray(summary["T"], dtype=np.float64)
    counts = np.asarray(summary["frequency"], dtype=np.float64)
    levels = np.arange(max_frequency + 1)
    actual = np.array(
        [(counts == k).sum() for k in levels[:-1]] + [(counts >= max_frequency).sum()]
    )
    expected_each = np.array(
        [model.probability_of_purchases_new_customer(int(k), ages).sum() for k in levels[:-1]]
    )
    expected = np.append(expected_each, len(ages) - expected_each.sum())
    ax = _axes(ax)
    width = 0.4
    ax.bar(levels - width / 2, actual, width=width, label="actual")
    ax.bar(levels + width / 2, expected, width=width, label="model")
    ax.set_xticks(levels, [*map(str, levels[:-1]), f"{max_frequency}+"])
    ax.set_xlabel("repeat purchases")
    ax.set_ylabel("customers")
    ax.set_title("Frequency of repeat purchases")
    ax.legend()
    return ax
