"""The storage contract on SqlStore on PostgreSQL (a fresh schema per test module).

``StoreContract`` (retention.testing.contracts) covers STO-01, STO-02, STO-03, STO-04,
STO-05, STO-06, TIM-01, TIM-02, SEC-01, SEC-02, SEC-05, ING-01, ING-02 and ING-12.
"""

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from retention.testing.contracts import StoreContract

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def admin_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def module_schema(admin_engine: sa.Engine) -> Iterator[str]:
    """A fresh schema for this module, dropped at teardown."""
    name = f"retention_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin_engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    yield name
    with admin_engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_url(self, postgres_url: str, admin_engine: sa.Engine, module_schema: str) -> str:
        with admin_engine.begin() as connection:  # every test starts from an empty schema
            connection.exec_driver_sql(f'DROP SCHEMA "{module_schema}" CASCADE')
            connection.exec_driver_sql(f'CREATE SCHEMA "{module_schema}"')
        return postgres_url

    @pytest.fixture
    def open_options(self, module_schema: str) -> dict[str, Any]:
        return {"schema": module_schema}
