"""Bulk load of purchases through ``Store.add_purchases`` against each engine's raw bulk path.

For SQLite, DuckDB and (when ``RETENTION_BENCH_POSTGRES_URL`` is set) PostgreSQL, the same
seeded canonical purchase frame is loaded into a fresh, migrated database twice:

- *store*: ``store.add_purchases`` in chunks of ``--chunk`` rows: column-wise validation,
  merged-id resolution and order-id deduplication against the table through staged keys,
  set-wise stub customer cards, then COPY text on PostgreSQL, a registered frame on
  DuckDB, ``executemany`` tuples on SQLite;
- *raw*: the engine's own bulk path into the same ``purchases`` table and nothing else
  (DuckDB ``INSERT ... SELECT`` from the Arrow-backed frame, PostgreSQL ``COPY`` of CSV,
  SQLite ``executemany``).

Times are medians of ``--repeat`` runs; the table prints the store/raw ratio (the issue's
target is at most 2x). Usage::

    RETENTION_BENCH_POSTGRES_URL=postgresql+psycopg://... \\
        PYTHONPATH=src python benchmarks/bench_storage.py [--rows 1000000] [--chunk 100000] \\
        [--repeat 3] [--engines duckdb,postgresql]
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa

from retention.storage import open_store

if TYPE_CHECKING:
    from collections.abc import Callable

NOW = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = ["order_id", "customer_id", "purchased_at", "amount_minor", "currency", "kind"]


def make_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    customers = max(1, rows // 4)
    start = np.datetime64("2021-01-01T00:00:00", "s").astype(np.int64)
    seconds = start + rng.integers(0, 4 * 365 * 86400, size=rows)
    return pd.DataFrame(
        {
            "order_id": pd.Series([f"O{i:09d}" for i in range(rows)], dtype=str),
            "customer_id": pd.Series(
                [f"C{c:08d}" for c in rng.integers(0, customers, size=rows)], dtype=str
            ),
            "purchased_at": pd.to_datetime(seconds, unit="s", utc=True).as_unit("us"),
            "amount_minor": rng.integers(100, 50_000, size=rows).astype(np.int64),
            "currency": pd.Series(["USD"] * rows, dtype=str),
            "kind": pd.Series(["purchase"] * rows, dtype=str),
        }
    )


def note(engine: str, path: str, seconds: float) -> float:
    """Print one measurement as it is made (long runs stay readable when cut short)."""
    print(f"{engine} {path}: {seconds:.2f} s", flush=True)
    return seconds


def store_load(url: str, frame: pd.DataFrame, chunk: int, **options: object) -> float:
    store = open_store(url, clock=lambda: NOW, **options)  # type: ignore[arg-type]
    started = time.perf_counter()
    for start in range(0, len(frame), chunk):
        store.add_purchases(frame.iloc[start : start + chunk])
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def raw_sqlite(path: Path, frame: pd.DataFrame) -> float:
    open_store(f"sqlite:///{path}").close()  # the same schema, created by the store
    rows = list(
        zip(
            frame["order_id"],
            frame["customer_id"],
            frame["purchased_at"].dt.tz_convert(None).astype(str),
            frame["amount_minor"].tolist(),
            frame["currency"],
            frame["kind"],
            strict=True,
        )
    )
    connection = sqlite3.connect(path)
    started = time.perf_counter()
    with connection:
        connection.executemany(
            "INSERT INTO purchases (order_id, customer_id, purchased_at, amount_minor, currency,"
            " kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '2025-01-01', '2025-01-01')",
            rows,
        )
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def raw_duckdb(path: Path, frame: pd.DataFrame, chunk: int | None = None) -> float:
    """One ``INSERT ... SELECT`` of the whole frame, or one per ``chunk`` rows."""
    open_store(f"duckdb:///{path}").close()
    staged = frame.assign(purchased_at=frame["purchased_at"].dt.tz_convert(None))
    # The settings open_store gives DuckDB stores, so both sides run the same engine.
    connection = duckdb.connect(str(path), config={"preserve_insertion_order": False})
    step = chunk or len(staged)
    started = time.perf_counter()
    for start in range(0, len(staged), step):
        connection.register("staged", staged.iloc[start : start + step])
        connection.execute(
            "INSERT INTO purchases (order_id, customer_id, purchased_at, amount_minor,"
            " currency, kind, created_at, updated_at) SELECT order_id, customer_id,"
            " purchased_at, amount_minor, currency, kind, TIMESTAMP '2025-01-01',"
            " TIMESTAMP '2025-01-01' FROM staged"
        )
        connection.unregister("staged")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def raw_postgres(url: str, schema: str, frame: pd.DataFrame) -> float:
    open_store(url, schema=schema).close()
    buffer = io.StringIO()
    frame.assign(created_at=NOW, updated_at=NOW)[[*COLUMNS, "created_at", "updated_at"]].to_csv(
        buffer, index=False, header=False
    )
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    started = time.perf_counter()
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        with raw.cursor().copy(  # type: ignore[union-attr]
            "COPY purchases (order_id, customer_id, purchased_at, amount_minor, currency, kind,"
            " created_at, updated_at) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            copy.write(buffer.getvalue())
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def postgres_schema(url: str) -> tuple[str, Callable[[], None]]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')

    def drop() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        engine.dispose()

    return name, drop


def print_table(
    results: dict[str, dict[str, list[float]]], *, rows: int, chunk: int, repeat: int
) -> None:
    """Print the medians as a markdown table."""
    print()
    print(f"{rows:,} purchases, chunks of {chunk:,}, median of {repeat}")
    print()
    print("| engine | raw bulk load s | `add_purchases` s | store / raw |")
    print("|---|---:|---:|---:|")
    for engine, timings in results.items():
        raw = statistics.median(timings["raw"])
        store = statistics.median(timings["store"])
        print(f"| {engine} | {raw:.2f} | {store:.2f} | {store / raw:.1f}x |")
        if "raw_chunked" in timings:
            chunked = statistics.median(timings["raw_chunked"])
            print(
                f"| {engine}, raw in chunks | {chunked:.2f} | {store:.2f} | {store / chunked:.1f}x |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--engines",
        default="sqlite,duckdb,postgresql",
        help="comma-separated engines to run (PostgreSQL also needs the URL)",
    )
    parser.add_argument(
        "--raw-chunked",
        action="store_true",
        help="also time DuckDB's raw load in the store's chunks, one INSERT each",
    )
    arguments = parser.parse_args()
    engines = set(arguments.engines.split(","))
    frame = make_frame(arguments.rows)
    results: dict[str, dict[str, list[float]]] = {}
    postgres_url = os.environ.get("RETENTION_BENCH_POSTGRES_URL")
    with tempfile.TemporaryDirectory() as folder:
        for run in range(arguments.repeat):
            base = Path(folder)
            if "sqlite" in engines:
                timings = results.setdefault("SQLite", {"store": [], "raw": []})
                timings["raw"].append(
                    note("SQLite", "raw", raw_sqlite(base / f"raw{run}.db", frame))
                )
                url = f"sqlite:///{base / f'store{run}.db'}"
                timings["store"].append(
                    note("SQLite", "store", store_load(url, frame, arguments.chunk))
                )
            if "duckdb" in engines:
                timings = results.setdefault("DuckDB", {"store": [], "raw": []})
                raw = raw_duckdb(base / f"raw{run}.duckdb", frame)
                timings["raw"].append(note("DuckDB", "raw", raw))
                if arguments.raw_chunked:
                    path = base / f"rawchunks{run}.duckdb"
                    raw = raw_duckdb(path, frame, arguments.chunk)
                    timings.setdefault("raw_chunked", []).append(
                        note("DuckDB", "raw in chunks", raw)
                    )
                url = f"duckdb:///{base / f'store{run}.duckdb'}"
                timings["store"].append(
                    note("DuckDB", "store", store_load(url, frame, arguments.chunk))
                )
                for path in base.glob(f"*{run}.duckdb*"):
                    path.unlink()  # 10M-row files add up
            if postgres_url and "postgresql" in engines:
                timings = results.setdefault("PostgreSQL", {"store": [], "raw": []})
                schema, drop = postgres_schema(postgres_url)
                try:
                    raw = raw_postgres(postgres_url, schema, frame)
                    timings["raw"].append(note("PostgreSQL", "raw", raw))
                finally:
                    drop()
                schema, drop = postgres_schema(postgres_url)
                try:
                    store = store_load(postgres_url, frame, arguments.chunk, schema=schema)
                    timings["store"].append(note("PostgreSQL", "store", store))
                finally:
                    drop()
            print(f"run {run + 1}/{arguments.repeat} done", flush=True)
    print_table(results, rows=arguments.rows, chunk=arguments.chunk, repeat=arguments.repeat)


if __name__ == "__main__":
    main()
