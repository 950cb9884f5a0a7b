"""Shared fixtures: hypothesis profiles, data paths, backend URLs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

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
