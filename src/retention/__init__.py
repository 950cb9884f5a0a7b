"""retention: turn a shop's purchase history into retention work.

The public API is what ``retention.__all__`` lists; everything else is private.
"""

from retention._version import __version__
from retention.contacts import contact_hash, normalize_email, normalize_phone
from retention.datasets import load_cdnow_sample
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
from retention.models import (
    ChannelKind,
    Consent,
    ContactKind,
    ContactPoint,
    Customer,
    Item,
    Purchase,
    PurchaseSource,
    Segment,
    SegmentKind,
    Topic,
)
from retention.storage import MemoryStore, SqlStore, Store, open_store
from retention.summary import rfm_summary

__all__ = [
    "ChannelContractError",
    "ChannelError",
    "ChannelKind",
    "Consent",
    "ContactKind",
    "ContactPoint",
    "ConvergenceError",
    "Customer",
    "DeliveryError",
    "DuplicateError",
    "IngestAbortedError",
    "Item",
    "MemoryStore",
    "MixedCurrencyError",
    "NaiveTimestampError",
    "NotFittedError",
    "NotFoundError",
    "PermanentDeliveryError",
    "Purchase",
    "PurchaseSource",
    "ResumeMismatchError",
    "RetentionError",
    "SchemaError",
    "SchemaVersionError",
    "Segment",
    "SegmentKind",
    "SqlStore",
    "StorageError",
    "Store",
    "Topic",
    "TransientDeliveryError",
    "ValidationError",
    "__version__",
    "contact_hash",
    "load_cdnow_sample",
    "normalize_email",
    "normalize_phone",
    "open_store",
    "rfm_summary",
]
