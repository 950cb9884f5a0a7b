"""Stores: where customers, purchases, consents, segments and touches are kept.

:func:`open_store` opens one from a URL: ``memory://``, ``sqlite:///path.db``,
``postgresql://user@host/db`` or ``duckdb:///path.duckdb``.  Every store implements the
:class:`Store` protocol and passes :class:`retention.testing.contracts.StoreContract`.
:mod:`retention.storage.pushdown` computes the heavy aggregations inside the database.
"""

from retention.storage._open import SchemaUpgrade, create_engine, open_store, upgrade_database
from retention.storage.base import (
    CONSENT_COLUMNS,
    CUSTOMER_COLUMNS,
    DEFAULT_LEASE,
    PURCHASE_COLUMNS,
    SUPPRESSION_COLUMNS,
    TERMINAL_TOUCH_STATES,
    TOUCH_COLUMNS,
    TOUCH_EVENT_COLUMNS,
    TOUCH_EVENTS,
    TOUCH_STATES,
    ConsentStore,
    CustomerStore,
    ErasureResult,
    IngestCheckpoint,
    MergeResult,
    OnConflict,
    PurchaseStore,
    PurchaseWriteResult,
    SegmentStore,
    Store,
    TouchStore,
)
from retention.storage.memory import MemoryStore
from retention.storage.sql import SqlStore

__all__ = [
    "CONSENT_COLUMNS",
    "CUSTOMER_COLUMNS",
    "DEFAULT_LEASE",
    "PURCHASE_COLUMNS",
    "SUPPRESSION_COLUMNS",
    "TERMINAL_TOUCH_STATES",
    "TOUCH_COLUMNS",
    "TOUCH_EVENTS",
    "TOUCH_EVENT_COLUMNS",
    "TOUCH_STATES",
    "ConsentStore",
    "CustomerStore",
    "ErasureResult",
    "IngestCheckpoint",
    "MemoryStore",
    "MergeResult",
    "OnConflict",
    "PurchaseStore",
    "PurchaseWriteResult",
    "SchemaUpgrade",
    "SegmentStore",
    "SqlStore",
    "Store",
    "TouchStore",
    "create_engine",
    "open_store",
    "upgrade_database",
]
