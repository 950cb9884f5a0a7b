"""The storage contract on SqlStore on a DuckDB file.

``StoreContract`` (retention.testing.contracts) covers STO-01, STO-02, STO-03, STO-04,
STO-05, STO-06, TIM-01, TIM-02, SEC-01, SEC-02, SEC-05, ING-01, ING-02 and ING-12.
"""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from retention.exceptions import StorageError, ValidationError
from retention.storage import SqlStore, open_store
from retention.storage.pushdown import rfm_summary_sql
from retention.testing.contracts import StoreContract, purchases_frame


class TestDuckDBStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"duckdb:///{tmp_path / 'crm.duckdb'}"


def test_duckdb_stores_are_set_up_for_bulk_appends(tmp_path: Path):
    """No secondary ART index on purchases (migration 0003), no insertion order kept."""
    store = open_store(f"duckdb:///{tmp_path / 'crm.duckdb'}")
    assert isinstance(store, SqlStore)
    store.add_purchases(purchases_frame(["o1", "o2"], ["c1", "c2"]))
    with store.engine.connect() as connection:
        names = connection.exec_driver_sql(
            "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'purchases'"
        ).scalars()
        assert list(names) == []
        setting = "SELECT current_setting('preserve_insertion_order')"
        assert connection.exec_driver_sql(setting).scalar() is False
    assert store.purchases(customer_ids=["c2"])["order_id"].tolist() == ["o2"]
    store.close()
    sqlite = open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    assert isinstance(sqlite, SqlStore)
    indexes = {index["name"] for index in sa.inspect(sqlite.engine).get_indexes("purchases")}
    assert indexes == {"ix_purchases_customer_id", "ix_purchases_purchased_at"}
    sqlite.close()


def test_memory_limit_caps_duckdb_and_is_checked(tmp_path: Path):
    store = open_store(f"duckdb:///{tmp_path / 'crm.duckdb'}", memory_limit="256MB")
    assert isinstance(store, SqlStore)
    with store.engine.connect() as connection:
        limit = connection.exec_driver_sql("SELECT current_setting('memory_limit')").scalar()
    assert limit == "244.1 MiB"  # 256 MB in DuckDB's binary units
    store.close()
    for bad in ["lots", "256", "-1GB", "1.5 XB", ""]:
        with pytest.raises(ValidationError, match="such as '512MB'"):
            open_store(f"duckdb:///{tmp_path / 'other.duckdb'}", memory_limit=bad)
    with pytest.raises(ValidationError, match="only supported for DuckDB"):
        open_store(f"sqlite:///{tmp_path / 'crm.db'}", memory_limit="1GB")


def _many_purchases(rows: int) -> pd.DataFrame:
    numbers = np.arange(rows)
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in numbers],
            "customer_id": [f"c{i % (rows // 4)}" for i in numbers],
            "purchased_at": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(numbers % 300, unit="D"),
            "amount_minor": 100,
            "currency": "EUR",
            "kind": "purchase",
        }
    )


def test_running_out_of_the_memory_limit_says_so_and_loses_nothing(tmp_path: Path):
    """DuckDB's out-of-memory errors name memory_limit (one once read as a file lock)."""
    url = f"duckdb:///{tmp_path / 'crm.duckdb'}"
    frame = _many_purchases(400_000)
    store = open_store(url)
    store.add_purchases(frame.iloc[:200_000])
    store.close()
    tight = open_store(url, memory_limit="16MB")
    with pytest.raises(StorageError, match="larger memory_limit"):
        rfm_summary_sql(
            tight.engine,
            tight.purchases_table,
            monetary_value_col="amount_minor",
            observation_period_end=datetime(2025, 1, 1, tzinfo=UTC),
        )
    # Out of memory in the statement or (DuckDB then invalidates the database) at commit.
    with pytest.raises(StorageError, match="memory") as caught:
        tight.add_purchases(frame.iloc[200_000:])
    assert "another process" not in str(caught.value)
    tight.close()
    store = open_store(url)
    assert len(store.purchases()) == 200_000
    store.close()
