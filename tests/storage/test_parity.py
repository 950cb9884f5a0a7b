"""STO-01 parity: MemoryStore (the model) and a SQL store driven by the same random steps."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from retention.exceptions import RetentionError
from retention.storage import MemoryStore, Store, open_store
from retention.testing.contracts import (
    T0,
    assert_same_state,
    consent_frame,
    observable_state,
    purchases_frame,
    touches_frame,
)

CUSTOMERS = st.sampled_from(["c0", "c1", "c2", "c3"])
ORDERS = st.sampled_from([f"o{i}" for i in range(6)])
KEYS = st.sampled_from([f"k{i}" for i in range(5)])
DAYS = st.integers(min_value=0, max_value=3)
EMAILS = st.sampled_from([None, "a@example.com", "b@example.com"])
CHANNELS = st.sampled_from(["email", "sms"])
WORKERS = st.sampled_from(["w1", "w2"])

PARITY_URL = os.environ.get("RETENTION_PARITY_URL", "sqlite://")


def outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The result of a store call, or the type of error it raised."""
    try:
        result = call(*args, **kwargs)
    except RetentionError as error:
        return ("error", type(error).__name__)
    if isinstance(result, pd.DataFrame):
        return ("frame", result.to_dict("list"))
    if hasattr(result, "conflicts"):
        return (
            "write",
            result.stored,
            result.deduplicated,
            result.updated,
            result.conflicts.to_dict("list"),
        )
    return ("value", result)


class StoreParity(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model: Store = MemoryStore(clock=lambda: T0)
        self.sql: Store = open_store(PARITY_URL, clock=lambda: T0)

    def both(self, method: str, *args: Any, **kwargs: Any) -> None:
        expected = outcome(getattr(self.model, method), *args, **kwargs)
        actual = outcome(getattr(self.sql, method), *args, **kwargs)
        assert actual == expected, (method, expected, actual)

    @rule(
        rows=st.lists(st.tuples(ORDERS, CUSTOMERS, st.sampled_from([100, 250]), DAYS), max_size=4),
        on_conflict=st.sampled_from(["quarantine", "raise", "update"]),
    )
    def add_purchases(self, rows: list[tuple[str, str, int, int]], on_conflict: str) -> None:
        frame = purchases_frame(
            [r[0] for r in rows],
            [r[1] for r in rows],
            amounts=[r[2] for r in rows],
            at=[T0 + timedelta(days=r[3]) for r in rows],
            lines=list(range(2, len(rows) + 2)),
        )
        self.both("add_purchases", frame, on_conflict=on_conflict)

    @rule(
        cards=st.dictionaries(
            CUSTOMERS, st.tuples(EMAILS, st.sampled_from(["de", "fr"])), max_size=3
        )
    )
    def upsert_customers(self, cards: dict[str, tuple[str | None, str]]) -> None:
        frame = pd.DataFrame(
            {
                "customer_id": list(cards),
                "emails": [[] if v[0] is None else [v[0]] for v in cards.values()],
                "language": [v[1] for v in cards.values()],
            }
        )
        self.both("upsert_customers", frame)

    @rule(customer=CUSTOMERS, channel=CHANNELS, granted=st.booleans(), day=DAYS)
    def record_consent(self, customer: str, channel: str, granted: bool, day: int) -> None:
        frame = consent_frame(
            [(customer, channel, "marketing", "", granted, T0 + timedelta(days=day))]
        )
        self.both("record_consents", frame)

    @rule(customer=CUSTOMERS, channel=st.sampled_from(["email", "sms", "*"]))
    def suppress(self, customer: str, channel: str) -> None:
        self.both("suppress_customer", customer, channel=channel, reason="manual")

    @rule(keep=CUSTOMERS, merged=CUSTOMERS)
    def merge(self, keep: str, merged: str) -> None:
        self.both("merge_customers", keep, merged)

    @rule(customer=CUSTOMERS)
    def erase(self, customer: str) -> None:
        self.both("erase_customer", customer)

    @rule(segment=st.sampled_from(["loyal", "lapsed"]), members=st.lists(CUSTOMERS, max_size=3))
    def replace_segment(self, segment: str, members: list[str]) -> None:
        self.both("replace_segment", segment, members, kind="rule")

    @rule(keys=st.lists(KEYS, max_size=3, unique=True), customer=CUSTOMERS, day=DAYS)
    def plan(self, keys: list[str], customer: str, day: int) -> None:
        self.both("plan_touches", touches_frame(keys, customer, send_at=T0 + timedelta(days=day)))

    @rule(day=DAYS, minutes=st.sampled_from([0, 5, 10]), worker=WORKERS, limit=st.integers(1, 3))
    def claim(self, day: int, minutes: int, worker: str, limit: int) -> None:
        as_of = T0 + timedelta(days=day, minutes=minutes)
        self.both("claim_due", as_of=as_of, worker=worker, limit=limit)

    @rule(
        key=KEYS,
        worker=WORKERS,
        status=st.sampled_from(["sent", "failed", "skipped", "unknown", "deferred"]),
    )
    def finish(self, key: str, worker: str, status: str) -> None:
        send_at = T0 + timedelta(days=2) if status == "deferred" else None
        self.both("finish_touch", key, worker=worker, status=status, as_of=T0, send_at=send_at)

    @rule(key=KEYS, event=st.sampled_from(["delivered", "clicked", "unsubscribed"]))
    def record_event(self, key: str, event: str) -> None:
        self.both("record_event", key, event, occurred_at=T0)

    @invariant()
    def same_state(self) -> None:
        assert_same_state(observable_state(self.model), observable_state(self.sql))
        for customer in ("c0", "c1", "c2", "c3"):
            for channel in ("email", "sms"):
                assert self.model.is_suppressed(
                    customer, channel=channel
                ) == self.sql.is_suppressed(customer, channel=channel)
        self.sql.verify()
        self.model.verify()

    def teardown(self) -> None:
        self.sql.close()


StoreParity.TestCase.settings = settings(
    max_examples=int(os.environ.get("RETENTION_PARITY_EXAMPLES", "8")),
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoreParity = pytest.mark.case("STO-01")(StoreParity.TestCase)
