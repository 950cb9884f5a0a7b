"""Streaming ingest into a store, chunk by chunk and resumable (RELIABILITY.md SCL-01).

A CSV of 3,000 records (repeats, a conflicting repeat, bad amounts, refunds whose parents
lie in earlier chunks) is ingested in chunks of 500 into SQLite, DuckDB, PostgreSQL and
the memory store; an interruption after the third committed chunk and a rerun must
leave the same tables as one uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retention
from retention.exceptions import ResumeMismatchError
from retention.ingest import IngestResult, ingest
from retention.storage import MemoryStore, Store, open_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROWS = 3000
CHUNK = 500
COLUMNS = {
    "customer_id_col": "customer",
    "datetime_col": "paid_at",
    "monetary_value_col": "total",
    "order_id_col": "order",
    "refund_of_col": "refund_of",
    "currency": "EUR",
    "max_bad_ratio": None,
}


def write_csv(path: Path, rows: int = ROWS) -> Path:
    """Write the test file: one record per line, with repeats, rejects and refunds."""
    lines = ["customer,order,paid_at,total,refund_of"]
    start = pd.Timestamp("2024-01-01T00:00Z")
    for i in range(1, rows + 1):
        stamp = (start + pd.Timedelta(hours=i)).isoformat()
        if i % 101 == 0:  # a refund of an order five lines up (often in an earlier chunk)
            lines.append(f"c{(i - 5) % 300},r{i},{stamp},-1.00,o{i - 5}")
        elif i % 97 == 0:  # an exact repeat of an order far up: deduplicated
            j = i - 600
            stamp_j = (start + pd.Timedelta(hours=j)).isoformat()
            lines.append(f"c{j % 300},o{j},{stamp_j},{10 + j % 7}.50,")
        elif i % 211 == 0:  # same order id, different amount: duplicate_order_conflict
            j = i - 700
            stamp_j = (start + pd.Timedelta(hours=j)).isoformat()
            lines.append(f"c{j % 300},o{j},{stamp_j},999.99,")
        elif i % 53 == 0:
            lines.append(f"c{i % 300},o{i},{stamp},N/A,")
        else:
            lines.append(f"c{i % 300},o{i},{stamp},{10 + i % 7}.50,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def table_contents(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The purchases and quarantine tables, without timestamps of the writes."""
    purchases = store.purchases().sort_values("order_id").reset_index(drop=True)
    quarantine = store.quarantined()[["reason", "line", "order_id", "details"]]
    quarantine = quarantine.sort_values(["line", "reason"]).reset_index(drop=True)
    return purchases, quarantine


def cancel_after(chunks: int) -> Callable[[], bool]:
    """A cancel token that stops the run once ``chunks`` chunks are committed."""
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > chunks

    return cancel


