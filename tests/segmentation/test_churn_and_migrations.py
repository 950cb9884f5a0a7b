from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from _segmentation_strategies import AS_OF, transaction_frames
from hypothesis import given

from retention.exceptions import SchemaError, ValidationError
from retention.segmentation import (
    CHURN_ACTIONS,
    churn_boundaries,
    churn_status,
    regularity,
    segment_migration,
    transition_matrix,
)


def _purchases(spec):
    rows = [(customer, day) for customer, days in spec.items() for day in days]
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta([r[1] for r in rows], unit="D"),
        }
    )


# intervals: a 10, 10, 10; b 20, 40; c one purchase; d 5
PURCHASES = _purchases({"a": [0, 10, 20, 30], "b": [0, 20, 60], "c": [15], "d": [100, 105]})
AS_OF_DAY = "2024-05-01"  # day 121


def test_quantile_boundary_by_hand():
    bounds = churn_boundaries(PURCHASES, as_of=AS_OF_DAY, quantile=0.5)
    # all intervals: 5, 10, 10, 10, 20, 40 -> median 10
    assert bounds.index.tolist() == ["(population)"]
    assert bounds.loc["(population)", "boundary"] == 10.0
    assert bounds.loc["(population)", "evidence"] == 6
    assert bounds.loc["(population)", "customers"] == 4
    high = churn_boundaries(PURCHASES, as_of=AS_OF_DAY, quantile=0.9)
    # numpy's linear quantile of [5, 10, 10, 10, 20, 40] at 0.9: position 4.5 -> 30
    assert high["boundary"].item() == pytest.approx(np.quantile([5, 10, 10, 10, 20, 40], 0.9))


def test_boundaries_per_segment_and_population_fallback():
    segments = pd.Series({"a": "steady", "b": "slow", "c": "once", "d": "steady"})
    bounds = churn_boundaries(PURCHASES, as_of=AS_OF_DAY, segments=segments, quantile=1.0)
    assert bounds.index.tolist() == ["once", "slow", "steady"]
    assert bounds.loc["steady", "boundary"] == 10.0  # max of 10, 10, 10, 5
    assert bounds.loc["slow", "boundary"] == 40.0
    # "once" has no interval: it borrows the population boundary (max of all: 40)
    assert bounds.loc["once", "boundary"] == 40.0
    assert not bounds.loc["once", "own_boundary"]
    assert bounds.attrs["population"] == 40.0


def test_cycle_boundary_by_hand():
    bounds = churn_boundaries(PURCHASES, as_of=AS_OF_DAY, method="cycle", k=2.0)
    # customers' median intervals: a 10, b 30, d 5 -> median 10 -> 2 x 10
    assert bounds["boundary"].item() == 20.0
    assert bounds["evidence"].item() == 3


def test_status_and_lists_with_failed_attempts():
    attempts = pd.DataFrame(
        {
            "customer_id": ["b", "b", "b", "c", "c", "a", "zz"],
            "attempted_at": pd.to_datetime(
                [
                    "2024-03-10",  # after b's last purchase (Mar 1): failed
                    "2024-03-20",
                    "2024-04-01",
                    "2024-01-10",  # before c's only purchase (Jan 16): does not count
                    "2024-02-01",
                    "2024-02-01",  # a bought on Jan 31: counts, but a is not churned? see below
                    "2024-02-01",  # unknown customer: ignored
                ]
            ),
        }
    )
    status = churn_status(
        PURCHASES, as_of=AS_OF_DAY, attempts=attempts, quantile=1.0, max_attempts=3
    )
    assert status["periods_since_last"].to_dict() == {"a": 91, "b": 61, "c": 106, "d": 16}
    assert (status["boundary"] == 40.0).all()
    assert status["churned"].to_dict() == {"a": True, "b": True, "c": True, "d": False}
    assert status["failed_attempts"].to_dict() == {"a": 1, "b": 3, "c": 1, "d": 0}
    assert status["action"].astype(str).to_dict() == {
        "a": "reactivate",
        "b": "stop",
        "c": "reactivate",
        "d": "active",
    }
    assert list(status["action"].cat.categories) == list(CHURN_ACTIONS)
    assert status.index[status["action"] == "stop"].tolist() == ["b"]
    assert status.loc["b", "last_purchase"] == pd.Timestamp("2024-03-01")


def test_a_purchase_after_the_attempts_resets_them():
    attempts = pd.DataFrame(
        {"customer_id": ["d"] * 3, "attempted_at": pd.to_datetime(["2024-03-01"] * 3)}
    )
    status = churn_status(PURCHASES, as_of=AS_OF_DAY, attempts=attempts)
    assert status.loc["d", "failed_attempts"] == 0  # d bought on Apr 10 and 15


def test_attempts_after_as_of_do_not_count():
    attempts = pd.DataFrame({"customer_id": ["b"], "attempted_at": pd.to_datetime(["2024-06-01"])})
    status = churn_status(PURCHASES, as_of=AS_OF_DAY, attempts=attempts)
    assert status.loc["b", "failed_attempts"] == 0


