from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _segmentation_strategies import AS_OF, summaries, transaction_frames
from hypothesis import given
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal, assert_series_equal

from retention import rfm_summary
from retention.exceptions import SchemaError, ValidationError
from retention.segmentation import (
    RFM_GROUPS,
    RFMThresholds,
    cell_code,
    default_segment_map,
    rfm_scores,
    rfm_segments,
    segment_shares,
)

# five customers by hand; T = 100 for everyone
SUMMARY = pd.DataFrame(
    {
        "frequency": [0.0, 1.0, 1.0, 4.0, 9.0],
        "recency": [0.0, 10.0, 60.0, 90.0, 99.0],
        "T": [100.0] * 5,
        "monetary_value": [0.0, 20.0, 50.0, 50.0, 35.0],
    },
    index=pd.Index(["a", "b", "c", "d", "e"], name="customer_id"),
)


def test_quantile_scores_by_hand():
    scores = rfm_scores(SUMMARY, bins=3)
    # since last purchase: 100, 90, 40, 10, 1 -> cume_dist of recency - T: .2 .4 .6 .8 1
    assert scores["r_score"].tolist() == [1, 2, 2, 3, 3]
    # frequency 0, 1, 1, 4, 9: the tie takes the highest cume_dist (.6) -> 2, 2
    assert scores["f_score"].tolist() == [1, 2, 2, 3, 3]
    # monetary 0, 20, 50, 50, 35: cume_dist .2 .4 1 1 .6
    assert scores["m_score"].tolist() == [1, 2, 3, 3, 2]
    assert scores.dtypes.tolist() == [np.int64] * 3
    assert scores.index.equals(SUMMARY.index)
    assert scores.attrs["bins"] == 3


def test_five_bins_by_hand():
    scores = rfm_scores(SUMMARY, bins=5)
    assert scores["r_score"].tolist() == [1, 2, 3, 4, 5]
    assert scores["f_score"].tolist() == [1, 3, 3, 4, 5]
    assert scores["m_score"].tolist() == [1, 2, 5, 5, 3]


def test_a_constant_column_scores_bins_for_everyone():
    flat = SUMMARY.assign(monetary_value=10.0)
    assert rfm_scores(flat, bins=4)["m_score"].tolist() == [4] * 5


def _pandas_scores(values, bins):
    return np.ceil(bins * pd.Series(values).rank(method="max", pct=True)).astype(np.int64)


@given(summary=summaries(), bins=st.integers(2, 9))
def test_scores_equal_pandas_rank_max_pct(summary, bins):
    scores = rfm_scores(summary, bins=bins)
    since = summary["recency"] - summary["T"]
    np.testing.assert_array_equal(scores["r_score"], _pandas_scores(since.to_numpy(), bins))
    np.testing.assert_array_equal(scores["f_score"], _pandas_scores(summary["frequency"], bins))
    np.testing.assert_array_equal(
        scores["m_score"], _pandas_scores(summary["monetary_value"], bins)
    )


@given(
    values=st.lists(
        st.sampled_from([-2.5, -0.0, 0.0, 0.1, 0.30000000000000004, 1e-300, 7.25, 1e12]),
        min_size=1,
        max_size=400,
    ),
    bins=st.integers(2, 20),
)
def test_edge_search_of_fractional_values_equals_pandas_rank_max_pct(values, bins):
    # fractional values take the sort-and-place path, not the integer counting one
    summary = pd.DataFrame(
        {
            "frequency": 0.0,
            "recency": 0.0,
            "T": 1.0,
            "monetary_value": np.array(values) + 0.5,
        },
        index=pd.RangeIndex(len(values), name="customer_id"),
    )
    scores = rfm_scores(summary, bins=bins)
    np.testing.assert_array_equal(
        scores["m_score"], _pandas_scores(summary["monetary_value"], bins)
    )


