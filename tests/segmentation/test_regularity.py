from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _segmentation_strategies import AS_OF, transaction_frames
from hypothesis import given
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from retention.exceptions import SchemaError, ValidationError
from retention.segmentation import Regularity, classify_regularity, regularity, repurchase_cycles


def _purchases(spec):
    """``{"customer": [day offsets from 2024-01-01]}`` -> transactions frame."""
    rows = [(customer, day) for customer, days in spec.items() for day in days]
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta([r[1] for r in rows], unit="D"),
        }
    )


GROUPS = _purchases(
    {
        "one": [0],
        "same_day": [5, 5],  # two purchases on one day: one period
        "two": [0, 40],  # one interval
        "three": [0, 10, 50],  # two intervals: still too few
        "regular": [0, 30, 60, 90],  # intervals 30, 30, 30
        "periodic": [0, 10, 50, 140],  # intervals 10, 40, 90
        "outlier": [0, 30, 60, 90, 120, 300],  # 30 x4, then 180
    }
)


def test_each_group_and_boundary_case_by_hand():
    result = regularity(GROUPS, as_of="2024-12-31")
    assert result["regularity"].to_dict() == {
        "one": "ONE_TIME",
        "outlier": "REGULAR",  # MAD ignores the one long pause
        "periodic": "PERIODIC",
        "regular": "REGULAR",
        "same_day": "ONE_TIME",
        "three": "ERRATIC",
        "two": "ERRATIC",
    }
    assert list(result["regularity"].cat.categories) == [
        "REGULAR",
        "PERIODIC",
        "ERRATIC",
        "ONE_TIME",
    ]
    # the deciding statistic: robust CV = 1.4826 * MAD / median; NaN below two intervals
    assert result.loc["periodic", "dispersion"] == pytest.approx(1.482602218505602 * 30 / 40)
    assert result.loc["regular", "dispersion"] == 0.0
    assert result.loc["outlier", "dispersion"] == 0.0
    assert result.loc["three", "dispersion"] == pytest.approx(1.482602218505602 * 15 / 25)
    assert math.isnan(result.loc["two", "dispersion"])
    assert math.isnan(result.loc["one", "dispersion"])
    assert result.loc["regular", "regularity"] == Regularity.REGULAR


def test_classical_cv_makes_the_outlier_periodic():
    result = regularity(GROUPS, as_of="2024-12-31", dispersion="cv")
    assert result.loc["outlier", "regularity"] == "PERIODIC"
    intervals = [30, 30, 30, 30, 180]
    assert result.loc["outlier", "dispersion"] == pytest.approx(
        np.std(intervals, ddof=1) / np.mean(intervals)
    )


def test_thresholds_are_inclusive_and_configurable():
    cycles = repurchase_cycles(GROUPS, as_of="2024-12-31")
    periodic_cv = cycles.loc["periodic", "robust_cv"]
    at_boundary = classify_regularity(cycles, max_regular_dispersion=periodic_cv)
    assert at_boundary.loc["periodic", "regularity"] == "REGULAR"
    just_below = classify_regularity(cycles, max_regular_dispersion=periodic_cv * (1 - 1e-9))
    assert just_below.loc["periodic", "regularity"] == "PERIODIC"
    erratic = classify_regularity(cycles, max_periodic_dispersion=1.0)
    assert erratic.loc["periodic", "regularity"] == "ERRATIC"
    fewer = classify_regularity(cycles, min_intervals=2)
    assert fewer.loc["three", "regularity"] == "PERIODIC"  # intervals 10, 40: robust CV 0.89
    assert fewer.loc["two", "regularity"] == "ERRATIC"
    assert fewer.attrs["regularity_thresholds"]["min_intervals"] == 2


def test_lapse_flag_is_time_since_last_above_k_cycles():
    result = regularity(GROUPS, as_of="2024-12-31", lapse_factor=2.0)
    since = result["periods_since_last"]
    assert (result["lapsed"] == (since > 2.0 * result["cycle"])).all()
    regular = result.loc["regular"]
    assert regular["periods_since_last"] == 365 - 90
    assert bool(regular["lapsed"])
    fresh = regularity(GROUPS, as_of="2024-04-15")
    assert not fresh.loc["regular", "lapsed"]  # 15 days after a purchase on a ~30-day cycle


def test_regularity_of_the_module_example():
    frame = _purchases({"a": [0, 30, 60, 90, 120], "b": [4, 50], "c": [62]})
    groups = regularity(frame, as_of="2024-05-15")
    assert groups["regularity"].tolist() == ["REGULAR", "ERRATIC", "ONE_TIME"]


@given(frame=transaction_frames())
def test_regularity_is_a_partition(frame):
    result = regularity(frame, as_of=AS_OF)
    customers = sorted(frame["customer_id"].unique())
    assert result.index.tolist() == customers
    assert result["regularity"].notna().all()
    assert set(result["regularity"]) <= {str(group) for group in Regularity}
    one_time = result["regularity"] == "ONE_TIME"
    assert (one_time == (result["purchases"] == 1)).all()


@given(frame=transaction_frames(), seed=st.integers(0, 2**32 - 1))
def test_regularity_does_not_depend_on_row_order(frame, seed):
    shuffled = frame.sample(frac=1.0, random_state=seed)
    assert_frame_equal(regularity(frame, as_of=AS_OF), regularity(shuffled, as_of=AS_OF))


def test_per_category_regularity():
    frame = GROUPS.assign(category="coffee")
    result = regularity(frame, as_of="2024-12-31", category_col="category")
    assert result.index.names == ["customer_id", "category"]
    assert result.loc[("regular", "coffee"), "regularity"] == "REGULAR"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_intervals": 0}, "min_intervals"),
        ({"max_regular_dispersion": -1}, "max_regular_dispersion"),
        ({"max_regular_dispersion": 1.0, "max_periodic_dispersion": 0.5}, "at least"),
        ({"dispersion": "iqr"}, "dispersion"),
        ({"lapse_factor": 0}, "lapse_factor"),
        ({"max_regular_dispersion": float("nan")}, "max_regular_dispersion"),
    ],
)
def test_bad_thresholds_are_validation_errors(kwargs, match):
    cycles = repurchase_cycles(GROUPS, as_of="2024-12-31")
    with pytest.raises(ValidationError, match=match):
        classify_regularity(cycles, **kwargs)


def test_classify_needs_a_cycles_frame():
    with pytest.raises(SchemaError, match="purchases"):
        classify_regularity(pd.DataFrame({"x": [1]}))
