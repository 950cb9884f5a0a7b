"""Ingest into a store at scale, with a database fault and with Ctrl-C (SCL-02, SCL-03).

Both run ``retention.ingest(..., store=)`` in a child process: SCL-02 so that its peak
memory (``ru_maxrss``) belongs to the ingest alone, SCL-03 so that a real SIGINT can be
sent to it.  The data come from :mod:`retention.testing.generate`, whose expected figures
(rows, stored, deduplicated, quarantined by reason, amount sum) the stores must match.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retention
from retention.ingest import DEFAULT_CHUNKSIZE, ingest
from retention.storage import Store, open_store
from retention.testing import GENERATED_COLUMNS, write_purchase_csv, write_purchase_parquet

if TYPE_CHECKING:
    from collections.abc import Callable

SOURCE_ROOT = Path(retention.__file__).resolve().parents[1]
GIB = 1 << 30


def child_environment() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(SOURCE_ROOT)}


def store_url(folder: Path, backend: str, name: str) -> str:
    return f"{backend}:///{folder / name}.{'db' if backend == 'sqlite' else 'duckdb'}"


def table_contents(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The purchases and quarantine tables, without timestamps of the writes."""
    purchases = store.purchases().sort_values("order_id").reset_index(drop=True)
    quarantine = store.quarantined()[["reason", "line", "order_id", "details"]]
    quarantine = quarantine.sort_values(["line", "reason"]).reset_index(drop=True)
    return purchases, quarantine


# -- SCL-02: a large file, one database fault, resume -----------------------------------------

_FAULTED_RUN = """
import json, resource, sys
import sqlalchemy as sa
from retention.exceptions import StorageError
from retention.ingest import ingest
from retention.storage import open_store
from retention.testing import GENERATED_COLUMNS

path, url, fault_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = open_store(url, migrate=True)


class FaultyStore:
    # Delegates to the store; the fault_at-th add_purchases meets one failing COMMIT.

    def __init__(self, store):
        self.store, self.calls, self.armed, self.faults = store, 0, False, 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def add_purchases(self, *args, **kwargs):
        self.calls += 1
        self.armed = self.calls == fault_at
        try:
            return self.store.add_purchases(*args, **kwargs)
        finally:
            self.armed = False


faulty = FaultyStore(store)


@sa.event.listens_for(store.engine, "commit")
def fail_once(connection):
    if faulty.armed:
        faulty.armed, faulty.faults = False, faulty.faults + 1
        raise sa.exc.OperationalError("COMMIT", None, Exception("injected fault"))


outcome = {}
try:
    ingest(path, store=faulty, **GENERATED_COLUMNS)
except StorageError as error:
    outcome["error"] = type(error).__name__
checkpoint = store.checkpoint(str(__import__("pathlib").Path(path).resolve()))
outcome["faults"] = faulty.faults
outcome["checkpoint_chunks"] = None if checkpoint is None else checkpoint.chunks
report = ingest(path, store=faulty, resume=True, **GENERATED_COLUMNS).report
outcome["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
outcome["report"] = report.to_dict()
table = store.purchases_table
with store.engine.connect() as connection:
    count, total = connection.execute(
        sa.select(sa.func.count(), sa.func.sum(table.c.amount_minor))
    ).one()
outcome["stored_rows"], outcome["stored_amount_minor"] = int(count), int(total)
outcome["quarantine_rows"] = len(store.quarantined())
store.verify()
store.close()
print(json.dumps(outcome))
"""


