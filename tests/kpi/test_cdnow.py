"""KPIs on the bundled CDNOW sample (2,357 customers, all acquired in 1997-Q1)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from retention import kpi, load_cdnow_sample, rfm_summary

if TYPE_CHECKING:
    import pandas as pd

AS_OF = datetime(1998, 6, 30, 23, 59, 59)  # noqa: DTZ001 - CDNOW dates are calendar days


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_sample()


def test_cdnow_inflow_is_the_first_quarter_of_1997(cdnow):
    inflow = kpi.new_customers(cdnow, as_of=AS_OF, datetime_col="date")
    assert inflow["new_customers"].sum() == 2357
    acquired = inflow[inflow["new_customers"] > 0]["period"].astype(str).tolist()
    assert acquired == ["1997-01", "1997-02", "1997-03"]


def test_cdnow_repeat_customers_agree_with_the_summary(cdnow):
    share = kpi.repeat_customer_share(cdnow, as_of=AS_OF, datetime_col="date").iloc[-1]
    orders = cdnow.groupby("customer_id")["order_id"].nunique()
    assert share["customers"] == 2357
    assert share["repeat_customers"] == int((orders >= 2).sum())
    # rfm_summary counts repeat *days*; same-day second orders make the order count larger.
    summary = rfm_summary(cdnow, observation_period_end="1998-06-30")
    assert int((summary["frequency"] > 0).sum()) == 1139
    assert share["repeat_customers"] >= 1139


def test_cdnow_revenue_and_cohorts_add_up(cdnow):
    revenue = kpi.revenue(cdnow, as_of=AS_OF, datetime_col="date")
    assert revenue["net_revenue"].sum() == pytest.approx(cdnow["amount"].sum())
    assert revenue["orders"].sum() == cdnow["order_id"].nunique()
    matrix = kpi.cohort_matrix(cdnow, as_of=AS_OF, datetime_col="date")
    assert matrix["net_revenue"].sum() == pytest.approx(cdnow["amount"].sum())
    assert matrix.groupby("cohort")["cohort_size"].first().sum() == 2357
    report = kpi.report(cdnow, as_of=AS_OF, datetime_col="date", churn_boundary=180)
    value = report.set_index("metric")["value"]
    assert value["ltv_to_date"] == pytest.approx(cdnow["amount"].sum() / 2357)
    assert 0 <= value["churn_rate"] <= 1
