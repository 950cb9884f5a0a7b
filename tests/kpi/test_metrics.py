"""Purchase KPIs on literal frames with hand-computed values."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from retention import kpi
from retention.exceptions import MixedCurrencyError, SchemaError, ValidationError

AS_OF = datetime(2024, 3, 31, 23, 59, tzinfo=UTC)


def _periods(*values: str, freq: str = "M") -> pd.PeriodIndex:
    return pd.PeriodIndex(list(values), freq=freq)


def test_revenue_reports_gross_refunds_and_net(shop):
    result = kpi.revenue(shop, as_of=AS_OF)
    expected = pd.DataFrame(
        {
            "period": _periods("2024-01", "2024-02", "2024-03"),
            "orders": np.array([1, 1, 3], dtype=np.int64),
            "gross_revenue": [100.0, 70.0, 80.0],
            "refunds": [0.0, 50.0, 10.0],
            "net_revenue": [100.0, 20.0, 70.0],
        }
    )
    assert_frame_equal(result, expected)
    assert result.attrs["currency"] == "EUR"


def test_ing_03_refund_is_netted_and_never_a_purchase():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "order_id": ["o1", "r1"],
            "purchased_at": pd.to_datetime(["2024-01-05", "2024-01-07"], utc=True),
            "amount": [100.0, -30.0],
            "kind": ["purchase", "refund"],
            "refund_of": [None, "o1"],
        }
    )
    figures = kpi.revenue(frame, as_of=date(2024, 1, 31)).iloc[0]
    assert (figures["gross_revenue"], figures["refunds"], figures["net_revenue"]) == (
        100.0,
        30.0,
        70.0,
    )
    assert figures["orders"] == 1
    share = kpi.repeat_customer_share(frame, as_of=date(2024, 1, 31)).iloc[0]
    assert (share["customers"], share["repeat_customers"]) == (1, 0)


def test_fully_refunded_order_stops_counting_as_a_purchase(shop):
    active = kpi.active_customers(shop, as_of=AS_OF)
    assert active["active_customers"].tolist() == [1, 1, 3]  # a's February order is void


def test_new_customers_and_returning_buyer_share(shop):
    result = kpi.returning_buyer_share(shop, as_of=AS_OF)
    assert result["buyers"].tolist() == [1, 1, 3]
    assert result["new_buyers"].tolist() == [1, 1, 2]
    assert result["returning_buyers"].tolist() == [0, 0, 1]
    assert result["returning_share"].tolist() == pytest.approx([0.0, 0.0, 1 / 3])
    inflow = kpi.new_customers(shop, as_of=AS_OF)
    assert inflow["new_customers"].tolist() == [1, 1, 2]


def test_repeat_customer_share_is_cumulative(shop):
    result = kpi.repeat_customer_share(shop, as_of=AS_OF)
    assert result["customers"].tolist() == [1, 2, 4]
    assert result["repeat_customers"].tolist() == [0, 0, 1]
    assert result["repeat_customer_share"].tolist() == [0.0, 0.0, 0.25]


def test_repeat_revenue_splits_net_revenue(shop):
    result = kpi.repeat_revenue(shop, as_of=AS_OF)
    assert result["first_purchase_revenue"].tolist() == [100.0, 20.0, 60.0]
    assert result["repeat_revenue"].tolist() == [0.0, 0.0, 10.0]
    assert result["net_revenue"].tolist() == [100.0, 20.0, 70.0]
    assert result["repeat_revenue_share"].tolist() == pytest.approx([0.0, 0.0, 1 / 7])


def test_new_customer_repeat_share_leaves_open_windows_out(shop):
    result = kpi.new_customer_repeat_share(shop, as_of=AS_OF, days=45)
    assert result["new_customers"].tolist() == [1, 1, 2]
    assert result["eligible_customers"].tolist() == [1, 1, 0]
    assert result["repeat_customers"].tolist() == [0, 1, 0]
    assert result["repeat_share"].tolist()[:2] == [0.0, 1.0]
    assert np.isnan(result["repeat_share"].iloc[2])


def test_new_customer_repeat_share_refuses_a_bad_window(shop):
    with pytest.raises(ValidationError, match="days"):
        kpi.new_customer_repeat_share(shop, as_of=AS_OF, days=0)


def test_average_order_value_overall_and_per_channel(shop):
    overall = kpi.average_order_value(shop, as_of=AS_OF)
    assert overall["average_order_value"].tolist() == pytest.approx([100.0, 20.0, 70 / 3])
    by_channel = kpi.average_order_value(shop, as_of=AS_OF, by="channel")
    assert by_channel.columns.tolist() == [
        "period",
        "channel",
        "orders",
        "net_revenue",
        "average_order_value",
    ]
    values = by_channel.set_index(["period", "channel"])["average_order_value"]
    assert values[(pd.Period("2024-01", "M"), "web")] == 100.0
    assert np.isnan(values[(pd.Period("2024-01", "M"), "app")])
    assert np.isnan(values[(pd.Period("2024-02", "M"), "app")])  # refunded to nothing
    assert values[(pd.Period("2024-03", "M"), "web")] == 30.0
    assert values[(pd.Period("2024-03", "M"), "app")] == 10.0


def test_by_several_columns(shop):
    frame = shop.assign(store=["s1", "s1", "s2", "s1", "s1", "s2", "s2", "s2"])
    result = kpi.revenue(frame, as_of=AS_OF, by=["channel", "store"])
    assert result.columns.tolist()[:3] == ["period", "channel", "store"]
    assert result["net_revenue"].sum() == 190.0


def test_purchase_frequency_per_year(shop):
    result = kpi.purchase_frequency(shop, as_of=AS_OF)
    assert result["period"].tolist() == [pd.Period("2024", "Y")]
    assert result[["orders", "active_customers"]].iloc[0].tolist() == [5, 4]
    assert result["purchase_frequency"].iloc[0] == 1.25


def test_historical_ltv_per_year_and_to_date(shop):
    yearly = kpi.historical_ltv(shop, as_of=AS_OF).iloc[0]
    assert yearly["ltv"] == 47.5
    assert yearly["ltv_to_date"] == 47.5
    monthly = kpi.historical_ltv(shop, as_of=AS_OF, period="M")
    assert monthly["ltv"].tolist() == pytest.approx([100.0, 20.0, 70 / 3])
    assert monthly["net_revenue_to_date"].tolist() == [100.0, 120.0, 190.0]
    assert monthly["customers_to_date"].tolist() == [1, 2, 4]
    assert monthly["ltv_to_date"].tolist() == [100.0, 60.0, 47.5]


def test_churn_rate_by_a_boundary_in_days(shop):
    result = kpi.churn_rate(shop, as_of=AS_OF, boundary=30, period="M")
    assert result["customers_at_start"].tolist() == [0, 1, 1]
    assert result["churned_customers"].tolist() == [0, 1, 0]
    assert np.isnan(result["churn_rate"].iloc[0])
    assert result["churn_rate"].tolist()[1:] == [1.0, 0.0]


def test_churn_rate_per_segment_boundary(shop):
    segments = pd.Series({"a": "regular", "b": "erratic", "c": "regular", "d": "erratic"})
    result = kpi.churn_rate(
        shop,
        as_of=AS_OF,
        boundary={"regular": 20, "erratic": 60},
        segments=segments,
        period="M",
    )
    table = result.set_index(["period", "segment"])
    # a (regular, 20 days): 27 days since Jan 5 on Feb 1 -> already churned, not in the base.
    assert table.loc[(pd.Period("2024-02", "M"), "regular"), "customers_at_start"] == 0
    # b (erratic, 60 days): in the March base, bought on Mar 15 -> not churned.
    march = table.loc[(pd.Period("2024-03", "M"), "erratic")]
    assert (march["customers_at_start"], march["churned_customers"]) == (1, 0)


def test_churn_rate_with_timedelta_and_bad_boundaries(shop):
    by_days = kpi.churn_rate(shop, as_of=AS_OF, boundary=30, period="M")
    by_delta = kpi.churn_rate(shop, as_of=AS_OF, boundary=pd.Timedelta(days=30), period="M")
    assert_frame_equal(by_days, by_delta)
    with pytest.raises(ValidationError, match="segments"):
        kpi.churn_rate(shop, as_of=AS_OF, boundary={"x": 30})
    with pytest.raises(ValidationError, match="positive"):
        kpi.churn_rate(shop, as_of=AS_OF, boundary=-1)
    with pytest.raises(ValidationError, match="no entry for segment"):
        kpi.churn_rate(
            shop,
            as_of=AS_OF,
            boundary={"x": 30},
            segments=pd.Series({"a": "x", "b": "y", "c": "x", "d": "x"}),
        )
    with pytest.raises(ValidationError, match="no segment"):
        kpi.churn_rate(shop, as_of=AS_OF, boundary=30, segments=pd.Series({"a": "x"}))


def test_a_period_without_purchases_is_a_row_of_zeros():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "purchased_at": pd.to_datetime(["2024-01-10", "2024-03-10"]),
            "amount": [10.0, 30.0],
        }
    )
    result = kpi.average_order_value(frame, as_of=datetime(2024, 3, 31))  # noqa: DTZ001
    february = result.iloc[1]
    assert february["period"] == pd.Period("2024-02", "M")
    assert (february["orders"], february["net_revenue"]) == (0, 0.0)
    assert np.isnan(february["average_order_value"])
    active = kpi.active_customers(frame, as_of=datetime(2024, 3, 31))  # noqa: DTZ001
    assert active["active_customers"].tolist() == [1, 0, 1]


def test_one_customer():
    frame = pd.DataFrame(
        {
            "customer_id": ["solo", "solo", "solo"],
            "purchased_at": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-02-05"]),
            "amount": [10.0, 20.0, 30.0],
        }
    )
    as_of = datetime(2024, 2, 29)  # noqa: DTZ001
    assert kpi.repeat_customer_share(frame, as_of=as_of)["repeat_customer_share"].tolist() == [
        1.0,
        1.0,
    ]
    assert kpi.returning_buyer_share(frame, as_of=as_of)["returning_share"].tolist() == [0.0, 1.0]
    assert kpi.purchase_frequency(frame, as_of=as_of, period="M")[
        "purchase_frequency"
    ].tolist() == [2.0, 1.0]


def test_rows_after_as_of_are_ignored(shop):
    early = kpi.revenue(shop, as_of=date(2024, 2, 5))
    assert early["period"].tolist() == list(_periods("2024-01", "2024-02"))
    assert early["gross_revenue"].tolist() == [100.0, 70.0]
    assert early["refunds"].tolist() == [0.0, 0.0]  # the refund on Feb 10 is after as_of
    assert early["orders"].tolist() == [1, 2]  # so o2 still counts


def test_no_rows_up_to_as_of_gives_one_empty_period(shop):
    result = kpi.revenue(shop, as_of=date(2023, 12, 31))
    assert result["period"].tolist() == [pd.Period("2023-12", "M")]
    assert result[["orders", "net_revenue"]].iloc[0].tolist() == [0, 0.0]
    assert kpi.new_customers(shop, as_of=date(2023, 12, 31))["new_customers"].tolist() == [0]


def test_multi_line_orders_count_once():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a"],
            "order_id": ["o1", "o1", "o2"],
            "purchased_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-09"]),
            "amount": [10.0, 5.0, 20.0],
        }
    )
    result = kpi.average_order_value(frame, as_of=datetime(2024, 1, 31))  # noqa: DTZ001
    assert result[["orders", "net_revenue", "average_order_value"]].iloc[0].tolist() == [
        2,
        35.0,
        17.5,
    ]


def test_weekly_daily_and_quarterly_periods(shop):
    weekly = kpi.revenue(shop, as_of=AS_OF, period="W")
    assert weekly["net_revenue"].sum() == 190.0
    assert weekly["period"].iloc[0] == pd.Period("2024-01-05", "W")
    quarterly = kpi.revenue(shop, as_of=AS_OF, period="Q")
    assert quarterly["net_revenue"].tolist() == [190.0]
    daily = kpi.active_customers(shop, as_of=AS_OF, period="D")
    assert len(daily) == 87  # 2024-01-05 .. 2024-03-31
    assert daily["active_customers"].sum() == 5


def test_naive_datetimes_are_calendar_time(shop):
    naive = shop.assign(purchased_at=shop["purchased_at"].dt.tz_localize(None))
    aware = kpi.revenue(shop, as_of=AS_OF)
    calendar = kpi.revenue(naive, as_of=AS_OF.replace(tzinfo=None))
    assert_frame_equal(aware, calendar)
    with pytest.raises(ValidationError, match="as_of is time-zone aware"):
        kpi.revenue(naive, as_of=AS_OF)
    with pytest.raises(ValidationError, match="as_of is a naive datetime"):
        kpi.revenue(shop, as_of=AS_OF.replace(tzinfo=None))


def test_aware_datetimes_are_cut_in_the_given_zone():
    frame = pd.DataFrame(
        {
            "customer_id": ["a"],
            "purchased_at": pd.to_datetime(["2024-01-31 23:30"], utc=True),
            "amount": [10.0],
        }
    )
    as_of = datetime(2024, 2, 29, tzinfo=UTC)
    utc = kpi.revenue(frame, as_of=as_of)
    berlin = kpi.revenue(frame, as_of=as_of, tz="Europe/Berlin")
    assert utc["period"].tolist() == [pd.Period("2024-01", "M"), pd.Period("2024-02", "M")]
    assert berlin["period"].tolist() == [pd.Period("2024-02", "M")]  # 00:30 on Feb 1 there


def test_column_keywords(shop):
    renamed = shop.rename(
        columns={"customer_id": "client", "purchased_at": "paid_at", "amount": "total"}
    )
    result = kpi.revenue(
        renamed,
        as_of=AS_OF,
        customer_id_col="client",
        datetime_col="paid_at",
        monetary_value_col="total",
    )
    assert_frame_equal(result, kpi.revenue(shop, as_of=AS_OF))


def test_optional_columns_ignored_or_required(shop):
    plain = shop.drop(columns=["kind", "refund_of", "order_id", "currency"])
    plain = plain[plain["amount"] > 0]
    assert kpi.revenue(plain, as_of=AS_OF)["refunds"].sum() == 0.0
    with pytest.raises(SchemaError, match=r"no column 'oid' \(order_id_col\)"):
        kpi.revenue(plain, as_of=AS_OF, order_id_col="oid")
    without_kind = kpi.revenue(shop, as_of=AS_OF, kind_col=None)
    assert without_kind["refunds"].sum() == 60.0  # refund_of alone marks the refunds


def test_missing_column_names_it(shop):
    with pytest.raises(SchemaError, match=r"no column 'paid_at' \(datetime_col\)"):
        kpi.revenue(shop, as_of=AS_OF, datetime_col="paid_at")
    with pytest.raises(SchemaError, match="no column 'region'"):
        kpi.revenue(shop, as_of=AS_OF, by="region")


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"amount": ["x"] * 8}, "amount"),
        ({"amount": [np.nan] + [1.0] * 7}, "amount"),
        ({"customer_id": [None] + ["a"] * 7}, "customer_id"),
        ({"purchased_at": ["2024-01-01"] * 8}, "purchased_at"),
        ({"kind": ["sale"] * 8}, "kind"),
        ({"channel": [None] * 8}, "channel"),
    ],
)
def test_bad_values_raise_naming_the_column(shop, change, column):
    frame = shop.assign(**change)
    with pytest.raises(ValidationError, match=repr(column)):
        kpi.revenue(frame, as_of=AS_OF, by="channel")


def test_sign_rules(shop):
    negative_purchase = shop.assign(amount=shop["amount"].where(shop["kind"] == "refund", -1.0))
    with pytest.raises(ValidationError, match="negative amounts on purchase rows"):
        kpi.revenue(negative_purchase, as_of=AS_OF)
    positive_refund = shop.assign(amount=shop["amount"].abs())
    with pytest.raises(ValidationError, match="positive amounts on refund rows"):
        kpi.revenue(positive_refund, as_of=AS_OF)


def test_tim_03_mixed_currencies_are_never_added(shop):
    mixed = shop.assign(currency=["EUR"] * 7 + ["USD"])
    with pytest.raises(MixedCurrencyError, match="'EUR', 'USD'"):
        kpi.revenue(mixed, as_of=AS_OF)
    with pytest.raises(MixedCurrencyError):
        kpi.report(mixed, as_of=AS_OF)


def test_bad_period_and_as_of(shop):
    with pytest.raises(ValidationError, match="period must be one of"):
        kpi.revenue(shop, as_of=AS_OF, period="fortnight")
    with pytest.raises(ValidationError, match="as_of must be a datetime"):
        kpi.revenue(shop, as_of="2024-03-31")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="must be a pandas DataFrame"):
        kpi.revenue([1, 2], as_of=AS_OF)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown column keyword"):
        kpi.revenue(shop, as_of=AS_OF, colour="red")  # type: ignore[call-arg]


def test_mixed_naive_and_aware_datetimes_are_refused():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "purchased_at": pd.Series(
                [datetime(2024, 1, 1), datetime(2024, 1, 2, tzinfo=UTC)],  # noqa: DTZ001
                dtype=object,
            ),
            "amount": [1.0, 2.0],
        }
    )
    with pytest.raises(ValidationError, match="mixes naive and time-zone-aware"):
        kpi.revenue(frame, as_of=AS_OF)


def test_inputs_are_not_mutated(shop):
    before = shop.copy()
    kpi.report(shop, as_of=AS_OF, channel_col="channel", churn_boundary=30)
    assert_frame_equal(shop, before)


def test_segment_shares_partition_each_period():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "a", "c", "b"],
            "purchased_at": pd.to_datetime(
                ["2024-01-02", "2024-01-03", "2024-01-20", "2024-02-01", "2024-02-02"]
            ),
            "segment": ["ONE_TIME", "REGULAR", "REGULAR", "ONE_TIME", "ERRATIC"],
        }
    )
    result = kpi.segment_shares(frame, as_of=datetime(2024, 3, 31))  # noqa: DTZ001
    table = result.set_index(["period", "segment"])
    january = table.xs(pd.Period("2024-01", "M"))
    assert january["customers"].to_dict() == {"ERRATIC": 0, "ONE_TIME": 0, "REGULAR": 2}
    february = table.xs(pd.Period("2024-02", "M"))
    assert february["share"].to_dict() == {"ERRATIC": 0.5, "ONE_TIME": 0.5, "REGULAR": 0.0}
    march = table.xs(pd.Period("2024-03", "M"))
    assert march["customers"].sum() == 0
    assert march["share"].isna().all()


def test_ingest_result_is_accepted(shop):
    class Result:
        transactions = shop
        quarantine = shop.iloc[:0]
        report = None

    assert_frame_equal(kpi.revenue(Result(), as_of=AS_OF), kpi.revenue(shop, as_of=AS_OF))  # type: ignore[arg-type]
