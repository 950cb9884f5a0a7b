"""Segmentation: cycles, regularity and RFM 5x5x5 against the summary and two peers, in one run.

The data is ``bench_summary.py``'s seeded synthetic log (default 10,000,000 purchases by
about 2.3 million customers, integer ids, four years, float amounts), daily periods,
``as_of = observation_period_end = 2024-12-31``.  Our three steps run interleaved in one
subprocess (summary, segmentation, RFM from transactions, repeated), so that the load of a
shared machine hits them alike; each peer runs in its own subprocess.  Timed:

* ``summary``: ``retention.rfm_summary`` (the yardstick of issue 4);
* ``segmentation``: ``repurchase_cycles`` + ``classify_regularity`` and
  ``rfm_segments(summary, bins=5)`` (scores, 125 cells, named groups), given the
  summary and the ``purchase_history`` it was computed from (built before the clock
  starts: the summary's own first step); the target is at most 1.0x the summary's time;
* ``summary of a history``: ``purchase_history`` + ``rfm_summary(history)``, to show
  that sharing the history costs the summary nothing;
* ``cycles of the frame``: ``repurchase_cycles`` on the transaction frame, which repeats
  the validation and the sort;
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
Wall-clock and process CPU times are medians of ``--repeat`` runs (one run for the
peers); on a shared machine the CPU times are the steadier figure.  Usage::

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

    started, cpu = time.perf_counter(), time.process_time()
    retention.rfm_summary(frame, observation_period_end=END)
    return {"total": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def run_segmentation(frame: pd.DataFrame) -> dict[str, float]:
    import retention  # noqa: PLC0415
    from retention.segmentation import (  # noqa: PLC0415
        classify_regularity,
        repurchase_cycles,
        rfm_segments,
    )

    # the summary's own first step, shared: validation, id hashing, the (customer, day) sort
    history = retention.purchase_history(frame)
    summary = retention.rfm_summary(history, observation_period_end=END)
    marks = [(time.perf_counter(), time.process_time())]
    cycles = repurchase_cycles(history, as_of=END)
    marks.append((time.perf_counter(), time.process_time()))
    groups = classify_regularity(cycles)
    marks.append((time.perf_counter(), time.process_time()))
    segments = rfm_segments(summary, bins=5)
    marks.append((time.perf_counter(), time.process_time()))
    assert len(groups) == len(segments)
    figures = {}
    for clock, prefix in ((0, ""), (1, "cpu_")):
        figures[f"{prefix}cycles"] = marks[1][clock] - marks[0][clock]
        figures[f"{prefix}regularity"] = marks[2][clock] - marks[1][clock]
        figures[f"{prefix}rfm"] = marks[3][clock] - marks[2][clock]
    figures["total"] = marks[3][0] - marks[0][0]
    figures["cpu"] = marks[3][1] - marks[0][1]
    return figures


def run_summary_of_history(frame: pd.DataFrame) -> dict[str, float]:
    import retention  # noqa: PLC0415

    started, cpu = time.perf_counter(), time.process_time()
    retention.rfm_summary(retention.purchase_history(frame), observation_period_end=END)
    return {"total": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def run_cycles_of_frame(frame: pd.DataFrame) -> dict[str, float]:
    from retention.segmentation import repurchase_cycles  # noqa: PLC0415

    started, cpu = time.perf_counter(), time.process_time()
    repurchase_cycles(frame, as_of=END)
    return {"total": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def run_rfm_from_transactions(frame: pd.DataFrame) -> dict[str, float]:
    import retention  # noqa: PLC0415
    from retention.segmentation import rfm_segments  # noqa: PLC0415

    started, cpu = time.perf_counter(), time.process_time()
    rfm_segments(retention.rfm_summary(frame, observation_period_end=END), bins=5)
    return {"total": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def run_pymc_marketing(frame: pd.DataFrame) -> dict[str, float]:
    from pymc_marketing.clv.utils import rfm_segments  # noqa: PLC0415

    started, cpu = time.perf_counter(), time.process_time()
    rfm_segments(frame, "customer_id", "date", "amount", observation_period_end=END)
    return {"total": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def run_rfm_package(frame: pd.DataFrame) -> dict[str, float]:
    from rfm import RFM  # noqa: PLC0415

    started, cpu = time.perf_counter(), time.process_time()
    # the package rewrites the frame's columns in place: give it its own copy
    RFM(frame.copy(), customer_id="customer_id", transaction_date="date", amount="amount")
    return {"total": time.perf_counter() - started, "cpu": time.process_time() - cpu}


OURS = (
    "summary",
    "segmentation",
    "rfm from transactions",
    "summary of a history",
    "cycles of the frame",
)
RUNNERS = {
    "summary": run_summary,
    "segmentation": run_segmentation,
    "summary of a history": run_summary_of_history,
    "cycles of the frame": run_cycles_of_frame,
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
    cpu_summary = median_of(ours[0], "cpu")
    print("| step | median wall s | / rfm_summary | median CPU s | / rfm_summary |")
    print("|---|---:|---:|---:|---:|")
    print(f"| `rfm_summary` (yardstick) | {summary:.2f} | 1.00x | {cpu_summary:.2f} | 1.00x |")
    for key, cpu_key, label in (
        ("cycles", "cpu_cycles", "`repurchase_cycles`"),
        ("regularity", "cpu_regularity", "`classify_regularity`"),
        ("rfm", "cpu_rfm", "`rfm_segments(summary, bins=5)`"),
        ("total", "cpu", "**cycles + regularity + RFM 5x5x5 + names**"),
    ):
        value, cpu_value = median_of(segmentation, key), median_of(segmentation, cpu_key)
        print(
            f"| {label} | {value:.2f} | {value / summary:.2f}x | {cpu_value:.2f} | "
            f"{cpu_value / cpu_summary:.2f}x |"
        )
    for result, label in (
        (ours[3], "`purchase_history` + `rfm_summary(history)`"),
        (ours[4], "`repurchase_cycles(frame)` (its own validation and sort)"),
    ):
        value, cpu_value = median_of(result), median_of(result, "cpu")
        print(
            f"| {label} | {value:.2f} | {value / summary:.2f}x | {cpu_value:.2f} | "
            f"{cpu_value / cpu_summary:.2f}x |"
        )
    print(
        "\n| RFM 5x5x5 with names from the transactions | median wall s | retention / it "
        "| median CPU s | retention / it | peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    cpu_from_transactions = median_of(ours[2], "cpu")
    print(
        f"| retention `rfm_summary` + `rfm_segments` | {from_transactions:.2f} | 1.00x | "
        f"{cpu_from_transactions:.2f} | 1.00x | |"
    )
    for result in peers:
        if "error" in result:
            print(f"| {result['name']} | {result['error']} | | | | |")
            continue
        value, cpu_value = median_of(result), median_of(result, "cpu")
        print(
            f"| {result['name']} | {value:.2f} | {from_transactions / value:.2f}x | "
            f"{cpu_value:.2f} | {cpu_from_transactions / cpu_value:.2f}x | "
            f"{result['peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
