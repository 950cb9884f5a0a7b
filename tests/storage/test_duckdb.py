from pathlib import Path

import pytest

from retention.testing.contracts import StoreContract


class TestDuckDBStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"duckdb:///{tmp_path / 'crm.duckdb'}"