@pytest.fixture(params=["memory", "sqlite", "duckdb", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """Open fresh stores of one backend by name (two names, two independent stores)."""
    opened: list[Store] = []
    cleanup: list[Callable[[], None]] = []
    backend = request.param

    def make(name: str) -> Store:
        store: Store
        if backend == "memory":
            store = MemoryStore()
        elif backend == "sqlite":
            store = open_store(f"sqlite:///{tmp_path / name}.db", migrate=True)
        elif backend == "duckdb":
            store = open_store(f"duckdb:///{tmp_path / name}.duckdb", migrate=True)
        else:
            url = request.getfixturevalue("postgres_url")
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
            schema = f"retention_scl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            with engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

            def drop(engine: sa.Engine = engine, schema: str = schema) -> None:
                with engine.begin() as connection:
                    connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                engine.dispose()

            cleanup.append(drop)
            store = open_store(url, migrate=True, schema=schema)
        opened.append(store)
        return store

    if backend == "postgresql":
        request.node.add_marker(pytest.mark.postgres)
    yield make
    for store in opened:
        store.close()
    for step in cleanup:
        step()


def run(path: Path, store: Store, **options: Any) -> IngestResult:
    return ingest(path, store=store, chunksize=CHUNK, **options | COLUMNS)


def test_scl_01_interrupted_ingest_resumes_to_the_uninterrupted_tables(
    tmp_path: Path, make_store: Callable[[str], Store]
) -> None:
    path = write_csv(tmp_path / "orders.csv")
    reference = make_store("reference")
    whole = run(path, reference)
    assert whole.report.status == "complete"
    assert whole.report.chunks == ROWS // CHUNK

    store = make_store("resumed")
    first = run(path, store, cancel=cancel_after(3))
    assert first.report.status == "interrupted"
    assert first.report.chunks == 3
    assert first.report.rows_read == 3 * CHUNK
    checkpoint = store.checkpoint(str(path.resolve()))
    assert checkpoint is not None
    assert checkpoint.chunks == 3
    assert checkpoint.line == 3 * CHUNK + 2  # header on line 1, one record per line
    assert checkpoint.byte_offset == len(
        "".join(path.read_text().splitlines(keepends=True)[: 3 * CHUNK + 1]).encode()
    )
    second = run(path, store)
    assert second.report.status == "complete"
    assert any(note.startswith("resumed after chunk 3") for note in second.report.notes)

    expected_purchases, expected_quarantine = table_contents(reference)
    purchases, quarantine = table_contents(store)
    pd.testing.assert_frame_equal(purchases, expected_purchases)
    pd.testing.assert_frame_equal(quarantine, expected_quarantine)
    assert second.report.to_dict() | {"notes": []} == whole.report.to_dict() | {"notes": []}

    report = whole.report
    assert report.rows_read == ROWS
    assert report.rows_read == report.accepted + report.deduplicated + report.quarantined
    assert report.accepted == len(expected_purchases)
    assert report.quarantined == len(expected_quarantine)
    assert whole.transactions.empty
    assert whole.quarantine.empty


def test_scl_01_store_ingest_matches_the_in_memory_ingest(
    tmp_path: Path, make_store: Callable[[str], Store]
) -> None:
    path = write_csv(tmp_path / "orders.csv")
    store = make_store("crm")
    streamed = run(path, store).report
    in_memory = ingest(path, chunksize=CHUNK, **COLUMNS)
    stored = store.purchases()
    assert sorted(stored["order_id"]) == sorted(in_memory.transactions["order_id"])
    assert streamed.accepted == in_memory.report.accepted
    assert streamed.deduplicated == in_memory.report.deduplicated
    assert dict(streamed.quarantined_by_reason) == dict(in_memory.report.quarantined_by_reason)
    assert streamed.refunds == in_memory.report.refunds
    assert streamed.customers == in_memory.report.customers


def test_scl_01_changed_file_raises_resume_mismatch(
    tmp_path: Path, make_store: Callable[[str], Store]
) -> None:
    path = write_csv(tmp_path / "orders.csv")
    store = make_store("crm")
    run(path, store, cancel=cancel_after(2))
    stored = len(store.purchases())
    text = path.read_text(encoding="utf-8").replace("c1,o1,", "c9,o1,", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ResumeMismatchError, match="changed since chunk 2"):
        run(path, store)
    assert len(store.purchases()) == stored  # nothing more was stored


def test_scl_01_reingest_of_the_whole_file_stores_nothing_new(
    tmp_path: Path, make_store: Callable[[str], Store]
) -> None:
    path = write_csv(tmp_path / "orders.csv")
    store = make_store("crm")
    first = run(path, store).report
    before = table_contents(store)
    again = run(path, store, resume=False).report
    assert again.rows_read == ROWS
    assert again.accepted == 0
    assert again.customers == 0
    assert again.deduplicated == first.accepted + first.deduplicated
    assert again.quarantined == first.quarantined
    after = table_contents(store)
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])
    resumed = run(path, store).report  # resuming a complete run reads nothing more
    assert resumed.to_dict() | {"notes": []} == again.to_dict() | {"notes": []}


_KILLED_RUN = """
import json, os, signal, sys
from retention.ingest import ingest
from retention.storage import open_store

path, url, chunk, columns = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
store = open_store(url, migrate=True)

def progress(done, total, stage):
    if stage == "ingest" and done >= 3 * chunk:  # called after the third commit
        os.kill(os.getpid(), signal.SIGKILL)

ingest(path, store=store, chunksize=chunk, progress=progress, **columns)
"""


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
def test_scl_01_process_killed_after_chunk_3_resumes_to_the_uninterrupted_tables(
    tmp_path: Path, backend: str
) -> None:
    path = write_csv(tmp_path / "orders.csv")
    suffix = "db" if backend == "sqlite" else "duckdb"
    url = f"{backend}:///{tmp_path / 'killed'}.{suffix}"
    source_root = Path(retention.__file__).resolve().parents[1]
    environment = os.environ | {"PYTHONPATH": str(source_root)}
    completed = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(path), url, str(CHUNK), json.dumps(COLUMNS)],
        env=environment,
        capture_output=True,
        check=False,
        timeout=600,
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr.decode()
    store = open_store(url, migrate=True)
    reference = open_store(f"{backend}:///{tmp_path / 'reference'}.{suffix}", migrate=True)
    try:
        checkpoint = store.checkpoint(str(path.resolve()))
        assert checkpoint is not None
        assert checkpoint.chunks == 3
        resumed = run(path, store).report
        whole = run(path, reference).report
        assert resumed.to_dict() | {"notes": []} == whole.to_dict() | {"notes": []}
        expected_purchases, expected_quarantine = table_contents(reference)
        purchases, quarantine = table_contents(store)
        pd.testing.assert_frame_equal(purchases, expected_purchases)
        pd.testing.assert_frame_equal(quarantine, expected_quarantine)
    finally:
        store.close()
        reference.close()


