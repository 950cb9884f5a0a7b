"""NPS and CSI with their intervals, on literal response frames."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from retention import kpi
from retention.exceptions import SchemaError, ValidationError

AS_OF = date(2024, 3, 31)


def test_nps_counts_and_multinomial_interval():
    answers = pd.DataFrame({"score": [10, 10, 10, 9, 8, 7, 6, 5, 0, 9]})
    row = kpi.nps(answers, as_of=AS_OF).iloc[0]
    assert (row["responses"], row["promoters"], row["passives"], row["detractors"]) == (
        10,
        5,
        2,
        3,
    )
    assert row["nps"] == pytest.approx(20.0)
    # Var(p - d) = (p + d - (p - d)^2) / n = (0.8 - 0.04) / 10
    se = 100 * math.sqrt(0.076)
    assert row["standard_error"] == pytest.approx(se)
    assert row["ci_low"] == pytest.approx(20 - 1.959964 * se, abs=1e-4)
    assert row["ci_high"] == pytest.approx(20 + 1.959964 * se, abs=1e-4)


def test_nps_interval_is_clipped_and_degenerate_cases():
    assert (
        kpi.nps(pd.DataFrame({"score": [10, 9, 8, 6, 10]}), as_of=AS_OF)["ci_high"].iloc[0] == 100
    )
    all_promoters = kpi.nps(pd.DataFrame({"score": [9, 10]}), as_of=AS_OF).iloc[0]
    assert (all_promoters["nps"], all_promoters["standard_error"]) == (100.0, 0.0)
    one = kpi.nps(pd.DataFrame({"score": [3]}), as_of=AS_OF).iloc[0]
    assert one["nps"] == -100.0


def test_nps_by_period_and_touchpoint():
    answers = pd.DataFrame(
        {
            "score": [10, 0, 9, 7, 10, 3],
            "answered_at": pd.to_datetime(
                ["2024-01-02", "2024-01-05", "2024-02-01", "2024-02-02", "2024-02-03", "2024-04-01"]
            ),
            "touchpoint": ["shop", "shop", "web", "web", "shop", "web"],
        }
    )
    monthly = kpi.nps(answers, as_of=AS_OF, period="M")
    assert monthly["period"].astype(str).tolist() == ["2024-01", "2024-02"]  # April after as_of
    assert monthly["nps"].tolist() == pytest.approx([0.0, 200 / 3])
    split = kpi.nps(answers, as_of=AS_OF, by="touchpoint")
    assert split.set_index("touchpoint")["nps"].to_dict() == pytest.approx(
        {"shop": 100 / 3, "web": 50.0}
    )


@pytest.mark.parametrize("scores", [[11], [-1], [7.5], ["9"], [None, 9]])
def test_nps_refuses_scores_outside_0_to_10(scores):
    with pytest.raises(ValidationError, match="'score'"):
        kpi.nps(pd.DataFrame({"score": scores}), as_of=AS_OF)


def test_nps_missing_column_and_bad_confidence():
    with pytest.raises(SchemaError, match=r"no column 'score' \(score_col\)"):
        kpi.nps(pd.DataFrame({"rating": [9]}), as_of=AS_OF)
    with pytest.raises(ValidationError, match="confidence"):
        kpi.nps(pd.DataFrame({"score": [9]}), as_of=AS_OF, confidence=95)


def test_csi_weighted_index_over_rated_attributes():
    responses = pd.DataFrame(
        {
            "quality": [5.0, 4.0, 3.0, np.nan],
            "price": [3.0, np.nan, 1.0, np.nan],
        }
    )
    row = kpi.csi(responses, as_of=AS_OF, weights={"quality": 2, "price": 1}).iloc[0]
    indices = np.array([(2 * 100 + 50) / 3, 75.0, (2 * 50 + 0) / 3])  # respondent 4 rated nothing
    assert row["respondents"] == 3
    assert row["csi"] == pytest.approx(indices.mean())
    se = indices.std(ddof=1) / math.sqrt(3)
    assert row["standard_error"] == pytest.approx(se)
    assert row["ci_low"] == pytest.approx(indices.mean() - 4.302653 * se, abs=1e-4)
    assert row["ci_high"] == pytest.approx(indices.mean() + 4.302653 * se, abs=1e-4)
    assert row["attribute_quality"] == pytest.approx(75.0)
    assert row["attribute_price"] == pytest.approx(25.0)


def test_csi_by_group_and_one_respondent():
    responses = pd.DataFrame({"quality": [5, 1, 3], "store": ["x", "x", "y"]})
    result = kpi.csi(responses, as_of=AS_OF, weights={"quality": 1}, by="store")
    assert result.set_index("store")["csi"].to_dict() == {"x": 50.0, "y": 50.0}
    assert np.isnan(result.set_index("store").loc["y", "ci_low"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": {}}, "weights"),
        ({"weights": {"quality": 0}}, "weight of attribute 'quality'"),
        ({"weights": {"quality": 1}, "scale": (5, 1)}, "scale"),
        ({"weights": {"missing": 1}}, "no column 'missing'"),
    ],
)
def test_csi_bad_arguments(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        kpi.csi(pd.DataFrame({"quality": [3]}), as_of=AS_OF, **kwargs)


def test_csi_refuses_ratings_off_the_scale():
    with pytest.raises(ValidationError, match="scale"):
        kpi.csi(pd.DataFrame({"quality": [6]}), as_of=AS_OF, weights={"quality": 1})
    with pytest.raises(ValidationError, match="'quality'"):
        kpi.csi(pd.DataFrame({"quality": ["good"]}), as_of=AS_OF, weights={"quality": 1})
