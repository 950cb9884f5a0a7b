"""Acquisition cohorts on a literal frame."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from retention import kpi
from retention.exceptions import ValidationError

AS_OF = datetime(2024, 3, 31, 23, 59, tzinfo=UTC)


def test_cohort_matrix_counts_shares_revenue_and_ltv(shop):
    matrix = kpi.cohort_matrix(shop, as_of=AS_OF)
    assert matrix["cohort"].astype(str).tolist() == [
        "2024-01",
        "2024-01",
        "2024-01",
        "2024-02",
        "2024-02",
        "2024-03",
    ]
    assert matrix["periods_since"].tolist() == [0, 1, 2, 0, 1, 0]
    assert matrix["cohort_size"].tolist() == [1, 1, 1, 1, 1, 2]
    assert matrix["active_customers"].tolist() == [1, 0, 0, 1, 1, 2]
    assert matrix["active_share"].tolist() == [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert matrix["orders"].tolist() == [1, 0, 0, 1, 1, 2]
    assert matrix["net_revenue"].tolist() == [100.0, 0.0, 0.0, 20.0, 10.0, 60.0]
    assert matrix["revenue_per_customer"].tolist() == [100.0, 0.0, 0.0, 20.0, 10.0, 30.0]
    assert matrix["cumulative_revenue"].tolist() == [100.0, 100.0, 100.0, 20.0, 30.0, 60.0]
    assert matrix["cumulative_ltv"].tolist() == [100.0, 100.0, 100.0, 20.0, 30.0, 30.0]


def test_cohort_revenue_adds_up_to_net_revenue(shop):
    matrix = kpi.cohort_matrix(shop, as_of=AS_OF)
    assert matrix["net_revenue"].sum() == kpi.revenue(shop, as_of=AS_OF)["net_revenue"].sum()


def test_cohort_table_is_a_triangle(shop):
    table = kpi.cohort_table(kpi.cohort_matrix(shop, as_of=AS_OF), value="active_share")
    assert table.shape == (3, 3)
    assert table.iloc[0].tolist() == [1.0, 0.0, 0.0]
    assert np.isnan(table.iloc[2, 1])
    with pytest.raises(ValidationError, match="value must be one of"):
        kpi.cohort_table(kpi.cohort_matrix(shop, as_of=AS_OF), value="nonsense")


def test_cohorts_by_channel(shop):
    matrix = kpi.cohort_matrix(shop, as_of=AS_OF, by="channel")
    assert matrix.columns.tolist()[:3] == ["cohort", "channel", "periods_since"]
    web = matrix[matrix["channel"] == "web"]
    assert web.groupby("cohort")["cohort_size"].first().tolist() == [1, 1, 2]


def test_empty_cohort_matrix(shop):
    matrix = kpi.cohort_matrix(shop, as_of=datetime(2023, 12, 31, tzinfo=UTC))
    assert matrix.empty
    assert "cumulative_ltv" in matrix.columns


def test_quarterly_cohorts(shop):
    matrix = kpi.cohort_matrix(shop, as_of=AS_OF, period="Q")
    assert matrix["cohort_size"].tolist() == [4]
    assert matrix["active_share"].tolist() == [1.0]
    assert matrix["net_revenue"].tolist() == pytest.approx([190.0])
