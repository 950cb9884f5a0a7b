"""The storage contract on SqlStore on a DuckDB file.

``StoreContract`` (retention.testing.contracts) covers STO-01, STO-02, STO-03, STO-04,
STO-05, STO-06, TIM-01, TIM-02, SEC-01, SEC-02, SEC-05, ING-01, ING-02 and ING-12.
"""

from pathlib import Path

import pytest
import sqlalchemy as sa

from retention.storage import SqlStore, open_store
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
