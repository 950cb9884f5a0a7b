from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from retention import load_cdnow_sample, open_store, rfm_summary
from retention.exceptions import StorageError, ValidationError
from retention.storage import MemoryStore, SqlStore, create_engine, upgrade_database
from retention.storage.migrations import VERSION_TABLE, known_versions
from retention.storage.pushdown import rfm_summary_sql
from retention.storage.schema import SCHEMA_VERSION, metadata
from retention.testing.contracts import purchases_frame


def test_memory_url_opens_a_memory_store():
    assert isinstance(open_store("memory://"), MemoryStore)
    with pytest.raises(ValidationError):
        open_store("memory://somewhere")


def test_postgresql_urls_mean_psycopg_3_without_connecting():
    engine = create_engine("postgresql://user:secret@db.invalid/crm")
    assert engine.url.drivername == "postgresql+psycopg"
    assert create_engine("postgres://u@db.invalid/crm").url.drivername == "postgresql+psycopg"
    engine.dispose()


@pytest.mark.parametrize("schema", ["crm; DROP SCHEMA public", '"x"', "a--", "Public"])
def test_sec_02_schema_names_are_validated_before_any_connection(schema):
    with pytest.raises(ValueError, match="not allowed"):
        create_engine("postgresql://u@db.invalid/crm", schema=schema)


def test_unknown_schemes_and_misplaced_options_are_refused():
    with pytest.raises(ValidationError, match="unsupported"):
        open_store("mysql://u@h/db")
    with pytest.raises(ValidationError):
        create_engine("sqlite:///x.db", schema="crm")
    with pytest.raises(ValidationError):
        create_engine("sqlite:///x.db", read_only=True)


def test_an_unreachable_database_is_a_storage_error_without_the_password():
    with pytest.raises(StorageError) as caught:
        open_store("postgresql://user:s3ntinel@127.0.0.1:1/crm")
    assert "s3ntinel" not in str(caught.value)
    assert caught.value.__cause__ is not None


def test_a_foreign_database_is_refused(tmp_path: Path):
    path = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE customers (id INTEGER)")
    engine.dispose()
    with pytest.raises(StorageError, match="no retention schema version"):
        open_store(f"sqlite:///{path}")


def test_duckdb_read_only_analytics_after_the_writer_closed(tmp_path: Path):
    url = f"duckdb:///{tmp_path / 'crm.duckdb'}"
    writer = open_store(url)
    writer.add_purchases(purchases_frame(["a"], ["c1"]))
    writer.close()
    reader = open_store(url, read_only=True)
    assert reader.purchases()["order_id"].tolist() == ["a"]
    with pytest.raises(StorageError):
        reader.add_purchases(purchases_frame(["b"], ["c1"]))
    reader.close()


def test_migrations_build_exactly_the_declared_schema(tmp_path: Path):
    from alembic.autogenerate import compare_metadata  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    store = open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    assert isinstance(store, SqlStore)
    assert known_versions()[-1] == SCHEMA_VERSION
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        differences = compare_metadata(context, metadata)
    assert differences == []
    store.close()


def test_the_wheel_ships_the_migrations():
    root = Path(__file__).resolve().parents[2] / "src" / "retention" / "storage" / "migrations"
    shipped = {p.name for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {
        "env.py",
        "script.py.mako",
        "0001_initial.py",
        "0002_checkpoints.py",
        "0003_duckdb_purchase_indexes.py",
    } <= shipped


def test_upgrade_database_creates_then_leaves_the_schema(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    first = upgrade_database(url)
    assert (first.found, first.current, first.changed) == (None, SCHEMA_VERSION, True)
    again = upgrade_database(url)
    assert (again.found, again.changed) == (SCHEMA_VERSION, False)
    with pytest.raises(ValidationError):
        upgrade_database("memory://")


def test_pushdown_summary_over_the_store_equals_the_in_memory_summary(tmp_path: Path):
    cdnow = load_cdnow_sample()
    transactions = pd.DataFrame(
        {
            "customer_id": cdnow["customer_id"],
            "order_id": cdnow["order_id"],
            "purchased_at": cdnow["date"].dt.tz_localize("UTC"),
            "amount_minor": (cdnow["amount"] * 100).round().astype("int64"),
            "currency": "USD",
        }
    )
    store = open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    assert isinstance(store, SqlStore)
    store.add_purchases(transactions)
    end = datetime(1998, 6, 30, tzinfo=UTC)
    in_memory = rfm_summary(
        store.purchases(),
        datetime_col="purchased_at",
        monetary_value_col="amount",
        observation_period_end=end,
    )
    pushed = rfm_summary_sql(
        store.engine,
        store.purchases_table,
        datetime_col="purchased_at",
        monetary_value_col="amount_minor",
        monetary_scale=100,
        observation_period_end=end,
    )
    pd.testing.assert_frame_equal(pushed, in_memory, check_exact=False, rtol=1e-9)
    store.close()
