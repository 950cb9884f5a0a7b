from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from _segmentation_strategies import AS_OF, reference_cycles, transaction_frames
from hypothesis import given
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from retention.exceptions import SchemaError, ValidationError
from retention.segmentation import CYCLE_COLUMNS, repurchase_cycles
from retention.segmentation import cycle as cycle_module
from retention.segmentation._common import sort_within_groups


def _frame(rows):
    return pd.DataFrame(
        {
            "customer_id": pd.Series([r[0] for r in rows], dtype="str"),
            "date": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
        }
    )


BOUNDARY = _frame(
    [
        # a: identical intervals of 30 days (2024 is a leap year: Jan 31 -> Mar 1 is 30)
        ("a", "2024-01-01"),
        ("a", "2024-01-31"),
        ("a", "2024-03-01"),
        # b: one purchase
        ("b", "2024-02-10"),
        # c: two purchases on the same day, then one a week later
        ("c", "2024-01-01 09:00"),
        ("c", "2024-01-01 17:30"),
        ("c", "2024-01-08"),
        # d: a huge outlier among equal intervals
        ("d", "2024-01-01"),
        ("d", "2024-01-11"),
        ("d", "2024-01-21"),
        ("d", "2024-01-31"),
        ("d", "2026-10-27"),  # after as_of: ignored
        ("d", "2024-12-01"),
    ]
)


def test_boundary_cases_by_hand():
    cycles = repurchase_cycles(BOUNDARY, as_of="2024-12-31")
    assert list(cycles.columns) == list(CYCLE_COLUMNS)
    assert cycles.index.tolist() == ["a", "b", "c", "d"]
    assert cycles.index.name == "customer_id"
    assert cycles["purchases"].tolist() == [3, 1, 2, 5]
    assert cycles["intervals"].tolist() == [2, 0, 1, 4]
    # d's intervals: 10, 10, 10, 305
    np.testing.assert_allclose(cycles["median_interval"], [30.0, np.nan, 7.0, 10.0])
    np.testing.assert_allclose(cycles["mean_interval"], [30.0, np.nan, 7.0, 83.75])
    np.testing.assert_allclose(
        cycles["std_interval"], [0.0, np.nan, np.nan, np.std([10, 10, 10, 305], ddof=1)]
    )
    np.testing.assert_allclose(cycles["mad_interval"], [0.0, np.nan, 0.0, 0.0])
    np.testing.assert_allclose(cycles["robust_cv"], [0.0, np.nan, 0.0, 0.0])
    assert cycles.loc["d", "cv"] == pytest.approx(np.std([10, 10, 10, 305], ddof=1) / 83.75)
    assert cycles["periods_since_last"].tolist() == [305, 325, 358, 30]
    assert cycles.loc["c", "last_purchase"] == pd.Timestamp("2024-01-08")
    assert cycles.loc["c", "first_purchase"] == pd.Timestamp("2024-01-01")
    assert cycles.loc["b", "shrinkage"] == 0.0
    assert cycles.attrs["time_unit"] == "D"


def test_shrinkage_matches_the_documented_method_of_moments_by_hand():
    cycles = repurchase_cycles(BOUNDARY, as_of="2024-12-31")
    logs = {"a": [math.log(30)] * 2, "c": [math.log(7)], "d": [math.log(10)] * 3 + [math.log(305)]}
    means = {k: sum(v) / len(v) for k, v in logs.items()}
    within = sum(sum((y - means[k]) ** 2 for y in v) for k, v in logs.items())
    sigma2 = within / (1 + 0 + 3)
    m = sum(means.values()) / 3
    variance = np.var(list(means.values()), ddof=1)
    tau2 = max(0.0, variance - sigma2 * (1 / 2 + 1 / 1 + 1 / 4) / 3)
    priors = cycles.attrs["priors"]
    assert priors.loc[0, "m"] == pytest.approx(m)
    assert priors.loc[0, "sigma2"] == pytest.approx(sigma2)
    assert priors.loc[0, "tau2"] == pytest.approx(tau2)
    for customer, n in (("a", 2), ("c", 1), ("d", 4)):
        weight = tau2 / (tau2 + sigma2 / n)
        mu = weight * means[customer] + (1 - weight) * m
        assert cycles.loc[customer, "shrinkage"] == pytest.approx(weight)
        assert cycles.loc[customer, "cycle"] == pytest.approx(math.exp(mu))
        spread = math.sqrt(sigma2 + weight * sigma2 / n)
        z = 1.2815515655446004  # 90th percentile of the normal: interval_level 0.8
        assert cycles.loc[customer, "cycle_upper"] == pytest.approx(math.exp(mu + z * spread))
        assert cycles.loc[customer, "cycle_lower"] == pytest.approx(math.exp(mu - z * spread))
    # a one-time buyer gets the prior: median exp(m), spread sqrt(sigma2 + tau2)
    assert cycles.loc["b", "cycle"] == pytest.approx(math.exp(m))
    last = pd.Timestamp("2024-02-10")
    assert cycles.loc["b", "next_purchase"] == last + pd.Timedelta(days=round(math.exp(m)))


