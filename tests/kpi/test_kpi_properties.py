"""Hypothesis invariants of the KPI functions: shares, partitions, preserved totals."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention import kpi
from retention.testing.strategies import transaction_frames

AS_OF = datetime(2024, 6, 30, 23, 59)  # noqa: DTZ001 - the frames hold naive calendar time


def _in_unit_interval(values: pd.Series) -> bool:
    present = values.dropna()
    return bool(((present >= 0) & (present <= 1)).all())


@settings(max_examples=60)
@given(frame=transaction_frames(), period=st.sampled_from(["D", "W", "M", "Q", "Y"]))
def test_totals_are_preserved_across_periods(frame, period):
    kept = frame[frame["purchased_at"] <= AS_OF]
    revenue = kpi.revenue(frame, as_of=AS_OF, period=period)
    assert revenue["net_revenue"].sum() == pytest.approx(kept["amount"].sum(), abs=1e-6)
    assert revenue["gross_revenue"].sum() == pytest.approx(
        kept.loc[kept["kind"] == "purchase", "amount"].sum(), abs=1e-6
    )
    by_channel = kpi.revenue(frame, as_of=AS_OF, period=period, by="channel")
    assert by_channel["net_revenue"].sum() == pytest.approx(revenue["net_revenue"].sum(), abs=1e-6)
    cohorts = kpi.cohort_matrix(frame, as_of=AS_OF, period=period)
    assert cohorts["net_revenue"].sum() == pytest.approx(revenue["net_revenue"].sum(), abs=1e-6)
    new = kpi.new_customers(frame, as_of=AS_OF, period=period)["new_customers"].sum()
    repeat = kpi.repeat_customer_share(frame, as_of=AS_OF, period=period)
    assert repeat["customers"].iloc[-1] == new
    assert (
        cohorts.groupby("cohort")["cohort_size"].first().sum() == new if len(cohorts) else new == 0
    )


@settings(max_examples=60)
@given(frame=transaction_frames(), period=st.sampled_from(["W", "M", "Q"]))
def test_shares_lie_in_the_unit_interval(frame, period):
    shares = [
        kpi.repeat_customer_share(frame, as_of=AS_OF, period=period)["repeat_customer_share"],
        kpi.returning_buyer_share(frame, as_of=AS_OF, period=period)["returning_share"],
        kpi.new_customer_repeat_share(frame, as_of=AS_OF, period=period, days=30)["repeat_share"],
        kpi.cohort_matrix(frame, as_of=AS_OF, period=period)["active_share"],
        kpi.churn_rate(frame, as_of=AS_OF, period=period, boundary=45)["churn_rate"],
    ]
    for values in shares:
        assert _in_unit_interval(values)
    buyers = kpi.returning_buyer_share(frame, as_of=AS_OF, period=period)
    assert (buyers["new_buyers"] <= buyers["buyers"]).all()
    assert (buyers["returning_buyers"] >= 0).all()


@settings(max_examples=40)
@given(frame=transaction_frames())
def test_segment_shares_partition_every_period(frame):
    result = kpi.segment_shares(
        frame, as_of=AS_OF, segment_col="channel", datetime_col="purchased_at"
    )
    totals = result.groupby("period")["share"].sum(min_count=1)
    customers = result.groupby("period")["customers"].sum()
    assert np.allclose(totals[customers > 0], 1.0)
    assert totals[customers == 0].isna().all()


@settings(max_examples=40)
@given(frame=transaction_frames())
def test_report_agrees_with_the_functions(frame):
    table = kpi.report(frame, as_of=AS_OF, churn_boundary=45, channel_col="channel")
    overall = table[table["dimension"] == "all"].set_index("metric")
    revenue = kpi.revenue(frame, as_of=AS_OF).set_index("period")
    june = pd.Period("2024-06", "M")
    expected = revenue.loc[june, "net_revenue"] if june in revenue.index else 0.0
    assert overall.loc["net_revenue", "value"] == pytest.approx(expected, abs=1e-6)
    churn = kpi.churn_rate(frame, as_of=AS_OF, boundary=45, period="M").set_index("period")
    if june in churn.index:
        np.testing.assert_equal(overall.loc["churn_rate", "value"], churn.loc[june, "churn_rate"])
    shares = table[table["metric"].str.endswith("share")]
    assert _in_unit_interval(shares["value"])


@settings(max_examples=40)
@given(
    size=st.integers(1, 60),
    share=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32 - 1),
    strata=st.integers(1, 4),
)
def test_assignment_splits_each_stratum_exactly(size, share, seed, strata):
    audience = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(size)],
            "segment": [i % strata for i in range(size)],
        }
    )
    groups = kpi.assign_groups(audience, seed=seed, control_share=share, strata_col="segment")
    for _, members in groups.groupby("segment"):
        assert (members["group"] == "control").sum() == np.floor(share * len(members) + 0.5)
