"""Loyalty-programme KPIs on literal frames."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from retention import kpi
from retention.exceptions import MixedCurrencyError, ValidationError

AS_OF = datetime(2024, 3, 31, 23, 59, tzinfo=UTC)


def test_enrolment_conversion_among_buyers(shop):
    members = pd.DataFrame(
        {
            "customer_id": ["a", "b", "z", "c"],
            "enrolled_at": pd.to_datetime(
                ["2024-01-20", "2024-03-01", "2024-02-15", None], utc=True
            ),
        }
    )
    result = kpi.enrolment_conversion(shop, members, as_of=AS_OF)
    assert result["period"].astype(str).tolist() == ["2024-01", "2024-02", "2024-03"]
    assert result["base_customers"].tolist() == [1, 2, 3]
    assert result["enrolled_customers"].tolist() == [1, 1, 1]
    assert result["enrolment_conversion"].tolist() == pytest.approx([1.0, 0.5, 1 / 3])
    assert result["new_enrolments"].tolist() == [1, 1, 1]


@pytest.fixture
def ledger() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "booked_at": pd.to_datetime(
                ["2024-01-05", "2024-02-03", "2024-02-04", "2024-03-15", "2024-03-20"], utc=True
            ),
            "kind": ["accrual", "accrual", "redemption", "redemption", "expiry"],
            "amount": [10.0, 2.0, 5.0, 8.0, 1.0],
        }
    )


def test_bonus_accrual_redemption_and_share_of_turnover(shop, ledger):
    result = kpi.bonus_summary(ledger, shop, as_of=AS_OF)
    assert result["accrued"].tolist() == [10.0, 2.0, 0.0]
    assert result["redeemed"].tolist() == [0.0, 5.0, 8.0]
    assert result["expired"].tolist() == [0.0, 0.0, 1.0]
    assert result["turnover"].tolist() == [100.0, 70.0, 80.0]
    assert result["bonus_paid_share"].tolist() == pytest.approx([0.0, 5 / 70, 0.1])
    assert result["accrual_rate"].tolist() == pytest.approx([0.1, 0.1, 0.0])
    excluded = kpi.bonus_summary(ledger, shop, as_of=AS_OF, amounts_include_bonus=False)
    assert excluded["bonus_paid_share"].iloc[2] == pytest.approx(8 / 88)


def test_bonus_ledger_checks(shop, ledger):
    with pytest.raises(ValidationError, match="'kind'"):
        kpi.bonus_summary(ledger.assign(kind="gift"), shop, as_of=AS_OF)
    with pytest.raises(ValidationError, match="'amount'"):
        kpi.bonus_summary(ledger.assign(amount=-1.0), shop, as_of=AS_OF)
    with pytest.raises(MixedCurrencyError, match="USD"):
        kpi.bonus_summary(
            ledger.assign(currency="USD"), shop, as_of=AS_OF, ledger_currency_col="currency"
        )


def test_referral_share_and_referred_revenue(shop):
    referrals = pd.DataFrame(
        {
            "referrer_id": ["a", "b", "a"],
            "referred_id": ["c", "d", "x"],
            "referred_at": pd.to_datetime(["2024-03-01", "2024-03-05", "2024-02-20"], utc=True),
        }
    )
    result = kpi.referral_summary(referrals, shop, as_of=AS_OF)
    assert result["referrals"].tolist() == [0, 1, 2]
    assert result["referrers"].tolist() == [0, 1, 2]
    assert result["customers_to_date"].tolist() == [1, 2, 4]
    assert result["referrers_to_date"].tolist() == [0, 1, 2]
    assert result["referrer_share"].tolist() == [0.0, 0.5, 0.5]
    assert result["referred_revenue"].tolist() == [0.0, 0.0, 60.0]
    assert result["referred_revenue_share"].tolist() == pytest.approx([0.0, 0.0, 60 / 70])


def test_level_distribution_carries_levels_forward():
    changes = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "changed_at": pd.to_datetime(["2024-01-10", "2024-03-05", "2024-02-02", "2024-03-30"]),
            "level": ["silver", "gold", "silver", "bronze"],
        }
    )
    result = kpi.level_distribution(
        changes,
        as_of=date(2024, 3, 31),
        levels=["bronze", "silver", "gold"],
    )
    table = result.set_index(["period", "level"])
    members = table["members"]
    month = [pd.Period(p, "M") for p in ("2024-01", "2024-02", "2024-03")]
    assert [[members[(m, lv)] for lv in ("bronze", "silver", "gold")] for m in month] == [
        [0, 1, 0],
        [0, 2, 0],
        [1, 1, 1],
    ]
    assert table.groupby(level="period")["share"].sum().tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValidationError, match="'platinum'"):
        kpi.level_distribution(
            changes.assign(level="platinum"),
            as_of=datetime(2024, 3, 31),  # noqa: DTZ001
            levels=["bronze"],
        )