@given(summary=summaries(max_size=15), bins=st.sampled_from([3, 5]))
def test_scores_equal_sql_cume_dist(summary, bins):
    import duckdb  # noqa: PLC0415 - the duckdb extra; only this test needs it

    frame = summary.reset_index()
    query = (
        "SELECT customer_id, "
        "CAST(CEIL($bins * CUME_DIST() OVER (ORDER BY recency - T)) AS BIGINT) AS r, "
        "CAST(CEIL($bins * CUME_DIST() OVER (ORDER BY frequency)) AS BIGINT) AS f, "
        "CAST(CEIL($bins * CUME_DIST() OVER (ORDER BY monetary_value)) AS BIGINT) AS m "
        "FROM frame ORDER BY customer_id"
    )
    connection = duckdb.connect()
    connection.register("frame", frame)
    sql = connection.execute(query, {"bins": bins}).df().set_index("customer_id")
    scores = rfm_scores(summary, bins=bins)
    assert scores["r_score"].tolist() == sql["r"].tolist()
    assert scores["f_score"].tolist() == sql["f"].tolist()
    assert scores["m_score"].tolist() == sql["m"].tolist()


@given(summary=summaries(), data=st.data(), bins=st.sampled_from([3, 5]))
def test_raising_monetary_never_lowers_the_m_score(summary, data, bins):
    customer = data.draw(st.sampled_from(list(summary.index)))
    raise_by = data.draw(st.floats(0.0, 100.0))
    richer = summary.copy()
    richer.loc[customer, "monetary_value"] += raise_by
    before = rfm_scores(summary, bins=bins).loc[customer, "m_score"]
    after = rfm_scores(richer, bins=bins).loc[customer, "m_score"]
    assert after >= before


@given(frame=transaction_frames(), data=st.data(), bins=st.sampled_from([3, 5]))
def test_adding_a_purchase_never_makes_the_recency_score_worse(frame, data, bins):
    customer = data.draw(st.sampled_from(sorted(frame["customer_id"].unique())))
    last = frame.loc[frame["customer_id"] == customer, "date"].max()
    offset = data.draw(st.integers(0, (AS_OF - last).days))
    more = pd.concat(
        [
            frame,
            pd.DataFrame(
                {
                    "customer_id": pd.Series([customer], dtype="str"),
                    "date": [last + pd.Timedelta(days=offset)],
                    "amount": [5.0],
                }
            ),
        ],
        ignore_index=True,
    )
    before = rfm_scores(rfm_summary(frame, observation_period_end=AS_OF), bins=bins)
    after = rfm_scores(rfm_summary(more, observation_period_end=AS_OF), bins=bins)
    assert after.loc[customer, "r_score"] >= before.loc[customer, "r_score"]


@given(summary=summaries(), seed=st.integers(0, 2**32 - 1), bins=st.sampled_from([3, 5]))
def test_scores_do_not_depend_on_row_order(summary, seed, bins):
    shuffled = summary.sample(frac=1.0, random_state=seed)
    first = rfm_segments(summary, bins=bins)
    second = rfm_segments(shuffled, bins=bins).loc[summary.index]
    assert_frame_equal(first, second)


@given(summary=summaries(), bins=st.sampled_from([2, 3, 4, 5, 7]))
def test_rfm_segments_are_a_partition(summary, bins):
    segments = rfm_segments(summary, bins=bins)
    assert segments.index.equals(summary.index)
    assert segments["segment"].notna().all()
    assert set(segments["segment"]) <= set(RFM_GROUPS)
    assert segments[["r_score", "f_score", "m_score"]].isin(range(1, bins + 1)).all().all()


@pytest.mark.parametrize("bins", [3, 5])
def test_default_map_names_every_cell_exactly_once_and_uses_every_group(bins):
    mapping = default_segment_map(bins)
    assert len(mapping) == bins**3
    assert set(mapping.values()) == set(RFM_GROUPS)
    assert set(mapping) == {
        cell_code(r, f, m, bins=bins)
        for r in range(1, bins + 1)
        for f in range(1, bins + 1)
        for m in range(1, bins + 1)
    }


