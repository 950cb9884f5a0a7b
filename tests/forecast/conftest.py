"""Fixtures for the forecast tests: the CDNOW calibration summary of the papers."""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - used at runtime by fixtures

import pandas as pd
import pytest

from retention import rfm_summary


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


@pytest.fixture(scope="session")
def cdnow_transactions(shared_data: Path) -> pd.DataFrame:
    return read_cdnow_sample(shared_data / "CDNOW_sample.txt")


@pytest.fixture(scope="session")
def cdnow_calibration(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    """The 39-week calibration summary of Fader, Hardie & Lee (2005), weekly units."""
    return rfm_summary(
        cdnow_transactions, observation_period_end="1997-09-30", time_unit="D", time_scaler=7
    )


@pytest.fixture(scope="session")
def donations(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "donations.csv")
