"""``StoreContract``: the test suite every :class:`~retention.storage.Store` must pass.

A backend's test module only subclasses it and names where its database lives::

    class TestSqliteStore(StoreContract):
        @pytest.fixture
        def store_url(self, tmp_path):
            return f"sqlite:///{tmp_path / 'crm.db'}"

The suite never skips: stores declare capabilities (``persistent``,
``multi_process_writers``) and each flag turns into an assertion of the documented
behaviour (DuckDB's second writer process gets a StorageError at once).  Race tests use
spawned processes with their own engines; ``RETENTION_RACE_REPETITIONS`` and
``RETENTION_RACE_TOUCHES`` raise their size (defaults 2 and 200 keep CI quick;
RELIABILITY.md asks 20 and 1,000 before a release).

Test names carry the RELIABILITY.md case ids they cover.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import multiprocessing
import os
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retention.exceptions import (
    DuplicateError,
    NaiveTimestampError,
    NotFoundError,
    SchemaVersionError,
    StorageError,
    ValidationError,
)
from retention.models import (
    ChannelKind,
    Consent,
    Customer,
    Purchase,
    Purpose,
    purchases_to_frame,
)
from retention.storage import (
    CUSTOMER_COLUMNS,
    PURCHASE_COLUMNS,
    TOUCH_COLUMNS,
    IngestCheckpoint,
    SqlStore,
    Store,
    create_engine,
    open_store,
)
from retention.storage import schema as tables
from retention.storage.migrations import VERSION_TABLE, upgrade
from retention.testing._workers import (
    T0,
    claim_worker,
    hold_claim_worker,
    hold_open_worker,
    second_writer,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "StepClock",
    "StoreContract",
    "StoreFactory",
    "assert_same_state",
    "consent_frame",
    "observable_state",
    "purchases_frame",
    "touches_frame",
]

SENTINEL_EMAIL = "pii-sentinel@example.invalid"
SENTINEL_PHONE = "+15550100999"
SENTINEL_NAME = "Sentinel Person"
MALICIOUS_IDENTIFIERS = ("amount; DROP", '"a"', "a--", "Robert'); DROP TABLE customers;--", "", "A")
SEGMENT_NAMES = ("' OR '1'='1", "x'); DROP TABLE segments;--", "Champions", "50% off_")
INJECTION_VALUES = (
    "' OR '1'='1",
    "x'); DROP TABLE customers;--",
    "%",
    "_",
    "\\",
    "a%b_c\\d",
    "раз\u200bдва",  # noqa: RUF001 - confusable Unicode is the point
)


class StoreFactory(Protocol):
    """Opens a new handle on the test's database (``make_store`` fixture)."""

    def __call__(self, **options: Any) -> Store:  # noqa: ANN401 - open_store keywords
        """Open the store with ``open_store`` keywords (``secret``, ``clock``, ``migrate``)."""
        ...


class StepClock:
    """A clock that advances one second per reading, so every write gets a new stamp."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        """Start at ``start`` and move by ``step`` per call."""
        self.now = start
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """Return the next instant."""
        with self._lock:
            self.now += self.step
            return self.now


def purchases_frame(
    order_ids: list[str],
    customer_ids: list[str],
    *,
    amounts: list[int] | None = None,
    at: list[datetime] | None = None,
    currency: str = "EUR",
    lines: list[int] | None = None,
) -> pd.DataFrame:
    """Build a canonical purchase frame (one row per order id given)."""
    count = len(order_ids)
    frame = pd.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": customer_ids,
            "purchased_at": pd.to_datetime(
                at if at is not None else [T0 + timedelta(days=i) for i in range(count)],
                utc=True,
            ),
            "amount_minor": pd.Series(
                amounts if amounts is not None else [1000 + i for i in range(count)],
                dtype="int64",
            ),
            "currency": [currency] * count,
            "kind": ["purchase"] * count,
        }
    )
    if lines is not None:
        frame["line"] = lines
    return frame


def touches_frame(
    keys: list[str], customer_id: str = "c1", *, send_at: datetime = T0
) -> pd.DataFrame:
    """Build a planned-touch frame, all due at ``send_at``."""
    return pd.DataFrame(
        {
            "idempotency_key": keys,
            "customer_id": [customer_id] * len(keys),
            "scenario": ["replenishment"] * len(keys),
            "step": [1] * len(keys),
            "channel": ["email"] * len(keys),
            "send_at": pd.to_datetime([send_at] * len(keys), utc=True),
        }
    )


def consent_frame(rows: list[tuple[str, str, str, str | None, bool, datetime]]) -> pd.DataFrame:
    """Build a consent frame from (customer, channel, purpose, topic, granted, at) tuples."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "purpose": [r[2] for r in rows],
            "topic": [r[3] or None for r in rows],
            "granted": pd.Series([r[4] for r in rows], dtype=bool),
            "recorded_at": pd.to_datetime([r[5] for r in rows], utc=True),
        }
    )


def observable_state(store: Store) -> dict[str, pd.DataFrame]:
    """Return everything a store shows through its ports (audit stamps left out)."""
    customers = store.customers().drop(columns=["created_at", "updated_at"])
    touches = store.touches()
    return {
        "customers": customers,
        "purchases": store.purchases(),
        "consents": store.consents(),
        "suppressions": store.suppressions().drop(columns=["created_at"]),
        "segments": store.segments(),
        "touches": touches,
        "events": store.events(),
        "quarantine": store.quarantined(),
    }


