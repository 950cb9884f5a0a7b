from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from retention import SchemaError, ValidationError, rfm_summary


def _frame(customers, dates, amounts=None, *, utc=False):
    data = {"customer_id": customers, "date": pd.to_datetime(dates, utc=utc)}
    if amounts is not None:
        data["amount"] = amounts
    return pd.DataFrame(data)


def _expected(rows, columns=("frequency", "recency", "T", "monetary_value")):
    index = pd.Index([row[0] for row in rows], name="customer_id")
    return pd.DataFrame(
        [row[1:] for row in rows], index=index, columns=list(columns), dtype=np.float64
    )


def test_style_guide_example_with_aware_datetimes():
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "paid_at": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-05"], utc=True),
        }
    )
    summary = rfm_summary(
        transactions,
        datetime_col="paid_at",
        monetary_value_col=None,
        observation_period_end=datetime(2024, 1, 31, tzinfo=UTC),
    )
    expected = _expected([("a", 1, 10, 30), ("b", 0, 0, 26)], ("frequency", "recency", "T"))
    assert_frame_equal(summary, expected)
    assert summary.attrs["time_unit"] == "D"
    assert summary.attrs["observation_period_end"] == pd.Timestamp("2024-01-31", tz="UTC")


def test_same_day_purchases_are_one_period_and_their_amounts_add_up():
    transactions = _frame(
        ["a", "a", "a", "a"],
        ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-03 10:00", "2024-01-03 11:00"],
        [10.0, 5.0, 7.0, 3.0],
    )
    summary = rfm_summary(transactions, observation_period_end="2024-01-10")
    assert_frame_equal(summary, _expected([("a", 1, 2, 9, 10.0)]))


def test_monetary_value_is_the_mean_of_repeat_period_sums():
    transactions = _frame(
        ["a", "a", "a", "b"],
        ["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-04"],
        [100.0, 10.0, 30.0, 50.0],
    )
    summary = rfm_summary(transactions, observation_period_end="2024-01-05")
    assert_frame_equal(summary, _expected([("a", 2, 4, 4, 20.0), ("b", 0, 0, 1, 0.0)]))
    with_first = rfm_summary(
        transactions, observation_period_end="2024-01-05", include_first_transaction=True
    )
    assert_frame_equal(with_first, _expected([("a", 3, 4, 4, 140 / 3), ("b", 1, 0, 1, 50.0)]))


def test_default_observation_end_is_the_latest_purchase_and_is_recorded():
    transactions = _frame(["a", "b"], ["2024-01-01", "2024-01-06"], [1.0, 2.0])
    summary = rfm_summary(transactions)
    assert summary.loc["a", "T"] == 5
    assert summary.attrs["observation_period_end"] == pd.Timestamp("2024-01-06")


def test_purchases_after_the_observation_end_are_left_out_and_counted():
    transactions = _frame(["a", "a", "b"], ["2024-01-01", "2024-02-01", "2024-02-02"], [1.0] * 3)
    summary = rfm_summary(transactions, observation_period_end="2024-01-10")
    assert list(summary.index) == ["a"]
    assert summary.attrs["rows_after_observation_period_end"] == 2


def test_weekly_and_monthly_units_count_calendar_periods():
    transactions = _frame(
        ["a", "a", "a"], ["2024-01-07", "2024-01-08", "2024-03-31"], [1.0, 2.0, 3.0]
    )
    # 2024-01-07 is a Sunday (week of 1 Jan), 2024-01-08 a Monday (next week).
    weekly = rfm_summary(transactions, time_unit="W", observation_period_end="2024-03-31")
    assert weekly.loc["a", "frequency"] == 2
    assert weekly.loc["a", "recency"] == 12
    monthly = rfm_summary(transactions, time_unit="M", observation_period_end="2024-04-15")
    assert monthly.loc["a"].tolist() == [1.0, 2.0, 3.0, 3.0]
    hourly = rfm_summary(transactions, time_unit="h", observation_period_end="2024-01-08")
    assert hourly.loc["a", "T"] == 24


def test_time_scaler_gives_fractional_weeks():
    transactions = _frame(["a", "a"], ["1997-01-01", "1997-01-15"], [1.0, 2.0])
    summary = rfm_summary(transactions, time_scaler=7, observation_period_end="1997-09-30")
    assert summary.loc["a", "recency"] == 2
    assert summary.loc["a", "T"] == pytest.approx(272 / 7)


def test_aware_datetimes_are_cut_into_days_in_the_given_zone():
    transactions = _frame(
        ["a", "a"], ["2024-01-01 22:30+00:00", "2024-01-02 01:00+00:00"], [1.0, 1.0], utc=True
    )
    in_utc = rfm_summary(transactions)
    in_moscow = rfm_summary(
        transactions,
        tz="Europe/Moscow",
        observation_period_end=pd.Timestamp("2024-01-02 04:00", tz="Europe/Moscow"),
    )
    assert in_utc.loc["a", "frequency"] == 1  # two UTC days
    assert in_moscow.loc["a", "frequency"] == 0  # both on 2 January in Moscow


