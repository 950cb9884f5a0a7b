"""The one error hierarchy of ``retention``.

Every error the library raises on purpose is a :class:`RetentionError`.  Errors a
caller would naturally catch with a built-in class also subclass it, so
``except ValueError`` keeps working for validation problems::

    RetentionError
    ├── ValidationError (ValueError) ── NaiveTimestampError, MixedCurrencyError, SchemaError,
    │                                   NotFittedError (also AttributeError)
    ├── NotFoundError (LookupError)
    ├── StorageError ── DuplicateError, SchemaVersionError, ResumeMismatchError
    ├── IngestAbortedError
    ├── ConvergenceError
    └── ChannelError ── DeliveryError ── TransientDeliveryError, PermanentDeliveryError
                     └── ChannelContractError

Messages name the row, column or customer at fault and say what to do next.
They never carry personal data (e-mail addresses, phone numbers, names):
only opaque customer ids, line numbers, column names and reason codes.
"""

from __future__ import annotations

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
]


class RetentionError(Exception):
    """Root of every error raised on purpose by ``retention``."""


class ValidationError(RetentionError, ValueError):
    """Input does not satisfy the documented contract (wrong column, bad value...)."""


class NaiveTimestampError(ValidationError):
    """A timestamp without a time zone where an instant is required; pass ``assume_tz``."""


class MixedCurrencyError(ValidationError):
    """Amounts in different currencies would be added; convert them first."""


class SchemaError(ValidationError):
    """A frame or file lacks required columns or has columns of the wrong type."""


class NotFittedError(ValidationError, AttributeError):
    """A model was used before ``fit``; call ``fit(...)`` first."""


class NotFoundError(RetentionError, LookupError):
    """A customer, order or other record does not exist."""


class StorageError(RetentionError):
    """A store operation failed; the batch in flight was rolled back."""


class DuplicateError(StorageError):
    """A record with the same key but different values is already stored."""


class SchemaVersionError(StorageError):
    """The database schema version is not the one this library expects."""


class ResumeMismatchError(StorageError):
    """A resumed ingest points at a file that changed since the checkpoint."""


class IngestAbortedError(RetentionError):
    """Too many rows were bad (wrong delimiter or encoding?); nothing was committed."""


class ConvergenceError(RetentionError):
    """An optimiser failed or ended on a bound; the fitted values would be wrong."""


class ChannelError(RetentionError):
    """A host channel failed or broke its contract."""


class DeliveryError(ChannelError):
    """A message could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Delivery failed for a reason that may pass (timeout, rate limit); retry later."""


class PermanentDeliveryError(DeliveryError):
    """Delivery failed for good (invalid address, hard bounce, rejected content)."""


class ChannelContractError(ChannelError):
    """A host channel returned something the Channel protocol does not allow."""
