"""Fits recover the parameters of data simulated from the models themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention.forecast import BetaGeoModel, ParetoNBDModel

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def simulate_bgnbd(customers: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 39 * 7 + 1, size=customers) / 7
    rate = rng.gamma(BG["r"], 1 / BG["alpha"], size=customers)
    dropout = rng.beta(BG["a"], BG["b"], size=customers)
    arrivals = rng.poisson(rate * T)
    x = np.minimum(rng.geometric(dropout), arrivals)
    order = rng.beta(np.maximum(x, 1), np.maximum(arrivals - x + 1, 1))
    return pd.DataFrame(
        {"frequency": x.astype(float), "recency": np.where(x > 0, order * T, 0.0), "T": T}
    )


def simulate_pareto(customers: int, seed: int, params: dict[str, float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.uniform(1, 52, size=customers)
    rate = rng.gamma(params["r"], 1 / params["alpha"], size=customers)
    death = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], size=customers))
    active = np.minimum(death, T)
    x = rng.poisson(rate * active)
    last = rng.beta(np.maximum(x, 1), 1) * active  # the largest of x uniform times
    return pd.DataFrame(
        {"frequency": x.astype(float), "recency": np.where(x > 0, last, 0.0), "T": T}
    )


def check_recovery(model, truth, *, z=4.0):
    for name, value in truth.items():
        error = model.standard_errors_[name]
        assert abs(model.params_[name] - value) < z * error, (name, model.params_[name], error)


def test_bgnbd_recovers_its_parameters():
    model = BetaGeoModel().fit(simulate_bgnbd(50_000, seed=3))
    check_recovery(model, BG)


def test_pareto_recovers_its_parameters():
    truth = {"r": 0.55, "alpha": 10.6, "s": 0.6, "beta": 11.7}
    model = ParetoNBDModel().fit(simulate_pareto(30_000, seed=5, params=truth))
    check_recovery(model, truth)


@pytest.mark.slow
def test_bgnbd_recovers_its_parameters_on_a_million_customers():
    model = BetaGeoModel().fit(simulate_bgnbd(1_000_000, seed=4))
    check_recovery(model, BG)
    assert model.n_customers_ == 1_000_000