def test_refunds_are_netted_into_their_order_and_never_count_as_purchases():
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "a"],
            "order_id": ["o1", "o2", "r1", "o3", "r3"],
            "refund_of": [None, None, "o2", None, "o3"],
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-05", "2024-01-06", "2024-01-08", "2024-01-09"]
            ),
            "amount": [50.0, 100.0, -30.0, 40.0, -40.0],
        }
    )
    summary = rfm_summary(
        transactions,
        order_id_col="order_id",
        refund_of_col="refund_of",
        observation_period_end="2024-01-10",
    )
    # o3 is fully refunded: it is no purchase; o2 counts with 70.
    assert_frame_equal(summary, _expected([("a", 1, 4, 9, 70.0)]))


def test_negative_amounts_without_refund_links_are_refused():
    transactions = _frame(["a", "b"], ["2024-01-01", "2024-01-02"], [10.0, -5.0])
    with pytest.raises(ValidationError, match="'b'"):
        rfm_summary(transactions)


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("amount", np.nan, "missing or not finite"),
        ("customer_id", None, "customer_id is missing"),
        ("date", None, "date is missing"),
    ],
)
def test_missing_values_are_errors_never_zero(column, value, fragment):
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "amount": [1.0, 2.0],
        }
    )
    transactions[column] = transactions[column].astype(object)
    transactions.loc[1, column] = value
    with pytest.raises(ValidationError, match=fragment):
        rfm_summary(transactions)


def test_missing_column_names_the_keyword_and_the_columns_present():
    transactions = pd.DataFrame({"client": ["a"], "order_ts": ["2024-01-01"], "total": [1.0]})
    with pytest.raises(SchemaError) as error:
        rfm_summary(transactions, customer_id_col="client", monetary_value_col="total")
    assert "no column 'date' (datetime_col)" in str(error.value)
    assert "'client', 'order_ts', 'total'" in str(error.value)
    assert "datetime_col=<column name>" in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"time_unit": "Q"}, "time_unit must be one of"),
        ({"time_scaler": 0}, "time_scaler must be a positive number"),
        ({"observation_period_end": "2023-01-01"}, "before the first purchase"),
        ({"observation_period_end": pd.Timestamp("2024-02-01", tz="UTC")}, "naive"),
        ({"order_id_col": "customer_id"}, "pass both order_id_col and refund_of_col"),
    ],
)
def test_bad_arguments_say_what_to_fix(kwargs, fragment):
    transactions = _frame(["a"], ["2024-01-01"], [1.0])
    with pytest.raises(ValidationError, match=fragment):
        rfm_summary(transactions, **kwargs)


def test_empty_frame_and_mixed_datetimes_are_refused():
    with pytest.raises(ValidationError, match="empty"):
        rfm_summary(_frame([], [], []))
    mixed = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "date": [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2)],  # noqa: DTZ001
            "amount": [1.0, 2.0],
        }
    )
    with pytest.raises(ValidationError, match="mixes naive and time-zone-aware"):
        rfm_summary(mixed)


def test_text_dates_are_parsed_as_iso_or_with_a_format():
    transactions = pd.DataFrame(
        {"customer_id": ["a", "a"], "date": ["19970101", "19970108"], "amount": [1.0, 2.0]}
    )
    summary = rfm_summary(transactions, datetime_format="%Y%m%d")
    assert summary.loc["a", "recency"] == 7
    with pytest.raises(ValidationError, match="datetime_format"):
        rfm_summary(transactions.assign(date=["01/02/1997", "yesterday"]))


def test_input_frame_is_not_mutated():
    transactions = _frame(["b", "a", "a"], ["2024-01-03", "2024-01-01", "2024-01-02"], [1, 2, 3])
    copy = transactions.copy()
    rfm_summary(transactions)
    assert_frame_equal(transactions, copy)


# --- the CDNOW sample (Fader, Hardie & Lee 2005) ---------------------------------------


@pytest.fixture(scope="module")
def cdnow_sample(shared_data) -> pd.DataFrame:
    frame = pd.read_csv(
        shared_data / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"master_id": str, "customer_id": str, "date": str},
    )
    return frame.assign(date=pd.to_datetime(frame["date"], format="%Y%m%d"))


def test_cdnow_calibration_summary_matches_the_papers(cdnow_sample):
    summary = rfm_summary(
        cdnow_sample, observation_period_end="1997-09-30", time_unit="D", time_scaler=7
    )
    assert len(summary) == 2357
    assert int((summary["frequency"] > 0).sum()) == 946
    assert summary["T"].max() == pytest.approx(38.857, abs=1e-3)
    # The papers' worked example: customer 0001 has x=2, t_x=30.43, T=38.86.
    assert summary.loc["0001", "frequency"] == 2
    assert summary.loc["0001", "recency"] == pytest.approx(30.43, abs=5e-3)
    assert summary.loc["0001", "T"] == pytest.approx(38.86, abs=5e-3)