def test_next_purchase_is_last_purchase_plus_rounded_cycle():
    cycles = repurchase_cycles(BOUNDARY, as_of="2024-12-31")
    expected = cycles["last_purchase"] + pd.to_timedelta(np.rint(cycles["cycle"]), unit="D")
    assert (cycles["next_purchase"] == expected).all()
    assert (cycles["next_purchase_lower"] <= cycles["next_purchase"]).all()
    assert (cycles["next_purchase"] <= cycles["next_purchase_upper"]).all()


def test_wider_interval_level_widens_the_interval():
    narrow = repurchase_cycles(BOUNDARY, as_of="2024-12-31", interval_level=0.5)
    wide = repurchase_cycles(BOUNDARY, as_of="2024-12-31", interval_level=0.95)
    assert (wide["cycle_upper"] > narrow["cycle_upper"]).all()
    assert (wide["cycle_lower"] < narrow["cycle_lower"]).all()
    assert_frame_equal(wide[["cycle"]], narrow[["cycle"]])


@given(frame=transaction_frames())
def test_matches_a_per_customer_reference(frame):
    cycles = repurchase_cycles(frame, as_of=AS_OF)
    reference = reference_cycles(frame, AS_OF)
    assert cycles.index.tolist() == sorted(reference)
    for customer, row in reference.items():
        got = cycles.loc[customer]
        for column in (
            "purchases",
            "intervals",
            "median_interval",
            "mean_interval",
            "std_interval",
            "mad_interval",
            "shrinkage",
            "cycle",
            "periods_since_last",
        ):
            expected = row[column]
            if isinstance(expected, float) and math.isnan(expected):
                assert math.isnan(got[column]), column
            else:
                assert got[column] == pytest.approx(expected, rel=1e-9, abs=1e-9), column


@given(frame=transaction_frames())
def test_wide_int64_keys_give_the_same_result_as_uint32_keys(frame):
    # small logs sort uint32 keys; logs too big for them take the int64 path
    narrow = repurchase_cycles(frame, as_of=AS_OF)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cycle_module, "_UINT32_KEYS", 0)
        wide = repurchase_cycles(frame, as_of=AS_OF)
    assert_frame_equal(narrow, wide)


