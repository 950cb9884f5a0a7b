"""Shared fixtures: hypothesis profiles, data paths, backend URLs."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

import retention as rt

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data sets beside the clone (``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_DATA} is missing; CI must provide ../shared/data")
        pytest.skip(f"{SHARED_DATA} is missing (the shared data sets sit beside the clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL test database; skipped locally when unset, a failure in CI."""
    url = os.environ.get("RETENTION_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("RETENTION_TEST_POSTGRES_URL is not set; .ci/run must start PostgreSQL")
        pytest.skip("RETENTION_TEST_POSTGRES_URL is not set")
    return url


@pytest.fixture
def shop() -> pd.DataFrame:
    """Four customers over three months; o2 fully refunded, o6 refunded in part."""
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "a", "c", "b", "d", "d"],
            "order_id": ["o1", "o2", "o3", "r1", "o4", "o5", "o6", "r2"],
            "purchased_at": pd.to_datetime(
                [
                    "2024-01-05 10:00",
                    "2024-02-01 10:00",
                    "2024-02-03 10:00",
                    "2024-02-10 10:00",
                    "2024-03-10 10:00",
                    "2024-03-15 10:00",
                    "2024-03-20 10:00",
                    "2024-03-25 10:00",
                ],
                utc=True,
            ),
            "amount": [100.0, 50.0, 20.0, -50.0, 30.0, 10.0, 40.0, -10.0],
            "currency": ["EUR"] * 8,
            "kind": ["purchase"] * 3 + ["refund"] + ["purchase"] * 3 + ["refund"],
            "refund_of": [None, None, None, "o2", None, None, None, "o6"],
            "channel": ["web", "app", "web", "app", "web", "app", "web", "web"],
            "segment": ["new", "loyal", "new", "loyal", "new", "loyal", "new", "new"],
        }
    )


@pytest.fixture(scope="session")
def cdnow_ingested() -> rt.IngestResult:
    """The bundled CDNOW sample through ``ingest`` (read only: tests must not modify it)."""
    return rt.ingest(
        rt.load_cdnow_sample(),
        customer_id_col="customer_id",
        datetime_col="date",
        monetary_value_col="amount",
        order_id_col="order_id",
        currency="USD",
        assume_tz="UTC",
        as_of=datetime(1998, 7, 1, tzinfo=UTC),
    )
