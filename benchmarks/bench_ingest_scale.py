"""Ingest-into-a-store benchmark at scale (RELIABILITY.md SCL-02): time and peak memory.

A seeded purchase log from :func:`retention.testing.write_purchase_csv` (or its Parquet
twin) -- 5 % injected bad rows of six reasons, 3 % repeated or conflicting orders, 1 %
refunds -- is ingested with ``retention.ingest(path, store=...)`` at default settings
(chunks of 100,000 rows) into a fresh SQLite or DuckDB store.  Every measurement runs in
a fresh subprocess so that its peak memory (``ru_maxrss``) belongs to that run alone,
and checks the report against the generator's expected figures (nothing lost).

The peer is the whole-file pandas read a data scientist writes without a store
(``read_csv`` with text columns, ``to_datetime``, ``to_numeric``): its memory grows with
the file, the streaming ingest's should not.  The table gives medians of ``--repeat``
runs and the growth of the peak from the smallest to the largest row count.

Usage::

    python benchmarks/bench_ingest_scale.py --rows 1000000 10000000 --repeat 1
    python benchmarks/bench_ingest_scale.py --rows 1000000 --backends duckdb --format parquet
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from retention.testing import write_purchase_csv, write_purchase_parquet  # noqa: E402

STORE = """
import json, resource, sys, time
sys.path.insert(0, {src!r})
from retention.ingest import ingest
from retention.storage import open_store
from retention.testing import GENERATED_COLUMNS
store = open_store({url!r}, migrate=True, **{options!r})
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu_before = usage.ru_utime + usage.ru_stime
start = time.perf_counter()
report = ingest({path!r}, store=store, **GENERATED_COLUMNS).report
seconds = time.perf_counter() - start
store.close()
assert report.rows_read == report.accepted + report.deduplicated + report.quarantined
assert (report.rows_read, report.accepted, report.quarantined) == {expected!r}, report
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before,
    "peak_mb": usage.ru_maxrss / 1024}}))
"""

PANDAS = """
import json, resource, time
import pandas as pd
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu_before = usage.ru_utime + usage.ru_stime
start = time.perf_counter()
if {path!r}.endswith(".parquet"):
    frame = pd.read_parquet({path!r})
else:
    frame = pd.read_csv({path!r}, dtype=str, keep_default_na=False)
frame["paid_at"] = pd.to_datetime(frame["paid_at"], format="ISO8601", utc=True, errors="coerce")
frame["total"] = pd.to_numeric(frame["total"], errors="coerce")
frame = frame[~frame["order"].duplicated()]
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before,
    "peak_mb": usage.ru_maxrss / 1024}}))
"""


def measure(code: str, label: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    # partial results survive an aborted long run
    print(f"measured {label}: {figures}", file=sys.stderr, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "duckdb"])
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--no-peer", action="store_true", help="skip the pandas read")
    parser.add_argument(
        "--memory-limit", help="open DuckDB stores with this memory_limit (such as 128MB)"
    )
    arguments = parser.parse_args()
    write = write_purchase_csv if arguments.format == "csv" else write_purchase_parquet
    names = [f"ingest into {backend}" for backend in arguments.backends]
    if not arguments.no_peer:
        names.append("pandas whole-file read")
    medians: dict[tuple[str, int], dict[str, float]] = {}
    sizes: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for rows in arguments.rows:
            path = Path(folder) / f"log-{rows}.{arguments.format}"
            expected = write(path, rows, seed=2026)
            sizes[rows] = path.stat().st_size / 2**20
            figures = (expected.rows_read, expected.stored, expected.quarantined)
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
            for number in range(arguments.repeat):
                for backend in arguments.backends:
                    suffix = "db" if backend == "sqlite" else "duckdb"
                    url = f"{backend}:///{folder}/crm-{rows}-{number}.{suffix}"
                    options = {}
                    if backend == "duckdb" and arguments.memory_limit:
                        options["memory_limit"] = arguments.memory_limit
                    code = STORE.format(
                        src=str(SRC), url=url, path=str(path), expected=figures, options=options
                    )
                    name = f"ingest into {backend}"
                    runs[name].append(measure(code, f"{name}, {rows:,} rows"))
                    Path(folder, f"crm-{rows}-{number}.{suffix}").unlink()
                if not arguments.no_peer:
                    code = PANDAS.format(path=str(path))
                    name = "pandas whole-file read"
                    runs[name].append(measure(code, f"{name}, {rows:,} rows"))
            for name, measured in runs.items():
                medians[name, rows] = {
                    key: statistics.median(run[key] for run in measured)
                    for key in ("seconds", "cpu_s", "peak_mb")
                }
            path.unlink()
    report(arguments, names, medians, sizes)


def report(
    arguments: argparse.Namespace,
    names: list[str],
    medians: dict[tuple[str, int], dict[str, float]],
    sizes: dict[int, float],
) -> None:
    """Print the markdown tables."""
    smallest, largest = min(arguments.rows), max(arguments.rows)
    print(
        f"{arguments.format.upper()} purchase logs from retention.testing (seed 2026), "
        f"default chunks of 100,000 rows, medians of {arguments.repeat}; "
        + ", ".join(f"{rows:,} rows = {sizes[rows]:.0f} MiB" for rows in arguments.rows)
        + "\n"
    )
    print("| implementation | rows | wall s | CPU s | rows/s (wall) | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        for rows in arguments.rows:
            figures = medians[name, rows]
            print(
                f"| {name} | {rows:,} | {figures['seconds']:.1f} | {figures['cpu_s']:.1f} | "
                f"{rows / figures['seconds']:,.0f} | {figures['peak_mb']:.0f} |"
            )
    if largest > smallest:
        print(f"\n| implementation | peak growth {smallest:,} -> {largest:,} rows |")
        print("|---|---:|")
        for name in names:
            growth = medians[name, largest]["peak_mb"] / medians[name, smallest]["peak_mb"] - 1
            print(f"| {name} | {growth:+.1%} |")


if __name__ == "__main__":
    main()