@given(frame=transaction_frames(), seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(frame, seed):
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    first = repurchase_cycles(frame, as_of=AS_OF)
    second = repurchase_cycles(shuffled, as_of=AS_OF)
    assert_frame_equal(first, second)


@given(frame=transaction_frames())
def test_invariants(frame):
    cycles = repurchase_cycles(frame, as_of=AS_OF)
    assert (cycles["intervals"] == cycles["purchases"] - 1).all()
    assert (cycles["periods_since_last"] >= 0).all()
    assert cycles["shrinkage"].between(0, 1).all()
    if (cycles["intervals"] == 0).all():  # nobody repeat-bought: no cycle to borrow
        assert cycles["cycle"].isna().all()
        assert cycles["next_purchase"].isna().all()
        return
    assert (cycles["cycle_lower"] <= cycles["cycle"] + 1e-12).all()
    assert (cycles["cycle"] <= cycles["cycle_upper"] + 1e-12).all()
    assert (cycles["last_purchase"] >= cycles["first_purchase"]).all()


def test_input_is_not_mutated():
    frame = BOUNDARY.copy()
    repurchase_cycles(frame, as_of="2024-12-31", monetary_value_col=None)
    assert_frame_equal(frame, BOUNDARY)


def test_revenue_with_monetary_value_col():
    frame = BOUNDARY.assign(amount=np.arange(len(BOUNDARY), dtype=float))
    cycles = repurchase_cycles(frame, as_of="2024-12-31", monetary_value_col="amount")
    # d's purchase after as_of (row 11) is left out
    assert cycles["revenue"].tolist() == [0 + 1 + 2, 3, 4 + 5 + 6, 7 + 8 + 9 + 10 + 12]


def test_weeks_and_months():
    frame = _frame(
        [
            ("a", "2024-01-01"),  # Monday, week 0
            ("a", "2024-01-07"),  # Sunday: same week
            ("a", "2024-01-08"),  # next Monday
            ("a", "2024-03-15"),
        ]
    )
    weekly = repurchase_cycles(frame, as_of="2024-03-31", time_unit="W")
    assert weekly.loc["a", "purchases"] == 3
    assert weekly.loc["a", "median_interval"] == pytest.approx((1 + 9) / 2)
    assert weekly.loc["a", "last_purchase"] == pd.Timestamp("2024-03-11")  # its Monday
    monthly = repurchase_cycles(frame, as_of="2024-03-31", time_unit="M")
    assert monthly.loc["a", "purchases"] == 2
    assert monthly.loc["a", "median_interval"] == 2.0
    assert monthly.loc["a", "last_purchase"] == pd.Timestamp("2024-03-01")
    assert monthly.loc["a", "periods_since_last"] == 0


def test_per_category_cycles_use_the_category_as_peer_group():
    rows = []
    for customer in range(4):
        rows += [
            (f"c{customer}", f"2024-0{month}-0{customer + 1}", "coffee") for month in (1, 2, 3)
        ]
        rows += [(f"c{customer}", "2024-01-05", "machine")]
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "date": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
            "category": [r[2] for r in rows],
        }
    )
    cycles = repurchase_cycles(frame, as_of="2024-06-30", category_col="category", min_peers=2)
    assert cycles.index.names == ["customer_id", "category"]
    assert len(cycles) == 8
    coffee = cycles.xs("coffee", level="category")
    assert (coffee["purchases"] == 3).all()
    machine = cycles.xs("machine", level="category")
    assert (machine["intervals"] == 0).all()
    priors = cycles.attrs["priors"]
    assert set(priors["scope"]) == {"population", "group"}
    assert priors.loc[priors["category"] == "coffee", "own_prior"].item()
    # the machine category has no interval: machine buyers get the population prior
    assert "machine" not in set(priors["category"].dropna())


def test_peer_groups_give_each_group_its_own_prior():
    rows = []
    for i in range(3):
        rows += [(f"w{i}", f"2024-01-{day:02d}") for day in (1, 8, 15, 22)]  # weekly
        rows += [(f"m{i}", f"2024-{month:02d}-01") for month in (1, 2, 3, 4)]  # monthly
    rows += [("w_new", "2024-05-01"), ("m_new", "2024-05-01")]
    frame = _frame(rows)
    labels = pd.Series({c: c[0] for c in frame["customer_id"].unique()})
    cycles = repurchase_cycles(frame, as_of="2024-05-31", peer_groups=labels, min_peers=2)
    assert cycles.loc["w_new", "cycle"] == pytest.approx(7.0)
    assert cycles.loc["m_new", "cycle"] == pytest.approx(math.exp(np.mean(np.log([31, 29, 31]))))
    assert str(cycles.loc["w_new", "peer_group"]) == "w"
    # without peer groups both newcomers get the same population prior
    pooled = repurchase_cycles(frame, as_of="2024-05-31")
    assert pooled.loc["w_new", "cycle"] == pooled.loc["m_new", "cycle"]


