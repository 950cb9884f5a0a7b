"""Heavy aggregations as SQLAlchemy Core statements, computed inside the database.

The functions here build ``SELECT`` statements over any table or selectable, so the
same figures as the in-memory functions come out of SQLite, PostgreSQL, DuckDB, or a
warehouse reached through its SQLAlchemy dialect (Trino, Spark SQL, BigQuery,
Snowflake...). Only date arithmetic differs between engines; it lives in one
construct, :class:`PeriodOrdinal`, compiled per dialect.

Identifiers never come from strings pasted into SQL: columns are looked up on the
selectable's ``.c`` collection after :func:`retention._validation.check_identifier`,
and every value is a bound parameter.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from retention._validation import check_identifier, require_aware, require_time_unit
from retention.exceptions import SchemaError, StorageError, ValidationError
from retention.storage.sql import MEMORY_LIMIT_HINT, out_of_memory

if TYPE_CHECKING:
    from datetime import date, datetime

    from sqlalchemy.sql.compiler import SQLCompiler

__all__ = [
    "Ceiling",
    "PeriodOrdinal",
    "kpi_statement",
    "main_kpis_sql",
    "rfm_scores_sql",
    "rfm_scores_statement",
    "rfm_summary_sql",
    "summary_statement",
]

_UNITS: Final = {"h": "hour", "D": "day", "W": "week", "M": "month"}
_KPI_UNITS: Final = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
_CALENDAR_UNITS: Final = frozenset({"month", "quarter", "year"})
# SQLite truncates integer division toward zero; shifting by this many weeks keeps
# every date after the year 1 positive, so truncation is floor.
_SQLITE_WEEK_SHIFT: Final = 200_000


class PeriodOrdinal(FunctionElement[int]):
    """Integer period number of a UTC timestamp: hours ... years since 1970 (pandas ordinals).

    The numbers are pandas' period ordinals (weeks start on Monday and the week of
    1970-01-01 is 1), so ``pd.Period(ordinal=n, freq=...)`` labels them and their
    differences equal the in-memory summary's period differences on every engine.
    """

    type = sa.BigInteger()
    name = "period_ordinal"
    inherit_cache = True
    # The unit is part of the statement's cache key: a daily and an hourly statement
    # must never share a compiled form.
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own attribute
        *FunctionElement._traverse_internals,  # noqa: SLF001 - SQLAlchemy's extension point
        ("unit", InternalTraversal.dp_string),
    ]

    def __init__(self, timestamp: ColumnElement[Any], unit: str) -> None:
        self.unit = unit
        super().__init__(timestamp)

    @property
    def timestamp(self) -> ColumnElement[Any]:
        """The timestamp expression."""
        return next(iter(self.clauses))


def _calendar(element: PeriodOrdinal, year: str, month: str) -> str:
    """Month, quarter or year ordinal from SQL expressions of the year and the month."""
    if element.unit == "year":
        return f"CAST({year} - 1970 AS BIGINT)"
    if element.unit == "quarter":
        return f"CAST(({year} - 1970) * 4 + FLOOR(({month} - 1) / 3) AS BIGINT)"
    return f"CAST(({year} - 1970) * 12 + {month} - 1 AS BIGINT)"


def _generic(element: PeriodOrdinal, compiler: SQLCompiler, epoch_seconds: str) -> str:
    """Arithmetic shared by engines with FLOOR and a seconds-since-epoch function."""
    days = f"FLOOR({epoch_seconds} / 86400)"
    if element.unit == "hour":
        return f"CAST(FLOOR({epoch_seconds} / 3600) AS BIGINT)"
    if element.unit == "day":
        return f"CAST({days} AS BIGINT)"
    if element.unit == "week":
        return f"CAST(FLOOR(({days} + 3) / 7) + 1 AS BIGINT)"
    timestamp = compiler.process(element.timestamp)
    return _calendar(element, f"EXTRACT(YEAR FROM {timestamp})", f"EXTRACT(MONTH FROM {timestamp})")


@compiles(PeriodOrdinal)
def _compile_default(element: PeriodOrdinal, compiler: SQLCompiler, **_: object) -> str:
    timestamp = compiler.process(element.timestamp)
    return _generic(element, compiler, f"EXTRACT(EPOCH FROM {timestamp})")


@compiles(PeriodOrdinal, "postgresql")
def _compile_postgresql(element: PeriodOrdinal, compiler: SQLCompiler, **_: object) -> str:
    timestamp = compiler.process(element.timestamp)
    if element.unit in _CALENDAR_UNITS:
        # EXTRACT on timestamptz follows the session time zone; pin UTC.
        utc = f"({timestamp} AT TIME ZONE 'UTC')" if _has_timezone(element) else timestamp
        return _calendar(element, f"EXTRACT(YEAR FROM {utc})", f"EXTRACT(MONTH FROM {utc})")
    return _generic(element, compiler, f"EXTRACT(EPOCH FROM {timestamp})")


@compiles(PeriodOrdinal, "duckdb")
def _compile_duckdb(element: PeriodOrdinal, compiler: SQLCompiler, **_: object) -> str:
    timestamp = compiler.process(element.timestamp)
    if element.unit in _CALENDAR_UNITS:
        utc = f"timezone('UTC', {timestamp})" if _has_timezone(element) else timestamp
        return _calendar(element, f"year({utc})", f"month({utc})")
    return _generic(element, compiler, f"epoch({timestamp})")


@compiles(PeriodOrdinal, "sqlite")
def _compile_sqlite(element: PeriodOrdinal, compiler: SQLCompiler, **_: object) -> str:
    # SQLite keeps timestamps as ISO text in UTC; julianday() of a date is exact.
    timestamp = compiler.process(element.timestamp)
    days = f"CAST(julianday(date({timestamp})) - 2440587.5 AS INTEGER)"
    if element.unit == "hour":
        return f"({days} * 24 + CAST(strftime('%H', {timestamp}) AS INTEGER))"
    if element.unit == "day":
        return days
    if element.unit == "week":
        return f"(({days} + 3 + {7 * _SQLITE_WEEK_SHIFT}) / 7 - {_SQLITE_WEEK_SHIFT} + 1)"
    year = f"CAST(strftime('%Y', {timestamp}) AS INTEGER)"
    month = f"CAST(strftime('%m', {timestamp}) AS INTEGER)"
    if element.unit == "year":
        return f"({year} - 1970)"
    if element.unit == "quarter":
        return f"(({year} - 1970) * 4 + ({month} - 1) / 3)"  # integer division, month >= 1
    return f"(({year} - 1970) * 12 + {month} - 1)"


@compiles(PeriodOrdinal, "bigquery")
def _compile_bigquery(element: PeriodOrdinal, compiler: SQLCompiler, **_: object) -> str:
    timestamp = compiler.process(element.timestamp)
    if element.unit in _CALENDAR_UNITS:
        return _calendar(
            element, f"EXTRACT(YEAR FROM {timestamp})", f"EXTRACT(MONTH FROM {timestamp})"
        )
    return _generic(element, compiler, f"UNIX_SECONDS({timestamp})")


@compiles(PeriodOrdinal, "trino")
def _compile_trino(element: PeriodOrdinal, compiler: SQLCompiler, **_: object) -> str:
    timestamp = compiler.process(element.timestamp)
    if element.unit in _CALENDAR_UNITS:
        return _calendar(element, f"year({timestamp})", f"month({timestamp})")
    return _generic(element, compiler, f"to_unixtime({timestamp})")


@compiles(PeriodOrdinal, "snowflake")
def _compile_snowflake(element: PeriodOrdinal, compiler: SQLCompiler, **_: object) -> str:
    timestamp = compiler.process(element.timestamp)
    if element.unit in _CALENDAR_UNITS:
        return _calendar(element, f"YEAR({timestamp})", f"MONTH({timestamp})")
    return _generic(element, compiler, f"DATE_PART(epoch_second, {timestamp})")


class Ceiling(FunctionElement[int]):
    """``CEIL`` of a positive number as an integer, also where SQLite lacks math functions."""

    type = sa.BigInteger()
    name = "ceiling"
    inherit_cache = True


@compiles(Ceiling)
def _compile_ceiling(element: Ceiling, compiler: SQLCompiler, **_: object) -> str:
    return f"CAST(CEIL({compiler.process(element.clauses)}) AS BIGINT)"


@compiles(Ceiling, "sqlite")
def _compile_ceiling_sqlite(element: Ceiling, compiler: SQLCompiler, **_: object) -> str:
    value = compiler.process(element.clauses)
    return f"(CAST({value} AS INTEGER) + ({value} > CAST({value} AS INTEGER)))"


def _has_timezone(element: PeriodOrdinal) -> bool:
    column_type = getattr(element.timestamp, "type", None)
    return bool(getattr(column_type, "timezone", False))


def _column(source: sa.FromClause, name: str | None, keyword: str) -> ColumnElement[Any]:
    if name is None:
        msg = f"{keyword} is required"
        raise ValidationError(msg)
    check_identifier(name, what=keyword)
    if name not in source.c:
        present = ", ".join(repr(column) for column in source.c.keys())  # noqa: SIM118
        msg = f"the table has no column {name!r} ({keyword}). Columns present: {present}."
        raise SchemaError(msg)
    return source.c[name]


def summary_statement(
    source: sa.FromClause,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "purchased_at",
    monetary_value_col: str | None = "amount",
    end_period: int,
    time_unit: str = "D",
    time_scaler: float = 1.0,
    include_first_transaction: bool = False,
    monetary_scale: float = 1.0,
    order_id_col: str | None = None,
    refund_of_col: str | None = None,
    dialect: str | None = None,
) -> sa.Select[Any]:
    """Build the summary ``SELECT`` (one row per customer) over ``source``.

    Parameters
    ----------
    source
        A table or subquery holding one row per purchase.
    end_period
        The observation end as a period ordinal (see :class:`PeriodOrdinal`).
    monetary_scale
        Divides the summed amounts, e.g. ``100`` for integer cents.
    order_id_col, refund_of_col
        When given, refund rows (``refund_of`` set) are netted into their parent orders,
        and fully refunded orders stop counting, as in :func:`retention.rfm_summary`.
    dialect
        The SQLAlchemy dialect name the statement is for, when known: ``"duckdb"`` gets
        the first period's spend from DuckDB's ``arg_min``; every other dialect (and
        ``None``) from a window over each customer's periods, which any SQL engine runs.

    Returns
    -------
    sqlalchemy.Select
        Columns ``customer_id``, ``frequency``, ``recency``, ``T`` and, with a monetary
        column, ``monetary_value``.
    """
    unit = _UNITS[require_time_unit(time_unit)]
    customer = _column(source, customer_id_col, "customer_id_col")
    timestamp = _column(source, datetime_col, "datetime_col")
    amount: ColumnElement[Any] | None = None
    if monetary_value_col is not None:
        amount = _column(source, monetary_value_col, "monetary_value_col")
    purchases: sa.FromClause = source
    where: list[ColumnElement[bool]] = []
    if order_id_col is not None and refund_of_col is not None:
        order = _column(source, order_id_col, "order_id_col")
        refund_of = _column(source, refund_of_col, "refund_of_col")
        if amount is None:
            where.append(refund_of.is_(None))
        else:
            refunds = (
                sa.select(refund_of.label("parent"), sa.func.sum(amount).label("refunded"))
                .where(refund_of.is_not(None))
                .group_by(refund_of)
                .subquery("refunds")
            )
            purchases = source.outerjoin(refunds, refunds.c.parent == order)
            refunded = sa.func.coalesce(refunds.c.refunded, 0)
            amount = amount + refunded
            where += [refund_of.is_(None), sa.or_(refunded == 0, amount > 0)]
    period = PeriodOrdinal(timestamp, unit)
    per_period_columns = [customer.label("customer_id"), period.label("period")]
    if amount is not None:
        per_period_columns.append(sa.func.sum(amount).label("amount"))
    per_period = (
        sa.select(*per_period_columns)
        .select_from(purchases)
        .where(*where, period <= end_period)
        .group_by(customer, period)
        .subquery("per_period")
    )
    rows: sa.FromClause = per_period
    periods = sa.func.count()
    repeat_periods = periods if include_first_transaction else periods - 1
    spend: ColumnElement[Any] | None = None
    if amount is not None and include_first_transaction:
        spend = sa.func.sum(per_period.c.amount)
    elif amount is not None and dialect == "duckdb":
        # The first period's spend via DuckDB's arg_min: half the time of the window.
        # (coalesce: arg_min would pass over a period whose amounts are all missing.)
        first_spend = sa.func.arg_min(sa.func.coalesce(per_period.c.amount, 0), per_period.c.period)
        spend = sa.func.sum(per_period.c.amount) - first_spend
    elif amount is not None:
        first = sa.func.min(per_period.c.period).over(partition_by=per_period.c.customer_id)
        rows = sa.select(
            per_period.c.customer_id,
            per_period.c.period,
            per_period.c.amount,
            first.label("first_period"),
        ).subquery("ranked")
        spend = sa.func.sum(sa.case((rows.c.period != rows.c.first_period, rows.c.amount)))
    scaler: ColumnElement[float] = sa.literal(float(time_scaler), sa.Double())
    first_period, last_period = sa.func.min(rows.c.period), sa.func.max(rows.c.period)
    columns: list[ColumnElement[Any]] = [
        rows.c.customer_id,
        repeat_periods.label("frequency"),
        (sa.cast(last_period - first_period, sa.Double) / scaler).label("recency"),
        (sa.cast(end_period - first_period, sa.Double) / scaler).label("T"),
    ]
    if spend is not None:
        mean = sa.cast(spend, sa.Double) / float(monetary_scale) / repeat_periods
        columns.append(
            sa.case((repeat_periods > 0, mean), else_=sa.literal(0.0)).label("monetary_value")
        )
    return sa.select(*columns).group_by(rows.c.customer_id)


def _query_failed(what: str, error: sa.exc.SQLAlchemyError) -> StorageError:
    """Build the StorageError naming the computation (never the SQL text or its values)."""
    if out_of_memory(error):
        return StorageError(
            f"{what} in the database failed: the database ran out of memory. For DuckDB "
            f"{MEMORY_LIMIT_HINT}"
        )
    return StorageError(f"{what} in the database failed ({type(error).__name__})")


def _frame_of(
    connection: sa.Connection, statement: sa.Select[Any], names: list[str]
) -> pd.DataFrame:
    """Run ``statement`` and return its rows as a frame with the columns ``names``.

    DuckDB hands the result over column by column (its ``fetchdf``); through SQLAlchemy
    each of millions of customers would become a Python row first, which took most of
    the time of a pushdown summary of 10M purchases.
    """
    result = connection.execute(statement)
    if connection.dialect.name == "duckdb":
        try:
            frame: pd.DataFrame = result.cursor.fetchdf()
        finally:
            result.close()
        frame.columns = pd.Index(names)
        return frame
    return pd.DataFrame.from_records(result.all(), columns=names)


def rfm_summary_sql(
    connectable: sa.Engine | sa.Connection,
    source: sa.FromClause,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "purchased_at",
    monetary_value_col: str | None = "amount",
    observation_period_end: datetime | date | str | pd.Timestamp | None = None,
    time_unit: str = "D",
    time_scaler: float = 1.0,
    include_first_transaction: bool = False,
    monetary_scale: float = 1.0,
    order_id_col: str | None = None,
    refund_of_col: str | None = None,
) -> pd.DataFrame:
    """Compute :func:`retention.rfm_summary` inside the database.

    Timestamps are read as UTC instants (the store's convention); periods are cut in UTC.
    The result equals the in-memory summary of the same purchases: counts exactly,
    floats to about 1e-12 relative.

    Parameters
    ----------
    connectable
        An engine or connection.
    source
        The purchases table (or any selectable with the named columns).
    customer_id_col, datetime_col, monetary_value_col, time_unit, time_scaler
        As in :func:`retention.rfm_summary`.
    observation_period_end
        Aware or UTC-naive end of observation; defaults to the latest purchase.
    include_first_transaction, order_id_col, refund_of_col
        As in :func:`retention.rfm_summary`.
    monetary_scale
        Divides summed amounts (``100`` for integer cents).

    Returns
    -------
    pandas.DataFrame
        The same frame as :func:`retention.rfm_summary`, with the same ``attrs``.
    """
    unit = require_time_unit(time_unit)
    timestamp = _column(source, datetime_col, "datetime_col")
    try:
        with _connection(connectable) as connection:
            end = _resolve_end(connection, timestamp, observation_period_end)
            end_period = _period_of(end, unit)
            statement = summary_statement(
                source,
                customer_id_col=customer_id_col,
                datetime_col=datetime_col,
                monetary_value_col=monetary_value_col,
                end_period=end_period,
                time_unit=unit,
                time_scaler=time_scaler,
                include_first_transaction=include_first_transaction,
                monetary_scale=monetary_scale,
                order_id_col=order_id_col,
                refund_of_col=refund_of_col,
                dialect=connection.dialect.name,
            )
            names = ["customer_id", "frequency", "recency", "T"]
            if monetary_value_col is not None:
                names.append("monetary_value")
            frame = _frame_of(connection, statement, names)
    except sa.exc.SQLAlchemyError as error:
        raise _query_failed("computing the customer summary", error) from error
    if frame.empty:
        msg = "no purchase lies on or before observation_period_end; choose a later end"
        raise ValidationError(msg)
    frame["customer_id"] = frame["customer_id"].astype(str)
    result = frame.set_index("customer_id").astype(np.float64).sort_index()
    result.attrs.update(
        {
            "time_unit": unit,
            "time_scaler": float(time_scaler),
            "observation_period_end": end,
            "include_first_transaction": include_first_transaction,
        }
    )
    return result


def rfm_scores_statement(summary: sa.Subquery, *, bins: int) -> sa.Select[Any]:
    """R, F and M quantile scores over a summary subquery, as SQL window functions.

    ``score = ceil(bins * CUME_DIST() OVER (ORDER BY value))``: the same figures as
    :func:`retention.segmentation.rfm_scores` (pandas ``rank(method="max", pct=True)``),
    recency ranked on ``recency - T`` so that a more recent customer scores higher.
    """
    given: object = bins
    if isinstance(given, bool) or not isinstance(given, int) or given < 2:
        msg = f"bins must be a whole number of at least 2, got {bins!r}"
        raise ValidationError(msg)

    def score(value: ColumnElement[Any]) -> Ceiling:
        return Ceiling(bins * sa.func.cume_dist().over(order_by=value))

    columns = summary.c
    return sa.select(
        columns.customer_id,
        score(columns.recency - columns.T).label("r_score"),
        score(columns.frequency).label("f_score"),
        score(columns.monetary_value).label("m_score"),
    )


def rfm_scores_sql(
    connectable: sa.Engine | sa.Connection,
    source: sa.FromClause,
    *,
    bins: int = 3,
    observation_period_end: datetime | date | str | pd.Timestamp | None = None,
    **summary_options: Any,  # noqa: ANN401 - the keywords of rfm_summary_sql
) -> pd.DataFrame:
    """Compute :func:`retention.segmentation.rfm_scores` of the summary inside the database.

    Parameters
    ----------
    connectable
        An engine or connection.
    source
        The purchases table (or any selectable).
    bins
        Scores per dimension (3 for the 27 cells, 5 for the 125).
    observation_period_end
        As in :func:`rfm_summary_sql`; defaults to the latest purchase.
    **summary_options
        The column and unit keywords of :func:`rfm_summary_sql`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted), int64 columns ``r_score``, ``f_score`` and
        ``m_score``, equal to the in-memory scores of the same summary.
    """
    summary_options.setdefault("monetary_value_col", "amount")
    if summary_options["monetary_value_col"] is None:
        msg = "RFM scores need a monetary_value_col"
        raise ValidationError(msg)
    timestamp = _column(source, summary_options.get("datetime_col", "purchased_at"), "datetime_col")
    try:
        with _connection(connectable) as connection:
            end = _resolve_end(connection, timestamp, observation_period_end)
            unit = require_time_unit(summary_options.pop("time_unit", "D"))
            summary = summary_statement(
                source,
                end_period=_period_of(end, unit),
                time_unit=unit,
                dialect=connection.dialect.name,
                **summary_options,
            ).subquery("summary")
            frame = _frame_of(
                connection,
                rfm_scores_statement(summary, bins=bins),
                ["customer_id", "r_score", "f_score", "m_score"],
            )
    except sa.exc.SQLAlchemyError as error:
        raise _query_failed("computing RFM scores", error) from error
    frame["customer_id"] = frame["customer_id"].astype(str)
    result = frame.set_index("customer_id").astype(np.int64).sort_index()
    result.attrs.update({"bins": bins, "method": "quantile"})
    return result


_KPI_COLUMNS: Final = (
    "gross_revenue",
    "refunds",
    "net_revenue",
    "orders",
    "active_customers",
    "new_customers",
)


def kpi_statement(
    source: sa.FromClause,
    *,
    until: datetime,
    period: str = "M",
    customer_id_col: str = "customer_id",
    order_id_col: str = "order_id",
    datetime_col: str = "purchased_at",
    monetary_value_col: str = "amount",
    refund_of_col: str = "refund_of",
    monetary_scale: float = 1.0,
) -> sa.Select[Any]:
    """Build one ``SELECT`` of the main KPIs per period over a purchases table.

    The definitions are those of :mod:`retention.kpi`: a refund is a row whose
    ``refund_of`` names its order; gross revenue sums purchase rows and refunds the
    absolute refund amounts dated in the period; an order counts when it is not fully
    refunded; active customers have a counted order in the period; new customers have
    their first counted order in it. Rows after ``until`` are left out.

    Returns
    -------
    sqlalchemy.Select
        Columns ``ordinal`` (the pandas period ordinal) and the figures of
        :func:`main_kpis_sql`, one row per period that has rows.
    """
    if period not in _KPI_UNITS:
        msg = f"period must be one of {', '.join(_KPI_UNITS)}, got {period!r}"
        raise ValidationError(msg)
    unit = _KPI_UNITS[period]
    customer = _column(source, customer_id_col, "customer_id_col")
    order = _column(source, order_id_col, "order_id_col")
    stamp = _column(source, datetime_col, "datetime_col")
    amount = _column(source, monetary_value_col, "monetary_value_col") / float(monetary_scale)
    refund_of = _column(source, refund_of_col, "refund_of_col")
    is_refund = refund_of.is_not(None)
    inside = stamp <= until
    ordinal = PeriodOrdinal(stamp, unit)
    money = (
        sa.select(
            ordinal.label("ordinal"),
            sa.func.sum(sa.case((is_refund, 0.0), else_=amount)).label("gross_revenue"),
            sa.func.sum(sa.case((is_refund, -amount), else_=0.0)).label("refunds"),
        )
        .where(inside)
        .group_by(ordinal)
        .subquery("money")
    )
    refunded = (
        sa.select(refund_of.label("parent"), sa.func.sum(-amount).label("refunded"))
        .where(is_refund, inside)
        .group_by(refund_of)
        .subquery("refunded")
    )
    orders = (
        sa.select(
            order.label("order_id"),
            sa.func.min(customer).label("customer_id"),
            sa.func.min(stamp).label("purchased_at"),
            sa.func.sum(amount).label("amount"),
        )
        .where(~is_refund, inside)
        .group_by(order)
        .subquery("orders")
    )
    back = sa.func.coalesce(refunded.c.refunded, 0.0)
    counted = (
        sa.select(orders)
        .select_from(orders.outerjoin(refunded, refunded.c.parent == orders.c.order_id))
        .where(sa.not_(sa.and_(back >= orders.c.amount, orders.c.amount > 0)))
        .subquery("counted")
    )
    counted_ordinal = PeriodOrdinal(counted.c.purchased_at, unit)
    activity = (
        sa.select(
            counted_ordinal.label("ordinal"),
            sa.func.count().label("orders"),
            sa.func.count(sa.distinct(counted.c.customer_id)).label("active_customers"),
        )
        .group_by(counted_ordinal)
        .subquery("activity")
    )
    firsts = (
        sa.select(sa.func.min(counted.c.purchased_at).label("first_at"))
        .group_by(counted.c.customer_id)
        .subquery("firsts")
    )
    first_ordinal = PeriodOrdinal(firsts.c.first_at, unit)
    inflow = (
        sa.select(first_ordinal.label("ordinal"), sa.func.count().label("new_customers"))
        .group_by(first_ordinal)
        .subquery("inflow")
    )
    zero = sa.literal(0)
    return (
        sa.select(
            money.c.ordinal,
            money.c.gross_revenue,
            money.c.refunds,
            (money.c.gross_revenue - money.c.refunds).label("net_revenue"),
            sa.func.coalesce(activity.c.orders, zero).label("orders"),
            sa.func.coalesce(activity.c.active_customers, zero).label("active_customers"),
            sa.func.coalesce(inflow.c.new_customers, zero).label("new_customers"),
        )
        .select_from(
            money.outerjoin(activity, activity.c.ordinal == money.c.ordinal).outerjoin(
                inflow, inflow.c.ordinal == money.c.ordinal
            )
        )
        .order_by(money.c.ordinal)
    )


def main_kpis_sql(
    connectable: sa.Engine | sa.Connection,
    source: sa.FromClause,
    *,
    as_of: datetime,
    period: str = "M",
    customer_id_col: str = "customer_id",
    order_id_col: str = "order_id",
    datetime_col: str = "purchased_at",
    monetary_value_col: str = "amount",
    refund_of_col: str = "refund_of",
    monetary_scale: float = 1.0,
) -> pd.DataFrame:
    """Compute the main KPIs per period inside the database.

    The figures equal those of :func:`retention.kpi.revenue`,
    :func:`~retention.kpi.active_customers`, :func:`~retention.kpi.new_customers` and
    :func:`~retention.kpi.average_order_value` on the same purchases (periods cut in
    UTC): counts exactly, money to float rounding.

    Parameters
    ----------
    connectable
        An engine or connection.
    source
        The purchases table, refunds included as rows naming their order.
    as_of
        Aware instant; later rows are left out, and the periods run up to its period.
    period
        ``"D"``, ``"W"``, ``"M"``, ``"Q"`` or ``"Y"``.
    customer_id_col, order_id_col, datetime_col, monetary_value_col, refund_of_col
        Column names in ``source``.
    monetary_scale
        Divides amounts (``100`` for integer cents).

    Returns
    -------
    pandas.DataFrame
        One row per period from the first purchase's period to ``as_of``'s (empty
        periods as zeros): ``period`` (pandas Period), ``gross_revenue``, ``refunds``,
        ``net_revenue``, ``orders``, ``active_customers``, ``new_customers``,
        ``average_order_value`` (NaN without orders).
    """
    until = require_aware(as_of, name="as_of")
    statement = kpi_statement(
        source,
        until=until,
        period=period,
        customer_id_col=customer_id_col,
        order_id_col=order_id_col,
        datetime_col=datetime_col,
        monetary_value_col=monetary_value_col,
        refund_of_col=refund_of_col,
        monetary_scale=monetary_scale,
    )
    try:
        with _connection(connectable) as connection:
            rows = connection.execute(statement).all()
    except sa.exc.SQLAlchemyError as error:
        raise _query_failed("computing KPIs", error) from error
    frame = pd.DataFrame.from_records(rows, columns=["ordinal", *_KPI_COLUMNS])
    last = pd.Period(pd.Timestamp(until).tz_convert("UTC").tz_localize(None), freq=period)
    first = int(frame["ordinal"].min()) if len(frame) else last.ordinal
    ordinals = pd.RangeIndex(first, last.ordinal + 1, name="ordinal")
    frame = frame.set_index("ordinal").reindex(ordinals, fill_value=0)
    result = pd.DataFrame(
        {
            "period": pd.period_range(
                start=pd.Period(ordinal=first, freq=period), periods=len(ordinals), freq=period
            ),
            "gross_revenue": frame["gross_revenue"].astype(np.float64).to_numpy(),
            "refunds": frame["refunds"].astype(np.float64).to_numpy(),
            "net_revenue": frame["net_revenue"].astype(np.float64).to_numpy(),
        }
    )
    for column in ("orders", "active_customers", "new_customers"):
        result[column] = frame[column].astype(np.int64).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        result["average_order_value"] = np.where(
            result["orders"] > 0, result["net_revenue"] / result["orders"], np.nan
        )
    return result


def _resolve_end(
    connection: sa.Connection,
    timestamp: ColumnElement[Any],
    observation_period_end: datetime | date | str | pd.Timestamp | None,
) -> pd.Timestamp:
    if observation_period_end is not None:
        return _utc(observation_period_end)
    latest = connection.execute(sa.select(sa.func.max(timestamp))).scalar()
    if latest is None:
        msg = "the purchases table is empty; a summary needs at least one purchase"
        raise ValidationError(msg)
    return _utc(latest)


def _connection(
    connectable: sa.Engine | sa.Connection,
) -> contextlib.AbstractContextManager[sa.Connection]:
    if isinstance(connectable, sa.Connection):
        return contextlib.nullcontext(connectable)
    return connectable.connect()


def _utc(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    if stamp.tzinfo is None:
        return stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC")


def _period_of(stamp: pd.Timestamp, unit: str) -> int:
    nanoseconds = int(stamp.tz_convert("UTC").tz_localize(None).as_unit("ns").value)
    hours, days = nanoseconds // 3_600_000_000_000, nanoseconds // 86_400_000_000_000
    if unit == "h":
        return hours
    if unit == "D":
        return days
    if unit == "W":
        return (days + 3) // 7 + 1  # pandas: the week of 1969-12-29 to 1970-01-04 is 1
    return (stamp.year - 1970) * 12 + stamp.month - 1
