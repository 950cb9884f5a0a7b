"""Hypothesis strategies and a slow reference implementation for the segmentation tests."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pandas as pd
from hypothesis import strategies as st

START = pd.Timestamp("2024-01-01")
AS_OF = pd.Timestamp("2024-12-31")


@st.composite
def transaction_frames(draw, *, min_customers=1, max_customers=12, max_rows=40):
    """Naive daily purchases of a few customers within 2024 (duplicates allowed)."""
    customers = draw(
        st.lists(
            st.text("abcdefgh", min_size=1, max_size=3),
            min_size=min_customers,
            max_size=max_customers,
            unique=True,
        )
    )
    rows = draw(
        st.lists(
            st.tuples(st.sampled_from(customers), st.integers(0, 365)),
            min_size=1,
            max_size=max_rows,
        )
    )
    return pd.DataFrame(
        {
            "customer_id": pd.Series([row[0] for row in rows], dtype="str"),
            "date": START + pd.to_timedelta([row[1] for row in rows], unit="D"),
            "amount": [float(1 + (row[1] % 7)) for row in rows],
        }
    )


@st.composite
def summaries(draw, *, min_size=1, max_size=30):
    """Lifetimes-style summaries with plenty of ties."""
    n = draw(st.integers(min_size, max_size))
    frequency = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    t_values = draw(st.lists(st.integers(1, 60), min_size=n, max_size=n))
    recency = [
        0 if f == 0 else draw(st.integers(0, t)) for f, t in zip(frequency, t_values, strict=True)
    ]
    monetary = [0.0 if f == 0 else float(draw(st.integers(1, 8)) * 5) for f in frequency]
    return pd.DataFrame(
        {
            "frequency": np.asarray(frequency, dtype=float),
            "recency": np.asarray(recency, dtype=float),
            "T": np.asarray(t_values, dtype=float),
            "monetary_value": monetary,
        },
        index=pd.Index([f"c{i:03d}" for i in range(n)], name="customer_id"),
    )


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
