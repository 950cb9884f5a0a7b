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
A :class:`ValidationError` may carry a stable ``reason`` code and the ``field`` at fault.
They never carry personal data (e-mail addresses, phone numbers, names):
only opaque customer ids, line numbers, column names and reason codes.
"""

from __future__ import annotations

from typing import Any

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
    """Input does not satisfy the documented contract (wrong column, bad value...).

    Parameters
    ----------
    message
        What is wrong and what to do next (no personal data).
    reason
        Optional stable snake_case reason code, such as ``"invalid_email"`` or
        ``"refund_sign_mismatch"``.  Reason codes are public API: code that
        quarantines or reports bad values reads :attr:`reason`, never the message.
    field
        Optional name of the field or column at fault (``"phones"``, ``"time_zone"``).

    Attributes
    ----------
    reason : str or None
        The reason code; subclasses with a fixed meaning set a default
        (``NaiveTimestampError.reason == "naive_timestamp"``).
    field : str or None
        The field or column at fault, if known.

    Examples
    --------
    >>> error = ValidationError("e-mail address has no '@'", reason="invalid_email", field="emails")
    >>> error.reason, error.field, str(error)
    ('invalid_email', 'emails', "e-mail address has no '@'")
    """

    reason: str | None = None
    field: str | None = None

    def __init__(self, *args: object, reason: str | None = None, field: str | None = None) -> None:
        super().__init__(*args)
        if reason is not None:
            self.reason = reason
        if field is not None:
            self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the reason code and field (keyword arguments are not in ``args``)."""
        return (_rebuild_validation_error, (type(self), self.args, self.reason, self.field))


def _rebuild_validation_error(
    cls: type[ValidationError], args: tuple[object, ...], reason: str | None, field: str | None
) -> ValidationError:
    return cls(*args, reason=reason, field=field)


class NaiveTimestampError(ValidationError):
    """A timestamp without a time zone where an instant is required; pass ``assume_tz``."""

    reason = "naive_timestamp"


class MixedCurrencyError(ValidationError):
    """Amounts in different currencies would be added; convert them first."""

    reason = "mixed_currency"


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