@pytest.mark.parametrize(
    ("cell", "group"),
    [
        ("333", "champions"),
        ("332", "champions"),
        ("331", "loyal"),
        ("323", "potential_loyalists"),
        ("311", "new"),
        ("312", "promising"),
        ("231", "loyal"),
        ("222", "need_attention"),
        ("213", "about_to_sleep"),
        ("133", "cannot_lose"),
        ("132", "at_risk"),
        ("122", "at_risk"),
        ("121", "hibernating"),
        ("113", "lost"),
        ("111", "lost"),
    ],
)
def test_default_3x3x3_cells(cell, group):
    assert default_segment_map(3)[cell] == group


@pytest.mark.parametrize(
    ("cell", "group"),
    [
        ("555", "champions"),
        ("544", "champions"),
        ("543", "potential_loyalists"),  # FM = floor(7 / 2) = 3
        ("511", "new"),
        ("455", "loyal"),
        ("411", "promising"),
        ("433", "potential_loyalists"),
        ("355", "loyal"),
        ("333", "need_attention"),
        ("322", "about_to_sleep"),
        ("255", "cannot_lose"),
        ("155", "cannot_lose"),
        ("243", "at_risk"),
        ("222", "hibernating"),
        ("122", "lost"),
        ("111", "lost"),
    ],
)
def test_default_5x5x5_cells(cell, group):
    assert default_segment_map(5)[cell] == group


def test_other_bins_rescale_to_five():
    assert default_segment_map(10)["10-10-10"] == "champions"
    assert default_segment_map(2)["222"] == "champions"
    assert default_segment_map(2)["111"] == "lost"


def test_segments_by_hand():
    segments = rfm_segments(SUMMARY, bins=3)
    assert segments["rfm_cell"].astype(str).tolist() == ["111", "222", "223", "333", "332"]
    assert segments["segment"].astype(str).tolist() == [
        "lost",
        "need_attention",
        "need_attention",
        "champions",
        "champions",
    ]
    assert list(segments["segment"].cat.categories) == list(RFM_GROUPS)
    assert len(segments["rfm_cell"].cat.categories) == 27


def test_custom_mapping():
    mapping = dict.fromkeys(default_segment_map(3), "everyone_else")
    mapping["333"] = "best"
    segments = rfm_segments(SUMMARY, bins=3, mapping=mapping)
    assert segments["segment"].astype(str).tolist() == ["everyone_else"] * 3 + [
        "best",
        "everyone_else",
    ]
    assert list(segments["segment"].cat.categories) == ["everyone_else", "best"]


def test_incomplete_or_unknown_mapping_is_refused():
    mapping = default_segment_map(3)
    del mapping["222"]
    with pytest.raises(ValidationError, match="'222'"):
        rfm_segments(SUMMARY, bins=3, mapping=mapping)
    with pytest.raises(ValidationError, match="'444'"):
        rfm_segments(SUMMARY, bins=3, mapping={**default_segment_map(3), "444": "x"})
    with pytest.raises(ValidationError, match="no group name"):
        rfm_segments(SUMMARY, bins=3, mapping={**default_segment_map(3), "111": ""})


