"""retention: turn a shop's purchase history into retention work.

The public API is what ``retention.__all__`` lists; everything else is private.
"""

from retention import forecast as forecast
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
    Purpose,
    Segment,
    SegmentKind,
)
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
    "MixedCurrencyError",
    "NaiveTimestampError",
    "NotFittedError",
    "NotFoundError",
    "PermanentDeliveryError",
    "Purchase",
    "PurchaseSource",
    "Purpose",
    "ResumeMismatchError",
    "RetentionError",
    "SchemaError",
    "SchemaVersionError",
    "Segment",
    "SegmentKind",
    "StorageError",
    "TransientDeliveryError",
    "ValidationError",
    "__version__",
    "contact_hash",
    "load_cdnow_sample",
    "normalize_email",
    "normalize_phone",
    "rfm_summary",
]
