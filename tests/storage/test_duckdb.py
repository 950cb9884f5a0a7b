"""The storage contract on SqlStore on a DuckDB file.

``StoreContract`` (retention.testing.contracts) covers STO-01, STO-02, STO-03, STO-04,
STO-05, STO-06, TIM-01, TIM-02, SEC-01, SEC-02, SEC-05, ING-01, ING-02 and ING-12.
"""

from pathlib import Path

import pytest

from retention.testing.contracts import StoreContract


class TestDuckDBStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"duckdb:///{tmp_path / 'crm.duckdb'}"
