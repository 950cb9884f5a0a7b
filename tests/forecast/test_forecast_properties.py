"""Properties over wide parameter ranges and extreme customers."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from retention.forecast import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)
from retention.testing import strategies as rst

positive = st.floats(min_value=0.01, max_value=100.0)
dropout = st.floats(min_value=0.05, max_value=50.0)


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
    frame=rst.summaries(),
    t=st.floats(min_value=0.0, max_value=1000.0),
    dt=st.floats(min_value=0.01, max_value=1000.0),
)
def test_continuous_predictions_are_finite_bounded_and_monotone(model_class, params, frame, t, dt):
    names = (
        ("r", "alpha", "s", "beta") if model_class is ParetoNBDModel else ("r", "alpha", "a", "b")
    )
    model = model_from(model_class, names, params)
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


@given(
    params=st.tuples(positive, positive, dropout, positive),
    frame=rst.summaries(discrete=True, max_T=60),
    t=st.integers(min_value=0, max_value=50),
    dt=st.integers(min_value=1, max_value=50),
)
def test_bgbb_predictions_are_finite_bounded_and_monotone(params, frame, t, dt):
    model = model_from(BetaGeoBetaBinomModel, ("alpha", "beta", "gamma", "delta"), params)
    alive = model.probability_alive(frame)
    assert ((alive >= 0) & (alive <= 1)).all()
    now = model.expected_purchases(t, frame)
    later = model.expected_purchases(t + dt, frame)
    assert np.isfinite(later).all()
    assert (now >= 0).all()
    assert (later >= now * (1 - 1e-9) - 1e-12).all()
    assert (later <= t + dt + 1e-9).all()


@given(frame=rst.summaries(max_size=20))
def test_summaries_strategy_keeps_the_invariants(frame):
    assert (frame["frequency"] == np.floor(frame["frequency"])).all()
    assert (frame["recency"] <= frame["T"]).all()
    assert (frame.loc[frame["frequency"] == 0, "recency"] == 0).all()
