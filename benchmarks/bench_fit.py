"""Model fitting: retention.forecast against lifetimes, in one run.

Three fits, each timed for both libraries on the same summary frame:

* BG/NBD on ``--customers`` (default 1,000,000) synthetic customers simulated from the
  BG/NBD process with the CDNOW parameters (r=0.243, alpha=4.414, a=0.793, b=2.426),
  purchase days rounded to whole days and times in weeks, as real data are;
* BG/NBD on the CDNOW sample calibration summary (2,357 customers, 39 weeks);
* Pareto/NBD on the 23,570 CDNOW master customers (daily periods to 1998-06-30, weeks).

lifetimes needs numpy<2, so it runs in its own virtualenv, given with
``--lifetimes-python``; create one with ``python3 -m venv /tmp/peer &&
/tmp/peer/bin/pip install lifetimes 'numpy<2' 'pandas<2.2' 'scipy<1.13'``.  Each library
runs in a fresh subprocess that reads the same CSV summaries and times every fit
``--repeat`` times (lifetimes' 1M-customer fit ``--peer-repeat`` times); the figure quoted is
the median.  Usage::

    python benchmarks/bench_fit.py [--customers 1000000] [--repeat 3] [--peer-repeat 1]
                                   [--lifetimes-python /tmp/peer/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
SRC = HERE.parent / "src"


def simulate_bgnbd(customers: int, seed: int = 11) -> pd.DataFrame:
    """Customers acquired uniformly over 39 weeks, observed to week 39, in whole days."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    T_days = rng.integers(1, 39 * 7 + 1, size=customers)
    T = T_days / 7
    rate = rng.gamma(r, 1 / alpha, size=customers)
    dropout = rng.beta(a, b, size=customers)
    purchases_before_dropout = rng.geometric(dropout)  # the dropout follows the k-th purchase
    arrivals = rng.poisson(rate * T)
    x = np.minimum(purchases_before_dropout, arrivals)
    # The last of x purchases among `arrivals` uniform times on (0, T]: a beta order statistic.
    order = rng.beta(np.maximum(x, 1), np.maximum(arrivals - x + 1, 1))
    recency_days = np.where(x > 0, np.floor(order * T_days), 0)
    # Purchases on the same day merge (daily periods): keep x only if the day moved.
    x = np.where(recency_days > 0, x, 0)
    return pd.DataFrame(
        {"frequency": x.astype(float), "recency": recency_days / 7, "T": T}
    ).rename_axis("customer_id")