def test_aware_transactions_and_attempts():
    frame = PURCHASES.assign(date=PURCHASES["date"].dt.tz_localize("UTC"))
    attempts = pd.DataFrame(
        {"customer_id": ["b"], "attempted_at": pd.to_datetime(["2024-03-10T12:00Z"])}
    )
    status = churn_status(frame, as_of=datetime(2024, 5, 1, tzinfo=UTC), attempts=attempts)
    assert status.loc["b", "failed_attempts"] == 1
    assert str(status["last_purchase"].dt.tz) == "UTC"
    naive = attempts.assign(attempted_at=attempts["attempted_at"].dt.tz_localize(None))
    with pytest.raises(ValidationError, match="both be naive"):
        churn_status(frame, as_of=datetime(2024, 5, 1, tzinfo=UTC), attempts=naive)


@given(frame=transaction_frames())
def test_churn_actions_partition_customers(frame):
    status = churn_status(frame, as_of=AS_OF)
    assert status.index.tolist() == sorted(frame["customer_id"].unique())
    assert status["action"].notna().all()
    assert ((status["action"] != "active") == status["churned"]).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "median"}, ValidationError, "method"),
        ({"quantile": 1.5}, ValidationError, "quantile"),
        ({"k": 0}, ValidationError, "k must"),
        ({"max_attempts": 0}, ValidationError, "max_attempts"),
        ({"segments": {"a": "x"}}, ValidationError, "segments"),
        ({"attempts": pd.DataFrame({"customer_id": ["a"]})}, SchemaError, "attempted_at"),
        (
            {"attempts": pd.DataFrame({"customer_id": ["a"], "attempted_at": [pd.NaT]})},
            ValidationError,
            "missing datetime",
        ),
    ],
)
def test_bad_churn_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        churn_status(PURCHASES, as_of=AS_OF_DAY, **kwargs)


def test_transition_matrix_by_hand():
    then = pd.Series({"a": "loyal", "b": "loyal", "c": "lost", "e": "new"})
    now = pd.Series({"a": "loyal", "b": "lost", "c": "lost", "d": "new", "e": "loyal"})
    moves = transition_matrix(then, now)
    assert moves.counts.index.tolist() == ["lost", "loyal", "new", "absent"]
    assert moves.counts.columns.tolist() == ["lost", "loyal", "new"]  # nobody disappeared
    assert moves.counts.to_dict("index") == {
        "lost": {"lost": 1, "loyal": 0, "new": 0},
        "loyal": {"lost": 1, "loyal": 1, "new": 0},
        "new": {"lost": 0, "loyal": 1, "new": 0},
        "absent": {"lost": 0, "loyal": 0, "new": 1},
    }
    assert moves.shares.loc["loyal"].tolist() == [0.5, 0.5, 0.0]
    assert moves.overall_shares.to_numpy().sum() == pytest.approx(1.0)
    assert moves.overall_shares.loc["absent", "new"] == pytest.approx(1 / 5)
    assert moves.stayed == pytest.approx(2 / 4)


def test_transition_matrix_keeps_categorical_order_and_empty_groups():
    order = pd.CategoricalDtype(["champions", "at_risk", "lost"])
    then = pd.Series(["champions", "champions"], index=["a", "b"], dtype=order)
    now = pd.Series(["champions", "lost"], index=["a", "b"], dtype=order)
    moves = transition_matrix(then, now)
    assert moves.counts.index.tolist() == ["champions", "at_risk", "lost"]
    assert moves.counts.loc["at_risk"].tolist() == [0, 0, 0]
    assert moves.shares.loc["at_risk"].tolist() == [0.0, 0.0, 0.0]


def test_transition_matrix_errors():
    good = pd.Series({"a": "x"})
    with pytest.raises(ValidationError, match="before"):
        transition_matrix({"a": "x"}, good)
    with pytest.raises(ValidationError, match="without a group"):
        transition_matrix(good, pd.Series({"a": None}))
    with pytest.raises(ValidationError, match="duplicate"):
        transition_matrix(pd.Series(["x", "y"], index=["a", "a"]), good)
    with pytest.raises(ValidationError, match="absent="):
        transition_matrix(pd.Series({"a": "absent"}), good)


def test_segment_migration_of_regularity_between_two_dates():
    frame = _purchases({"a": [0, 30, 60, 90, 120], "b": [0], "c": [100, 140]})
    moves = segment_migration(
        frame,
        start="2024-03-15",
        end="2024-12-31",
        segment_by=lambda data, as_of: regularity(data, as_of=as_of)["regularity"],
    )
    # at Mar 15: a ERRATIC (intervals 30, 30), b ONE_TIME, c not yet a customer
    # at Dec 31: a REGULAR, b ONE_TIME, c ERRATIC
    assert moves.counts.loc["ERRATIC", "REGULAR"] == 1
    assert moves.counts.loc["ONE_TIME", "ONE_TIME"] == 1
    assert moves.counts.loc["absent", "ERRATIC"] == 1
    with pytest.raises(ValidationError, match="before end"):
        segment_migration(
            frame, start="2024-12-31", end="2024-01-01", segment_by=lambda data, _as_of: data
        )
