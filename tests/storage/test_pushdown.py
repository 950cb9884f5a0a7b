"""SQL pushdown gives the in-memory figures on SQLite, DuckDB and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from retention import rfm_summary
from retention.segmentation import rfm_scores
from retention.storage.pushdown import rfm_scores_sql, rfm_summary_sql, summary_statement

metadata = sa.MetaData()


def _table(name: str, schema: str | None = None) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(schema=schema),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("refund_of", sa.String(64)),
        sa.Column("purchased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
    )


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def database(request, tmp_path):
    """An engine and a fresh table on each backend."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'p.db'}")
        table = _table("purchases")
    elif request.param == "duckdb":
        engine = sa.create_engine(f"duckdb:///{tmp_path / 'p.duckdb'}")
        table = _table("purchases")
    else:
        url = request.getfixturevalue("postgres_url")
        engine = sa.create_engine(url)
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with engine.begin() as connection:
            connection.execute(sa.schema.CreateSchema(schema))
            connection.execute(sa.text("SET TIME ZONE 'Asia/Kolkata'"))
        table = _table("purchases", schema)
    table.metadata.create_all(engine)
    yield engine, table
    if request.param == "postgresql":
        with engine.begin() as connection:
            connection.execute(sa.schema.DropSchema(table.schema, cascade=True))
    engine.dispose()


def _load(engine, table, frame):
    rows = [
        {
            "customer_id": row.customer_id,
            "order_id": row.order_id,
            "refund_of": None if pd.isna(row.refund_of) else row.refund_of,
            "purchased_at": row.purchased_at.to_pydatetime(),
            "amount_minor": int(row.amount_minor),
        }
        for row in frame.itertuples()
    ]
    with engine.begin() as connection:
        connection.execute(table.delete())
        connection.execute(table.insert(), rows)


def _frame(customers, stamps, cents, refund_of=None):
    n = len(customers)
    return pd.DataFrame(
        {
            "customer_id": customers,
            "order_id": [f"o{i}" for i in range(n)],
            "refund_of": refund_of or [None] * n,
            "purchased_at": pd.to_datetime(stamps, utc=True),
            "amount_minor": cents,
        }
    ).assign(amount=lambda f: f["amount_minor"] / 100)


def _in_memory(frame, **kwargs):
    return rfm_summary(
        frame,
        datetime_col="purchased_at",
        order_id_col="order_id",
        refund_of_col="refund_of",
        **kwargs,
    )


@pytest.mark.parametrize("unit", ["h", "D", "W", "M"])
def test_pushdown_summary_equals_in_memory(database, unit):
    engine, table = database
    frame = _frame(
        ["a", "a", "a", "b", "b", "c", "a"],
        [
            "2024-01-01 23:30",
            "2024-01-02 00:10",
            "2024-02-29 12:00",
            "2023-12-31 23:59",
            "2024-01-08 00:00",
            "1969-12-28 10:00",
            "2024-03-01 00:00",
        ],
        [1999, 500, 1, 12345, 0, 700, -1],
        refund_of=[None, None, None, None, None, None, "o2"],
    )
    _load(engine, table, frame)
    end = pd.Timestamp("2024-03-31 12:00", tz="UTC")
    expected = _in_memory(frame, observation_period_end=end, time_unit=unit)
    got = rfm_summary_sql(
        engine,
        table,
        monetary_value_col="amount_minor",
        monetary_scale=100,
        observation_period_end=end,
        time_unit=unit,
        order_id_col="order_id",
        refund_of_col="refund_of",
    )
    assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
    assert got.attrs["time_unit"] == unit


def test_pushdown_defaults_to_the_latest_purchase_and_include_first(database):
    engine, table = database
    frame = _frame(["a", "a", "b"], ["2024-01-01", "2024-01-05", "2024-01-09"], [100, 300, 50])
    _load(engine, table, frame)
    expected = _in_memory(frame, include_first_transaction=True, time_scaler=7)
    got = rfm_summary_sql(
        engine,
        table,
        monetary_value_col="amount_minor",
        monetary_scale=100,
        include_first_transaction=True,
        time_scaler=7,
    )
    assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


_stamps = st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2021, 12, 31))  # noqa: DTZ001


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(st.sampled_from("abcde"), _stamps, st.integers(0, 10**7)),
        min_size=1,
        max_size=30,
    ),
    unit=st.sampled_from(["h", "D", "W", "M"]),
)
def test_pushdown_matches_in_memory_on_random_logs(database, rows, unit):
    engine, table = database
    customers, stamps, cents = zip(*rows, strict=True)
    frame = _frame(list(customers), list(stamps), list(cents))
    _load(engine, table, frame)
    end = pd.Timestamp("2022-01-01", tz="UTC")
    expected = _in_memory(frame, observation_period_end=end, time_unit=unit)
    got = rfm_summary_sql(
        engine,
        table,
        monetary_value_col="amount_minor",
        monetary_scale=100,
        observation_period_end=end,
        time_unit=unit,
    )
    assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize("dialect_name", ["postgresql", "sqlite", "duckdb", "trino"])
@pytest.mark.parametrize("unit", ["h", "D", "W", "M"])
def test_the_statement_compiles_for_each_dialect(dialect_name, unit):
    """Trino stands for the distributed warehouses reached through SQLAlchemy dialects."""
    statement = summary_statement(
        _table("purchases"), monetary_value_col="amount_minor", end_period=100, time_unit=unit
    )
    dialect = sa.dialects.registry.load(dialect_name)()
    sql = str(statement.compile(dialect=dialect))
    assert "GROUP BY" in sql
    if dialect_name == "trino":
        assert ("to_unixtime" in sql) != (unit == "M")


def test_identifiers_are_checked_against_the_whitelist():
    with pytest.raises(ValueError, match="not allowed"):
        summary_statement(_table("purchases"), customer_id_col="a; DROP", end_period=1)
    with pytest.raises(ValueError, match="no column 'missing'"):
        summary_statement(_table("purchases"), customer_id_col="missing", end_period=1)


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(st.sampled_from("abcdefghij"), _stamps, st.sampled_from([0, 500, 999, 1500])),
        min_size=1,
        max_size=40,
    ),
    bins=st.sampled_from([3, 5]),
)
def test_pushdown_rfm_scores_equal_in_memory_cume_dist_scores(database, rows, bins):
    """Ties are frequent here (few amounts, few customers): CUME_DIST must match rank max."""
    engine, table = database
    customers, stamps, cents = zip(*rows, strict=True)
    frame = _frame(list(customers), list(stamps), list(cents))
    _load(engine, table, frame)
    end = pd.Timestamp("2022-01-01", tz="UTC")
    expected = rfm_scores(_in_memory(frame, observation_period_end=end), bins=bins)
    got = rfm_scores_sql(
        engine,
        table,
        bins=bins,
        monetary_value_col="amount_minor",
        monetary_scale=100,
        observation_period_end=end,
    )
    assert_frame_equal(got, expected, check_dtype=True)
