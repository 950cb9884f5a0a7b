"""The purchase history: one validation and one sort shared by the summary and the cycles."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retention as rt
from retention.exceptions import ValidationError
from retention.segmentation import repurchase_cycles
from retention.testing import strategies as rst


def _log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["b", "a", "a", "a", "c", "a"],
            "order_id": ["O1", "O2", "O3", "O4", "O5", "R1"],
            "refund_of": [None, None, None, None, None, "O3"],
            "date": pd.to_datetime(
                [
                    "2024-01-05 00:00",
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",
                    "2024-01-11 00:00",
                    "2024-02-01 00:00",
                    "2024-01-02 00:00",
                ]
            ),
            "amount": [5.0, 10.0, 4.0, 20.0, 7.0, -4.0],
        }
    )


def test_pairs_are_sorted_by_customer_then_period_with_net_amounts_and_row_counts():
    history = rt.purchase_history(_log(), order_id_col="order_id", refund_of_col="refund_of")
    assert history.customer_ids.tolist() == ["a", "b", "c"]
    assert history.customer.tolist() == [0, 0, 1, 2]
    days = (
        pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-05", "2024-02-01"]) - pd.Timestamp(0)
    ).days
    assert history.period.tolist() == days.tolist()
    # O3 (4.00 on 1 Jan) is refunded in full: it is no purchase, so 1 Jan holds O2 only
    assert history.amount is not None
    assert history.amount.tolist() == [10.0, 20.0, 5.0, 7.0]
    assert history.rows.tolist() == [1, 1, 1, 1]
    assert history.tz is None
    assert history.time_unit == "D"
    assert (history.n_customers, history.n_periods) == (3, 4)


def test_arrays_are_read_only_and_the_repr_names_no_customer():
    history = rt.purchase_history(_log().iloc[:5])
    with pytest.raises(ValueError, match="read-only"):
        history.period[0] = 0
    assert repr(history) == (
        "PurchaseHistory(3 customers, 4 customer-periods of 'D', naive, with amounts)"
    )


def test_an_aware_column_keeps_its_zone_and_cuts_days_there():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            # 23:30 UTC is already the next day in Berlin
            "date": pd.to_datetime(["2024-03-01 23:30", "2024-03-02 08:00"], utc=True),
            "amount": [1.0, 2.0],
        }
    )
    utc = rt.purchase_history(frame)
    berlin = rt.purchase_history(frame, tz="Europe/Berlin")
    assert (utc.tz, utc.n_periods) == ("UTC", 2)
    assert (berlin.tz, berlin.n_periods) == ("Europe/Berlin", 1)
    summary = rt.rfm_summary(berlin, observation_period_end=pd.Timestamp("2024-03-10", tz="UTC"))
    assert summary.attrs["observation_period_end"].tzinfo is not None
    assert summary.loc["a", "frequency"] == 0.0


@given(rst.purchase_logs(max_customers=8, max_rows=40), st.sampled_from(["D", "W", "M"]))
def test_summary_of_a_history_equals_the_summary_of_the_frame(frame, unit):
    end = pd.Timestamp("2024-09-30")
    history = rt.purchase_history(frame, time_unit=unit)
    if frame["date"].min() > end:
        return  # the end is before the first purchase: both refuse it (tested below)
    direct = rt.rfm_summary(frame, observation_period_end=end, time_unit=unit, time_scaler=7)
    shared = rt.rfm_summary(history, observation_period_end=end, time_scaler=7)
    pd.testing.assert_frame_equal(shared, direct)
    assert shared.attrs == direct.attrs


@given(rst.purchase_logs(max_customers=8, max_rows=40), st.sampled_from(["D", "W"]))
def test_cycles_of_a_history_equal_the_cycles_of_the_frame(frame, unit):
    as_of = "2024-10-15"
    history = rt.purchase_history(frame, time_unit=unit)
    if (history.period > rt.history.period_of(pd.Timestamp(as_of).value, unit)).all():
        return
    direct = repurchase_cycles(frame, as_of=as_of, time_unit=unit, monetary_value_col="amount")
    shared = repurchase_cycles(history, as_of=as_of, monetary_value_col="amount")
    pd.testing.assert_frame_equal(shared, direct)
    pd.testing.assert_frame_equal(shared.attrs["priors"], direct.attrs["priors"])


def test_peer_groups_work_on_a_history():
    frame = _log().iloc[:5]
    peers = pd.Series({"a": "x", "b": "x", "c": "y"})
    direct = repurchase_cycles(frame, as_of="2024-03-01", peer_groups=peers, min_peers=1)
    shared = repurchase_cycles(
        rt.purchase_history(frame), as_of="2024-03-01", peer_groups=peers, min_peers=1
    )
    pd.testing.assert_frame_equal(shared, direct)


def test_the_summary_leaves_out_customers_whose_purchases_all_come_after_the_end():
    history = rt.purchase_history(_log().iloc[:5])
    summary = rt.rfm_summary(history, observation_period_end="2024-01-20")
    assert summary.index.tolist() == ["a", "b"]
    assert summary.attrs["rows_after_observation_period_end"] == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: rt.rfm_summary(h, time_unit="W"), "cut into 'D' periods"),
        (lambda h: repurchase_cycles(h, as_of="2024-03-01", time_unit="M"), "cut into 'D'"),
        (lambda h: repurchase_cycles(h, as_of="2024-03-01", category_col="c"), "no categories"),
        (lambda h: rt.rfm_summary(h, observation_period_end="2023-01-01"), "before the first"),
        (lambda h: repurchase_cycles(h, as_of="2023-01-01"), "no purchase on or before"),
    ],
)
def test_options_that_contradict_the_history_are_refused(call, message):
    history = rt.purchase_history(_log().iloc[:5])
    with pytest.raises(ValidationError, match=message):
        call(history)


def test_a_zone_other_than_the_histories_is_refused():
    frame = _log().iloc[:5].assign(date=lambda f: f["date"].dt.tz_localize("UTC"))
    history = rt.purchase_history(frame)
    with pytest.raises(ValidationError, match="in 'UTC', not 'Europe/Paris'"):
        rt.rfm_summary(history, tz="Europe/Paris")
    with pytest.raises(ValidationError, match="in 'UTC', not 'Europe/Paris'"):
        repurchase_cycles(history, as_of=datetime(2024, 3, 1, tzinfo=UTC), tz="Europe/Paris")


def test_a_history_without_amounts():
    history = rt.purchase_history(_log().iloc[:5], monetary_value_col=None)
    assert history.amount is None
    assert "monetary_value" not in rt.rfm_summary(history).columns
    with pytest.raises(ValidationError, match="without amounts"):
        repurchase_cycles(history, as_of="2024-03-01", monetary_value_col="amount")


@pytest.mark.parametrize(
    ("frame", "options", "message"),
    [
        (_log().iloc[:0], {}, "empty"),
        (_log().iloc[:5], {"time_unit": "fortnight"}, "time_unit"),
        (_log().iloc[:5], {"tz": ""}, "IANA"),
        (_log().iloc[:5], {"order_id_col": "order_id"}, "both order_id_col and refund_of_col"),
        (_log(), {}, "negative amounts"),
        (
            _log().iloc[[1, 5]],
            {"order_id_col": "order_id", "refund_of_col": "refund_of"},
            "refunds name orders",
        ),
    ],
)
def test_bad_input_is_refused_with_what_to_fix(frame, options, message):
    with pytest.raises(ValidationError, match=message):
        rt.purchase_history(frame, **options)


def test_every_order_refunded_in_full_is_refused():
    frame = _log().iloc[[2, 5]]
    with pytest.raises(ValidationError, match="fully refunded"):
        rt.purchase_history(frame, order_id_col="order_id", refund_of_col="refund_of")


def test_an_ingest_result_is_read_through_its_canonical_columns(cdnow_ingested):
    result = cdnow_ingested
    sample = rt.load_cdnow_sample()
    end = datetime(1997, 9, 30, tzinfo=UTC)
    history = rt.purchase_history(result)
    pd.testing.assert_frame_equal(
        rt.rfm_summary(history, observation_period_end=end, time_scaler=7),
        rt.rfm_summary(result, observation_period_end=end, time_scaler=7),
    )
    assert np.isclose(history.amount.sum(), sample["amount"].sum())
