"""Fixtures for the forecast tests: the CDNOW calibration summary of the papers."""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - used at runtime by fixtures

import numpy as np
import pandas as pd
import pytest


def read_cdnow_sample(path: Path) -> pd.DataFrame:
    """CDNOW_sample.txt as transactions: customer_id (sample id), date, cds, amount."""
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"master_id": str, "customer_id": str, "date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


def read_cdnow_master(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "cds", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


def daily_summary(
    transactions: pd.DataFrame, *, end: str, time_scaler: float = 7.0
) -> pd.DataFrame:
    """Lifetimes-style calibration summary (daily periods, times divided by time_scaler)."""
    end_ts = pd.Timestamp(end)
    kept = transactions[transactions["date"] <= end_ts]
    daily = kept.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    by = daily.groupby("customer_id")
    first = by["date"].min()
    last = by["date"].max()
    periods = by["date"].nunique()
    one_day = pd.Timedelta(days=1)
    daily = daily.merge(first.rename("first"), left_on="customer_id", right_index=True)
    repeat = daily[daily["date"] > daily["first"]]
    monetary = repeat.groupby("customer_id")["amount"].mean()
    summary = pd.DataFrame(
        {
            "frequency": (periods - 1).astype(np.float64),
            "recency": (last - first) / one_day / time_scaler,
            "T": (end_ts - first) / one_day / time_scaler,
        }
    )
    summary["monetary_value"] = monetary.reindex(summary.index).fillna(0.0)
    summary.index.name = "customer_id"
    summary.attrs = {
        "time_unit": "D",
        "time_scaler": float(time_scaler),
        "observation_period_end": end_ts,
    }
    return summary


@pytest.fixture(scope="session")
def cdnow_transactions(shared_data: Path) -> pd.DataFrame:
    return read_cdnow_sample(shared_data / "CDNOW_sample.txt")


@pytest.fixture(scope="session")
def cdnow_calibration(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    """The 39-week calibration summary of Fader, Hardie & Lee (2005), weekly units."""
    return daily_summary(cdnow_transactions, end="1997-09-30")


@pytest.fixture(scope="session")
def donations(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "donations.csv")
