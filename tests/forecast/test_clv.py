from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention.exceptions import ValidationError
from retention.forecast import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    customer_lifetime_value,
)


def make(model_class, params, **state):
    return model_class.from_dict(
        {"model": model_class.__name__, "format": 1, "params": params, **state}
    )


WEEKLY = {"time_unit": "D", "time_scaler": 7.0}
BG = make(BetaGeoModel, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, **WEEKLY)
SPEND = make(GammaGammaModel, {"p": 6.25, "q": 3.74, "v": 15.44})


def summary():
    frame = pd.DataFrame(
        {
            "frequency": [0.0, 2.0, 7.0],
            "recency": [0.0, 30.43, 35.0],
            "T": [38.86, 38.86, 38.86],
            "monetary_value": [0.0, 45.0, 20.0],
        },
        index=pd.Index(["new", "two", "loyal"], name="customer_id"),
    )
    frame.attrs = dict(WEEKLY)
    return frame


def test_clv_is_expected_purchases_times_spend_without_discount():
    frame = summary()
    clv = customer_lifetime_value(BG, SPEND, frame, 12, "M", 0.0)
    weeks = 12 * (365.25 / 12) / 7
    expected = BG.expected_purchases(weeks, frame) * SPEND.expected_spend(frame)
    pd.testing.assert_series_equal(clv, expected.rename("clv"), rtol=1e-10)
    assert clv.index.equals(frame.index)


def test_clv_discounting_lowers_value_and_zero_horizon_is_zero():
    frame = summary()
    plain = customer_lifetime_value(BG, SPEND, frame, 12, "M", 0.0)
    discounted = customer_lifetime_value(BG, SPEND, frame, 12, "M", 0.01)
    assert (discounted < plain).all()
    assert (discounted > 0).all()
    assert (customer_lifetime_value(BG, SPEND, frame, 0, "M", 0.01) == 0).all()


def test_clv_units_agree_weeks_and_days():
    frame = summary()
    by_weeks = customer_lifetime_value(BG, SPEND, frame, 4, "W", 0.0)
    by_days = customer_lifetime_value(BG, SPEND, frame, 28, "D", 0.0)
    np.testing.assert_allclose(by_weeks, by_days, rtol=1e-10)
    model_units = customer_lifetime_value(BG, SPEND, frame, 4, None, 0.0)
    np.testing.assert_allclose(by_weeks, model_units, rtol=1e-10)


def test_clv_is_never_negative_even_with_pareto_and_odd_parameters():
    pareto = make(ParetoNBDModel, {"r": 0.5, "alpha": 10.0, "s": 1.0, "beta": 12.0}, **WEEKLY)
    clv = customer_lifetime_value(pareto, SPEND, summary(), 24, "M", 0.05)
    assert (clv >= 0).all()
    assert np.isfinite(clv).all()


def test_clv_refuses_bad_arguments():
    frame = summary()
    with pytest.raises(ValidationError, match="horizon"):
        customer_lifetime_value(BG, SPEND, frame, -1, "M", 0.0)
    with pytest.raises(ValidationError, match="discount_rate"):
        customer_lifetime_value(BG, SPEND, frame, 12, "M", -0.1)
    with pytest.raises(ValidationError, match="time_unit"):
        customer_lifetime_value(BG, SPEND, frame, 12, "Y", 0.0)
    with pytest.raises(ValidationError, match="spend_model"):
        customer_lifetime_value(BG, BG, frame, 12, "M", 0.0)
    unknown = make(BetaGeoModel, BG.params_)
    with pytest.raises(ValidationError, match="time_unit=None"):
        customer_lifetime_value(unknown, SPEND, frame, 12, "M", 0.0)
    bgbb = make(BetaGeoBetaBinomModel, {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8})
    donors = pd.DataFrame(
        {"frequency": [3.0], "recency": [5.0], "T": [6.0], "monetary_value": [40.0]}, index=["d"]
    )
    assert customer_lifetime_value(bgbb, SPEND, donors, 3, None, 0.1)["d"] > 0
