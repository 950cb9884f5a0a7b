"""retention.ingest on frames: normalisation, duplicates, refunds, time, money (ING/TIM cases)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import retention as rt
from retention.exceptions import (
    DuplicateError,
    IngestAbortedError,
    MixedCurrencyError,
    NaiveTimestampError,
    SchemaError,
    ValidationError,
)
from retention.ingest import QUARANTINE_COLUMNS, REASONS, TRANSACTION_COLUMNS, DatedRates
from retention.testing import strategies as rst

COLUMNS = {"customer_id_col": "customer", "datetime_col": "paid_at", "monetary_value_col": "total"}


def frame(rows, *, columns=("customer", "paid_at", "total", "order")):
    return pd.DataFrame([dict(zip(columns, row, strict=True)) for row in rows], columns=columns)


def run(source, **options):
    options.setdefault("currency", "EUR")
    options.setdefault("max_bad_ratio", None)
    return rt.ingest(source, **COLUMNS, **options)


def reasons(result):
    return dict(zip(result.quarantine["line"], result.quarantine["reason"], strict=True))


def check_identity(result):
    report = result.report
    assert report.rows_read == report.accepted + report.deduplicated + report.quarantined
    assert report.accepted == len(result.transactions)
    assert report.quarantined == len(result.quarantine)


# -- shape of the result ---------------------------------------------------------------------


def test_result_columns_types_and_report_on_a_small_frame():
    result = run(
        frame(
            [
                ("00123", "2024-03-01T10:00:00Z", "19.90", "A-1"),
                ("c2", "2024-03-02T11:30:00+01:00", "0", "A-2"),
            ]
        ),
        order_id_col="order",
        as_of=datetime(2024, 4, 1, tzinfo=UTC),
    )
    tx = result.transactions
    assert tuple(tx.columns) == TRANSACTION_COLUMNS
    assert tx["customer_id"].tolist() == ["00123", "c2"]
    assert tx["order_id"].tolist() == ["A-1", "A-2"]
    assert str(tx["purchased_at"].dtype) == "datetime64[us, UTC]"
    assert tx["purchased_at"].tolist() == [
        pd.Timestamp("2024-03-01 10:00", tz="UTC"),
        pd.Timestamp("2024-03-02 10:30", tz="UTC"),
    ]
    assert tx["amount_minor"].dtype == np.int64
    assert tx["amount_minor"].tolist() == [1990, 0]
    assert tx["amount"].tolist() == [19.9, 0.0]
    assert tx["currency"].tolist() == ["EUR", "EUR"]
    assert tx["kind"].tolist() == ["purchase", "purchase"]
    assert tx["refund_of"].isna().all()
    assert tx["line"].tolist() == [1, 2]
    assert tuple(result.quarantine.columns) == QUARANTINE_COLUMNS
    report = result.report
    assert (report.rows_read, report.accepted, report.deduplicated, report.quarantined) == (
        2,
        2,
        0,
        0,
    )
    assert report.zero_value == 1
    assert report.customers == 2
    assert report.status == "complete"
    assert report.notes == ()


def test_result_is_frozen_and_input_is_not_mutated():
    source = frame([("c1", "2024-03-01T10:00:00Z", " 5.00", "A-1")])
    before = source.copy()
    result = run(source, order_id_col="order")
    pd.testing.assert_frame_equal(source, before)
    with pytest.raises(AttributeError):
        result.report.accepted = 3  # type: ignore[misc]


def test_report_refuses_counts_that_do_not_add_up():
    with pytest.raises(ValidationError, match="rows_read"):
        rt.IngestReport(rows_read=3, accepted=1, deduplicated=0, quarantined=1)
    with pytest.raises(ValidationError, match="quarantined_by_reason"):
        rt.IngestReport(
            rows_read=2, accepted=1, deduplicated=0, quarantined=1, quarantined_by_reason={}
        )


def test_without_order_ids_nothing_is_deduplicated_and_ids_come_from_lines():
    rows = [("c1", "2024-03-01T10:00:00Z", "5.00")] * 2
    result = run(frame(rows, columns=("customer", "paid_at", "total")))
    assert result.transactions["order_id"].tolist() == ["L1", "L2"]
    assert result.report.deduplicated == 0
    assert "order_id_col not given" in " ".join(result.report.notes)


def test_every_reason_code_is_snake_case_and_documented():
    assert all(code == code.lower() and " " not in code for code in REASONS)


# -- ING-01 duplicates -----------------------------------------------------------------------


def test_ing_01_identical_duplicate_is_stored_once_and_counted():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "19.9", "A-1"),
        ("c1", "2024-03-01T11:00:00+01:00", "19.90", "A-1"),
        ("c2", "2024-03-02T10:00:00Z", "5", "A-2"),
    ]
    result = run(frame(rows), order_id_col="order")
    assert result.transactions["order_id"].tolist() == ["A-1", "A-2"]
    assert result.transactions["line"].tolist() == [1, 3]
    assert result.report.deduplicated == 1
    assert result.quarantine.empty
    check_identity(result)


@pytest.mark.parametrize("chunksize", [1, 2])
def test_ing_01_duplicates_across_chunks_are_deduplicated(chunksize):
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "19.9", "A-1"),
        ("c2", "2024-03-02T10:00:00Z", "5", "A-2"),
        ("c1", "2024-03-01T10:00:00Z", "19.90", "A-1"),
        ("c2", "2024-03-02T10:00:00Z", "5.00", "A-2"),
    ]
    result = run(frame(rows), order_id_col="order", chunksize=chunksize)
    assert result.transactions["line"].tolist() == [1, 2]
    assert result.report.deduplicated == 2
    assert result.report.chunks == 4 // chunksize
    check_identity(result)


def test_ing_01_ingesting_the_same_rows_twice_adds_nothing():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "19.9", "A-1"),
        ("c2", "2024-03-02T10:00:00Z", "5", "A-2"),
    ]
    once = run(frame(rows), order_id_col="order")
    twice = run(frame(rows + rows), order_id_col="order", chunksize=2)
    pd.testing.assert_frame_equal(once.transactions, twice.transactions)
    assert twice.report.deduplicated == 2


# -- ING-02 conflicting duplicates -------------------------------------------------------------

CONFLICT = [
    ("c1", "2024-03-01T10:00:00Z", "19.90", "A-1"),
    ("c2", "2024-03-02T10:00:00Z", "5.00", "A-2"),
    ("c1", "2024-03-01T10:00:00Z", "29.90", "A-1"),
]


@pytest.mark.parametrize("chunksize", [None, 1])
@pytest.mark.parametrize("on_conflict", ["quarantine", "raise", "update"])
def test_ing_02_conflicting_duplicate(on_conflict, chunksize):
    if on_conflict == "raise":
        with pytest.raises(DuplicateError, match="A-1") as error:
            run(frame(CONFLICT), order_id_col="order", on_conflict="raise", chunksize=chunksize)
        assert "amount_minor" in str(error.value)
        return
    result = run(
        frame(CONFLICT), order_id_col="order", on_conflict=on_conflict, chunksize=chunksize
    )
    check_identity(result)
    tx = result.transactions.set_index("order_id")
    if on_conflict == "quarantine":
        assert tx.loc["A-1", "amount_minor"] == 1990
        assert tx.loc["A-1", "line"] == 1
        row = result.quarantine.iloc[0]
        assert (row["line"], row["reason"], row["column"]) == (
            3,
            "duplicate_order_conflict",
            "order",
        )
        assert "'A-1'" in row["detail"]
        assert "amount_minor" in row["detail"]
        assert "line 3" in row["detail"]
        assert "line 1" in row["detail"]
        assert "customer_id" not in row["detail"]
        assert result.report.deduplicated == 0
    else:
        assert tx.loc["A-1", "amount_minor"] == 2990
        assert tx.loc["A-1", "line"] == 3
        assert result.quarantine.empty
        assert result.report.updated == 1
        assert result.report.deduplicated == 1
        audit = result.replaced
        assert audit["amount_minor"].tolist() == [1990]
        assert audit["replaced_by_line"].tolist() == [3]


def test_ing_02_update_applies_successive_rows_in_order():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "1.00", "A-1"),
        ("c1", "2024-03-01T10:00:00Z", "2.00", "A-1"),
        ("c1", "2024-03-01T10:00:00Z", "2.00", "A-1"),
        ("c1", "2024-03-01T10:00:00Z", "1.00", "A-1"),
    ]
    for chunksize in (None, 1, 3):
        result = run(frame(rows), order_id_col="order", on_conflict="update", chunksize=chunksize)
        check_identity(result)
        assert result.transactions["amount_minor"].tolist() == [100]
        assert result.transactions["line"].tolist() == [4]
        assert result.replaced["line"].tolist() == [1, 2]
        assert result.replaced["replaced_by_line"].tolist() == [2, 4]
        assert result.report.updated == 2


def test_ing_02_conflict_on_customer_or_time_is_named():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "1.00", "A-1"),
        ("c2", "2024-03-01T10:00:00Z", "1.00", "A-1"),
        ("c1", "2024-03-01T10:00:01Z", "1.00", "A-1"),
    ]
    result = run(frame(rows), order_id_col="order")
    details = result.quarantine["detail"].tolist()
    assert "customer_id" in details[0]
    assert "purchased_at" in details[1]


# -- ING-03 refunds ----------------------------------------------------------------------------


def refund_frame(rows):
    return frame(rows, columns=("customer", "paid_at", "total", "order", "refund_of"))


def test_ing_03_refund_is_linked_and_netted():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "100.00", "A-1", ""),
        ("c1", "2024-03-05T10:00:00Z", "-30.00", "R-1", "A-1"),
    ]
    result = run(refund_frame(rows), order_id_col="order", refund_of_col="refund_of")
    tx = result.transactions
    assert tx["kind"].tolist() == ["purchase", "refund"]
    assert tx["refund_of"].tolist()[1] == "A-1"
    assert tx["amount_minor"].sum() == 7000
    assert (tx["kind"] == "purchase").sum() == 1
    assert result.report.refunds == 1
    check_identity(result)


def test_ing_03_refund_before_its_parent_and_in_another_chunk_is_linked():
    rows = [
        ("c1", "2024-03-05T10:00:00Z", "-30.00", "R-1", "A-1"),
        ("c1", "2024-03-01T10:00:00Z", "100.00", "A-1", ""),
    ]
    result = run(refund_frame(rows), order_id_col="order", refund_of_col="refund_of", chunksize=1)
    assert result.quarantine.empty
    assert result.transactions["amount_minor"].sum() == 7000


@pytest.mark.parametrize(
    ("refund", "reason"),
    [
        (("c1", "2024-03-05T10:00:00Z", "-30.00", "R-1", "NOPE"), "refund_parent_unknown"),
        (("c1", "2024-03-05T10:00:00Z", "-100.01", "R-1", "A-1"), "refund_exceeds_parent"),
        (("c2", "2024-03-05T10:00:00Z", "-30.00", "R-1", "A-1"), "refund_customer_mismatch"),
        (("c1", "2024-03-05T10:00:00Z", "30.00", "R-1", "A-1"), "refund_sign_mismatch"),
    ],
)
def test_ing_03_bad_refunds_are_quarantined(refund, reason):
    rows = [("c1", "2024-03-01T10:00:00Z", "100.00", "A-1", ""), refund]
    result = run(refund_frame(rows), order_id_col="order", refund_of_col="refund_of")
    assert reasons(result) == {2: reason}
    assert result.transactions["order_id"].tolist() == ["A-1"]
    check_identity(result)


def test_ing_03_refunds_are_checked_cumulatively():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "100.00", "A-1", ""),
        ("c1", "2024-03-02T10:00:00Z", "-60.00", "R-1", "A-1"),
        ("c1", "2024-03-03T10:00:00Z", "-40.00", "R-2", "A-1"),
        ("c1", "2024-03-04T10:00:00Z", "-0.01", "R-3", "A-1"),
    ]
    result = run(refund_frame(rows), order_id_col="order", refund_of_col="refund_of")
    assert reasons(result) == {4: "refund_exceeds_parent"}
    assert result.transactions["amount_minor"].sum() == 0


def test_ing_03_refund_in_another_currency_is_quarantined():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "100.00", "A-1", "", "EUR"),
        ("c1", "2024-03-05T10:00:00Z", "-30.00", "R-1", "A-1", "USD"),
    ]
    source = frame(rows, columns=("customer", "paid_at", "total", "order", "refund_of", "cur"))
    result = run(
        source, order_id_col="order", refund_of_col="refund_of", currency_col="cur", currency=None
    )
    assert reasons(result) == {2: "refund_currency_mismatch"}


def test_ing_03_refund_of_needs_order_ids():
    with pytest.raises(ValidationError, match="order_id_col"):
        run(refund_frame([]), refund_of_col="refund_of")


# -- ING-04 zero and negative amounts --------------------------------------------------------


def test_ing_04_zero_amount_is_a_purchase_counted_as_zero_value():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "0.00", "A-1"),
        ("c1", "2024-03-02T10:00:00Z", "0", "A-2"),
    ]
    result = run(frame(rows), order_id_col="order")
    assert result.transactions["amount_minor"].tolist() == [0, 0]
    assert result.transactions["kind"].tolist() == ["purchase", "purchase"]
    assert result.report.zero_value == 2


def test_ing_04_negative_amount_without_refund_is_quarantined():
    rows = [
        ("c1", "2024-03-01T10:00:00Z", "-5.00", "A-1"),
        ("c1", "2024-03-02T10:00:00Z", "5", "A-2"),
    ]
    result = run(frame(rows), order_id_col="order")
    assert reasons(result) == {1: "negative_amount_not_refund"}


@given(rows=st.lists(st.tuples(st.integers(-3, 3), st.booleans()), min_size=1, max_size=12))
def test_ing_04_sign_and_kind_property(rows):
    """Purchases need amount >= 0, refunds amount < 0; each other combination has its code."""
    data = [("p", "2024-01-01T00:00:00Z", "1000.00", "P", "")]
    for index, (units, refund) in enumerate(rows):
        data.append(
            ("p", "2024-01-02T00:00:00Z", f"{units}.00", f"O{index}", "P" if refund else "")
        )
    result = run(refund_frame(data), order_id_col="order", refund_of_col="refund_of")
    check_identity(result)
    got = reasons(result)
    for index, (units, refund) in enumerate(rows):
        line = index + 2
        if refund and units >= 0:
            assert got[line] == "refund_sign_mismatch"
        elif not refund and units < 0:
            assert got[line] == "negative_amount_not_refund"
        else:
            assert line not in got
    purchases = result.transactions[result.transactions["kind"] == "purchase"]
    assert (purchases["amount_minor"] >= 0).all()
    refunds = result.transactions[result.transactions["kind"] == "refund"]
    assert (refunds["amount_minor"] < 0).all()


# -- ING-05 missing values -------------------------------------------------------------------


@pytest.mark.parametrize("missing", [np.nan, None, "", "   ", "N/A", "-", "n/a", "NaN", "null"])
def test_ing_05_missing_amount_is_quarantined_never_zero(missing):
    source = pd.DataFrame(
        {"customer": ["c1", "c2"], "paid_at": ["2024-03-01T10:00:00Z"] * 2, "total": ["0", missing]}
    )
    result = run(source)
    assert reasons(result) == {2: "missing_amount"}
    assert result.transactions["amount_minor"].tolist() == [0]


def test_ing_05_missing_amount_in_a_float_column():
    source = pd.DataFrame(
        {"customer": ["c1", "c2"], "paid_at": ["2024-03-01T10:00:00Z"] * 2, "total": [0.0, np.nan]}
    )
    result = run(source)
    assert reasons(result) == {2: "missing_amount"}
    assert result.report.zero_value == 1


@pytest.mark.parametrize("missing", [None, "", " ", "NaT", pd.NaT])
def test_ing_05_missing_timestamp_is_quarantined(missing):
    source = pd.DataFrame(
        {
            "customer": ["c1", "c2"],
            "paid_at": ["2024-03-01T10:00:00Z", missing],
            "total": ["1", "2"],
        }
    )
    result = run(source)
    assert reasons(result) == {2: "missing_timestamp"}


def test_ing_05_missing_timestamp_in_an_aware_column():
    stamps = pd.Series([pd.Timestamp("2024-03-01", tz="UTC"), pd.NaT], dtype="datetime64[ns, UTC]")
    result = run(pd.DataFrame({"customer": ["a", "b"], "paid_at": stamps, "total": [1, 2]}))
    assert reasons(result) == {2: "missing_timestamp"}
    assert result.transactions["amount_minor"].tolist() == [100]


MISSING = st.sampled_from([None, np.nan, "", "  ", "N/A", "-", "none"])
PRESENT = st.sampled_from(["0", "0.00", "1", "12.50", "1000"])


@given(amounts=st.lists(st.one_of(MISSING, PRESENT), min_size=1, max_size=30))
def test_ing_05_k_missing_amounts_give_k_quarantined_rows(amounts):
    source = pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(len(amounts))],
            "paid_at": "2024-03-01T10:00:00Z",
            "total": pd.Series(amounts, dtype=object),
        }
    )
    result = run(source)
    missing = sum(
        1
        for a in amounts
        if a is None or (isinstance(a, float)) or str(a).strip().lower() in {"", "n/a", "-", "none"}
    )
    zeros = sum(1 for a in amounts if a in {"0", "0.00"})
    assert result.report.quarantined == missing
    assert set(result.quarantine["reason"]) <= {"missing_amount"}
    assert (result.transactions["amount_minor"] == 0).sum() == zeros
    check_identity(result)


# -- ING-06 time zones -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-01T10:00:00+01:00",
        "2024-03-01 10:00:00+01:00",
        "2024-03-01 10:00 +01:00",
        "2024-03-01T10:00+0100",
        "2024-03-01T10:00+01",
        "2024-03-01T09:00:00Z",
        "2024-03-01 09:00:00 UTC",
        "2024-03-01T09:00:00.000z",
        "2024-03-01T04:30:00-04:30",
        "2024-03-01T09:00:00,0Z",
    ],
)
def test_tim_01_any_offset_becomes_the_same_utc_instant(text):
    source = pd.DataFrame({"customer": ["a"], "paid_at": [text], "total": ["1"]})
    result = run(source)
    assert result.transactions["purchased_at"].tolist() == [
        pd.Timestamp("2024-03-01 09:00", tz="UTC")
    ]


@pytest.mark.parametrize(
    "text", ["2024-03-01T10:00+25:00", "2024-03-01T10:00 Z Z", "2024-03-01T25:00Z"]
)
def test_tim_01_bad_offsets_and_times_are_unparseable(text):
    source = pd.DataFrame(
        {"customer": ["a", "b"], "paid_at": ["2024-03-01T10:00Z", text], "total": ["1", "1"]}
    )
    assert reasons(run(source)) == {2: "unparseable_timestamp"}


def test_ing_06_naive_datetime64_column_raises_before_anything():
    source = pd.DataFrame(
        {"customer": ["c1"], "paid_at": pd.to_datetime(["2024-03-01 10:00"]), "total": [1.0]}
    )
    with pytest.raises(NaiveTimestampError, match="paid_at"):
        run(source)


def test_ing_06_naive_text_everywhere_raises():
    source = pd.DataFrame({"customer": ["c1"], "paid_at": ["2024-03-01 10:00"], "total": ["1"]})
    with pytest.raises(NaiveTimestampError, match="assume_tz"):
        run(source)


def test_ing_06_naive_rows_among_aware_ones_are_quarantined():
    source = pd.DataFrame(
        {
            "customer": ["c1", "c2", "c3"],
            "paid_at": ["2024-03-01T10:00:00+02:00", "2024-03-01 10:00", "2024-03-01T10:00Z"],
            "total": ["1", "2", "3"],
        }
    )
    result = run(source)
    assert reasons(result) == {2: "naive_timestamp"}


def test_ing_06_assume_tz_converts_to_utc_and_refuses_gaps_and_repeats():
    source = pd.DataFrame(
        {
            "customer": ["a", "b", "c", "d"],
            "paid_at": [
                "2025-03-30 01:30",
                "2025-03-30 02:30",
                "2025-10-26 02:30",
                "2025-06-01T12:00:00+00:00",
            ],
            "total": ["1", "2", "3", "4"],
        }
    )
    result = run(source, assume_tz="Europe/Berlin")
    assert reasons(result) == {2: "nonexistent_local_time", 3: "ambiguous_local_time"}
    assert result.transactions["purchased_at"].tolist() == [
        pd.Timestamp("2025-03-30 00:30", tz="UTC"),
        pd.Timestamp("2025-06-01 12:00", tz="UTC"),
    ]


@pytest.mark.parametrize(("ambiguous", "hour"), [("earliest", 0), ("latest", 1)])
def test_ing_06_ambiguous_local_time_can_be_resolved(ambiguous, hour):
    source = pd.DataFrame({"customer": ["a"], "paid_at": ["2025-10-26 02:30"], "total": ["1"]})
    result = run(source, assume_tz="Europe/Berlin", ambiguous=ambiguous)
    assert result.transactions["purchased_at"].tolist() == [
        pd.Timestamp(f"2025-10-26 0{hour}:30", tz="UTC")
    ]


def test_ing_06_naive_datetime64_column_with_assume_tz():
    stamps = pd.to_datetime(["2025-03-30 02:30", "2025-10-26 02:30", "2025-01-15 12:00"])
    source = pd.DataFrame({"customer": ["a", "b", "c"], "paid_at": stamps, "total": [1, 2, 3]})
    result = run(source, assume_tz="Europe/Berlin")
    assert reasons(result) == {1: "nonexistent_local_time", 2: "ambiguous_local_time"}
    assert result.transactions["purchased_at"].tolist() == [
        pd.Timestamp("2025-01-15 11:00", tz="UTC")
    ]


def test_ing_06_aware_datetime64_column_in_any_zone_becomes_utc():
    stamps = pd.to_datetime(["2024-03-01 10:00"]).tz_localize("Asia/Kolkata")
    result = run(pd.DataFrame({"customer": ["a"], "paid_at": stamps, "total": [1]}))
    assert result.transactions["purchased_at"].tolist() == [
        pd.Timestamp("2024-03-01 04:30", tz="UTC")
    ]


def test_ing_06_bad_zone_name_is_refused():
    with pytest.raises(ValidationError, match="IANA"):
        run(frame([]), assume_tz="Berlin")


# -- ING-07 implausible dates ------------------------------------------------------------------


def test_ing_07_future_rows_after_as_of_plus_five_minutes_are_quarantined():
    now = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    stamps = [(now + timedelta(minutes=m)).isoformat() for m in (4, 6)]
    source = pd.DataFrame({"customer": ["a", "b"], "paid_at": stamps, "total": ["1", "2"]})
    result = run(source, as_of=now)
    assert reasons(result) == {2: "future_timestamp"}
    assert result.transactions["customer_id"].tolist() == ["a"]


def test_ing_07_without_as_of_the_report_says_the_check_was_skipped():
    source = pd.DataFrame({"customer": ["a"], "paid_at": ["2999-01-01T00:00Z"], "total": ["1"]})
    result = run(source)
    assert "as_of not given: future-date check skipped" in result.report.notes
    assert len(result.transactions) == 0  # beyond the datetime64[ns] range
    assert reasons(result) == {1: "timestamp_out_of_range"}


def test_ing_07_rows_before_min_date_are_out_of_range():
    source = pd.DataFrame(
        {
            "customer": ["a", "b"],
            "paid_at": ["1989-12-31T23:59Z", "1990-01-01T00:00Z"],
            "total": ["1", "2"],
        }
    )
    assert reasons(run(source)) == {1: "timestamp_out_of_range"}
    assert reasons(run(source, min_date=date(1980, 1, 1))) == {}


def test_ing_07_as_of_must_be_aware():
    with pytest.raises(ValidationError, match="naive"):
        run(frame([]), as_of=datetime(2024, 1, 1))  # noqa: DTZ001 - the point of the test


# -- ING-09 and TIM-02 money -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "minor"),
    [
        ("19.99", ".", None, 1999),
        ("19.9", ".", None, 1990),
        ("+19", ".", None, 1900),
        ("1.234,56", ",", ".", 123456),
        ("1234,56", ",", ".", 123456),
        ("1 234,50", ",", " ", 123450),
        ("1\u00a0234,50", ",", " ", 123450),
        ("1\u202f234,50", ",", " ", 123450),
        ("12 345 678,00", ",", " ", 1234567800),
        ("1,234", ".", ",", 123400),
        ("1'234.50", ".", "'", 123450),
        ("0,5", ",", None, 50),
    ],
)
def test_ing_09_declared_separators(text, decimal, thousands, minor):
    source = pd.DataFrame({"customer": ["a"], "paid_at": ["2024-01-01T00:00Z"], "total": [text]})
    result = run(source, decimal=decimal, thousands=thousands)
    assert result.transactions["amount_minor"].tolist() == [minor]


@pytest.mark.parametrize(
    ("text", "decimal", "thousands"),
    [
        ("1,234", ".", None),
        ("1.234,56", ".", ","),
        ("1 234,50", ",", None),
        ("12,34,56", ",", "."),
        ("1.2345,00", ",", "."),
        ("12.5.0", ".", None),
        ("abc", ".", None),
        ("--5", ".", None),
        ("1e3", ".", None),
    ],
)
def test_ing_09_value_not_matching_the_format_is_unparseable(text, decimal, thousands):
    source = pd.DataFrame({"customer": ["a"], "paid_at": ["2024-01-01T00:00Z"], "total": [text]})
    result = run(source, decimal=decimal, thousands=thousands)
    assert reasons(result) == {1: "unparseable_amount"}


def test_ing_09_currency_symbols_are_refused_unless_stripping_and_matching():
    source = pd.DataFrame(
        {
            "customer": ["a", "b", "c", "d"],
            "paid_at": ["2024-01-01T00:00Z"] * 4,
            "total": ["€12,50", "12,50 €", "$12,50", "EUR 3,00"],
        }
    )
    refused = run(source, decimal=",")
    assert set(refused.quarantine["reason"]) == {"unparseable_amount"}
    assert "strip_currency_symbol" in refused.quarantine["detail"].iloc[0]
    accepted = run(source, decimal=",", strip_currency_symbol=True)
    assert accepted.transactions["amount_minor"].tolist() == [1250, 1250, 300]
    assert reasons(accepted) == {3: "currency_symbol_mismatch"}


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        (19.99, "EUR", 1999),
        (0.1, "EUR", 10),
        (500.0, "JPY", 500),
        (1.234, "BHD", 1234),
        (7, "EUR", 700),
    ],
)
def test_tim_02_float_input_exact_at_the_currency_exponent(value, currency, minor):
    source = pd.DataFrame({"customer": ["a"], "paid_at": ["2024-01-01T00:00Z"], "total": [value]})
    result = run(source, currency=currency)
    assert result.transactions["amount_minor"].tolist() == [minor]


@pytest.mark.parametrize(
    ("value", "currency"), [(19.999, "EUR"), (500.5, "JPY"), ("19.999", "EUR"), ("0.0001", "BHD")]
)
def test_tim_02_input_finer_than_the_currency_is_precision_loss(value, currency):
    source = pd.DataFrame(
        {
            "customer": ["a"],
            "paid_at": ["2024-01-01T00:00Z"],
            "total": pd.Series([value], dtype=object),
        }
    )
    result = run(source, currency=currency)
    assert reasons(result) == {1: "precision_loss"}


def test_tim_02_decimal_objects_and_trailing_zeros_are_exact():
    amounts = pd.Series([Decimal("19.90"), Decimal("1E+2"), "19.9900"], dtype=object)
    source = pd.DataFrame(
        {"customer": ["a", "b", "c"], "paid_at": ["2024-01-01T00:00Z"] * 3, "total": amounts}
    )
    result = run(source)
    assert result.transactions["amount_minor"].tolist() == [1990, 10000, 1999]


@given(
    units=st.integers(min_value=-(10**15), max_value=10**15),
    exponent=st.sampled_from([("JPY", 0), ("EUR", 2), ("BHD", 3)]),
)
def test_tim_02_text_amounts_round_trip_exactly(units, exponent):
    currency, places = exponent
    text = format(Decimal(units).scaleb(-places), "f")
    parent = format(Decimal(10**15).scaleb(-places), "f")
    refund = units < 0
    source = pd.DataFrame(
        {
            "customer": ["a", "a"],
            "paid_at": ["2024-01-01T00:00Z"] * 2,
            "total": [parent, text],
            "order": ["P", "R"],
            "refund_of": ["", "P" if refund else ""],
        }
    )
    result = run(source, currency=currency, order_id_col="order", refund_of_col="refund_of")
    row = result.transactions.set_index("order_id")
    if units == 0 and refund:
        return
    assert row.loc["R", "amount_minor"] == units


def test_tim_02_huge_amounts_are_out_of_range():
    source = pd.DataFrame(
        {"customer": ["a"], "paid_at": ["2024-01-01T00:00Z"], "total": ["1" * 20]}
    )
    assert reasons(run(source)) == {1: "amount_out_of_range"}


# -- TIM-03 currencies -----------------------------------------------------------------------


def currency_frame(codes):
    n = len(codes)
    return pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(n)],
            "paid_at": ["2024-01-01T00:00Z"] * n,
            "total": ["5"] * n,
            "cur": codes,
        }
    )


def test_tim_03_currency_column_sets_the_exponent_and_unknown_codes_are_quarantined():
    result = run(currency_frame(["JPY", "XYZ", "", "jpy"]), currency_col="cur", currency=None)
    assert reasons(result) == {2: "unknown_currency", 3: "missing_currency"}
    assert result.transactions["amount_minor"].tolist() == [5, 5]
    assert result.transactions["currency"].tolist() == ["JPY", "JPY"]


def test_tim_03_mixed_currencies_raise_naming_them_and_the_first_line():
    with pytest.raises(MixedCurrencyError, match=r"EUR, USD.*line 3"):
        run(currency_frame(["EUR", "EUR", "USD"]), currency_col="cur", currency=None, chunksize=1)


class FixedRates:
    """Test double: USD -> EUR at 0.5, EUR unchanged, no rate for GBP."""

    currency = "EUR"

    def convert(self, amount_minor, currency, purchased_at):
        rates = currency.map({"EUR": 1.0, "USD": 0.5})
        converted = (amount_minor * rates).round()
        del purchased_at
        return converted.astype("Int64")


def test_tim_03_converter_keeps_the_original_amount_and_currency():
    result = run(
        currency_frame(["EUR", "USD", "GBP"]),
        currency_col="cur",
        currency=None,
        converter=FixedRates(),
    )
    tx = result.transactions
    assert tx["amount_minor"].tolist() == [500, 250]
    assert tx["currency"].tolist() == ["EUR", "EUR"]
    assert tx["original_amount_minor"].tolist() == [500, 500]
    assert tx["original_currency"].tolist() == ["EUR", "USD"]
    assert reasons(result) == {3: "no_exchange_rate"}


def test_tim_03_a_currency_is_required():
    with pytest.raises(ValidationError, match="currency"):
        run(frame([]), currency=None)
    with pytest.raises(ValidationError, match="ISO 4217"):
        run(frame([]), currency="EURO")


# -- ING-10 and ING-13 on frames -------------------------------------------------------------


def test_ing_10_blank_and_padded_customer_ids():
    source = pd.DataFrame(
        {
            "customer": ["00123", "", " 42", None],
            "paid_at": ["2024-01-01T00:00Z"] * 4,
            "total": ["1"] * 4,
        }
    )
    result = run(source)
    assert reasons(result) == {
        2: "missing_customer_id",
        3: "malformed_customer_id",
        4: "missing_customer_id",
    }
    stripped = run(source, strip_ids=True)
    assert stripped.transactions["customer_id"].tolist() == ["00123", "42"]


def test_ing_10_integer_id_columns_become_text():
    source = pd.DataFrame(
        {"customer": [123, 7], "paid_at": ["2024-01-01T00:00Z"] * 2, "total": [1, 2]}
    )
    assert run(source).transactions["customer_id"].tolist() == ["123", "7"]


def test_ing_13_missing_columns_raise_schema_error_listing_them():
    source = pd.DataFrame({"customer": ["a"], "when": ["2024-01-01T00:00Z"]})
    with pytest.raises(
        SchemaError, match=r"'paid_at' \(datetime_col\).*'total' \(monetary_value_col\)"
    ):
        run(source)


def test_ing_13_wrong_dtype_is_a_schema_error():
    source = pd.DataFrame({"customer": ["a"], "paid_at": ["2024-01-01T00:00Z"], "total": [True]})
    with pytest.raises(SchemaError, match="total"):
        run(source)
    source = pd.DataFrame({"customer": ["a"], "paid_at": [20240101], "total": [1]})
    with pytest.raises(SchemaError, match="paid_at"):
        run(source)


# -- SCL-03 / SCL-04 ---------------------------------------------------------------------------


def test_scl_03_progress_is_called_for_every_chunk_and_cancel_interrupts():
    rows = [("c1", "2024-03-01T10:00:00Z", "1", f"A-{i}") for i in range(5)]
    calls = []
    result = run(
        frame(rows), order_id_col="order", chunksize=2, progress=lambda *a: calls.append(a)
    )
    assert calls[:3] == [(2, 5, "ingest"), (4, 5, "ingest"), (5, 5, "ingest")]
    checks = iter([False, False, True])
    stopped = run(frame(rows), order_id_col="order", chunksize=2, cancel=lambda: next(checks))
    assert stopped.report.status == "interrupted"
    assert stopped.report.rows_read == 4
    check_identity(stopped)
    assert result.report.status == "complete"


def test_scl_04_quarantine_storm_aborts_with_top_reasons():
    source = pd.DataFrame(
        {
            "customer": ["a", "b", "c"],
            "paid_at": ["2024-01-01T00:00Z"] * 3,
            "total": ["1,5", "2,5", "3"],
        }
    )
    with pytest.raises(IngestAbortedError, match="unparseable_amount: 2"):
        rt.ingest(source, **COLUMNS, currency="EUR")
    assert run(source).report.quarantined == 2


# -- report identity ---------------------------------------------------------------------------


@given(
    source=rst.ingest_frames(),
    chunksize=st.integers(min_value=1, max_value=8),
    on_conflict=st.sampled_from(["quarantine", "update"]),
)
def test_report_identity_holds_for_any_input_and_chunking(source, chunksize, on_conflict):
    options = {
        "as_of": datetime(2025, 1, 1, tzinfo=UTC),
        "on_conflict": on_conflict,
        "assume_tz": "Europe/Berlin",
    }
    whole = rt.ingest(source, **rst.INGEST_COLUMNS, currency="EUR", max_bad_ratio=None, **options)
    chunked = rt.ingest(
        source,
        **rst.INGEST_COLUMNS,
        currency="EUR",
        max_bad_ratio=None,
        chunksize=chunksize,
        **options,
    )
    for result in (whole, chunked):
        check_identity(result)
        lines = set(result.transactions["line"]) | set(result.quarantine["line"])
        assert len(lines) == result.report.accepted + result.report.quarantined
        assert result.transactions["order_id"].is_unique
    pd.testing.assert_frame_equal(whole.transactions, chunked.transactions)
    assert reasons(whole) == reasons(chunked)


class InterruptingRates:
    """Converter that is pressed Ctrl-C on its second call (the second chunk)."""

    currency = "EUR"

    def __init__(self):
        self.calls = 0

    def convert(self, amount_minor, currency, purchased_at):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        del currency, purchased_at
        return amount_minor


def test_scl_03_ctrl_c_drops_the_chunk_in_flight_whole():
    rows = [("c1", "2024-03-01T10:00:00Z", "1", f"A-{i}") for i in range(5)]
    result = run(frame(rows), order_id_col="order", chunksize=2, converter=InterruptingRates())
    assert result.report.status == "interrupted"
    assert result.report.rows_read == 2
    assert result.transactions["line"].tolist() == [1, 2]
    check_identity(result)


def test_cdnow_sample_ingests_completely_and_feeds_the_summary(cdnow_ingested):
    result = cdnow_ingested
    sample = rt.load_cdnow_sample()
    assert result.report.rows_read == 6919
    assert result.report.accepted == 6919
    assert result.report.customers == 2357
    assert result.quarantine.empty
    assert result.transactions["amount_minor"].sum() == round(sample["amount"].sum() * 100)
    summary = rt.rfm_summary(
        result.transactions,
        datetime_col="purchased_at",
        observation_period_end=datetime(1997, 9, 30, tzinfo=UTC),
        time_unit="D",
        time_scaler=7,
    )
    assert int((summary["frequency"] > 0).sum()) == 946  # DESIGN.md decision 1
    assert summary["T"].max() == pytest.approx(38.86, abs=0.01)


def test_report_to_dict_is_json_ready():
    result = run(frame([("c1", "2024-03-01T10:00:00Z", "N/A", "A-1")]), order_id_col="order")
    data = json.loads(json.dumps(result.report.to_dict()))
    assert data["rows_read"] == 1
    assert data["quarantined_by_reason"] == {"missing_amount": 1}
    assert data["status"] == "complete"


@pytest.mark.parametrize("zone", ["Berlin", "CET+1", "Europe/Atlantis", ""])
def test_ing_13_a_bad_time_zone_name_is_never_silently_utc(zone):
    source = pd.DataFrame({"customer": ["a"], "paid_at": ["2024-01-01 10:00"], "total": ["1"]})
    with pytest.raises(ValidationError, match="IANA"):
        run(source, assume_tz=zone)


def test_ing_06_object_column_of_python_datetimes():
    aware = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    naive = datetime(2024, 3, 1, 10, 0)  # noqa: DTZ001 - the point of the test
    source = pd.DataFrame(
        {
            "customer": ["a", "b", "c"],
            "paid_at": pd.Series(
                [aware, naive, pd.Timestamp("2024-03-02", tz="Asia/Tokyo")], dtype=object
            ),
            "total": ["1", "2", "3"],
        }
    )
    result = run(source)
    assert reasons(result) == {2: "naive_timestamp"}
    assert result.transactions["purchased_at"].tolist() == [
        pd.Timestamp("2024-03-01 10:00", tz="UTC"),
        pd.Timestamp("2024-03-01 15:00", tz="UTC"),
    ]


def test_tim_03_dated_rates_convert_exactly_and_keep_the_originals():
    rates = DatedRates(
        "EUR",
        pd.DataFrame(
            {
                "date": ["2024-01-01", "2024-06-01", "2024-01-01"],
                "currency": ["USD", "USD", "JPY"],
                "rate": ["0.9", "0.8", Decimal("0.0061")],
            }
        ),
    )
    source = pd.DataFrame(
        {
            "customer": ["a", "b", "c", "d", "e", "f"],
            "paid_at": [
                "2024-03-01T00:00Z",
                "2024-07-01T00:00Z",
                "2023-12-31T00:00Z",
                "2024-03-01T00:00Z",
                "2024-03-01T00:00Z",
                "2020-01-01T00:00Z",
            ],
            "total": ["10.00", "10.00", "10.00", "0.05", "1000", "7.00"],
            "cur": ["USD", "USD", "USD", "USD", "JPY", "EUR"],
        }
    )
    result = run(source, currency_col="cur", currency=None, converter=rates)
    tx = result.transactions
    assert tx["amount_minor"].tolist() == [900, 800, 4, 610, 700]  # 4.5 cents: half to even
    assert tx["currency"].unique().tolist() == ["EUR"]
    assert tx["original_amount_minor"].tolist() == [1000, 1000, 5, 1000, 700]
    assert tx["original_currency"].tolist() == ["USD", "USD", "USD", "JPY", "EUR"]
    assert reasons(result) == {3: "no_exchange_rate"}


def test_tim_03_rates_are_validated():
    with pytest.raises(ValidationError, match="positive"):
        DatedRates(
            "EUR", pd.DataFrame({"date": ["2024-01-01"], "currency": ["USD"], "rate": ["-1"]})
        )
    with pytest.raises(ValidationError, match="ISO 4217"):
        DatedRates("EURO", pd.DataFrame({"date": [], "currency": [], "rate": []}))
    with pytest.raises(SchemaError, match="rate"):
        DatedRates("EUR", pd.DataFrame({"date": ["2024-01-01"], "currency": ["USD"]}))
