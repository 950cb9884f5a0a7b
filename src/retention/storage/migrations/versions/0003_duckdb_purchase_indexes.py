"""DuckDB: no secondary indexes on purchases (its zone maps serve those scans).

DuckDB keeps an ART index per secondary index and rewrites it on every commit, which made
each bulk append of purchases pay for the whole table again; its scans of
``purchases.customer_id`` and ``purchases.purchased_at`` use the per-row-group min/max
statistics instead. SQLite and PostgreSQL keep both indexes: this revision changes
nothing there.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INDEXES = {"ix_purchases_customer_id": "customer_id", "ix_purchases_purchased_at": "purchased_at"}


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name == "duckdb":
        for name in _INDEXES:
            op.drop_index(name, table_name="purchases")


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "duckdb":
        for name, column in _INDEXES.items():
            op.create_index(name, "purchases", [column], unique=False)
