"""retention: turn a shop's purchase history into retention work.

The public API is what ``retention.__all__`` lists; everything else is private.
"""

from retention._version import __version__
from retention.exceptions import (
    ChannelContractError,
    ChannelError,
    ConvergenceError,
    DeliveryError,
    DuplicateError,
    IngestAbortedError,
    MixedCurrencyError,
    NaiveTimestampError,
    NotFittedError,
    NotFoundError,
    PermanentDeliveryError,
    ResumeMismatchError,
    RetentionError,
    SchemaError,
    SchemaVersionError,
    StorageError,
    TransientDeliveryError,
    ValidationError,
)
from retention.storage import MemoryStore, SqlStore, Store, open_store

__all__ = [
    "ChannelContractError",
    "ChannelError",
    "ConvergenceError",
    "DeliveryError",
    "DuplicateError",
    "IngestAbortedError",
    "MemoryStore",
    "MixedCurrencyError",
    "NaiveTimestampError",
    "NotFittedError",
    "NotFoundError",
    "PermanentDeliveryError",
    "ResumeMismatchError",
    "RetentionError",
    "SchemaError",
    "SchemaVersionError",
    "SqlStore",
    "StorageError",
    "Store",
    "TransientDeliveryError",
    "ValidationError",
    "__version__",
    "open_store",
]
