"""Properties over wide parameter ranges and extreme customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from retention.forecast import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)

positive = st.floats(min_value=0.01, max_value=100.0)
dropout = st.floats(min_value=0.05, max_value=50.0)


@st.composite
def histories(draw):
    T = draw(st.floats(min_value=0.0, max_value=5000.0))
    x = draw(st.integers(min_value=0, max_value=5000))
    t_x = 0.0 if x == 0 else draw(st.floats(min_value=0.0, max_value=T))
    return float(x), t_x, T


def frame_of(history_list):
    x, t_x, T = zip(*history_list, strict=True)
    return pd.DataFrame(
        {"frequency": x, "recency": t_x, "T": T},
        index=[f"c{i}" for i in range(len(history_list))],
    )


def model_from(model_class, names, values):
    return model_class.from_dict(
        {
            "model": model_class.__name__,
            "format": 1,
            "params": dict(zip(names, values, strict=True)),
        }
    )


@given(
    model_class=st.sampled_from([BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel]),
    params=st.tuples(positive, positive, dropout, positive),
    history_list=st.lists(histories(), min_size=1, max_size=6),
    t=st.floats(min_value=0.0, max_value=1000.0),
    dt=st.floats(min_value=0.01, max_value=1000.0),
)
def test_continuous_predictions_are_finite_bounded_and_monotone(
    model_class, params, history_list, t, dt
):
    names = (
        ("r", "alpha", "s", "beta") if model_class is ParetoNBDModel else ("r", "alpha", "a", "b")
    )
    model = model_from(model_class, names, params)
    frame = frame_of(history_list)
    alive = model.probability_alive(frame)
    assert np.isfinite(alive).all()
    assert ((alive >= 0) & (alive <= 1)).all()
    now = model.expected_purchases(t, frame)
    later = model.expected_purchases(t + dt, frame)
    assert np.isfinite(now).all()
    assert np.isfinite(later).all()
    assert (now >= 0).all()
    assert (later >= now * (1 - 1e-9) - 1e-12).all()
    none = model.probability_of_purchases(0, t, frame)
    assert ((none >= 0) & (none <= 1)).all()
    new_now, new_later = model.expected_purchases_new_customer(np.array([t, t + dt]))
    assert 0 <= new_now <= new_later * (1 + 1e-9) + 1e-12


@st.composite
def discrete_histories(draw):
    n = draw(st.integers(min_value=1, max_value=60))
    t_x = draw(st.integers(min_value=0, max_value=n))
    x = 0 if t_x == 0 else draw(st.integers(min_value=1, max_value=t_x))
    return float(x), float(t_x), float(n)


@given(
    params=st.tuples(positive, positive, dropout, positive),
    history_list=st.lists(discrete_histories(), min_size=1, max_size=6),
    t=st.integers(min_value=0, max_value=50),
    dt=st.integers(min_value=1, max_value=50),
)
def test_bgbb_predictions_are_finite_bounded_and_monotone(params, history_list, t, dt):
    model = model_from(BetaGeoBetaBinomModel, ("alpha", "beta", "gamma", "delta"), params)
    frame = frame_of(history_list)
    alive = model.probability_alive(frame)
    assert ((alive >= 0) & (alive <= 1)).all()
    now = model.expected_purchases(t, frame)
    later = model.expected_purchases(t + dt, frame)
    assert np.isfinite(later).all()
    assert (now >= 0).all()
    assert (later >= now * (1 - 1e-9) - 1e-12).all()
    assert (later <= t + dt + 1e-9).all()
