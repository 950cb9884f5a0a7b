from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest

from retention.exceptions import ValidationError
from retention.forecast import (
    BetaGeoModel,
    calibration_and_holdout,
    evaluate_holdout,
    plot_calibration_purchases_vs_holdout_purchases,
)


def test_split_of_a_literal_log():
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c"],
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-11", "2024-02-05", "2024-02-05", "2024-01-05", "2024-02-10"]
            ),
            "amount": [10.0, 20.0, 5.0, 7.0, 8.0, 9.0],
        }
    )
    result = calibration_and_holdout(
        transactions,
        calibration_end="2024-01-31",
        observation_end="2024-02-29",
        monetary_value_col="amount",
    )
    # c bought only in the holdout: not a calibration customer.
    assert list(result.index) == ["a", "b"]
    assert result.loc["a", "frequency_cal"] == 1
    assert result.loc["a", "recency_cal"] == 10
    assert result.loc["a", "T_cal"] == 30
    assert result.loc["a", "monetary_value_cal"] == 20
    # Two purchases on one day are one holdout period worth their sum.
    assert result.loc["a", "frequency_holdout"] == 1
    assert result.loc["a", "monetary_value_holdout"] == 12
    assert result.loc["b", "frequency_holdout"] == 0
    assert (result["duration_holdout"] == 29).all()
    assert result.attrs["time_unit"] == "D"


def test_split_refuses_an_empty_part():
    transactions = pd.DataFrame(
        {"customer_id": ["a"], "date": pd.to_datetime(["2024-03-01"]), "amount": [1.0]}
    )
    with pytest.raises(ValidationError, match="no purchase falls on or before"):
        calibration_and_holdout(
            transactions, calibration_end="2024-01-31", observation_end="2024-04-30"
        )
    with pytest.raises(ValidationError, match="later 'D' period"):
        calibration_and_holdout(
            transactions, calibration_end="2024-03-31", observation_end="2024-03-31"
        )


def test_bgnbd_holdout_on_cdnow_matches_the_paper(cdnow_transactions):
    split = calibration_and_holdout(
        cdnow_transactions,
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="D",
        time_scaler=7,
    )
    assert len(split) == 2357
    assert split["duration_holdout"].iloc[0] == pytest.approx(39.0)
    calibration = split[["frequency_cal", "recency_cal", "T_cal"]].set_axis(
        ["frequency", "recency", "T"], axis=1
    )
    calibration.attrs = dict(split.attrs)
    model = BetaGeoModel().fit(calibration)
    assert model.params_["r"] == pytest.approx(0.243, abs=0.0015)
    evaluation = evaluate_holdout(model, split)
    # Repeat purchase days in weeks 40-78 (1,882) and the conditional forecast (about 1,653).
    assert evaluation.total_actual == 1882
    assert evaluation.total_expected == pytest.approx(1653.4, abs=1.0)
    table = evaluation.by_frequency
    assert list(table.index) == list(range(8))
    assert table["customers"].sum() == 2357
    # Conditional expectations track the holdout means closely (FHL 2005, figure 4).
    assert np.abs(table["expected"] - table["actual"]).max() < 0.6
    assert 0 < evaluation.correlation < 1
    assert evaluation.mean_absolute_error > 0

    mpl.use("Agg")
    ax = plot_calibration_purchases_vs_holdout_purchases(model, split)
    assert ax.get_legend() is not None


def test_split_of_aware_timestamps_cuts_days_in_the_given_zone():
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "date": pd.to_datetime(
                [
                    "2024-01-01 10:00",
                    "2024-01-11 00:00",
                    "2024-01-31 23:30",  # 2024-02-01 in Berlin: a holdout purchase there
                    "2024-01-05 00:00",
                ],
                utc=True,
            ),
        }
    )
    in_utc = calibration_and_holdout(
        transactions, calibration_end="2024-01-31", observation_end="2024-02-29"
    )
    assert in_utc.loc["a", "frequency_cal"] == 2
    assert in_utc.loc["a", "frequency_holdout"] == 0
    in_berlin = calibration_and_holdout(
        transactions,
        calibration_end=pd.Timestamp("2024-01-31", tz="Europe/Berlin"),
        observation_end="2024-02-29",
        tz="Europe/Berlin",
    )
    assert in_berlin.loc["a", "frequency_cal"] == 1
    assert in_berlin.loc["a", "frequency_holdout"] == 1