def test_scl_01_parquet_resumes_after_the_last_committed_row(tmp_path: Path) -> None:
    text = pd.read_csv(
        write_csv(tmp_path / "orders.csv"), dtype=str, keep_default_na=False
    ).replace({"": None})
    path = tmp_path / "orders.parquet"
    text.to_parquet(path, row_group_size=700)
    reference = MemoryStore()
    whole = run(path, reference).report
    store = open_store(f"sqlite:///{tmp_path / 'crm.db'}", migrate=True)
    try:
        first = run(path, store, cancel=cancel_after(3)).report
        assert first.rows_read == 3 * CHUNK
        checkpoint = store.checkpoint(str(path.resolve()))
        assert checkpoint is not None
        assert (checkpoint.byte_offset, checkpoint.line) == (3 * CHUNK, 3 * CHUNK + 1)
        resumed = run(path, store).report
        assert resumed.to_dict() | {"notes": []} == whole.to_dict() | {"notes": []}
        assert table_contents(store)[0]["order_id"].tolist() == (
            table_contents(reference)[0]["order_id"].tolist()
        )
        text.iloc[:10].to_parquet(path)
        with pytest.raises(ResumeMismatchError):
            run(path, store)
    finally:
        store.close()


def test_scl_01_update_mode_counts_match_the_in_memory_ingest(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv")
    store = MemoryStore()
    streamed = run(path, store, on_conflict="update").report
    in_memory = ingest(path, chunksize=CHUNK, on_conflict="update", **COLUMNS)
    assert streamed.accepted == in_memory.report.accepted == len(store.purchases())
    assert streamed.updated == in_memory.report.updated > 0
    assert streamed.deduplicated == in_memory.report.deduplicated
    stored = store.purchases().set_index("order_id")["amount_minor"].sort_index()
    expected = in_memory.transactions.set_index("order_id")["amount_minor"].sort_index()
    pd.testing.assert_series_equal(stored, expected, check_dtype=False)
    changed = path.read_text(encoding="utf-8").replace(
        "c2,o2,2024-01-01T02:00:00+00:00,12.50", "c2,o2,2024-01-01T02:00:00+00:00,13.50"
    )
    path.write_text(changed, encoding="utf-8")
    again = run(path, store, on_conflict="update", resume=False).report
    # every in-file conflict is replayed as two upserts (back to the first row, then the
    # later one); o2's changed amount is one more
    assert (again.accepted, again.updated) == (0, 2 * streamed.updated + 1)
    assert again.rows_read == again.accepted + again.deduplicated + again.quarantined
    assert store.purchases(order_ids=["o2"])["amount_minor"].tolist() == [1350]


def test_scl_01_frame_into_a_store_commits_per_chunk_without_checkpoint() -> None:
    frame = pd.DataFrame(
        {
            "customer": ["a", "b", "a", "c"],
            "order": ["1", "2", "1", "3"],
            "paid_at": ["2024-01-01T00:00Z"] * 4,
            "total": ["1.00", "2.00", "1.00", "x"],
            "refund_of": [None, None, None, None],
        }
    )
    store = MemoryStore()
    report = ingest(frame, store=store, chunksize=2, **COLUMNS).report
    assert (report.rows_read, report.accepted, report.deduplicated, report.quarantined) == (
        4,
        2,
        1,
        1,
    )
    assert (report.chunks, report.customers) == (2, 2)
    assert sorted(store.purchases()["order_id"]) == ["1", "2"]
    assert store.quarantined()["reason"].tolist() == ["unparseable_amount"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first_chunk=st.integers(min_value=40, max_value=400),
    second_chunk=st.integers(min_value=40, max_value=400),
    committed=st.integers(min_value=0, max_value=6),
)
def test_scl_01_report_identity_holds_for_any_interruption_and_chunking(
    first_chunk: int, second_chunk: int, committed: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write_csv(Path(directory) / "orders.csv", rows=600)
        reference = MemoryStore()
        whole = ingest(path, store=reference, chunksize=CHUNK, **COLUMNS).report
        store = MemoryStore()
        options = {"store": store, **COLUMNS}
        first = ingest(path, chunksize=first_chunk, cancel=cancel_after(committed), **options)
        interrupted = first.report
        assert interrupted.rows_read == (
            interrupted.accepted + interrupted.deduplicated + interrupted.quarantined
        )
        resumed = ingest(path, chunksize=second_chunk, **options).report
        assert resumed.rows_read == resumed.accepted + resumed.deduplicated + resumed.quarantined
        ignored = {"notes": [], "chunks": 0}
        assert resumed.to_dict() | ignored == whole.to_dict() | ignored
        assert resumed.accepted == len(store.purchases())
        pd.testing.assert_frame_equal(table_contents(store)[0], table_contents(reference)[0])
        pd.testing.assert_frame_equal(table_contents(store)[1], table_contents(reference)[1])


def test_scl_01_rows_appended_after_the_checkpoint_are_picked_up(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv")
    store = MemoryStore()
    run(path, store, cancel=cancel_after(2))
    with path.open("a", encoding="utf-8") as handle:
        handle.write("c7,extra-1,2024-06-01T00:00:00+00:00,3.00,\n")
    report = run(path, store).report
    assert report.rows_read == ROWS + 1
    assert store.purchases(order_ids=["extra-1"])["amount_minor"].tolist() == [300]