def scl_02_rows() -> int:
    """1,000,000 rows in CI; 200,000 locally unless RETENTION_SCL02_ROWS says otherwise."""
    if "RETENTION_SCL02_ROWS" in os.environ:
        return int(os.environ["RETENTION_SCL02_ROWS"])
    return 1_000_000 if os.environ.get("CI") else 200_000


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "kind"), [("sqlite", "csv"), ("duckdb", "parquet")])
def test_scl_02_large_ingest_with_a_database_fault_resumes_with_nothing_lost(
    tmp_path: Path, backend: str, kind: str
) -> None:
    rows = scl_02_rows()
    write = write_purchase_csv if kind == "csv" else write_purchase_parquet
    expected = write(tmp_path / f"orders.{kind}", rows, seed=2026)
    chunks = math.ceil(rows / DEFAULT_CHUNKSIZE)
    fault_at = chunks // 2 + 1  # a chunk after the first committed one, when there is one
    url = store_url(tmp_path, backend, "crm")
    completed = subprocess.run(
        [sys.executable, "-c", _FAULTED_RUN, str(expected.path), url, str(fault_at)],
        env=child_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["error"] == "StorageError"
    assert outcome["faults"] == 1
    assert outcome["checkpoint_chunks"] == (None if fault_at == 1 else fault_at - 1)
    report = outcome["report"]
    assert report["status"] == "complete"
    assert (
        report["rows_read"] == report["accepted"] + report["deduplicated"] + report["quarantined"]
    )
    assert report["rows_read"] == expected.rows_read == rows
    assert report["accepted"] == expected.stored
    assert report["deduplicated"] == expected.deduplicated
    assert report["quarantined"] == expected.quarantined
    assert report["quarantined_by_reason"] == dict(expected.quarantined_by_reason)
    assert report["refunds"] == expected.refunds
    assert report["customers"] == expected.customers
    assert report["chunks"] == chunks
    assert outcome["stored_rows"] == expected.stored
    assert outcome["stored_amount_minor"] == expected.amount_minor_sum
    assert outcome["quarantine_rows"] == expected.quarantined
    assert outcome["maxrss"] < GIB, f"peak memory {outcome['maxrss'] / 2**20:.0f} MiB"


# -- SCL-03: SIGINT at a chosen chunk ----------------------------------------------------------

SCL_03_ROWS = 3000
SCL_03_CHUNK = 500

_INTERRUPTED_RUN = """
import json, signal, sys
from retention.ingest import ingest
from retention.storage import open_store
from retention.testing import GENERATED_COLUMNS

# an interactive Python: Ctrl-C raises KeyboardInterrupt (also when started in background)
signal.signal(signal.SIGINT, signal.default_int_handler)
path, url, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = open_store(url, migrate=True)


def pause(event):
    # tell the parent where we are and wait for its go (it may send SIGINT first)
    print(event, flush=True)
    sys.stdin.readline()


class PausingStore:
    def __init__(self, store):
        self.store, self.calls = store, 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def add_purchases(self, *args, **kwargs):
        self.calls += 1
        pause(f"writing {self.calls}")
        return self.store.add_purchases(*args, **kwargs)


def progress(done, total, stage):
    if stage == "ingest":
        pause(f"committed {done // chunk}")


report = ingest(path, store=PausingStore(store), chunksize=chunk, progress=progress,
                **GENERATED_COLUMNS).report
store.close()
print("report " + json.dumps(report.to_dict()), flush=True)
"""


@pytest.fixture(scope="module")
def uninterrupted(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, Path], tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]]:
    """The report and tables of one uninterrupted run per backend (computed once)."""
    folder = tmp_path_factory.mktemp("reference")
    done: dict[str, tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]] = {}

    def reference(backend: str, path: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
        if backend not in done:
            store = open_store(store_url(folder, backend, "reference"), migrate=True)
            try:
                options = {"store": store, "chunksize": SCL_03_CHUNK, **GENERATED_COLUMNS}
                report = ingest(path, **options).report
                done[backend] = (report.to_dict(), *table_contents(store))
            finally:
                store.close()
        return done[backend]

    return reference


def interrupt_at(path: Path, url: str, event: str) -> dict[str, Any]:
    """Run the child, send SIGINT when it reports ``event``; return its final report."""
    events: list[str] = []
    report: dict[str, Any] | None = None
    with subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED_RUN, str(path), url, str(SCL_03_CHUNK)],
        env=child_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        assert child.stderr is not None
        try:
            for raw in child.stdout:
                line = raw.strip()
                if line.startswith("report "):
                    report = json.loads(line.removeprefix("report "))
                    break
                events.append(line)
                if line == event:
                    child.send_signal(signal.SIGINT)
                child.stdin.write("go\n")
                child.stdin.flush()
            errors = "" if report is not None else child.stderr.read()
            returncode = child.wait(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
    assert report is not None, f"the child gave no report; events {events}; {errors}"
    assert returncode == 0
    assert event in events
    return report


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunk=st.integers(min_value=1, max_value=SCL_03_ROWS // SCL_03_CHUNK - 1),
    during=st.sampled_from(["writing", "committed"]),
)
def test_scl_03_sigint_stops_at_a_chunk_boundary_and_resume_restores_the_tables(
    uninterrupted: Callable[[str, Path], tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]],
    backend: str,
    chunk: int,
    during: str,
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        path = write_purchase_csv(folder / "orders.csv", SCL_03_ROWS, seed=3).path
        whole, expected_purchases, expected_quarantine = uninterrupted(backend, path)
        url = store_url(folder, backend, "crm")
        # SIGINT while chunk k is being written (it completes) or right after its commit
        report = interrupt_at(path, url, f"{during} {chunk}")
        assert report["status"] == "interrupted"
        assert report["chunks"] == chunk
        assert report["rows_read"] == chunk * SCL_03_CHUNK
        assert report["rows_read"] == (
            report["accepted"] + report["deduplicated"] + report["quarantined"]
        )
        store = open_store(url, migrate=True)
        try:
            store.verify()
            checkpoint = store.checkpoint(str(path.resolve()))
            assert checkpoint is not None
            assert checkpoint.chunks == chunk
            resumed = ingest(path, store=store, chunksize=SCL_03_CHUNK, **GENERATED_COLUMNS)
            assert resumed.report.status == "complete"
            assert resumed.report.to_dict() | {"notes": []} == whole | {"notes": []}
            purchases, quarantine = table_contents(store)
            pd.testing.assert_frame_equal(purchases, expected_purchases)
            pd.testing.assert_frame_equal(quarantine, expected_quarantine)
            store.verify()
        finally:
            store.close()
