"""Ingest benchmark: ``retention.ingest`` on a CSV against a plain pandas read.

The peer is what a data scientist writes without validation: ``pandas.read_csv`` with
text ids, ``to_datetime(format="ISO8601", utc=True)`` and ``to_numeric`` amounts (floats,
no quarantine, no line numbers, no duplicate check).  ``retention.ingest`` does strictly
more (exact minor units, quarantine with physical lines, order deduplication, chunked
reading), so the ratio shows the price of validation, not a like-for-like race.

Each measurement runs in a fresh subprocess so that peak memory (``ru_maxrss``) belongs
to that run alone; the table gives medians of ``--repeat`` runs made in the same session.

Usage::

    python benchmarks/bench_ingest.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

SRC = Path(__file__).resolve().parents[1] / "src"

RETENTION = """
import json, resource, sys, time
sys.path.insert(0, {src!r})
import retention
start = time.perf_counter()
result = retention.ingest({path!r}, customer_id_col="customer", datetime_col="paid_at",
    monetary_value_col="total", order_id_col="order", currency="USD", chunksize={chunksize})
seconds = time.perf_counter() - start
assert result.report.accepted == {rows}, result.report
print(json.dumps({{"seconds": seconds,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

PANDAS = """
import json, resource, time
import pandas as pd
start = time.perf_counter()
frame = pd.read_csv({path!r}, dtype={{"customer": str, "order": str, "paid_at": str}})
frame["paid_at"] = pd.to_datetime(frame["paid_at"], format="ISO8601", utc=True)
frame["total"] = pd.to_numeric(frame["total"])
frame = frame[~frame["order"].duplicated()]
seconds = time.perf_counter() - start
assert len(frame) == {rows}
print(json.dumps({{"seconds": seconds,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def write_log(path: Path, rows: int) -> None:
    """Write a seeded synthetic purchase log (about one customer per five rows)."""
    rng = np.random.default_rng(20240301)
    customers = rng.integers(0, max(rows // 5, 1), rows)
    seconds = rng.integers(0, 4 * 365 * 86400, rows)
    cents = rng.integers(0, 50_000, rows)
    stamps = pd.Timestamp("2021-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s")
    frame = pd.DataFrame(
        {
            "customer": pd.Series(customers).map("{:07d}".format),
            "order": pd.Series(np.arange(rows)).map("O{:d}".format),
            "paid_at": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total": pd.Series(cents // 100).astype(str)
            + "."
            + pd.Series(cents % 100).map("{:02d}".format),
        }
    )
    frame.to_csv(path, index=False)


def measure(code: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunksize", type=int, default=100_000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.csv"
        write_log(path, arguments.rows)
        size_mb = path.stat().st_size / 2**20
        runs: dict[str, list[dict[str, float]]] = {"retention.ingest": [], "pandas read": []}
        for _ in range(arguments.repeat):
            runs["retention.ingest"].append(
                measure(
                    RETENTION.format(
                        src=str(SRC),
                        path=str(path),
                        rows=arguments.rows,
                        chunksize=arguments.chunksize,
                    )
                )
            )
            runs["pandas read"].append(measure(PANDAS.format(path=str(path), rows=arguments.rows)))
    baseline = statistics.median(run["seconds"] for run in runs["pandas read"])
    print(
        f"{arguments.rows:,} rows, {size_mb:.0f} MiB CSV, chunksize {arguments.chunksize:,}, "
        f"medians of {arguments.repeat}\n"
    )
    print("| implementation | seconds | x pandas | peak MiB |")
    print("|---|---:|---:|---:|")
    for name, measurements in runs.items():
        seconds = statistics.median(run["seconds"] for run in measurements)
        peak = statistics.median(run["peak_mb"] for run in measurements)
        print(f"| {name} | {seconds:.2f} | {seconds / baseline:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