def test_canonical_ingested_frame_with_refunds_and_utc_instants():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "order_id": ["1", "2", "2r", "3"],
            "purchased_at": pd.to_datetime(
                ["2024-01-01T23:30Z", "2024-01-11T10:00Z", "2024-01-12T10:00Z", "2024-01-05T00:00Z"]
            ),
            "amount_minor": [1000, 2000, -2000, 500],
            "currency": ["EUR"] * 4,
            "amount": [10.0, 20.0, -20.0, 5.0],
            "kind": ["purchase", "purchase", "refund", "purchase"],
            "refund_of": [None, None, "2", None],
        }
    )
    cycles = repurchase_cycles(
        frame,
        as_of=datetime(2024, 1, 31, tzinfo=UTC),
        datetime_col="purchased_at",
        monetary_value_col="amount",
    )
    assert cycles["purchases"].tolist() == [2, 1]
    assert cycles.loc["a", "median_interval"] == 10.0
    assert cycles["revenue"].tolist() == [30.0, 5.0]
    assert str(cycles["last_purchase"].dt.tz) == "UTC"
    # in Tokyo the first purchase falls on January 2nd
    tokyo = repurchase_cycles(
        frame,
        as_of=datetime(2024, 1, 31, tzinfo=UTC),
        datetime_col="purchased_at",
        tz="Asia/Tokyo",
    )
    assert tokyo.loc["a", "median_interval"] == 9.0
    assert tokyo.loc["a", "first_purchase"] == pd.Timestamp("2024-01-02", tz="Asia/Tokyo")


def test_missing_column_names_the_keyword():
    with pytest.raises(SchemaError, match=r"'paid_at' \(datetime_col\)"):
        repurchase_cycles(BOUNDARY, as_of="2024-12-31", datetime_col="paid_at")


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (BOUNDARY.iloc[:0], {}, "empty"),
        (BOUNDARY.assign(date=BOUNDARY["date"].where(BOUNDARY.index != 2)), {}, "missing datetime"),
        (BOUNDARY.assign(customer_id=None), {}, "missing customer id"),
        (BOUNDARY, {"time_unit": "Q"}, "time_unit"),
        (BOUNDARY, {"interval_level": 1.5}, "interval_level"),
        (BOUNDARY, {"min_peers": 0}, "min_peers"),
        (BOUNDARY, {"as_of": "1999-01-01"}, "no purchase on or before"),
        (BOUNDARY, {"as_of": datetime(2024, 12, 31, tzinfo=UTC)}, "naive"),
        (BOUNDARY, {"as_of": "not a date"}, "as_of"),
        (BOUNDARY.assign(amount=np.nan), {"monetary_value_col": "amount"}, "missing amount"),
        (BOUNDARY.assign(amount="x"), {"monetary_value_col": "amount"}, "numeric"),
        (BOUNDARY.assign(date="yesterday"), {}, "must hold datetimes"),
        (BOUNDARY.assign(category=None), {"category_col": "category"}, "missing categories"),
    ],
)
def test_bad_input_is_a_validation_error(frame, kwargs, match):
    kwargs = {"as_of": "2024-12-31", **kwargs}
    with pytest.raises(ValidationError, match=match):
        repurchase_cycles(frame, **kwargs)


def test_aware_column_needs_an_aware_as_of_datetime():
    frame = BOUNDARY.assign(date=BOUNDARY["date"].dt.tz_localize("UTC"))
    with pytest.raises(ValidationError, match="aware as_of"):
        repurchase_cycles(frame, as_of=datetime(2024, 12, 31))  # noqa: DTZ001
    # a plain date string is calendar time in the zone
    assert len(repurchase_cycles(frame, as_of="2024-12-31")) == 4


def test_mixed_naive_and_aware_rows_are_refused():
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "date": [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02", tz="UTC")],
        }
    )
    with pytest.raises(ValidationError, match="must hold datetimes"):
        repurchase_cycles(frame, as_of="2024-12-31")


def test_peer_groups_must_be_a_series():
    with pytest.raises(ValidationError, match="peer_groups"):
        repurchase_cycles(BOUNDARY, as_of="2024-12-31", peer_groups={"a": "x"})


