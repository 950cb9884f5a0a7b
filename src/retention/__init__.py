"""retention: turn a shop's purchase history into retention work.

The public API is what ``retention.__all__`` lists; everything else is private.
"""

# The analytics subpackages, reachable as rt.forecast, rt.kpi and rt.segmentation.
from retention import forecast as forecast
from retention import kpi as kpi
from retention import segmentation as segmentation
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
from retention.history import PurchaseHistory, purchase_history
from retention.ingest import IngestReport, IngestResult, ingest
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
    "IngestReport",
    "IngestResult",
    "Item",
    "MemoryStore",
    "MixedCurrencyError",
    "NaiveTimestampError",
    "NotFittedError",
    "NotFoundError",
    "PermanentDeliveryError",
    "Purchase",
    "PurchaseHistory",
    "PurchaseSource",
    "Purpose",
    "ResumeMismatchError",
    "RetentionError",
    "SchemaError",
    "SchemaVersionError",
    "Segment",
    "SegmentKind",
    "SqlStore",
    "StorageError",
    "Store",
    "TransientDeliveryError",
    "ValidationError",
    "__version__",
    "contact_hash",
    "ingest",
    "load_cdnow_sample",
    "normalize_email",
    "normalize_phone",
    "open_store",
    "purchase_history",
    "rfm_summary",
]
