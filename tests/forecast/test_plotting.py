from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib as mpl
import pytest

mpl.use("Agg")

import matplotlib.pyplot as plt

import retention
from retention.exceptions import NotFittedError
from retention.forecast import (
    BetaGeoModel,
    plot_frequency_recency_matrix,
    plot_period_transactions,
    plot_probability_alive_matrix,
)


@pytest.fixture(scope="module")
def model(cdnow_calibration):
    return BetaGeoModel().fit(cdnow_calibration)


def test_matrices_draw_on_a_new_axes_or_the_given_one(model):
    ax = plot_frequency_recency_matrix(model, max_frequency=20, max_T=39)
    assert ax.get_xlabel().startswith("frequency")
    _, given = plt.subplots()
    assert plot_probability_alive_matrix(model, max_frequency=20, max_T=39, ax=given) is given
    plt.close("all")


def test_period_transactions_compares_actual_and_model(model, cdnow_calibration):
    ax = plot_period_transactions(model, cdnow_calibration, max_frequency=7)
    actual, expected = ax.containers
    heights = [bar.get_height() for bar in actual]
    assert heights[0] == (cdnow_calibration["frequency"] == 0).sum()
    assert sum(bar.get_height() for bar in expected) == pytest.approx(len(cdnow_calibration))
    # The model reproduces the zero class closely (FHL 2005, figure 2).
    assert expected[0].get_height() == pytest.approx(heights[0], rel=0.03)
    plt.close("all")


def test_importing_forecast_does_not_import_matplotlib():
    source = str(Path(retention.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": source}
    code = "import sys, retention.forecast; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"


def test_plots_refuse_an_unfitted_model():
    with pytest.raises(NotFittedError):
        plot_frequency_recency_matrix(BetaGeoModel())
