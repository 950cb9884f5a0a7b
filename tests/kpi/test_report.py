"""kpi.report: one table for a period, beside the previous one."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from retention import kpi
from retention.exceptions import ValidationError

AS_OF = datetime(2024, 3, 31, 23, 59, tzinfo=UTC)


def _value(table: pd.DataFrame, metric: str, dimension: str = "all", group: str = "all"):
    row = table[
        (table["metric"] == metric) & (table["dimension"] == dimension) & (table["group"] == group)
    ]
    assert len(row) == 1, (metric, dimension, group)
    return row.iloc[0]


def test_report_has_every_metric_with_its_definition(shop):
    table = kpi.report(shop, as_of=AS_OF, churn_boundary=30, repeat_within_days=45)
    assert table.columns.tolist() == [
        "metric",
        "dimension",
        "group",
        "definition",
        "period",
        "value",
        "previous_period",
        "previous_value",
        "change",
        "relative_change",
    ]
    assert set(table["metric"]) == set(kpi.DEFINITIONS) - {"segment_share"}
    assert table["definition"].notna().all()
    assert "45 days" in _value(table, "new_customer_repeat_share")["definition"]
    assert (table["period"] == pd.Period("2024-03", "M")).all()
    assert (table["previous_period"] == pd.Period("2024-02", "M")).all()
    assert table.attrs["currency"] == "EUR"


@pytest.mark.parametrize(
    ("metric", "value", "previous"),
    [
        ("gross_revenue", 80.0, 70.0),
        ("refunds", 10.0, 50.0),
        ("net_revenue", 70.0, 20.0),
        ("orders", 3.0, 1.0),
        ("active_customers", 3.0, 1.0),
        ("new_customers", 2.0, 1.0),
        ("returning_buyer_share", 1 / 3, 0.0),
        ("repeat_customer_share", 0.25, 0.0),
        ("repeat_revenue", 10.0, 0.0),
        ("repeat_revenue_share", 1 / 7, 0.0),
        ("average_order_value", 70 / 3, 20.0),
        ("purchase_frequency", 1.0, 1.0),
        ("purchase_frequency_per_year", 1.25, 1.0),
        ("ltv_period", 70 / 3, 20.0),
        ("ltv_to_date", 47.5, 60.0),
        ("churn_rate", 0.0, 1.0),
    ],
)
def test_report_values_are_the_hand_computed_ones(shop, metric, value, previous):
    table = kpi.report(shop, as_of=AS_OF, churn_boundary=30, repeat_within_days=45)
    row = _value(table, metric)
    assert row["value"] == pytest.approx(value)
    assert row["previous_value"] == pytest.approx(previous)
    assert row["change"] == pytest.approx(value - previous)
    if previous:
        assert row["relative_change"] == pytest.approx((value - previous) / abs(previous))
    else:
        assert np.isnan(row["relative_change"])


def test_report_agrees_with_the_metric_functions(shop):
    table = kpi.report(shop, as_of=AS_OF)
    aov = kpi.average_order_value(shop, as_of=AS_OF).set_index("period")
    assert _value(table, "average_order_value")["value"] == pytest.approx(
        aov.loc[pd.Period("2024-03", "M"), "average_order_value"]
    )
    revenue = kpi.revenue(shop, as_of=AS_OF).set_index("period")
    assert (
        _value(table, "net_revenue")["previous_value"]
        == revenue.loc[pd.Period("2024-02", "M"), "net_revenue"]
    )


def test_report_breakdowns_by_channel_and_segment(shop):
    table = kpi.report(shop, as_of=AS_OF, channel_col="channel", segment_col="segment")
    web = _value(table, "average_order_value", "channel", "web")
    assert (web["value"], web["previous_value"]) == (30.0, 20.0)
    app = _value(table, "average_order_value", "channel", "app")
    assert app["value"] == 10.0
    assert np.isnan(app["previous_value"])
    shares = table[table["metric"] == "segment_share"]
    assert shares["value"].sum() == pytest.approx(1.0)
    assert _value(table, "segment_share", "segment", "new")["value"] == pytest.approx(2 / 3)
    assert _value(table, "segment_share", "segment", "loyal")["previous_value"] == 0.0


def test_report_churn_per_segment(shop):
    segments = pd.Series({"a": "x", "b": "y", "c": "x", "d": "y"})
    table = kpi.report(shop, as_of=AS_OF, churn_boundary={"x": 30, "y": 30}, segments=segments)
    assert _value(table, "churn_rate", "segment", "y")["value"] == 0.0
    with pytest.raises(ValidationError, match="churn_boundary"):
        kpi.report(shop, as_of=AS_OF, segments=segments)


def test_report_for_a_period_without_purchases():
    frame = pd.DataFrame(
        {
            "customer_id": ["a"],
            "purchased_at": pd.to_datetime(["2024-01-10"]),
            "amount": [10.0],
        }
    )
    table = kpi.report(frame, as_of=datetime(2024, 3, 31))  # noqa: DTZ001
    assert _value(table, "orders", "all")["value"] == 0.0
    assert np.isnan(_value(table, "average_order_value")["value"])
    assert _value(table, "ltv_to_date")["value"] == 10.0


def test_report_of_the_first_period_has_an_empty_previous_one(shop):
    table = kpi.report(shop, as_of=datetime(2024, 1, 31, tzinfo=UTC))
    assert _value(table, "net_revenue")["value"] == 100.0
    assert _value(table, "net_revenue")["previous_value"] == 0.0


def test_report_refuses_a_bad_window(shop):
    with pytest.raises(ValidationError, match="repeat_within_days"):
        kpi.report(shop, as_of=AS_OF, repeat_within_days=-3)


def test_report_without_any_purchase():
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype=str),
            "purchased_at": pd.Series([], dtype="datetime64[ns]"),
            "amount": pd.Series([], dtype=float),
        }
    )
    as_of = datetime(2024, 3, 31)  # noqa: DTZ001 - naive calendar time, like the column
    table = kpi.report(empty, as_of=as_of, churn_boundary=30, repeat_within_days=10)
    values = table.set_index("metric")["value"]
    assert values[["gross_revenue", "net_revenue", "orders", "active_customers"]].eq(0).all()
    assert values[["average_order_value", "repeat_customer_share", "churn_rate"]].isna().all()
    assert kpi.cohort_matrix(empty, as_of=as_of).empty
