"""The main KPIs computed in SQL equal retention.kpi on SQLite, DuckDB and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from retention import kpi
from retention.storage.pushdown import kpi_statement, main_kpis_sql


def _table(schema: str | None = None) -> sa.Table:
    return sa.Table(
        "purchases",
        sa.MetaData(schema=schema),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("refund_of", sa.String(64)),
        sa.Column("purchased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
    )


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def database(request, tmp_path):
    schema = None
    if request.param == "postgresql":
        engine = sa.create_engine(request.getfixturevalue("postgres_url"))
        schema = f"k_{uuid.uuid4().hex[:12]}"
        with engine.begin() as connection:
            connection.execute(sa.schema.CreateSchema(schema))
    else:
        suffix = "db" if request.param == "sqlite" else "duckdb"
        engine = sa.create_engine(f"{request.param}:///{tmp_path / f'k.{suffix}'}")
    table = _table(schema)
    table.metadata.create_all(engine)
    yield engine, table
    if schema is not None:
        with engine.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True))
    engine.dispose()


def _load(engine, table, shop):
    rows = [
        {
            "customer_id": row.customer_id,
            "order_id": row.order_id,
            "refund_of": None if pd.isna(row.refund_of) else row.refund_of,
            "purchased_at": row.purchased_at.to_pydatetime(),
            "amount_minor": round(row.amount * 100),
        }
        for row in shop.itertuples()
    ]
    with engine.begin() as connection:
        connection.execute(table.delete())
        connection.execute(table.insert(), rows)


def _in_memory(shop, as_of, period):
    kind = shop["refund_of"].notna().map({True: "refund", False: "purchase"})
    frame = shop.assign(kind=kind)
    return (
        kpi.revenue(frame, as_of=as_of, period=period)
        .merge(kpi.active_customers(frame, as_of=as_of, period=period), on="period")
        .merge(kpi.new_customers(frame, as_of=as_of, period=period), on="period")
        .merge(
            kpi.average_order_value(frame, as_of=as_of, period=period)[
                ["period", "average_order_value"]
            ],
            on="period",
        )
    )


def _compare(got, expected):
    columns = list(got.columns)
    assert_frame_equal(got, expected[columns], check_exact=False, rtol=1e-12, check_dtype=False)


@pytest.mark.parametrize("period", ["D", "W", "M", "Q", "Y"])
def test_main_kpis_in_sql_equal_the_in_memory_ones(database, shop, period):
    engine, table = database
    _load(engine, table, shop)
    as_of = datetime(2024, 5, 31, 23, 59, tzinfo=UTC)
    got = main_kpis_sql(
        engine,
        table,
        as_of=as_of,
        period=period,
        monetary_value_col="amount_minor",
        monetary_scale=100,
    )
    _compare(got, _in_memory(shop, as_of, period))


def test_rows_after_as_of_are_left_out(database, shop):
    engine, table = database
    _load(engine, table, shop)
    as_of = datetime(2024, 2, 5, tzinfo=UTC)
    got = main_kpis_sql(
        engine, table, as_of=as_of, monetary_value_col="amount_minor", monetary_scale=100
    )
    _compare(got, _in_memory(shop, as_of, "M"))
    assert got["period"].astype(str).tolist() == ["2024-01", "2024-02"]


_stamps = st.datetimes(
    min_value=datetime(2022, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2023, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@st.composite
def shops(draw):
    n = draw(st.integers(1, 25))
    customers = draw(st.lists(st.sampled_from("abcdef"), min_size=n, max_size=n))
    stamps = draw(st.lists(_stamps, min_size=n, max_size=n))
    cents = draw(st.lists(st.integers(0, 50_000), min_size=n, max_size=n))
    frame = pd.DataFrame(
        {
            "customer_id": customers,
            "order_id": [f"o{i}" for i in range(n)],
            "refund_of": [None] * n,
            "purchased_at": pd.to_datetime(stamps, utc=True),
            "amount": [c / 100 for c in cents],
        }
    )
    refunds = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.booleans()), max_size=4, unique_by=lambda t: t[0]
        )
    )
    rows = []
    for position, full in refunds:
        parent = frame.iloc[position]
        amount = parent["amount"] if full else round(parent["amount"] / 2, 2)
        rows.append(
            {
                "customer_id": parent["customer_id"],
                "order_id": f"r{position}",
                "refund_of": parent["order_id"],
                "purchased_at": parent["purchased_at"] + pd.Timedelta(days=3),
                "amount": -amount,
            }
        )
    if not rows:
        return frame
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shop=shops(), period=st.sampled_from(["W", "M", "Q"]))
def test_main_kpis_in_sql_match_on_random_shops(database, shop, period):
    engine, table = database
    _load(engine, table, shop)
    as_of = datetime(2024, 1, 31, tzinfo=UTC)
    got = main_kpis_sql(
        engine,
        table,
        as_of=as_of,
        period=period,
        monetary_value_col="amount_minor",
        monetary_scale=100,
    )
    _compare(got, _in_memory(shop, as_of, period))


def test_the_kpi_statement_compiles_for_a_warehouse_dialect():
    dialect = sa.dialects.registry.load("trino")()
    statement = kpi_statement(
        _table(),
        until=datetime(2024, 1, 1, tzinfo=UTC),
        period="Q",
        monetary_value_col="amount_minor",
    )
    assert "FLOOR" in str(statement.compile(dialect=dialect))
