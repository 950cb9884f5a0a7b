"""Segmentation: cycles, regularity and RFM 5x5x5 against the summary and two peers, in one run.

The data is ``bench_summary.py``'s seeded synthetic log (default 10,000,000 purchases by
about 2.3 million customers, integer ids, four years, float amounts), daily periods,
``as_of = observation_period_end = 2024-12-31``.  Our three steps run interleaved in one
subprocess (summary, segmentation, RFM from transactions, repeated), so that the load of a
shared machine hits them alike; each peer runs in its own subprocess.  Timed:

* ``summary``: ``retention.rfm_summary`` (the yardstick of issue 4);
* ``segmentation``: ``repurchase_cycles`` + ``classify_regularity`` on the transactions and
  ``rfm_segments(summary, bins=5)`` (scores, 125 cells, named groups) on a summary
  computed before the clock starts; the target is at most 1.0x the summary's time;
* ``rfm from transactions``: ``rfm_summary`` + ``rfm_segments(bins=5)``, what the peers do;
* ``pymc-marketing``: ``pymc_marketing.clv.utils.rfm_segments`` (summary, quartile scores
  and named segments from the transactions);
* ``rfm``: the ``rfm`` PyPI package, ``RFM(frame, customer_id=..., transaction_date=...,
  amount=...)`` (scores and segments from the transactions).

The peers run in their own virtualenvs.  pymc-marketing installs beside numpy 2 and
pandas 3; the ``rfm`` package (last released 2022) fails under pandas 3 (``ValueError:
Cannot specify both 'axis' and 'index'/'columns'`` from its ``DataFrame.drop`` call), so it
gets the pandas 1.5 it was written for::

    python3 -m venv /tmp/segpeer && /tmp/segpeer/bin/pip install pymc-marketing pyarrow
    python3 -m venv /tmp/rfmpeer && /tmp/rfmpeer/bin/pip install rfm 'pandas<2' 'numpy<2' \
        pyarrow matplotlib

A peer that runs longer than ``--peer-timeout`` seconds is stopped and reported as such.
Times are medians of ``--repeat`` runs (one run for the peers).  Usage::

    python benchmarks/bench_segmentation.py [--rows 10000000] [--repeat 3]
        [--pymc-python /tmp/segpeer/bin/python] [--rfm-python /tmp/rfmpeer/bin/python]
        [--peer-timeout 900]
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

import pandas as pd

HERE = Path(__file__).resolve().parent
END = "2024-12-31"


def run_summary(frame: pd.DataFrame) -> dict[str, float]:
    import retention  # noqa: PLC0415 - the timed subprocess imports only what it runs

    started = time.perf_counter()
    retention.rfm_summary(frame, observation_period_end=END)
    return {"total": time.perf_counter() - started}


def run_segmentation(frame: pd.DataFrame) -> dict[str, float]:
    import retention  # noqa: PLC0415
    from retention.segmentation import (  # noqa: PLC0415
        classify_regularity,
        repurchase_cycles,
        rfm_segments,
    )

    summary = retention.rfm_summary(frame, observation_period_end=END)
    started = time.perf_counter()
    cycles = repurchase_cycles(frame, as_of=END)
    after_cycles = time.perf_counter()
    groups = classify_regularity(cycles)
    after_regularity = time.perf_counter()
    segments = rfm_segments(summary, bins=5)
    finished = time.perf_counter()
    assert len(groups) == len(segments)
    return {
        "total": finished - started,
        "cycles": after_cycles - started,
        "regularity": after_regularity - after_cycles,
        "rfm": finished - after_regularity,
    }


def run_rfm_from_transactions(frame: pd.DataFrame) -> dict[str, float]:
    import retention  # noqa: PLC0415
    from retention.segmentation import rfm_segments  # noqa: PLC0415

    started = time.perf_counter()
    rfm_segments(retention.rfm_summary(frame, observation_period_end=END), bins=5)
    return {"total": time.perf_counter() - started}


def run_pymc_marketing(frame: pd.DataFrame) -> dict[str, float]:
    from pymc_marketing.clv.utils import rfm_segments  # noqa: PLC0415

    started = time.perf_counter()
    rfm_segments(frame, "customer_id", "date", "amount", observation_period_end=END)
    return {"total": time.perf_counter() - started}


def run_rfm_package(frame: pd.DataFrame) -> dict[str, float]:
    from rfm import RFM  # noqa: PLC0415

    started = time.perf_counter()
    # the package rewrites the frame's columns in place: give it its own copy
    RFM(frame.copy(), customer_id="customer_id", transaction_date="date", amount="amount")
    return {"total": time.perf_counter() - started}


OURS = ("summary", "segmentation", "rfm from transactions")
RUNNERS = {
    "summary": run_summary,
    "segmentation": run_segmentation,
    "rfm from transactions": run_rfm_from_transactions,
    "pymc-marketing": run_pymc_marketing,
    "rfm": run_rfm_package,
}


def child(name: str, data: Path, repeat: int) -> None:
    frame = pd.read_parquet(data)
    if name == "retention":
        # ours run interleaved in one process, so machine load hits each alike
        sys.path.insert(0, str(HERE.parent / "src"))  # this checkout, not an installed copy
        runs: dict[str, list[dict[str, float]]] = {key: [] for key in OURS}
        for _ in range(repeat):
            for key in OURS:
                runs[key].append(RUNNERS[key](frame))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"name": name, "by_step": runs, "peak_mb": peak_mb}))
        return
    peer_runs = [RUNNERS[name](frame) for _ in range(repeat)]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": name, "runs": peer_runs, "peak_mb": peak_mb}))


def measure(name: str, python: str, data: Path, repeat: int, timeout: float | None) -> dict:
    command = [python, __file__, "--child", name, "--data", str(data), "--repeat", str(repeat)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"name": name, "error": f"stopped after {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"name": name, "error": f"failed: {last[:160]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(result: dict, key: str = "total") -> float:
    return statistics.median(run[key] for run in result["runs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pymc-python", help="python of a venv with pymc-marketing")
    parser.add_argument("--rfm-python", help="python of a venv with the rfm package")
    parser.add_argument("--peer-timeout", type=float, default=900.0)
    parser.add_argument("--child")
    parser.add_argument("--data", type=Path)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.data, arguments.repeat)
        return
    sys.path.insert(0, str(HERE))
    from bench_summary import make_data  # noqa: PLC0415 - the shared data generator

    data = HERE / "data" / f"transactions_{arguments.rows}.parquet"
    if not data.exists():
        data.parent.mkdir(exist_ok=True)
        make_data(arguments.rows, data)
    measured = measure("retention", sys.executable, data, arguments.repeat, None)
    if "error" in measured:
        raise SystemExit(f"retention failed: {measured['error']}")
    ours = [
        {"name": key, "runs": measured["by_step"][key], "peak_mb": measured["peak_mb"]}
        for key in OURS
    ]
    peers = [
        measure(name, python, data, 1, arguments.peer_timeout)
        for name, python in (
            ("pymc-marketing", arguments.pymc_python),
            ("rfm", arguments.rfm_python),
        )
        if python
    ]
    summary = median_of(ours[0])
    segmentation = ours[1]
    from_transactions = median_of(ours[2])
    print(f"\n{arguments.rows:,} rows; medians of {arguments.repeat} runs (peers: one run)\n")
    print(f"retention peak memory (all steps, one process): {ours[0]['peak_mb']:.0f} MB\n")
    print("| step | median s | / rfm_summary |")
    print("|---|---:|---:|")
    print(f"| `rfm_summary` (yardstick) | {summary:.2f} | 1.00x |")
    for key, label in (
        ("cycles", "`repurchase_cycles`"),
        ("regularity", "`classify_regularity`"),
        ("rfm", "`rfm_segments(summary, bins=5)`"),
        ("total", "**cycles + regularity + RFM 5x5x5 + names**"),
    ):
        value = median_of(segmentation, key)
        print(f"| {label} | {value:.2f} | {value / summary:.2f}x |")
    print("\n| RFM 5x5x5 with names from the transactions | median s | retention / it | peak MB |")
    print("|---|---:|---:|---:|")
    print(f"| retention `rfm_summary` + `rfm_segments` | {from_transactions:.2f} | 1.00x | |")
    for result in peers:
        if "error" in result:
            print(f"| {result['name']} | {result['error']} | | |")
            continue
        value = median_of(result)
        print(
            f"| {result['name']} | {value:.2f} | {from_transactions / value:.2f}x | "
            f"{result['peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