def cdnow_summary(path: Path, *, end: str, header: bool) -> pd.DataFrame:
    names = (
        ["master_id", "customer_id", "date", "cds", "amount"]
        if not header
        else ["customer_id", "date", "cds", "amount"]
    )
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=0 if header else None,
        names=names,
        dtype={"customer_id": str, "date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw = raw[raw["date"] <= pd.Timestamp(end)]
    days = raw.groupby("customer_id")["date"]
    first, last = days.min(), days.max()
    return pd.DataFrame(
        {
            "frequency": (days.nunique() - 1).astype(float),
            "recency": (last - first) / pd.Timedelta(days=7),
            "T": (pd.Timestamp(end) - first) / pd.Timedelta(days=7),
        }
    )


RETENTION_RUNNER = """
import json, statistics, sys, time
import pandas as pd
sys.path.insert(0, {src!r})
from retention.forecast import BetaGeoModel, ParetoNBDModel
jobs = json.loads(sys.argv[1])
out = {{}}
for name, (kind, path, repeat) in jobs.items():
    frame = pd.read_csv(path, index_col=0)
    frame.attrs = {{"time_unit": "D", "time_scaler": 7.0}}
    model_class = BetaGeoModel if kind == "bgnbd" else ParetoNBDModel
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model = model_class().fit(frame)
        times.append(time.perf_counter() - start)
    out[name] = {{"seconds": statistics.median(times), "params": model.params_,
                  "ll": model.log_likelihood_, "runs": repeat}}
print(json.dumps(out))
"""

LIFETIMES_RUNNER = """
import json, statistics, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter, ParetoNBDFitter
jobs = json.loads(sys.argv[1])
out = {}
for name, (kind, path, repeat) in jobs.items():
    frame = pd.read_csv(path, index_col=0)
    fitter_class = BetaGeoFitter if kind == "bgnbd" else ParetoNBDFitter
    times = []
    for _ in range(repeat):
        fitter = fitter_class()
        start = time.perf_counter()
        fitter.fit(frame["frequency"], frame["recency"], frame["T"])
        times.append(time.perf_counter() - start)
    out[name] = {"seconds": statistics.median(times), "params": fitter.params_.to_dict(),
                 "ll": float(fitter._negative_log_likelihood_ * -len(frame)) if hasattr(
                     fitter, "_negative_log_likelihood_") else None, "runs": repeat}
print(json.dumps(out))
"""


def run(python: str, code: str, jobs: dict[str, tuple[str, str, int]]) -> dict[str, dict]:
    result = subprocess.run(
        [python, "-c", code, json.dumps(jobs)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-repeat", type=int, default=1)
    parser.add_argument("--lifetimes-python", default=None)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        synthetic = simulate_bgnbd(arguments.customers)
        synthetic.to_csv(tmp / "synthetic.csv")
        cdnow_summary(DATA / "CDNOW_sample.txt", end="1997-09-30", header=False).to_csv(
            tmp / "sample.csv"
        )
        master = cdnow_summary(DATA / "CDNOW_master.txt", end="1998-06-30", header=True)
        master.to_csv(tmp / "master.csv")
        print(
            f"data: {len(synthetic):,} synthetic customers "
            f"({synthetic.drop_duplicates().shape[0]:,} distinct histories), "
            f"{len(master):,} master customers, built in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        jobs = {
            "BG/NBD, synthetic": ("bgnbd", str(tmp / "synthetic.csv"), arguments.repeat),
            "BG/NBD, CDNOW sample": ("bgnbd", str(tmp / "sample.csv"), max(arguments.repeat, 5)),
            "Pareto/NBD, CDNOW master": ("pareto", str(tmp / "master.csv"), arguments.repeat),
        }
        ours = run(sys.executable, RETENTION_RUNNER.format(src=str(SRC)), jobs)
        peer: dict[str, dict] = {}
        if arguments.lifetimes_python:
            peer_jobs = {
                name: (kind, path, arguments.peer_repeat if "synthetic" in name else repeat)
                for name, (kind, path, repeat) in jobs.items()
            }
            peer = run(arguments.lifetimes_python, LIFETIMES_RUNNER, peer_jobs)
    print("| fit | customers | retention s | lifetimes s | retention / lifetimes |")
    print("|---|---:|---:|---:|---:|")
    sizes = {
        "BG/NBD, synthetic": arguments.customers,
        "BG/NBD, CDNOW sample": 2357,
        "Pareto/NBD, CDNOW master": len(master),
    }
    for name, figures in ours.items():
        other = peer.get(name)
        other_s = f"{other['seconds']:.3f}" if other else "-"
        ratio = f"{figures['seconds'] / other['seconds']:.3f}x" if other else "-"
        print(f"| {name} | {sizes[name]:,} | {figures['seconds']:.3f} | {other_s} | {ratio} |")
    print()
    for name, figures in ours.items():
        mine = ", ".join(f"{k}={v:.4g}" for k, v in figures["params"].items())
        print(f"- {name}: retention {mine} (LL {figures['ll']:.2f})")
        if name in peer:
            theirs = ", ".join(f"{k}={v:.4g}" for k, v in peer[name]["params"].items())
            print(f"  lifetimes {theirs}")


if __name__ == "__main__":
    main()