def test_cdnow_full_period_matches_lifetimes_reference_values(cdnow_sample):
    """Values computed with lifetimes 0.11.3 ``summary_data_from_transaction_data``."""
    summary = rfm_summary(cdnow_sample, observation_period_end="1998-06-30")
    assert int((summary["frequency"] > 0).sum()) == 1139
    assert summary["frequency"].sum() == LIFETIMES_FULL["frequency_sum"]
    assert summary["recency"].sum() == LIFETIMES_FULL["recency_sum"]
    assert summary["T"].sum() == LIFETIMES_FULL["T_sum"]
    assert summary["monetary_value"].sum() == pytest.approx(
        LIFETIMES_FULL["monetary_sum"], rel=1e-12
    )
    for customer, row in LIFETIMES_FULL["rows"].items():
        assert summary.loc[customer].tolist() == pytest.approx(row, rel=1e-12)


LIFETIMES_FULL: dict = {
    "frequency_sum": 4339.0,
    "recency_sum": 307464.0,
    "T_sum": 1183240.0,
    "monetary_sum": 40758.44137790224,
    "rows": {
        "0001": [3.0, 345.0, 545.0, 23.723333333333333],
        "0002": [1.0, 12.0, 545.0, 11.77],
        "0010": [0.0, 0.0, 545.0, 0.0],
        "0100": [1.0, 167.0, 541.0, 26.22],
        "1000": [7.0, 456.0, 508.0, 20.99857142857143],
        "2357": [0.0, 0.0, 462.0, 0.0],
        "0018": [1.0, 34.0, 545.0, 9.99],
    },
}
# lifetimes with freq="W": sums of frequency, recency, T and monetary_value.
LIFETIMES_WEEKLY = (4004.0, 43920.0, 169671.0, 42918.752244706644)


def test_cdnow_weekly_periods_match_lifetimes(cdnow_sample):
    summary = rfm_summary(cdnow_sample, observation_period_end="1998-06-30", time_unit="W")
    sums = summary[["frequency", "recency", "T", "monetary_value"]].sum().tolist()
    assert sums == pytest.approx(LIFETIMES_WEEKLY, rel=1e-12)


# --- properties ------------------------------------------------------------------------

_dates = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2020, 12, 31))  # noqa: DTZ001


@st.composite
def transaction_frames(draw):
    n = draw(st.integers(min_value=1, max_value=40))
    customers = draw(st.lists(st.sampled_from("abcdefg"), min_size=n, max_size=n))
    dates = draw(st.lists(_dates, min_size=n, max_size=n))
    amounts = draw(
        st.lists(st.floats(min_value=0.01, max_value=1e4, allow_nan=False), min_size=n, max_size=n)
    )
    return pd.DataFrame(
        {"customer_id": customers, "date": pd.to_datetime(dates), "amount": amounts}
    )


@given(transactions=transaction_frames(), unit=st.sampled_from(["h", "D", "W", "M"]))
def test_summary_invariants(transactions, unit):
    summary = rfm_summary(transactions, time_unit=unit, observation_period_end="2021-01-01")
    assert (summary["recency"] >= 0).all()
    assert (summary["recency"] <= summary["T"]).all()
    assert ((summary["frequency"] == 0) == (summary["monetary_value"] == 0)).all()
    assert ((summary["frequency"] == 0) <= (summary["recency"] == 0)).all()
    distinct = rfm_summary(
        transactions,
        time_unit=unit,
        observation_period_end="2021-01-01",
        include_first_transaction=True,
    )["frequency"]
    assert (summary["frequency"] < distinct).all()


@given(transactions=transaction_frames(), seed=st.integers(0, 2**32 - 1))
def test_summary_does_not_depend_on_row_order(transactions, seed):
    shuffled = transactions.sample(frac=1, random_state=seed)
    assert_frame_equal(
        rfm_summary(shuffled, observation_period_end="2021-01-01"),
        rfm_summary(transactions, observation_period_end="2021-01-01"),
        check_exact=False,
        rtol=1e-12,
    )


@given(transactions=transaction_frames())
def test_a_customers_row_depends_only_on_their_own_transactions(transactions):
    whole = rfm_summary(transactions, observation_period_end="2021-01-01")
    for customer in whole.index[:2]:
        alone = rfm_summary(
            transactions[transactions["customer_id"] == customer],
            observation_period_end="2021-01-01",
        )
        assert_frame_equal(alone, whole.loc[[customer]], check_exact=False, rtol=1e-12)