@pytest.mark.parametrize("scale", [1, 10**12])  # dense ids are counted, sparse ones hashed
def test_integer_ids_give_the_same_cycles_as_text_ids(scale):
    ids = {"a": 3, "b": 1, "c": 2, "d": 7}
    numeric = BOUNDARY.assign(customer_id=BOUNDARY["customer_id"].map(ids).astype("int64") * scale)
    by_text = repurchase_cycles(BOUNDARY, as_of="2024-12-31")
    by_number = repurchase_cycles(numeric, as_of="2024-12-31")
    assert by_number.index.tolist() == [1 * scale, 2 * scale, 3 * scale, 7 * scale]
    expected = by_text.rename(index=lambda c: ids[c] * scale).sort_index()
    expected.index = expected.index.astype("int64")
    assert_frame_equal(by_number, expected, check_index_type=False)


def test_an_ingest_result_and_its_canonical_frame_give_the_same_cycles():
    import retention  # noqa: PLC0415

    raw = pd.DataFrame(
        {
            "client": ["a", "a", "a", "b", "a"],
            "paid_at": [
                "2024-01-01T10:00Z",
                "2024-01-11T10:00Z",
                "2024-01-31T10:00Z",
                "2024-01-05T10:00Z",
                "2024-02-01T10:00Z",
            ],
            "total": ["10", "20", "30", "5", "-30"],
            "order": ["1", "2", "3", "4", "5"],
            "parent": [None, None, None, None, "3"],
        }
    )
    result = retention.ingest(
        raw,
        customer_id_col="client",
        datetime_col="paid_at",
        monetary_value_col="total",
        order_id_col="order",
        refund_of_col="parent",
        currency="EUR",
    )
    from_result = repurchase_cycles(result, as_of="2024-03-01", monetary_value_col="amount")
    from_frame = repurchase_cycles(
        result.transactions,
        as_of="2024-03-01",
        datetime_col="purchased_at",
        monetary_value_col="amount",
    )
    assert_frame_equal(from_result, from_frame)
    # the refund row is not a purchase: a bought on days 0, 10 and 30
    assert from_result.loc["a", "purchases"] == 3
    assert from_result.loc["a", "median_interval"] == 15.0


def test_the_index_is_customer_id_whatever_the_column_is_called():
    frame = BOUNDARY.rename(columns={"customer_id": "client", "date": "paid_at"})
    cycles = repurchase_cycles(
        frame, as_of="2024-12-31", customer_id_col="client", datetime_col="paid_at"
    )
    assert cycles.index.name == "customer_id"
    assert_frame_equal(cycles, repurchase_cycles(BOUNDARY, as_of="2024-12-31"))


@pytest.mark.parametrize(
    ("gaps", "median", "mad"),
    [
        ([40, 10, 90], 40.0, 30.0),  # deviations 0, 30, 50
        ([20, 5, 40, 9], 14.5, 7.5),  # deviations 5.5, 5.5, 9.5, 25.5
        ([7, 7, 7, 7, 70], 7.0, 0.0),
        ([1, 2, 3, 4, 5, 100], 3.5, 1.5),  # deviations 0.5, 0.5, 1.5, 1.5, 2.5, 96.5
    ],
)
def test_median_and_mad_of_three_four_and_more_intervals(gaps, median, mad):
    days = np.cumsum([0, *gaps])
    frame = pd.DataFrame(
        {"customer_id": "x", "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")}
    )
    cycles = repurchase_cycles(frame, as_of="2025-12-31")
    assert cycles.loc["x", "median_interval"] == median
    assert cycles.loc["x", "mad_interval"] == mad


@pytest.mark.parametrize("group", [1, 2**31, 2**40])
def test_sort_within_groups_with_narrow_and_wide_keys(group):
    # small keys sort as uint32, keys past 2**32 as int64, huge ones through lexsort
    groups = np.array([group, 0, group, 0, group], dtype=np.int64)
    values = np.array([5, 9, 3, 2, 5], dtype=np.int64)
    ordered = sort_within_groups(groups, values)
    assert ordered.tolist() == [2, 9, 3, 5, 5]
    assert ordered.dtype == np.int64
