"""SQL pushdown of the customer summary against a hand-written query in the same engine.

The synthetic log of ``bench_summary.py`` is bulk-loaded into DuckDB (through Arrow)
and, when ``RETENTION_BENCH_POSTGRES_URL`` is set, into PostgreSQL (through COPY).
Then ``retention.storage.pushdown.rfm_summary_sql`` and a hand-written query of the same
definition run alternately; both fetch the whole result into pandas (on DuckDB with its
columnar ``fetchdf``, on PostgreSQL as rows). Medians of ``--repeat`` runs. Usage::

    python benchmarks/bench_pushdown.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_summary import END, make_data

from retention.storage.pushdown import rfm_summary_sql

HERE = Path(__file__).resolve().parent

HAND_WRITTEN = {
    "duckdb": f"""
        WITH daily AS (
            SELECT customer_id, CAST(floor(epoch(purchased_at) / 86400) AS BIGINT) AS day,
                   sum(amount_minor) AS amount
            FROM purchases GROUP BY ALL
        )
        SELECT customer_id, count(*) - 1 AS frequency,
               CAST(max(day) - min(day) AS DOUBLE) AS recency,
               CAST(floor(epoch(TIMESTAMPTZ '{END} 00:00:00+00') / 86400) - min(day) AS DOUBLE) AS T,
               CASE WHEN count(*) > 1
                    THEN (sum(amount) - arg_min(amount, day)) / 100.0 / (count(*) - 1)
                    ELSE 0 END AS monetary_value
        FROM daily GROUP BY customer_id
    """,
    "postgresql": f"""
        WITH daily AS (
            SELECT customer_id, floor(extract(epoch FROM purchased_at) / 86400)::bigint AS day,
                   sum(amount_minor) AS amount
            FROM purchases GROUP BY 1, 2
        ), ranked AS (
            SELECT *, min(day) OVER (PARTITION BY customer_id) AS first_day FROM daily
        )
        SELECT customer_id, count(*) - 1 AS frequency,
               (max(day) - min(day))::float8 AS recency,
               (floor(extract(epoch FROM TIMESTAMPTZ '{END} 00:00:00+00') / 86400) - min(day))::float8 AS T,
               coalesce(sum(amount) FILTER (WHERE day <> first_day)::float8 / 100
                        / nullif(count(*) - 1, 0), 0) AS monetary_value
        FROM ranked GROUP BY customer_id
    """,
}

TABLE = sa.Table(
    "purchases",
    sa.MetaData(),
    sa.Column("customer_id", sa.String),
    sa.Column("purchased_at", sa.DateTime(timezone=True)),
    sa.Column("amount_minor", sa.BigInteger),
)


def load_duckdb(frame: pd.DataFrame, path: Path) -> sa.Engine:
    import duckdb  # noqa: PLC0415

    path.unlink(missing_ok=True)
    connection = duckdb.connect(str(path))
    connection.register("frame", frame)
    connection.execute(
        "CREATE TABLE purchases AS SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
        "CAST(date AS TIMESTAMPTZ) AS purchased_at, "
        "CAST(round(amount * 100) AS BIGINT) AS amount_minor FROM frame"
    )
    connection.close()
    return sa.create_engine(f"duckdb:///{path}")


def load_postgresql(frame: pd.DataFrame, url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS purchases"))
        TABLE.create(connection)
        buffer = io.StringIO()
        pd.DataFrame(
            {
                "customer_id": frame["customer_id"].astype(str),
                "purchased_at": frame["date"].dt.strftime("%Y-%m-%d %H:%M:%S+00"),
                "amount_minor": (frame["amount"] * 100).round().astype("int64"),
            }
        ).to_csv(buffer, index=False, header=False)
        buffer.seek(0)
        raw = connection.connection.driver_connection
        with raw.cursor().copy("COPY purchases FROM STDIN WITH (FORMAT csv)") as copy:  # type: ignore[union-attr]
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
        connection.execute(sa.text("ANALYZE purchases"))
    return engine


def time_both(engine: sa.Engine, dialect: str, repeat: int) -> tuple[float, float]:
    ours, theirs = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        rfm_summary_sql(
            engine,
            TABLE,
            monetary_value_col="amount_minor",
            monetary_scale=100,
            observation_period_end=pd.Timestamp(END, tz="UTC"),
        )
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        with engine.connect() as connection:
            result = connection.execute(sa.text(HAND_WRITTEN[dialect]))
            if dialect == "duckdb":
                result.cursor.fetchdf()  # DuckDB's own columnar fetch, as rfm_summary_sql
            else:
                pd.DataFrame(result.all())
        theirs.append(time.perf_counter() - started)
    return statistics.median(ours), statistics.median(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    data = HERE / "data" / f"transactions_{arguments.rows}.parquet"
    if not data.exists():
        data.parent.mkdir(exist_ok=True)
        make_data(arguments.rows, data)
    frame = pd.read_parquet(data)
    engines = {"duckdb": load_duckdb(frame, HERE / "data" / "pushdown.duckdb")}
    url = os.environ.get("RETENTION_BENCH_POSTGRES_URL")
    if url:
        engines["postgresql"] = load_postgresql(frame, url)
    print(f"\n{arguments.rows:,} rows, median of {arguments.repeat}\n")
    print("| engine | pushdown s | hand-written s | pushdown / hand-written |")
    print("|---|---:|---:|---:|")
    for dialect, engine in engines.items():
        ours, theirs = time_both(engine, dialect, arguments.repeat)
        print(f"| {dialect} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f}x |")


if __name__ == "__main__":
    main()
