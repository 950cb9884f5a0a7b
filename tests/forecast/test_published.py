"""The published fits: every figure the papers give is reproduced here."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from retention.forecast import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)


def test_cdnow_calibration_summary_matches_the_papers(cdnow_calibration):
    assert len(cdnow_calibration) == 2357
    assert int((cdnow_calibration["frequency"] > 0).sum()) == 946
    assert cdnow_calibration["T"].max() == pytest.approx(38.86, abs=0.005)


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow_calibration):
    model = BetaGeoModel().fit(cdnow_calibration)
    expected = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in expected.items():
        assert model.params_[name] == pytest.approx(value, abs=0.0015), name
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert model.n_customers_ == 2357
    assert (model.time_unit_, model.time_scaler_) == ("D", 7.0)


def test_bgnbd_conditional_expectation_of_the_paper(cdnow_calibration):
    model = BetaGeoModel().fit(cdnow_calibration)
    customer = pd.DataFrame(
        {"frequency": [2.0], "recency": [30.43], "T": [38.86]},
        index=pd.Index(["x"], name="customer_id"),
    )
    assert model.expected_purchases(39, customer)["x"] == pytest.approx(1.226, abs=0.0005)


def test_bgnbd_standard_errors_and_intervals(cdnow_calibration):
    model = BetaGeoModel().fit(cdnow_calibration)
    intervals = model.confidence_intervals_
    assert list(intervals.index) == ["r", "alpha", "a", "b"]
    assert (intervals["lower"] < intervals["estimate"]).all()
    assert (intervals["estimate"] < intervals["upper"]).all()
    # Standard errors from the Hessian: r is tightly identified, b much less so.
    assert model.standard_errors_["r"] == pytest.approx(0.0126, abs=0.001)
    assert model.standard_errors_["b"] == pytest.approx(0.705, rel=0.05)
    wider = model.confidence_intervals(0.99)
    assert (wider["lower"] < intervals["lower"]).all()


def test_pareto_nbd_reproduces_the_fader_hardie_note(cdnow_calibration):
    model = ParetoNBDModel().fit(cdnow_calibration)
    expected = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    for name, value in expected.items():
        assert model.params_[name] == pytest.approx(value, rel=2e-3), name
    assert model.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)


def test_gamma_gamma_reproduces_the_note_on_repeat_spend(cdnow_calibration):
    # The note's figures come from the mean value of the repeat (daily) purchases,
    # the first purchase excluded: rfm_summary's monetary_value.
    model = GammaGammaModel().fit(cdnow_calibration)
    expected = {"p": 6.25, "q": 3.74, "v": 15.44}
    for name, value in expected.items():
        assert model.params_[name] == pytest.approx(value, abs=0.006), name
    assert model.n_customers_ == 946


def test_bgbb_reproduces_fader_hardie_shang_2010(donations):
    model = BetaGeoBetaBinomModel().fit(donations, T_col="periods", weights_col="weights")
    expected = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    for name, value in expected.items():
        assert model.params_[name] == pytest.approx(value, abs=0.0015), name
    assert model.log_likelihood_ == pytest.approx(-33225.6, abs=0.05)
    assert model.n_customers_ == 11104


def test_mbgnbd_fit_on_cdnow_is_close_to_bgnbd(cdnow_calibration):
    model = ModifiedBetaGeoModel().fit(cdnow_calibration)
    # Same data, similar fit quality (the two models differ only for one-time buyers).
    assert model.log_likelihood_ == pytest.approx(-9582.1, abs=0.1)
    assert model.params_["r"] == pytest.approx(0.525, abs=0.002)
    assert model.params_["alpha"] == pytest.approx(6.183, abs=0.01)
    assert model.params_["a"] == pytest.approx(0.891, abs=0.002)
    assert model.params_["b"] == pytest.approx(1.614, abs=0.005)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_saved_models_round_trip_through_json(model_class, cdnow_calibration):
    model = model_class().fit(cdnow_calibration)
    restored = model_class.from_dict(json.loads(json.dumps(model.to_dict())))
    assert restored.params_ == model.params_
    assert restored.log_likelihood_ == model.log_likelihood_
    assert restored.standard_errors_ == pytest.approx(model.standard_errors_)
    assert (restored.time_unit_, restored.time_scaler_) == ("D", 7.0)
    head = cdnow_calibration.head(20)
    pd.testing.assert_series_equal(
        restored.expected_purchases(10, head), model.expected_purchases(10, head)
    )


def test_gamma_gamma_and_bgbb_round_trip(cdnow_calibration, donations):
    spend = GammaGammaModel().fit(cdnow_calibration)
    restored = GammaGammaModel.from_dict(json.loads(json.dumps(spend.to_dict())))
    assert restored.params_ == spend.params_
    bgbb = BetaGeoBetaBinomModel().fit(donations, T_col="periods", weights_col="weights")
    again = BetaGeoBetaBinomModel.from_dict(json.loads(json.dumps(bgbb.to_dict())))
    assert again.params_ == bgbb.params_


def test_compressed_fit_equals_weighted_fit(cdnow_calibration):
    weighted = (
        cdnow_calibration.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    )
    weighted.attrs = dict(cdnow_calibration.attrs)
    by_rows = BetaGeoModel().fit(cdnow_calibration)
    by_weights = BetaGeoModel().fit(weighted, weights_col="n")
    for name in by_rows.params_:
        assert by_weights.params_[name] == pytest.approx(by_rows.params_[name], rel=1e-6)
    assert by_weights.n_customers_ == 2357
    assert np.isclose(by_weights.log_likelihood_, by_rows.log_likelihood_)
