"""retention: turn a shop's purchase history into retention work.

The public API is what ``retention.__all__`` lists; everything else is private.
"""

from retention import kpi as kpi  # the subpackage, as retention.kpi
from retention._version import __version__
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
from retention.summary import rfm_summary

__all__ = [
    "ChannelContractError",
    "ChannelError",
    "ConvergenceError",
    "DeliveryError",
    "DuplicateError",
    "IngestAbortedError",
    "MixedCurrencyError",
    "NaiveTimestampError",
    "NotFittedError",
    "NotFoundError",
    "PermanentDeliveryError",
    "ResumeMismatchError",
    "RetentionError",
    "SchemaError",
    "SchemaVersionError",
    "StorageError",
    "TransientDeliveryError",
    "ValidationError",
    "__version__",
    "load_cdnow_sample",
    "rfm_summary",
]
