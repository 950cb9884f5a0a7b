"""The package's strategies and a slow per-customer reference for the segmentation tests."""

from __future__ import annotations

import itertools
import math
import statistics

import pandas as pd

from retention.testing import strategies as rst

AS_OF = rst.OBSERVATION_PERIOD_END


def transaction_frames(**kwargs):
    return rst.purchase_logs(**kwargs)


def summaries(**kwargs):
    return rst.rfm_summaries(**kwargs)


def reference_cycles(transactions, as_of, *, min_peers=30):
    """Per-customer Python loops of the documented definitions (daily periods)."""
    frame = transactions[transactions["date"] <= as_of]
    rows = {}
    for customer, group in frame.groupby("customer_id"):
        days = sorted({(d - pd.Timestamp("1970-01-01")).days for d in group["date"]})
        gaps = [b - a for a, b in itertools.pairwise(days)]
        row = {
            "purchases": len(days),
            "intervals": len(gaps),
            "last": days[-1],
            "median_interval": statistics.median(gaps) if gaps else math.nan,
            "mean_interval": statistics.fmean(gaps) if gaps else math.nan,
            "std_interval": statistics.stdev(gaps) if len(gaps) >= 2 else math.nan,
            "mad_interval": (
                statistics.median([abs(g - statistics.median(gaps)) for g in gaps])
                if gaps
                else math.nan
            ),
            "logs": [math.log(g) for g in gaps],
        }
        rows[customer] = row
    with_gaps = [row for row in rows.values() if row["intervals"] > 0]
    if with_gaps:
        means = [statistics.fmean(row["logs"]) for row in with_gaps]
        dof = sum(row["intervals"] - 1 for row in with_gaps)
        within = sum(
            sum((y - statistics.fmean(row["logs"])) ** 2 for y in row["logs"]) for row in with_gaps
        )
        sigma2 = within / dof if dof > 0 else 0.0
        m = statistics.fmean(means)
        if len(means) >= 2:
            inverse_n = statistics.fmean(1 / row["intervals"] for row in with_gaps)
            tau2 = max(0.0, statistics.variance(means) - sigma2 * inverse_n)
        else:
            tau2 = 0.0
    else:
        m = tau2 = sigma2 = math.nan
    for row in rows.values():
        n = row["intervals"]
        if n == 0:
            weight, mu = 0.0, m
        else:
            noise = sigma2 / n
            weight = tau2 / (tau2 + noise) if tau2 + noise > 0 else 1.0
            mu = weight * statistics.fmean(row["logs"]) + (1 - weight) * m
        row["shrinkage"] = weight
        row["cycle"] = math.exp(mu)
        row["periods_since_last"] = (as_of - pd.Timestamp("1970-01-01")).days - row["last"]
    return rows