def test_fixed_thresholds_by_hand():
    thresholds = RFMThresholds(recency=(30, 90), frequency=(1, 4), monetary=(20, 50))
    scores = rfm_scores(SUMMARY, thresholds=thresholds)
    # since last purchase 100, 90, 40, 10, 1: <= 30 -> 3, <= 90 -> 2, else 1
    assert scores["r_score"].tolist() == [1, 2, 2, 3, 3]
    # frequency 0, 1, 1, 4, 9: < 1 -> 1, 1..3 -> 2, >= 4 -> 3
    assert scores["f_score"].tolist() == [1, 2, 2, 3, 3]
    # monetary 0, 20, 50, 50, 35
    assert scores["m_score"].tolist() == [1, 2, 3, 3, 2]
    assert scores.attrs == {"bins": 3, "method": "thresholds"}
    segments = rfm_segments(SUMMARY, thresholds=thresholds)
    assert segments["segment"].astype(str).tolist()[0] == "lost"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"recency": (90, 30), "frequency": (1, 4), "monetary": (1, 2)}, "increasing"),
        ({"recency": (30,), "frequency": (1, 4), "monetary": (1, 2)}, "same number"),
        ({"recency": (), "frequency": (), "monetary": ()}, "at least one"),
        ({"recency": "30", "frequency": (1,), "monetary": (1,)}, "sequence"),
    ],
)
def test_bad_thresholds(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        RFMThresholds(**kwargs)


def test_bins_must_agree_with_thresholds():
    thresholds = RFMThresholds(recency=(30, 90), frequency=(1, 4), monetary=(20, 50))
    with pytest.raises(ValidationError, match="bins=5"):
        rfm_scores(SUMMARY, bins=5, thresholds=thresholds)


@pytest.mark.parametrize(
    ("summary", "bins", "error", "match"),
    [
        (SUMMARY.drop(columns="T"), 3, SchemaError, "'T'"),
        (SUMMARY.iloc[:0], 3, ValidationError, "empty"),
        (SUMMARY.assign(recency=[0.0, np.nan, 1.0, 2.0, 3.0]), 3, ValidationError, "'recency'"),
        (SUMMARY.assign(recency=200.0), 3, ValidationError, "recency > T"),
        (SUMMARY.assign(frequency="x"), 3, ValidationError, "numeric"),
        (pd.concat([SUMMARY, SUMMARY]), 3, ValidationError, "duplicate"),
        (SUMMARY, 1, ValidationError, "bins"),
        (SUMMARY, 2.5, ValidationError, "bins"),
        ([1, 2], 3, ValidationError, "DataFrame"),
    ],
)
def test_bad_summaries(summary, bins, error, match):
    with pytest.raises(error, match=match):
        rfm_scores(summary, bins=bins)


def test_segment_shares_by_hand():
    segments = rfm_segments(SUMMARY, bins=3)
    revenue = SUMMARY["frequency"] * SUMMARY["monetary_value"]
    shares = segment_shares(segments, revenue=revenue)
    assert shares.index.tolist() == list(RFM_GROUPS)
    assert shares["customers"].sum() == 5
    assert shares.loc["champions", "customers"] == 2
    assert shares.loc["champions", "customer_share"] == pytest.approx(0.4)
    total = 20.0 + 50.0 + 200.0 + 315.0
    assert shares.loc["champions", "revenue"] == pytest.approx(515.0)
    assert shares.loc["champions", "revenue_share"] == pytest.approx(515.0 / total)
    assert shares.loc["loyal", "customers"] == 0
    assert shares["revenue_share"].sum() == pytest.approx(1.0)
    assert_series_equal(shares["customer_share"], shares["customers"] / 5, check_names=False)


def test_segment_shares_of_a_regularity_column_and_without_revenue():
    frame = pd.DataFrame({"regularity": ["REGULAR", "ONE_TIME", "REGULAR"]})
    shares = segment_shares(frame, segment_col="regularity")
    assert shares.to_dict("index") == {
        "ONE_TIME": {"customers": 1, "customer_share": 1 / 3},
        "REGULAR": {"customers": 2, "customer_share": 2 / 3},
    }


def test_segment_shares_errors():
    with pytest.raises(SchemaError, match="segment"):
        segment_shares(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValidationError, match="without a group"):
        segment_shares(pd.Series(["a", None]))
    with pytest.raises(ValidationError, match="revenue"):
        segment_shares(pd.Series(["a"]), revenue=[1.0])


def test_scores_on_a_real_summary(shared_data):
    frame = pd.read_csv(
        shared_data / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master", "customer_id", "date", "cds", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    summary = rfm_summary(frame, observation_period_end="1998-06-30")
    segments = rfm_segments(summary, bins=5)
    assert len(segments) == 2357
    counts = segments["segment"].value_counts()
    assert counts.sum() == 2357
    # lifetimes semantics: 2,357 - 1,139 repeat buyers = 1,218 one-time buyers share
    # frequency 0 and monetary 0, hence one F score and one M score (ties take the max)
    one_time = summary["frequency"] == 0
    assert int(one_time.sum()) == 1218
    assert segments.loc[one_time, "f_score"].unique().tolist() == [3]  # ceil(5 * 1218/2357)
    assert segments.loc[one_time, "m_score"].unique().tolist() == [3]
