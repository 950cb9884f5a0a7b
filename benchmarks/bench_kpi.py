"""KPI report: retention.kpi.report against retention.rfm_summary on the same data, in one run.

The target (issue 9): the full ``kpi.report`` on 10M purchases takes at most twice the
time of ``rfm_summary`` on the same data.  Both run on the seeded synthetic log of
``bench_summary.py`` (default 10,000,000 rows, about 2.3 million integer customer ids,
four years, float amounts), in two shapes:

* ``plain``: the log as written (customer id, date, amount);
* ``canonical``: the ingested shape, built in the child before timing: string order ids,
  ``kind``, 1 % of the orders refunded in part (``refund_of``, negative amounts), and a
  ``currency`` column; ``rfm_summary`` then nets refunds too (``order_id_col``,
  ``refund_of_col``).

``kpi.report`` runs with ``period="M"``, ``as_of=2024-12-31``, a 180-day churn boundary and
a 90-day repeat window, i.e. every metric it has.  Each (implementation, shape) runs in a
fresh subprocess that loads the Parquet file and times ``--repeat`` runs; the figure is the
median.  Usage::

    python benchmarks/bench_kpi.py [--rows 10000000] [--repeat 3]
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
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))  # measure this checkout
from bench_summary import make_data  # noqa: E402

END = "2024-12-31"


def canonical(frame: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """The ingested shape: order ids, kinds, 1 % partial refunds, one currency."""
    rng = np.random.default_rng(seed)
    orders = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "order_id": pd.Series(np.arange(len(frame))).astype(str).radd("o"),
            "purchased_at": frame["date"].dt.tz_localize("UTC"),
            "amount": frame["amount"],
            "kind": "purchase",
            "refund_of": pd.Series(pd.NA, index=frame.index, dtype="str"),
            "currency": "USD",
        }
    )
    picked = rng.choice(len(frame), size=len(frame) // 100, replace=False)
    refunds = orders.iloc[picked].copy()
    refunds["refund_of"] = refunds["order_id"]
    refunds["order_id"] = refunds["order_id"].radd("r")
    refunds["amount"] = -np.round(refunds["amount"] * 0.5, 2)
    refunds["kind"] = "refund"
    refunds["purchased_at"] = refunds["purchased_at"] + pd.Timedelta(days=3)
    return pd.concat([orders, refunds], ignore_index=True)


def run(name: str, shape: str, frame: pd.DataFrame) -> int:
    import retention  # noqa: PLC0415 - the timed subprocess imports only what it runs
    from retention import kpi  # noqa: PLC0415

    end = pd.Timestamp(END)
    if shape == "plain":
        if name == "rfm_summary":
            return len(retention.rfm_summary(frame, observation_period_end=END))
        table = kpi.report(
            frame,
            as_of=end,
            period="M",
            churn_boundary=180,
            repeat_within_days=90,
            datetime_col="date",
        )
        return len(table)
    if name == "rfm_summary":
        return len(
            retention.rfm_summary(
                frame,
                datetime_col="purchased_at",
                observation_period_end=end.tz_localize("UTC"),
                order_id_col="order_id",
                refund_of_col="refund_of",
            )
        )
    table = kpi.report(
        frame,
        as_of=end.tz_localize("UTC") + pd.Timedelta(hours=23, minutes=59),
        period="M",
        churn_boundary=180,
        repeat_within_days=90,
    )
    return len(table)


def child(name: str, shape: str, data: Path, repeat: int) -> None:
    frame = pd.read_parquet(data)
    if shape == "canonical":
        frame = canonical(frame)
    times = []
    rows = 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = run(name, shape, frame)
        times.append(time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"name": name, "shape": shape, "times": times, "peak_mb": peak_mb, "rows": rows})
    )


def measure(name: str, shape: str, data: Path, repeat: int) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            name,
            "--shape",
            shape,
            "--data",
            str(data),
            "--repeat",
            str(repeat),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", default="plain,canonical")
    parser.add_argument("--child")
    parser.add_argument("--shape", default="plain")
    parser.add_argument("--data", type=Path)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.shape, arguments.data, arguments.repeat)
        return
    data = HERE / "data" / f"transactions_{arguments.rows}.parquet"
    if not data.exists():
        data.parent.mkdir(exist_ok=True)
        make_data(arguments.rows, data)
    print(f"\n{arguments.rows:,} purchase rows, median of {arguments.repeat} runs\n")
    print("| data | implementation | median s | / rfm_summary | peak MB |")
    print("|---|---|---:|---:|---:|")
    for shape in arguments.shapes.split(","):
        results = [
            measure(name, shape, data, arguments.repeat) for name in ("rfm_summary", "report")
        ]
        base = statistics.median(results[0]["times"])  # type: ignore[arg-type]
        for result in results:
            median = statistics.median(result["times"])  # type: ignore[arg-type]
            print(
                f"| {shape} | {result['name']} | {median:.2f} | {median / base:.2f}x | "
                f"{result['peak_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
