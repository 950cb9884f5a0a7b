"""Customer summary: retention.rfm_summary against its peers, in one run.

Compared on the same synthetic transaction log (default 10,000,000 rows, about
2.3 million customers, seeded):

* ``retention``: ``retention.rfm_summary``;
* ``pandas``: a straightforward pandas groupby implementation of the same definition;
* ``duckdb``: a hand-written DuckDB SQL query over the same in-memory frame;
* ``lifetimes``: ``lifetimes.utils.summary_data_from_transaction_data`` (optional: it needs
  numpy<2, so it runs in its own virtualenv, given with ``--lifetimes-python``; create one
  with ``python3 -m venv /tmp/peer && /tmp/peer/bin/pip install lifetimes 'numpy<2'
  'pandas<2.2' 'scipy<1.13' pyarrow``).

Each implementation runs in a fresh subprocess that loads the Parquet file, then times
the summary ``--repeat`` times; the figure quoted is the median, and peak memory is the
subprocess's ``ru_maxrss`` (including the loaded data, the same for all). Usage::

    python benchmarks/bench_summary.py [--rows 10000000] [--repeat 3] [--lifetimes-python PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
END = "2024-12-31"


def make_data(rows: int, path: Path, seed: int = 7) -> None:
    """Write a seeded log: ~rows/4.35 customers, Poisson-like repeat buying over 4 years."""
    rng = np.random.default_rng(seed)
    customers = max(1, int(rows / 4.35))
    ids = np.sort(rng.integers(0, customers, size=rows))
    start = np.datetime64("2021-01-01T00:00:00", "s").astype(np.int64)
    span = 4 * 365 * 86400
    first = rng.integers(0, span, size=customers)
    offsets = (rng.exponential(1.0, size=rows) * 0.35 * span).astype(np.int64)
    seconds = start + np.minimum(first[ids] + offsets, span - 1)
    frame = pd.DataFrame(
        {
            "customer_id": ids.astype(np.int64),
            "date": seconds.astype("datetime64[s]").astype("datetime64[ns]"),
            "amount": np.round(rng.gamma(2.0, 25.0, size=rows), 2),
        }
    )
    frame.to_parquet(path, index=False)


def run_retention(frame: pd.DataFrame) -> pd.DataFrame:
    import retention  # noqa: PLC0415 - timed subprocess imports only what it runs

    return retention.rfm_summary(frame, observation_period_end=END)


def run_pandas(frame: pd.DataFrame) -> pd.DataFrame:
    day = frame["date"].dt.floor("D")
    daily = (
        frame.assign(day=day)
        .groupby(["customer_id", "day"], sort=False)["amount"]
        .sum()
        .reset_index()
    )
    by_customer = daily.groupby("customer_id")
    first = by_customer["day"].transform("min")
    repeat = daily[daily["day"] != first]
    out = by_customer["day"].agg(["min", "max", "count"])
    end = pd.Timestamp(END)
    summary = pd.DataFrame(
        {
            "frequency": (out["count"] - 1).astype(float),
            "recency": (out["max"] - out["min"]) / pd.Timedelta(days=1),
            "T": (end - out["min"]) / pd.Timedelta(days=1),
        }
    )
    summary["monetary_value"] = repeat.groupby("customer_id")["amount"].mean()
    summary["monetary_value"] = summary["monetary_value"].fillna(0.0)
    return summary


DUCKDB_QUERY = f"""
WITH daily AS (
    SELECT customer_id, date_trunc('day', date) AS day, sum(amount) AS amount
    FROM frame GROUP BY customer_id, day
)
SELECT customer_id,
       count(*) - 1 AS frequency,
       date_diff('day', min(day), max(day)) AS recency,
       date_diff('day', min(day), DATE '{END}') AS T,
       CASE WHEN count(*) > 1
            THEN (sum(amount) - arg_min(amount, day)) / (count(*) - 1) ELSE 0 END
           AS monetary_value
FROM daily GROUP BY customer_id ORDER BY customer_id
"""


def run_duckdb(frame: pd.DataFrame) -> pd.DataFrame:
    import duckdb  # noqa: PLC0415

    connection = duckdb.connect()
    connection.register("frame", frame)
    return connection.execute(DUCKDB_QUERY).df()


def run_lifetimes(frame: pd.DataFrame) -> pd.DataFrame:
    from lifetimes.utils import summary_data_from_transaction_data  # noqa: PLC0415

    return summary_data_from_transaction_data(
        frame, "customer_id", "date", "amount", observation_period_end=END
    )


RUNNERS = {
    "retention": run_retention,
    "pandas": run_pandas,
    "duckdb": run_duckdb,
    "lifetimes": run_lifetimes,
}


def child(name: str, data: Path, repeat: int) -> None:
    frame = pd.read_parquet(data)
    runner = RUNNERS[name]
    times = []
    rows = 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = runner(frame)
        times.append(time.perf_counter() - started)
        rows = len(result)
        del result
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": name, "times": times, "peak_mb": peak_mb, "customers": rows}))


def measure(name: str, python: str, data: Path, repeat: int) -> dict[str, object]:
    out = subprocess.run(
        [python, __file__, "--child", name, "--data", str(data), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lifetimes-python", help="python of a venv with lifetimes installed")
    parser.add_argument("--lifetimes-repeat", type=int, default=1)
    parser.add_argument("--child")
    parser.add_argument("--data", type=Path)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.data, arguments.repeat)
        return
    data = HERE / "data" / f"transactions_{arguments.rows}.parquet"
    if not data.exists():
        data.parent.mkdir(exist_ok=True)
        make_data(arguments.rows, data)
    results = [
        measure(name, sys.executable, data, arguments.repeat)
        for name in ("retention", "pandas", "duckdb")
    ]
    if arguments.lifetimes_python:
        results.append(
            measure("lifetimes", arguments.lifetimes_python, data, arguments.lifetimes_repeat)
        )
    base = statistics.median(results[0]["times"])  # type: ignore[arg-type]
    print(f"\n{arguments.rows:,} rows, {results[0]['customers']:,} customers, median of runs\n")
    print("| implementation | median s | retention / it | peak MB | customers |")
    print("|---|---:|---:|---:|---:|")
    for result in results:
        median = statistics.median(result["times"])  # type: ignore[arg-type]
        print(
            f"| {result['name']} | {median:.2f} | {base / median:.2f}x | "
            f"{result['peak_mb']:.0f} | {result['customers']:,} |"
        )


if __name__ == "__main__":
    main()