def assert_same_state(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    """Assert two :func:`observable_state` results are equal, frame by frame."""
    assert left.keys() == right.keys()
    for name, frame in left.items():
        pd.testing.assert_frame_equal(frame, right[name], obj=name)


def _race_repetitions() -> int:
    return int(os.environ.get("RETENTION_RACE_REPETITIONS", "2"))


def _race_touches() -> int:
    return int(os.environ.get("RETENTION_RACE_TOUCHES", "200"))


class StoreContract:
    """The storage contract (RELIABILITY.md §3): subclass it and override ``store_url``."""

    # -- fixtures a backend provides -------------------------------------------------
    @pytest.fixture
    def store_url(self) -> str:
        """URL of a fresh, empty database for this test (``memory://`` for memory)."""
        msg = "override store_url in the backend's test module"
        raise NotImplementedError(msg)

    @pytest.fixture
    def open_options(self) -> dict[str, Any]:
        """Extra ``open_store`` keywords every handle needs (PostgreSQL: ``schema``)."""
        return {}

    @pytest.fixture
    def make_store(self, store_url: str, open_options: dict[str, Any]) -> Iterator[StoreFactory]:
        """Open handles on the test's database; all are closed at teardown."""
        opened: list[Store] = []

        def factory(**options: Any) -> Store:  # noqa: ANN401
            store = open_store(store_url, **{**open_options, **options})
            opened.append(store)
            return store

        yield factory
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, make_store: StoreFactory) -> Store:
        """Open a store with a stepping clock."""
        return make_store(clock=StepClock())

    # -- customers and upserts ---------------------------------------------------------
    def test_sto_01_upserting_the_same_customer_twice_keeps_one_row(self, store: Store) -> None:
        cards = pd.DataFrame({"customer_id": ["c1", "c2"], "time_zone": ["Europe/Berlin", None]})
        assert store.upsert_customers(cards) == 2
        first = store.customers()
        assert store.upsert_customers(cards) == 0
        pd.testing.assert_frame_equal(store.customers(), first)
        assert first["customer_id"].tolist() == ["c1", "c2"]
        assert list(first.columns) == list(CUSTOMER_COLUMNS)

    def test_sto_01_changing_a_field_advances_updated_at(self, store: Store) -> None:
        store.upsert_customers(pd.DataFrame({"customer_id": ["c1"], "language": ["de"]}))
        before = store.customers().iloc[0]
        assert (
            store.upsert_customers(pd.DataFrame({"customer_id": ["c1"], "language": ["fr"]})) == 1
        )
        after = store.customers().iloc[0]
        assert after["language"] == "fr"
        assert after["updated_at"] > before["updated_at"]
        assert after["created_at"] == before["created_at"]

    def test_sto_01_absent_columns_are_left_alone(self, store: Store) -> None:
        store.upsert_customers(
            pd.DataFrame({"customer_id": ["c1"], "emails": [["A@example.com"]], "language": ["de"]})
        )
        store.upsert_customers(pd.DataFrame({"customer_id": ["c1"], "language": ["fr"]}))
        card = store.customers().iloc[0]
        assert card["emails"] == ["a@example.com"]
        assert card["language"] == "fr"

    def test_sto_01_consents_and_outcomes_upserted_twice_keep_one_row(self, store: Store) -> None:
        consents = consent_frame([("c1", "email", "marketing", "", True, T0)])
        assert store.record_consents(consents) == 1
        assert store.record_consents(consents) == 0
        assert len(store.consents()) == 1
        store.plan_touches(touches_frame(["k1"]))
        assert store.record_event("k1", "delivered", occurred_at=T0) is True
        assert store.record_event("k1", "delivered", occurred_at=T0) is False
        assert len(store.events()) == 1

    def test_duplicate_ids_in_one_frame_are_refused(self, store: Store) -> None:
        with pytest.raises(ValidationError, match="repeats customer_id"):
            store.upsert_customers(pd.DataFrame({"customer_id": ["c1", "c1"]}))
        assert store.customers().empty

    def test_ids_merged_into_one_customer_are_one_card(self, store: Store) -> None:
        store.upsert_customers(pd.DataFrame({"customer_id": ["c1", "c2", "c3"]}))
        store.merge_customers("c1", "c2")
        store.merge_customers("c1", "c3")
        frame = pd.DataFrame({"customer_id": ["c2", "c3"], "language": ["de", "fr"]})
        with pytest.raises(ValidationError, match="'c2' and 'c3' are both customer 'c1'"):
            store.upsert_customers(frame)
        assert store.get_customer("c1").language is None

    def test_a_column_no_card_field_takes_is_refused(self, store: Store) -> None:
        frame = pd.DataFrame({"customer_id": ["c1"], "email": ["a@example.com"]})
        with pytest.raises(ValidationError, match="did you mean 'email' -> 'emails'"):
            store.upsert_customers(frame)
        assert store.customers().empty
        store.upsert_customers(pd.DataFrame({"customer_id": ["c1"], "language": ["de"]}))
        assert store.upsert_customers(store.customers()) == 0

    # -- purchases ---------------------------------------------------------------------
    def test_ing_01_same_payload_is_stored_once(self, store: Store) -> None:
        frame = purchases_frame(
            ["A-1", "A-2", "A-1"], ["c1", "c2", "c1"], amounts=[1990, 500, 1990], at=[T0, T0, T0]
        )
        result = store.add_purchases(frame)
        assert (result.stored, result.deduplicated) == (2, 1)
        again = store.add_purchases(frame)
        assert (again.stored, again.deduplicated) == (0, 3)
        stored = store.purchases()
        assert stored["order_id"].tolist() == ["A-1", "A-2"]
        assert stored["amount_minor"].tolist() == [1990, 500]
        assert list(stored.columns) == list(PURCHASE_COLUMNS)

    def test_ing_01_reingesting_a_file_leaves_the_tables_unchanged(self, store: Store) -> None:
        frame = purchases_frame([f"O-{i}" for i in range(20)], [f"c{i % 4}" for i in range(20)])
        store.add_purchases(frame)
        before = observable_state(store)
        store.add_purchases(frame)
        assert_same_state(before, observable_state(store))

    def test_ing_01_large_batches_keep_the_same_rules(self, store: Store) -> None:
        count = 2500
        at = [T0 + timedelta(minutes=i) for i in range(count)]
        frame = purchases_frame(
            [f"B-{i:05d}" for i in range(count)],
            [f"c{i % 97}" for i in range(count)],
            amounts=[100 + i for i in range(count)],
            at=at,
        )
        store.add_purchases(frame.iloc[:1000])
        repeated = pd.concat([frame, frame.iloc[:5]], ignore_index=True)
        repeated.loc[len(frame) + 4, "amount_minor"] = 1  # a conflicting repeat
        result = store.add_purchases(repeated)
        assert (result.stored, result.deduplicated, len(result.conflicts)) == (1500, 1004, 1)
        stored = store.purchases()
        assert len(stored) == count
        assert stored["amount_minor"].sum() == sum(100 + i for i in range(count))
        assert stored["purchased_at"].tolist() == [pd.Timestamp(t) for t in at]
        assert stored["customer_id"].nunique() == 97
        store.verify()

    def test_ing_01_large_batches_resolve_merges_and_keep_every_text(self, store: Store) -> None:
        # enough rows and distinct customers for every bulk path of the SQL stores
        count = 1500
        store.upsert_customers(
            pd.DataFrame({"customer_id": ["k1", "m1"], "language": ["de", "fr"]})
        )
        store.merge_customers("k1", "m1")
        texts = ["", "tab\tx", "line\nbreak", "back\\slash", "\\N", "\\.", 'a"b,c', "ünï €", "c\rr"]
        customers = ["m1", "k1", "tab\tid\\N", *(f"c{i:04d}" for i in range(3, count))]
        frame = purchases_frame(
            [f"T-{i:05d}" for i in range(count)],
            customers,
            at=[T0 + timedelta(seconds=i) for i in range(count)],
        )
        frame["source"] = pd.Series(
            [texts[i % len(texts)] if i % 10 else None for i in range(count)], dtype=object
        )
        frame["category"] = [texts[(i + 3) % len(texts)] if i % 4 else None for i in range(count)]
        frame["kind"] = ["refund" if i % 7 == 0 else "purchase" for i in range(count)]
        frame["refund_of"] = [f"T-{i - 1:05d}" if i % 7 == 0 else None for i in range(count)]
        store.add_purchases(frame.iloc[:400])
        changed = pd.concat([frame, frame.iloc[[450]]], ignore_index=True)
        changed.loc[5, "amount_minor"] = 1  # a stored order, changed
        changed.loc[count, "amount_minor"] = 2  # a new order twice: the last payload wins
        result = store.add_purchases(changed, on_conflict="update")
        assert (result.stored, result.updated, result.deduplicated) == (1101, 1, 399)
        stored = store.purchases().set_index("order_id").loc[frame["order_id"]]
        assert stored["customer_id"].tolist() == ["k1", "k1", *customers[2:]]
        expected = frame.assign(amount_minor=changed["amount_minor"].iloc[:count].to_numpy())
        expected.loc[450, "amount_minor"] = 2
        assert stored["amount_minor"].tolist() == expected["amount_minor"].tolist()
        for column in ("source", "category", "kind", "refund_of"):
            got = [None if pd.isna(v) else v for v in stored[column]]
            assert got == [None if pd.isna(v) else v for v in frame[column]], column
        cards = store.customers()
        assert cards["customer_id"].tolist() == sorted({"k1", *customers[2:]})
        assert cards.set_index("customer_id").loc["k1", "language"] == "de"
        store.verify()

    def test_unknown_customers_get_a_stub_card(self, store: Store) -> None:
        assert store.add_purchases(purchases_frame(["A-1"], ["new"])).customers_created == 1
        card = store.customers(["new"])
        assert card["customer_id"].tolist() == ["new"]
        assert card["emails"].tolist() == [[]]
        assert card["name"].isna().all()

    @pytest.mark.parametrize("count", [3, 1200])  # row by row and the bulk paths
    def test_stub_cards_are_counted_once_per_customer(self, store: Store, count: int) -> None:
        store.upsert_customers(pd.DataFrame({"customer_id": ["known", "kept", "alias"]}))
        store.merge_customers("kept", "alias")
        owners = ["known", "alias", *(f"n{i % (count - 2)}" for i in range(count - 2))]
        orders = [f"A-{i}" for i in range(count)]
        result = store.add_purchases(purchases_frame(orders, owners))
        assert (result.stored, result.customers_created) == (count, count - 2)
        again = store.add_purchases(purchases_frame([f"B-{i}" for i in range(count)], owners))
        assert again.customers_created == 0
        repeated = store.add_purchases(purchases_frame(orders, owners))
        assert (repeated.deduplicated, repeated.customers_created) == (count, 0)
        assert len(store.customers()) == count  # known, kept and count - 2 new ones

    @pytest.mark.parametrize("on_conflict", ["quarantine", "raise", "update"])
    def test_ing_02_conflicting_duplicate(self, store: Store, on_conflict: str) -> None:
        store.add_purchases(purchases_frame(["A-1"], ["c1"], amounts=[1000], lines=[2]))
        later = purchases_frame(
            ["A-2", "A-1"], ["c2", "c1"], amounts=[300, 1500], lines=[3, 4], at=[T0, T0]
        )
        if on_conflict == "raise":
            with pytest.raises(DuplicateError, match="A-1"):
                store.add_purchases(later, on_conflict="raise")
            assert store.purchases()["order_id"].tolist() == ["A-1"]
            assert store.quarantined().empty
            return
        result = store.add_purchases(later, on_conflict=on_conflict)  # type: ignore[arg-type]
        amounts = dict(
            zip(store.purchases()["order_id"], store.purchases()["amount_minor"], strict=True)
        )
        if on_conflict == "quarantine":
            assert amounts == {"A-1": 1000, "A-2": 300}
            assert result.conflicts["order_id"].tolist() == ["A-1"]
            assert result.conflicts["columns"].tolist() == ["amount_minor"]
            assert result.conflicts["line"].tolist() == [4]
            quarantined = store.quarantined()
            assert quarantined["reason"].tolist() == ["duplicate_order_conflict"]
            assert quarantined["line"].tolist() == [4]
            store.add_purchases(later)  # the same conflict again is not quarantined twice
            assert len(store.quarantined()) == 1
        else:
            assert amounts == {"A-1": 1500, "A-2": 300}
            assert result.updated == 1
            assert result.conflicts.empty

    def test_ing_02_conflict_inside_one_batch(self, store: Store) -> None:
        frame = purchases_frame(["A-1", "A-1"], ["c1", "c1"], amounts=[100, 200], lines=[2, 3])
        result = store.add_purchases(frame)
        assert result.stored == 1
        assert result.conflicts["line"].tolist() == [3]
        assert result.conflicts["stored_line"].tolist() == [2]
        assert store.purchases()["amount_minor"].tolist() == [100]

    def test_purchase_queries_by_customer_and_period(self, store: Store) -> None:
        at = [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
        store.add_purchases(purchases_frame(["a", "b", "c"], ["c1", "c2", "c1"], at=at))
        assert store.purchases(customer_ids=["c1"])["order_id"].tolist() == ["a", "c"]
        window = store.purchases(since=at[1], until=at[2])
        assert window["order_id"].tolist() == ["b"]
        with pytest.raises(ValidationError):
            store.purchases(since=datetime(2024, 1, 1))  # noqa: DTZ001 - naive on purpose

    def test_naive_timestamps_and_float_money_are_refused(self, store: Store) -> None:
        frame = purchases_frame(["a"], ["c1"])
        naive = frame.assign(purchased_at=frame["purchased_at"].dt.tz_localize(None))
        with pytest.raises(NaiveTimestampError):
            store.add_purchases(naive)
        with pytest.raises(ValidationError, match="minor units"):
            store.add_purchases(frame.assign(amount_minor=[19.99]))
        assert store.purchases().empty

    def test_a_chunk_commits_with_its_rejects_and_checkpoint(self, store: Store) -> None:
        rejects = pd.DataFrame(
            {
                "reason": ["missing_amount", "naive_timestamp"],
                "line": [4, 9],
                "order_id": ["X-4", None],
                "details": ['{"column": "amount"}', None],
            }
        )
        checkpoint = IngestCheckpoint("f.csv", "sha256:9", 300, 10, 1, {"rows_read": 8})
        store.add_purchases(
            purchases_frame(["a", "b"], ["c1", "c2"]), quarantined=rejects, checkpoint=checkpoint
        )
        store.add_purchases(purchases_frame(["a"], ["c1"]), quarantined=rejects)  # a rerun
        quarantined = store.quarantined().sort_values("line")
        assert quarantined["reason"].tolist() == ["missing_amount", "naive_timestamp"]
        assert quarantined["line"].tolist() == [4, 9]
        assert store.purchases(order_ids=["b", "zz"])["customer_id"].tolist() == ["c2"]
        with pytest.raises(ValueError, match="not allowed"):
            store.add_purchases(
                purchases_frame(["c"], ["c3"]), quarantined=rejects.assign(reason="Bad Code")
            )
        assert len(store.purchases()) == 2

    def test_checkpoint_commits_with_its_chunk(self, store: Store) -> None:
        assert store.checkpoint("file.csv") is None
        checkpoint = IngestCheckpoint("file.csv", "sha256:ab", 120, 5, 1, {"rows_read": 4})
        store.add_purchases(purchases_frame(["a"], ["c1"]), checkpoint=checkpoint)
        assert store.checkpoint("file.csv") == checkpoint

    # -- time and money ------------------------------------------------------------------
    def test_tim_01_offsets_round_trip_as_the_same_utc_instant(self, store: Store) -> None:
        _set_foreign_session_time_zone(store)
        instants = [
            datetime.fromisoformat("2024-03-01T10:00:00Z"),
            datetime.fromisoformat("2024-03-01T10:00:00+05:30"),
            datetime.fromisoformat("2024-03-01T10:00:00-03:00"),
        ]
        frame = purchases_frame(["z", "kolkata", "sao_paulo"], ["c1"] * 3, at=instants)
        store.add_purchases(frame)
        stored = store.purchases().set_index("order_id")["purchased_at"]
        assert isinstance(stored.dtype, pd.DatetimeTZDtype)
        assert str(stored.dtype.tz) == "UTC"
        for order_id, instant in zip(["z", "kolkata", "sao_paulo"], instants, strict=True):
            assert stored[order_id] == instant
        card_stamp = store.customers().iloc[0]["created_at"]
        assert card_stamp.tzinfo is not None

    def test_tim_01_any_zone_round_trips(self, store: Store) -> None:
        _set_foreign_session_time_zone(store)
        counter = itertools.count()

        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(
            instant=st.datetimes(
                min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
                max_value=datetime(2200, 1, 1),  # noqa: DTZ001
                timezones=st.timezones(),
            )
        )
        def round_trip(instant: datetime) -> None:
            order_id = f"t{next(counter)}"
            store.add_purchases(purchases_frame([order_id], ["c1"], at=[instant]))
            back = store.purchases(customer_ids=["c1"]).set_index("order_id").loc[order_id]
            assert back["purchased_at"].to_pydatetime() == instant.astimezone(UTC)

        round_trip()

    def test_tim_02_money_is_integer_minor_units(self, store: Store) -> None:
        store.add_purchases(purchases_frame(["a"], ["c1"], amounts=[1999], currency="EUR"))
        store.add_purchases(purchases_frame(["b"], ["c1"], amounts=[500], currency="JPY"))
        store.add_purchases(purchases_frame(["c"], ["c1"], amounts=[12345], currency="BHD"))
        stored = store.purchases()
        assert stored["amount_minor"].dtype == "int64"
        assert stored["amount_minor"].tolist() == [1999, 500, 12345]
        assert stored["currency"].tolist() == ["EUR", "JPY", "BHD"]
        big = 2**62
        store.add_purchases(purchases_frame(["huge"], ["c1"], amounts=[big]))
        assert (
            store.purchases(customer_ids=["c1"]).set_index("order_id").loc["huge", "amount_minor"]
            == big
        )
        if isinstance(store, SqlStore):
            types = _column_types(store)
            assert {table for table, _ in types} >= set(tables.metadata.tables)
            for (table, column), kind in types.items():
                assert not any(
                    f in kind for f in ("REAL", "FLOAT", "DOUBLE", "NUMERIC", "DECIMAL")
                ), (table, column, kind)
            assert "INT" in types["purchases", "amount_minor"]

    # -- consents and suppressions ------------------------------------------------------
    def test_older_consent_records_never_overwrite_newer_ones(self, store: Store) -> None:
        store.record_consents(consent_frame([("c1", "email", "marketing", "", False, T0)]))
        older = consent_frame([("c1", "email", "marketing", "", True, T0 - timedelta(days=1))])
        assert store.record_consents(older) == 0
        assert store.consents()["granted"].tolist() == [False]

    def test_suppression_by_customer_and_by_contact(self, store: Store) -> None:
        store.upsert_customers(
            pd.DataFrame({"customer_id": ["c1", "c2"], "emails": [["anna@example.com"], None]})
        )
        assert store.suppress_customer("c2", channel="sms", reason="stop") is True
        assert store.suppress_customer("c2", channel="sms", reason="stop") is False
        assert store.is_suppressed("c2", channel="sms")
        assert not store.is_suppressed("c2", channel="email")
        assert store.suppress_contact(" ANNA@example.com ", kind="email", reason="manual")
        assert store.is_suppressed("c1", channel="email")
        assert store.is_suppressed("c1", channel="push")
        assert not store.is_suppressed("unknown", channel="email")

    def test_unsubscribe_and_complaint_events_suppress_at_once(self, store: Store) -> None:
        store.plan_touches(touches_frame(["k1"]))
        store.record_event("k1", "unsubscribed", occurred_at=T0)
        assert store.is_suppressed("c1", channel="email")
        assert not store.is_suppressed("c1", channel="sms")
        with pytest.raises(NotFoundError):
            store.record_event("missing", "delivered", occurred_at=T0)

    # -- segments ------------------------------------------------------------------------
    def test_segments_are_replaced_atomically(self, store: Store) -> None:
        assert store.replace_segment("loyal", ["c1", "c2", "c2"], kind="rule") == 2
        assert store.replace_segment("loyal", ["c3"], kind="rule") == 1
        assert store.segment_members("loyal") == ["c3"]
        assert store.segment_members("nobody") == []
        segments = store.segments()
        assert segments["segment"].tolist() == ["loyal"]
        assert segments["members"].tolist() == [1]

    # -- touches and claims ---------------------------------------------------------------
    def test_replanning_keeps_touches_and_their_state(self, store: Store) -> None:
        assert store.plan_touches(touches_frame(["k1", "k2"])) == 2
        store.claim_due(as_of=T0, worker="w1", limit=1)
        assert store.plan_touches(touches_frame(["k1", "k2", "k3"])) == 1
        states = dict(
            zip(store.touches()["idempotency_key"], store.touches()["status"], strict=True)
        )
        assert states == {"k1": "claimed", "k2": "planned", "k3": "planned"}

    def test_only_due_touches_are_claimed_in_send_order(self, store: Store) -> None:
        store.plan_touches(touches_frame(["late"], send_at=T0 + timedelta(days=1)))
        store.plan_touches(touches_frame(["b", "a"], send_at=T0))
        claimed = store.claim_due(as_of=T0, worker="w1", limit=10)
        assert claimed["idempotency_key"].tolist() == ["a", "b"]
        assert list(claimed.columns) == list(TOUCH_COLUMNS)
        assert claimed["attempts"].tolist() == [1, 1]
        assert store.claim_due(as_of=T0, worker="w2").empty

    def test_finishing_and_deferring_touches(self, store: Store) -> None:
        store.plan_touches(touches_frame(["k1", "k2"]))
        store.claim_due(as_of=T0, worker="w1")
        assert store.finish_touch("k1", worker="w1", status="sent", as_of=T0)
        assert not store.finish_touch("k1", worker="w1", status="sent", as_of=T0)
        later = T0 + timedelta(hours=8)
        assert store.finish_touch(
            "k2", worker="w1", status="deferred", as_of=T0, reason="quiet_hours", send_at=later
        )
        assert store.claim_due(as_of=T0 + timedelta(hours=1), worker="w2").empty
        again = store.claim_due(as_of=later, worker="w2")
        assert again["idempotency_key"].tolist() == ["k2"]
        assert again["attempts"].tolist() == [2]
        with pytest.raises(ValidationError):
            store.finish_touch("k2", worker="w2", status="planned", as_of=later)
        store.verify()

    def test_sto_03_a_lease_blocks_reclaims_until_it_expires(self, store: Store) -> None:
        store.plan_touches(touches_frame(["k1"]))
        first = store.claim_due(as_of=T0, worker="w1", lease=timedelta(minutes=10))
        assert first["claimed_until"].tolist() == [pd.Timestamp(T0 + timedelta(minutes=10))]
        assert store.claim_due(as_of=T0 + timedelta(minutes=9, seconds=59), worker="w2").empty
        second = store.claim_due(as_of=T0 + timedelta(minutes=10), worker="w2")
        assert second["idempotency_key"].tolist() == ["k1"]
        assert second["claimed_by"].tolist() == ["w2"]
        assert second["attempts"].tolist() == [2]
        assert not store.finish_touch("k1", worker="w1", status="sent", as_of=T0)
        assert store.finish_touch("k1", worker="w2", status="sent", as_of=T0)

    def test_sto_03_a_killed_worker_s_claim_is_taken_over_after_its_lease(
        self, store: Store, store_url: str, open_options: dict[str, Any]
    ) -> None:
        store.plan_touches(touches_frame(["k1", "k2"]))
        if not store.persistent:
            held = store.claim_due(as_of=T0, worker="doomed", limit=1)["idempotency_key"].tolist()
        else:
            if not store.multi_process_writers:
                store.close()  # DuckDB: one writer process at a time
            context = multiprocessing.get_context("spawn")
            ready, release = context.Queue(), context.Event()
            process = context.Process(
                target=hold_claim_worker, args=(store_url, open_options, ready, release)
            )
            process.start()
            held = ready.get(timeout=120)
            process.kill()  # SIGKILL: no cleanup, the claim stays in the store
            process.join(60)
            store = open_store(store_url, **open_options)
        assert held == ["k1"]
        during = store.claim_due(as_of=T0 + timedelta(minutes=5), worker="w2", limit=10)
        assert during["idempotency_key"].tolist() == ["k2"]
        after = store.claim_due(as_of=T0 + timedelta(minutes=10), worker="w2", limit=10)
        assert after["idempotency_key"].tolist() == ["k1"]
        assert after["attempts"].tolist() == [2]
        store.close()

    def test_sto_02_racing_workers_claim_each_touch_exactly_once(
        self, store: Store, store_url: str, open_options: dict[str, Any]
    ) -> None:
        total = _race_touches()
        if store.multi_process_writers:
            for workers in (2, 8):
                _race_processes(store, store_url, open_options, workers=workers, total=total)
            return
        if store.persistent:
            # One writer process per file (DuckDB): a second process gets StorageError at
            # once (STO-04); inside the process, threads still never share a claim.
            _assert_second_writer_refused(store, store_url, open_options)
        _race_threads(store, workers=8, total=total)

    def test_sto_04_single_writer_capability_is_honest(
        self, store: Store, store_url: str, open_options: dict[str, Any]
    ) -> None:
        if store.persistent and not store.multi_process_writers:
            _assert_second_writer_refused(store, store_url, open_options)
            return
        if store.persistent:  # several writer processes are allowed: prove one writes
            context = multiprocessing.get_context("spawn")
            ready, release = context.Queue(), context.Event()
            process = context.Process(
                target=hold_open_worker, args=(store_url, open_options, ready, release)
            )
            process.start()
            try:
                assert ready.get(timeout=120) == "open"
                store.suppress_customer("parent", reason="manual")
            finally:
                release.set()
                process.join(60)
            assert store.is_suppressed("holder", channel="email")
            assert store.is_suppressed("parent", channel="email")
            return
        assert store.multi_process_writers is False  # in-process only

    # -- faults --------------------------------------------------------------------------
    def test_sto_05_a_fault_mid_batch_rolls_the_whole_batch_back(
        self, make_store: StoreFactory
    ) -> None:
        calls = itertools.count()
        fail_at: list[int | None] = [None]

        def clock() -> datetime:
            if next(calls) == fail_at[0]:
                msg = "injected clock fault"
                raise RuntimeError(msg)
            return T0

        store = make_store(clock=clock)
        store.add_purchases(purchases_frame(["a"], ["c1"]))
        before = observable_state(store)
        fail_at[0] = next(calls) + 2
        with pytest.raises(RuntimeError, match="injected"):
            store.add_purchases(purchases_frame(["b", "c"], ["c2", "c3"]))
        assert_same_state(before, observable_state(store))
        store.verify()

    def test_sto_05_operational_error_on_the_nth_statement_rolls_back(self, store: Store) -> None:
        store.add_purchases(purchases_frame(["a"], ["c1"]))
        before = observable_state(store)
        checkpoint = IngestCheckpoint("f.csv", "sha256:1", 10, 2, 1)
        if not isinstance(store, SqlStore):
            return  # no statements: the clock-fault test above covers in-process stores
        for fail_on in (1, 2, 3, 4):
            counter = itertools.count(1)

            def fault(*_args: Any, n: int = fail_on, seen: Iterator[int] = counter) -> None:  # noqa: ANN401
                if next(seen) == n:
                    raise sa.exc.OperationalError("injected", {}, RuntimeError("connection reset"))

            sa.event.listen(store.engine, "before_cursor_execute", fault)
            try:
                with pytest.raises(StorageError, match="adding purchases") as caught:
                    store.add_purchases(
                        purchases_frame(["b", "c"], ["c2", "c3"]), checkpoint=checkpoint
                    )
            finally:
                sa.event.remove(store.engine, "before_cursor_execute", fault)
            assert isinstance(caught.value.__cause__, sa.exc.OperationalError)
            assert "INSERT" not in str(caught.value)
            assert_same_state(before, observable_state(store))
            assert store.checkpoint("f.csv") is None
            store.verify()
        store.add_purchases(purchases_frame(["b", "c"], ["c2", "c3"]), checkpoint=checkpoint)
        assert len(store.purchases()) == 3
        assert store.checkpoint("f.csv") == checkpoint

    def test_sto_05_a_backend_killed_mid_batch_rolls_back_and_the_rerun_succeeds(
        self, store: Store
    ) -> None:
        store.add_purchases(purchases_frame(["a"], ["c1"]))
        before = observable_state(store)
        if not (isinstance(store, SqlStore) and store.dialect == "postgresql"):
            return  # only a server has backends to kill; the Nth-statement test covers the rest
        killer = sa.create_engine(store.engine.url)
        calls = itertools.count(1)

        def terminate(_conn: Any, cursor: Any, *_args: Any) -> None:  # noqa: ANN401
            if next(calls) == 3:
                pid = cursor.connection.info.backend_pid
                with killer.connect() as connection:
                    connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        sa.event.listen(store.engine, "before_cursor_execute", terminate)
        try:
            with pytest.raises(StorageError, match="adding purchases") as caught:
                store.add_purchases(purchases_frame(["b", "c"], ["c2", "c3"]))
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", terminate)
            killer.dispose()
        assert caught.value.__cause__ is not None
        assert_same_state(before, observable_state(store))
        store.add_purchases(purchases_frame(["b", "c"], ["c2", "c3"]))
        assert len(store.purchases()) == 3
        store.verify()

    # -- domain objects -------------------------------------------------------------------
    def test_domain_objects_round_trip(self, store: Store) -> None:
        consent = Consent(channel="email", purpose="marketing", granted=True, recorded_at=T0)
        customer = Customer(
            customer_id="c1",
            emails=["Anna@Example.com"],
            phones=["+49 30 1234567"],
            time_zone="Europe/Berlin",
            language="de",
            attributes={"tier": "gold"},
            consents=[consent],
        )
        assert store.upsert_customers([customer]) == 1
        assert store.upsert_customers([customer]) == 0
        back = store.get_customer("c1")
        assert back == customer
        assert back.has_consent(ChannelKind.EMAIL, Purpose.MARKETING)
        purchase = Purchase(
            order_id="A-1", customer_id="c1", purchased_at=T0, amount="19.99", currency="EUR"
        )
        assert store.add_purchases([purchase, purchase]).deduplicated == 1
        stored = store.purchases()
        expected = purchases_to_frame([purchase])
        pd.testing.assert_frame_equal(stored, expected, check_dtype=False)
        assert stored["amount"].tolist() == [19.99]
        with pytest.raises(NotFoundError):
            store.get_customer("nobody")

    def test_frames_with_any_index_are_read_by_position(self, store: Store) -> None:
        frame = purchases_frame(["a", "b"], ["c1", "c2"]).set_axis([10, 3])
        store.add_purchases(frame)
        assert store.purchases()["customer_id"].tolist() == ["c1", "c2"]
        consents = consent_frame([("c1", "sms", "service", None, False, T0)]).set_axis([7])
        store.record_consents(consents)
        assert store.consents()["channel"].tolist() == ["sms"]

    # -- schema versions ------------------------------------------------------------------
    def test_sto_06_older_and_newer_schema_versions_are_refused(
        self, store: Store, store_url: str, open_options: dict[str, Any]
    ) -> None:
        assert store.schema_version() == tables.SCHEMA_VERSION
        assert store.migrate() == tables.SCHEMA_VERSION
        if not isinstance(store, SqlStore) or not store.persistent:
            return
        store.add_purchases(purchases_frame(["kept"], ["c1"]))
        store.close()
        engine = create_engine(store_url, schema=open_options.get("schema"))
        try:
            with engine.begin() as connection:
                connection.execute(
                    sa.table(VERSION_TABLE, sa.column("version_num"))
                    .update()
                    .values(version_num="9999")
                )
        finally:
            engine.dispose()
        with pytest.raises(SchemaVersionError, match="9999") as newer:
            open_store(store_url, **open_options)
        assert tables.SCHEMA_VERSION in str(newer.value)
        with pytest.raises(SchemaVersionError, match="newer"):
            open_store(store_url, **open_options, migrate=True)

    def test_sto_06_an_older_schema_is_migrated_only_on_request(
        self, store: Store, store_url: str, open_options: dict[str, Any]
    ) -> None:
        if not isinstance(store, SqlStore) or not store.persistent:
            assert store.schema_version() == tables.SCHEMA_VERSION
            return
        store.close()
        engine = create_engine(store_url, schema=open_options.get("schema"))
        try:
            with engine.begin() as connection:
                for table in reversed(tables.metadata.sorted_tables):
                    connection.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
                connection.execute(sa.text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
                upgrade(connection, "0001")
                connection.execute(
                    tables.customers.insert(),
                    {
                        "customer_id": "old",
                        **dict.fromkeys(("emails", "phones", "preferred_channels"), "[]"),
                        **dict.fromkeys(("social_profiles", "attributes"), "{}"),
                        "created_at": T0,
                        "updated_at": T0,
                    },
                )
        finally:
            engine.dispose()
        with pytest.raises(SchemaVersionError, match="0001") as older:
            open_store(store_url, **open_options)
        assert tables.SCHEMA_VERSION in str(older.value)
        migrated = open_store(store_url, **open_options, migrate=True)
        try:
            assert migrated.schema_version() == tables.SCHEMA_VERSION
            assert migrated.customers()["customer_id"].tolist() == ["old"]
            assert migrated.checkpoint("x") is None
        finally:
            migrated.close()

    # -- security -------------------------------------------------------------------------
    def test_sec_01_injection_attempts_round_trip_verbatim(self, store: Store) -> None:
        tables_before = _table_names(store)
        ids = list(INJECTION_VALUES)
        store.add_purchases(purchases_frame([f"o{v}" for v in ids], ids))
        store.upsert_customers(pd.DataFrame({"customer_id": ids, "name": ids}))
        assert store.customers()["customer_id"].tolist() == sorted(ids)
        for value in ids:
            assert store.purchases(customer_ids=[value])["order_id"].tolist() == [f"o{value}"]
        assert store.purchases(customer_ids=["%"])["customer_id"].tolist() == ["%"]
        assert _table_names(store) == tables_before

    def test_sec_01_any_text_round_trips(self, store: Store) -> None:
        tables_before = _table_names(store)
        counter = itertools.count()

        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(
            text=st.text(
                alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
                min_size=1,
                max_size=40,
            )
        )
        def round_trip(text: str) -> None:
            order_id = f"{next(counter)}:{text}"
            store.add_purchases(purchases_frame([order_id], [text]))
            back = store.purchases(customer_ids=[text])
            assert order_id in back["order_id"].tolist()
            assert set(back["customer_id"]) == {text}
            store.replace_segment("probe", [text], kind="rule")
            assert store.segment_members("probe") == [text]

        round_trip()
        assert _table_names(store) == tables_before
        with pytest.raises(ValidationError, match="NUL"):
            store.add_purchases(purchases_frame(["nul"], ["a\x00b"]))
        lone = purchases_frame(["lone"], ["c1"]).astype({"customer_id": object})
        lone.loc[0, "customer_id"] = "a\ud800b"
        with pytest.raises(ValidationError, match="surrogate"):
            store.add_purchases(lone)

    def test_sec_01_text_limits_count_characters_not_bytes(self, store: Store) -> None:
        wide = "\u00e9" * 255  # 255 characters, 510 bytes in UTF-8
        store.add_purchases(purchases_frame(["wide"], [wide]))
        assert store.purchases(customer_ids=[wide])["order_id"].tolist() == ["wide"]
        with pytest.raises(ValidationError, match="longer than 255"):
            store.add_purchases(purchases_frame(["wider"], [wide + "\u00e9"]))
        assert store.purchases()["order_id"].tolist() == ["wide"]

    @pytest.mark.parametrize("identifier", MALICIOUS_IDENTIFIERS)
    def test_sec_02_malicious_identifiers_are_rejected(self, store: Store, identifier: str) -> None:
        tables_before = _table_names(store)
        store.plan_touches(touches_frame(["k"]))
        store.claim_due(as_of=T0, worker="w")
        with pytest.raises(ValueError, match="not allowed"):
            store.suppress_customer("c1", channel=identifier, reason="manual")
        with pytest.raises(ValueError, match="not allowed"):
            store.suppress_customer("c1", channel="email", reason=identifier)
        with pytest.raises(ValueError, match="not allowed"):
            store.finish_touch("k", worker="w", status="skipped", as_of=T0, reason=identifier)
        with pytest.raises(ValueError, match="not allowed"):
            store.replace_segment("vip", ["c1"], kind=identifier)
        with pytest.raises(ValueError, match=r"not allowed|empty"):
            store.plan_touches(touches_frame(["k2"]).assign(channel=[identifier]))
        assert _table_names(store) == tables_before
        assert store.suppressions().empty
        assert store.touches()["status"].tolist() == ["claimed"]

    @pytest.mark.parametrize("segment", SEGMENT_NAMES)
    def test_sec_01_segment_names_are_values_bound_verbatim(
        self, store: Store, segment: str
    ) -> None:
        tables_before = _table_names(store)
        assert store.replace_segment(segment, ["c1", "c2"], kind="rule") == 2
        assert store.segment_members(segment) == ["c1", "c2"]
        assert store.segments()["segment"].tolist() == [segment]
        assert _table_names(store) == tables_before

    def test_sec_05_erasure_removes_personal_data_everywhere(
        self, make_store: StoreFactory
    ) -> None:
        secret = b"deployment-secret"
        store = make_store(secret=secret, clock=StepClock())
        _populate_person(store)
        result = store.erase_customer("person")
        assert not result.already_erased
        assert result.purchases_kept == 3
        assert result.contact_hashes == 3  # two e-mails (one from the merged alias), one phone
        for text in _all_text(store):
            for sentinel in (SENTINEL_EMAIL, SENTINEL_PHONE, SENTINEL_NAME, "second-sentinel"):
                assert sentinel not in text
        purchases = store.purchases()
        assert purchases["amount_minor"].sum() == 1000 + 2000 + 3000 + 50
        assert set(purchases["customer_id"]) == {result.pseudonym, "other"}
        expected = hmac.new(secret, SENTINEL_EMAIL.encode(), hashlib.sha256).hexdigest()
        erased = store.suppressions().query("reason == 'erased'")
        assert expected in erased["subject"].tolist()
        assert set(erased["channel"]) == {"*"}
        # a later re-ingest of the same person is never contacted
        store.upsert_customers(
            pd.DataFrame({"customer_id": ["again"], "emails": [[SENTINEL_EMAIL.upper()]]})
        )
        assert store.is_suppressed("again", channel="email")
        assert store.is_suppressed("again", channel="sms")
        # idempotent, by the old id and by the pseudonym
        before = observable_state(store)
        assert store.erase_customer("person").already_erased
        assert store.erase_customer(result.pseudonym).already_erased
        assert_same_state(before, observable_state(store))
        with pytest.raises(NotFoundError):
            store.erase_customer("never-seen")
        store.verify()

    def test_sec_05_a_reingested_person_can_be_erased_again(self, store: Store) -> None:
        store.add_purchases(purchases_frame(["a"], ["p"]))
        first = store.erase_customer("p")
        store.add_purchases(purchases_frame(["b"], ["p"]))  # the same id comes back
        second = store.erase_customer("p")
        assert second.pseudonym == first.pseudonym
        assert not second.already_erased
        assert set(store.purchases()["customer_id"]) == {first.pseudonym}
        assert store.customers()["customer_id"].tolist() == [first.pseudonym]
        store.verify()

    def test_sec_05_without_a_secret_plain_sha256_is_kept(self, make_store: StoreFactory) -> None:
        store = make_store()
        store.upsert_customers(pd.DataFrame({"customer_id": ["p"], "phones": [[SENTINEL_PHONE]]}))
        store.erase_customer("p")
        digest = hashlib.sha256(SENTINEL_PHONE.encode()).hexdigest()
        assert store.suppressions()["subject"].tolist() == [digest]

    # -- merges ---------------------------------------------------------------------------
    def test_ing_12_merging_is_explicit_audited_and_idempotent(self, store: Store) -> None:
        store.upsert_customers(
            pd.DataFrame(
                {
                    "customer_id": ["keep", "dup"],
                    "emails": [["k@example.com"], ["d@example.com"]],
                    "phones": [[], ["+4930123456"]],
                }
            )
        )
        store.add_purchases(purchases_frame(["k1", "d1", "d2"], ["keep", "dup", "dup"]))
        store.record_consents(
            consent_frame(
                [
                    ("keep", "email", "marketing", "", True, T0),
                    ("dup", "email", "marketing", "", False, T0 - timedelta(days=3)),
                    ("dup", "sms", "marketing", "promotions", True, T0),
                ]
            )
        )
        store.suppress_customer("dup", channel="push", reason="manual")
        store.plan_touches(touches_frame(["t1"], "dup"))
        store.replace_segment("vip", ["dup"], kind="rule")
        result = store.merge_customers("keep", "dup")
        assert (result.kept, result.merged, result.purchases_moved, result.touches_moved) == (
            "keep",
            "dup",
            2,
            1,
        )
        once = observable_state(store)
        again = store.merge_customers("keep", "dup")
        assert again.already_merged
        assert_same_state(once, observable_state(store))
        assert store.customers()["customer_id"].tolist() == ["keep"]
        card = store.customers(["dup"]).iloc[0]
        assert (card["customer_id"], card["emails"], card["phones"]) == (
            "keep",
            ["k@example.com", "d@example.com"],
            ["+4930123456"],
        )
        assert set(store.purchases()["customer_id"]) == {"keep"}
        consents = store.consents()
        records = set(
            zip(
                consents["channel"],
                consents["topic"].fillna(""),
                consents["granted"],
                strict=True,
            )
        )
        assert records == {("email", "", False), ("sms", "promotions", True)}
        customer = store.get_customer("dup")
        assert customer.customer_id == "keep"
        assert not customer.has_consent(ChannelKind.EMAIL, Purpose.MARKETING)
        assert store.is_suppressed("keep", channel="push")
        assert store.segment_members("vip") == ["keep"]
        assert store.touches()["customer_id"].tolist() == ["keep"]
        assert store.resolve_customer_id("dup") == "keep"
        store.add_purchases(purchases_frame(["d3"], ["dup"], at=[T0 + timedelta(days=10)]))
        assert store.purchases(customer_ids=["keep"])["order_id"].tolist() == [
            "k1",
            "d1",
            "d2",
            "d3",
        ]
        with pytest.raises(ValidationError):
            store.merge_customers("dup", "keep")
        with pytest.raises(NotFoundError):
            store.merge_customers("keep", "ghost")
        store.verify()

    def test_ing_12_reingesting_after_a_merge_deduplicates(self, store: Store) -> None:
        frame = purchases_frame(["a", "b"], ["keep", "dup"])
        store.add_purchases(frame)
        store.merge_customers("keep", "dup")
        result = store.add_purchases(frame)
        assert (result.stored, result.deduplicated) == (0, 2)
        assert result.conflicts.empty


def _set_foreign_session_time_zone(store: Store) -> None:
    """TIM-01: make PostgreSQL sessions run in Asia/Kolkata; results must not change."""
    if isinstance(store, SqlStore) and store.dialect == "postgresql":
        store.engine.dispose()

        def set_zone(dbapi_connection: Any, _record: Any) -> None:  # noqa: ANN401
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'Asia/Kolkata'")

        sa.event.listen(store.engine, "connect", set_zone)
        with store.engine.connect() as connection:
            zone = connection.exec_driver_sql("SHOW TIME ZONE").scalar_one()
        assert zone == "Asia/Kolkata"


def _column_types(store: SqlStore) -> dict[tuple[str, str], str]:
    """(table, column) -> upper-case type name, from the database's own catalogue."""
    if store.dialect == "sqlite":
        inspector = sa.inspect(store.engine)
        return {
            (table, column["name"]): str(column["type"]).upper()
            for table in inspector.get_table_names()
            for column in inspector.get_columns(table)
        }
    columns = sa.table(
        "columns",
        sa.column("table_name"),
        sa.column("column_name"),
        sa.column("data_type"),
        sa.column("table_schema"),
        schema="information_schema",
    )
    statement = sa.select(columns.c.table_name, columns.c.column_name, columns.c.data_type).where(
        columns.c.table_schema == sa.func.current_schema()
    )
    with store.engine.connect() as connection:
        return {
            (table, column): str(kind).upper()
            for table, column, kind in connection.execute(statement)
        }


def _table_names(store: Store) -> list[str]:
    if isinstance(store, SqlStore):
        return sorted({table for table, _ in _column_types(store)})
    return sorted(observable_state(store))


def _all_text(store: Store) -> Iterator[str]:
    """Every text value the store holds: raw tables for SQL stores, every frame otherwise."""
    if isinstance(store, SqlStore):
        with store.engine.connect() as connection:
            for table in tables.metadata.sorted_tables:
                for row in connection.execute(sa.select(table)):
                    yield from (str(value) for value in row if value is not None)
    for frame in observable_state(store).values():
        for column in frame.columns:
            yield from (str(value) for value in frame[column].dropna())
    snapshot = getattr(store, "snapshot", None)
    if snapshot is not None:
        yield str(snapshot())


def _populate_person(store: Store) -> None:
    store.upsert_customers(
        pd.DataFrame(
            {
                "customer_id": ["person", "alias", "other"],
                "emails": [[SENTINEL_EMAIL], ["second-sentinel@example.invalid"], ["o@x.com"]],
                "phones": [[SENTINEL_PHONE], [], []],
                "name": [SENTINEL_NAME, None, "Other"],
                "birthday": ["1990-05-17", None, None],
                "attributes": [{"note": SENTINEL_NAME}, {}, {}],
            }
        )
    )
    store.add_purchases(purchases_frame(["p1", "p2"], ["person", "person"], amounts=[1000, 2000]))
    store.add_purchases(purchases_frame(["a1", "x1"], ["alias", "other"], amounts=[3000, 50]))
    store.add_purchases(
        purchases_frame(["p1"], ["person"], amounts=[9999], lines=[7])
    )  # quarantined
    store.record_consents(consent_frame([("person", "email", "marketing", "", True, T0)]))
    store.plan_touches(touches_frame(["t-person"], "person"))
    store.record_event("t-person", "delivered", occurred_at=T0)
    store.replace_segment("vip", ["person", "other"], kind="rule")
    store.suppress_customer("person", channel="sms", reason="stop")
    # the merged profile brings a second e-mail address, which erasure must cover too
    store.merge_customers("person", "alias")
    assert len(store.quarantined()) == 1


def _race_processes(
    store: Store, url: str, options: dict[str, Any], *, workers: int, total: int
) -> None:
    rounds = _race_repetitions()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    names = [f"w{workers}-{i}" for i in range(workers)]
    processes = [
        context.Process(target=claim_worker, args=(url, options, name, rounds, barrier, results))
        for name in names
    ]
    for process in processes:
        process.start()
    try:
        for round_number in range(rounds):
            keys = [f"{workers}-{round_number}-{i:05d}" for i in range(total)]
            store.plan_touches(touches_frame(keys))
            barrier.wait(timeout=300)
            claimed: Counter[str] = Counter()
            for _ in names:
                _worker, worker_keys = results.get(timeout=300)
                claimed.update(worker_keys)
            assert sorted(claimed) == keys
            assert set(claimed.values()) == {1}, "a touch was claimed twice"
    finally:
        for process in processes:
            process.join(120)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)


def _race_threads(store: Store, *, workers: int, total: int) -> None:
    keys = [f"thread-{i:05d}" for i in range(total)]
    store.plan_touches(touches_frame(keys))
    barrier = threading.Barrier(workers)
    claimed: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        try:
            barrier.wait()
            while True:
                batch = store.claim_due(as_of=T0, worker=name, limit=7)
                if batch.empty:
                    return
                with lock:
                    claimed.update(batch["idempotency_key"].tolist())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(claimed) == keys
    assert set(claimed.values()) == {1}


def _assert_second_writer_refused(store: Store, url: str, options: dict[str, Any]) -> None:
    """STO-04: while this process writes, a second process gets StorageError at once."""
    store.suppress_customer("parent", reason="manual")
    context = multiprocessing.get_context("spawn")
    ready, release = context.Queue(), context.Event()
    process = context.Process(target=second_writer, args=(url, options, ready))
    process.start()
    try:
        outcome = ready.get(timeout=120)
    finally:
        release.set()
        process.join(60)
    kind, message, cause = outcome
    assert kind == "StorageError", outcome
    assert "one writer" in message
    assert "read_only=True" in message
    assert cause not in {"None", "StorageError"}
