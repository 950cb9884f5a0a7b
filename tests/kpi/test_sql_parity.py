"""The main KPIs as plain SQL give the same numbers as retention.kpi.

These statements are the reference for pushing KPIs down into a store: each is the
definition in the metric's docstring, written with SQLAlchemy Core over the canonical
purchases table, and checked on SQLite and DuckDB against the in-memory functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from retention import kpi
from retention.storage.pushdown import PeriodOrdinal

AS_OF = datetime(2024, 3, 31, 23, 59, tzinfo=UTC)


def _statements(table: sa.Table) -> dict[str, sa.Select[Any]]:
    c = table.c
    month = PeriodOrdinal(c.purchased_at, "month")
    is_refund = c.kind == "refund"
    revenue = (
        sa.select(
            month.label("ordinal"),
            sa.func.sum(sa.case((~is_refund, c.amount), else_=0.0)).label("gross_revenue"),
            sa.func.sum(sa.case((is_refund, -c.amount), else_=0.0)).label("refunds"),
            sa.func.sum(c.amount).label("net_revenue"),
        )
        .group_by(month)
        .order_by(month)
    )
    refunded = (
        sa.select(c.refund_of.label("parent"), sa.func.sum(-c.amount).label("refunded"))
        .where(is_refund)
        .group_by(c.refund_of)
        .subquery("refunded")
    )
    order_total = (
        sa.select(
            c.order_id,
            sa.func.min(c.customer_id).label("customer_id"),
            sa.func.min(c.purchased_at).label("purchased_at"),
            sa.func.sum(c.amount).label("amount"),
        )
        .where(~is_refund)
        .group_by(c.order_id)
        .subquery("order_total")
    )
    back = sa.func.coalesce(refunded.c.refunded, 0.0)
    counted = (
        sa.select(order_total)
        .select_from(order_total.outerjoin(refunded, refunded.c.parent == order_total.c.order_id))
        .where(sa.not_(sa.and_(back >= order_total.c.amount, order_total.c.amount > 0)))
        .subquery("counted")
    )
    counted_month = PeriodOrdinal(counted.c.purchased_at, "month")
    orders = (
        sa.select(
            counted_month.label("ordinal"),
            sa.func.count().label("orders"),
            sa.func.count(sa.distinct(counted.c.customer_id)).label("active_customers"),
        )
        .group_by(counted_month)
        .order_by(counted_month)
    )
    firsts = (
        sa.select(counted.c.customer_id, sa.func.min(counted.c.purchased_at).label("first_at"))
        .group_by(counted.c.customer_id)
        .subquery("firsts")
    )
    first_month = PeriodOrdinal(firsts.c.first_at, "month")
    new = (
        sa.select(first_month.label("ordinal"), sa.func.count().label("new_customers"))
        .group_by(first_month)
        .order_by(first_month)
    )
    return {"revenue": revenue, "orders": orders, "new": new}


@pytest.fixture(params=["sqlite", "duckdb"])
def engine(request, tmp_path):
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'k.db'}",
        "duckdb": f"duckdb:///{tmp_path / 'k.duckdb'}",
    }
    engine = sa.create_engine(url[request.param])
    yield engine
    engine.dispose()


def _table(engine: sa.Engine, shop: pd.DataFrame) -> sa.Table:
    metadata = sa.MetaData()
    table = sa.Table(
        "purchases",
        metadata,
        sa.Column("customer_id", sa.String, nullable=False),
        sa.Column("order_id", sa.String, primary_key=True),
        sa.Column("purchased_at", sa.DateTime, nullable=False),
        sa.Column("amount", sa.Double, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("refund_of", sa.String),
    )
    metadata.create_all(engine)
    rows = shop.assign(purchased_at=shop["purchased_at"].dt.tz_localize(None))
    records = [
        {
            "customer_id": row.customer_id,
            "order_id": row.order_id,
            "purchased_at": row.purchased_at.to_pydatetime(),
            "amount": float(row.amount),
            "kind": row.kind,
            "refund_of": row.refund_of,
        }
        for row in rows.itertuples()
    ]
    with engine.begin() as connection:
        connection.execute(table.insert(), records)
    return table


def test_main_kpis_in_sql_equal_the_in_memory_ones(engine, shop):
    table = _table(engine, shop)
    with engine.connect() as connection:
        sql = {
            name: pd.DataFrame(connection.execute(statement).mappings().all())
            for name, statement in _statements(table).items()
        }
    merged = (
        sql["revenue"]
        .merge(sql["orders"], on="ordinal", how="left")
        .merge(sql["new"], on="ordinal", how="left")
        .fillna(0)
    )
    merged["average_order_value"] = merged["net_revenue"] / merged["orders"]
    memory = (
        kpi.revenue(shop, as_of=AS_OF)
        .merge(kpi.active_customers(shop, as_of=AS_OF), on="period")
        .merge(kpi.new_customers(shop, as_of=AS_OF), on="period")
        .merge(kpi.average_order_value(shop, as_of=AS_OF)[["period", "average_order_value"]])
    )
    assert merged["ordinal"].tolist() == [p.ordinal for p in memory["period"]]
    for column in ("gross_revenue", "refunds", "net_revenue", "average_order_value"):
        assert merged[column].tolist() == pytest.approx(memory[column].tolist(), rel=1e-12)
    for column in ("orders", "active_customers", "new_customers"):
        assert merged[column].astype(int).tolist() == memory[column].tolist()
