"""Domain types: customers, their consents and contact points, purchases and segments.

Every type is a frozen attrs class, validated and converted when it is built
(STYLE.md R1): converters only normalise (whitespace, case, time zone, number
representation), validators refuse what does not fit with a
:class:`~retention.exceptions.ValidationError` carrying a stable ``reason`` code
and the ``field`` at fault.  Change a value with :func:`attrs.evolve`, which
validates again.

Frames and rows are mapped explicitly (STYLE.md R2), never with
``Customer(**row)``: :func:`purchase_from_row`, :func:`purchase_to_row`,
:func:`purchases_from_frame`, :func:`purchases_to_frame`,
:func:`customer_from_row`, :func:`customer_to_row`, :func:`consent_from_row`,
:func:`consent_to_row`, :func:`segment_from_row` and :func:`segment_to_row`.

Reason codes
------------
Besides the contact codes of :mod:`retention.contacts` (``invalid_email``,
``invalid_phone``, ``invalid_region``) and the money codes of the amount
(``unknown_currency``, ``unparseable_amount``, ``missing_amount``,
``precision_loss``), the models raise:

=============================  ======================================================
``missing_customer_id``        customer id empty or blank
``malformed_customer_id``      customer id not a string or with surrounding whitespace
``missing_order_id``           order id empty or blank
``malformed_order_id``         order id not a string or with surrounding whitespace
``malformed_refund_of``        ``refund_of`` blank, padded or not a string
``refund_of_self``             an order names itself as the order it refunds
``negative_amount_not_refund`` negative amount on an order that is not a refund
``refund_sign_mismatch``       refund (``refund_of`` set) with a positive amount
``amount_out_of_range``        amount beyond 2**63 - 1 minor units (a BIGINT)
``missing_timestamp``          timestamp is ``None`` or ``NaT``
``invalid_timestamp``          timestamp is not a datetime (or an unreadable text)
``naive_timestamp``            timestamp without time zone (:class:`NaiveTimestampError`)
``kind_mismatch``              a frame's ``kind`` disagrees with its ``refund_of``
``invalid_timezone``           not an IANA time-zone name (``Berlin``, ``CET+1``)
``invalid_birthday``           birthday is not a date
``invalid_language``           language is not a BCP 47 tag (``de``, ``en-GB``)
``unknown_channel``            not one of :class:`ChannelKind`
``unknown_purpose``              not one of :class:`Purpose`
``invalid_topic``           topic not snake_case, or given for a non-marketing purpose
``unknown_source``             not one of :class:`PurchaseSource`
``unknown_segment_kind``       not one of :class:`SegmentKind`
``invalid_consent``            a consent is not a :class:`Consent` or ``granted`` not a bool
``invalid_item``               an item is not an :class:`Item`, or its SKU is blank
``invalid_quantity``           item quantity not a positive integer
``invalid_price``              item unit price negative or beyond a BIGINT of minor units
``invalid_text``               a text field is not a string
``invalid_social_profile``     social network or handle blank or not a string
``invalid_attribute``          attribute key not a string, or value not JSON-like
``invalid_segment_name``       segment name blank or padded
=============================  ======================================================
"""

from __future__ import annotations

import enum
import math
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import numpy as np
import pandas as pd

from retention._money import CURRENCY_EXPONENTS, from_minor, to_minor
from retention.contacts import (
    ContactKind,
    _check_region,
    contact_hash,
    normalize_email,
    normalize_phone,
)
from retention.exceptions import NaiveTimestampError, SchemaError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "CONSENT_COLUMNS",
    "TRANSACTION_COLUMNS",
    "ChannelKind",
    "Consent",
    "ContactKind",
    "ContactPoint",
    "Customer",
    "FieldIssue",
    "FrozenDict",
    "Item",
    "Purchase",
    "PurchaseSource",
    "Purpose",
    "Segment",
    "SegmentKind",
    "consent_from_row",
    "consent_to_row",
    "consents_to_frame",
    "customer_from_row",
    "customer_from_row_with_issues",
    "customer_to_row",
    "customers_with_consent",
    "normalize_time_zone",
    "purchase_from_row",
    "purchase_to_row",
    "purchases_from_frame",
    "purchases_to_frame",
    "segment_from_row",
    "segment_to_row",
]

#: Columns of the canonical transactions frame (as produced by ``retention.ingest``)
#: that :func:`purchases_to_frame` writes, in order.  :func:`purchases_from_frame`
#: needs ``customer_id``, ``order_id``, ``purchased_at``, ``amount_minor`` and
#: ``currency``; the others are optional there, as is ``line``.
TRANSACTION_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "order_id",
    "purchased_at",
    "amount_minor",
    "currency",
    "amount",
    "kind",
    "refund_of",
    "source",
    "category",
)
_REQUIRED_TRANSACTION_COLUMNS = (
    "customer_id",
    "order_id",
    "purchased_at",
    "amount_minor",
    "currency",
)

_MAX_MINOR = 2**63 - 1  # stores keep minor units in a signed 64-bit integer (BIGINT)
_MAX_AMOUNT_DIGITS = 19
_SUBTOPIC_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

K = TypeVar("K")
V = TypeVar("V")
E = TypeVar("E", bound=enum.Enum)


# --------------------------------------------------------------------------- enums


class ChannelKind(enum.StrEnum):
    """The kinds of channel a customer can be reached through."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    MESSENGER = "messenger"
    CALL = "call"
    POST = "post"


class Purpose(enum.StrEnum):
    """What a message is for; consent is recorded per channel and purpose.

    ``MARKETING`` needs explicit consent (default deny); ``TRANSACTIONAL``
    (receipts, delivery notices) and ``SERVICE`` (account and support messages)
    are recorded separately so that a host can honour opt-outs of them too.
    """

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"
    SERVICE = "service"


class PurchaseSource(enum.StrEnum):
    """Where an order was placed."""

    POS = "pos"
    SITE = "site"
    APP = "app"
    DELIVERY = "delivery"
    PHONE = "phone"
    MARKETPLACE = "marketplace"
    OTHER = "other"


class SegmentKind(enum.StrEnum):
    """How a segment is defined.

    ``RFM`` and ``REGULARITY`` segments partition the customers (each customer is in
    exactly one of each); ``LIFECYCLE`` segments (new, active, at risk, lost...) are
    a partition by state; ``RULE`` segments are memberships that may overlap.
    """

    RFM = "rfm"
    REGULARITY = "regularity"
    LIFECYCLE = "lifecycle"
    RULE = "rule"


# --------------------------------------------------------------------------- frozen mapping


class FrozenDict(Mapping[K, V]):
    """An immutable, hashable mapping that keeps insertion order.

    Used for the mapping fields of the frozen domain types (social profiles, free-form
    attributes), so that the types stay hashable and cannot be changed behind the
    validators' back.  Equal to any mapping with the same items.

    >>> profiles = FrozenDict({"instagram": "@anna"})
    >>> profiles["instagram"], profiles == {"instagram": "@anna"}
    ('@anna', True)
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = (), /) -> None:
        self._data: dict[K, V] = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        """Return the value of ``key``."""
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        """Iterate over the keys in insertion order."""
        return iter(self._data)

    def __len__(self) -> int:
        """Return the number of items."""
        return len(self._data)

    def __hash__(self) -> int:
        """Hash the items (every value must be hashable)."""
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        """Compare items with any mapping."""
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __reduce__(self) -> tuple[type[FrozenDict[K, V]], tuple[dict[K, V]]]:
        """Pickle the items only (a cached string hash is only valid in this process)."""
        return (type(self), (self._data,))

    def __repr__(self) -> str:
        """Show the items."""
        return f"FrozenDict({self._data!r})"


# --------------------------------------------------------------------------- helpers


def _hidden(value: object) -> str:
    """Render a personal field in ``repr`` without its content (RELIABILITY.md SEC-04)."""
    if value is None:
        return "None"
    if isinstance(value, tuple | Mapping):
        return f"<{len(value)} hidden>"
    return "<hidden>"


def _is_missing(value: object) -> bool:
    """Whether a scalar stands for "no value" (None, NaN, pandas NA or NaT)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _check_key(value: object, *, field: str, missing: str, malformed: str, what: str) -> str:
    if not isinstance(value, str):
        msg = f"{what} must be a string, got {type(value).__name__}"
        raise ValidationError(msg, reason=malformed, field=field)
    if not value.strip():
        msg = f"{what} is empty; every record needs one"
        raise ValidationError(msg, reason=missing, field=field)
    if value != value.strip():
        msg = f"{what} {value!r} has surrounding whitespace; strip it before passing it"
        raise ValidationError(msg, reason=malformed, field=field)
    return value


def _validate_customer_id(
    _instance: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    _check_key(
        value,
        field=attribute.name,
        missing="missing_customer_id",
        malformed="malformed_customer_id",
        what="customer id",
    )


def _validate_order_id(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_key(
        value,
        field=attribute.name,
        missing="missing_order_id",
        malformed="malformed_order_id",
        what="order id",
    )


def _validate_refund_of(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    _check_key(
        value,
        field=attribute.name,
        missing="malformed_refund_of",
        malformed="malformed_refund_of",
        what="refund_of (the refunded order id)",
    )


def _optional_text(value: object) -> str | None:
    """Strip a free-text field; a blank text becomes ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"expected a text or None, got {type(value).__name__}"
        raise ValidationError(msg, reason="invalid_text")
    stripped = value.strip()
    return stripped or None


def _to_utc(value: object, *, field: str) -> datetime:
    """Return an aware datetime as a plain ``datetime`` in UTC."""
    if value is None or value is pd.NaT:
        msg = f"{field} is missing; pass an aware datetime"
        raise ValidationError(msg, reason="missing_timestamp", field=field)
    if isinstance(value, pd.Timestamp):
        if value.nanosecond:
            msg = f"{field} has nanoseconds, which a datetime cannot hold; round it to microseconds"
            raise ValidationError(msg, reason="precision_loss", field=field)
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        msg = f"{field} must be a datetime, got {type(value).__name__}"
        raise ValidationError(msg, reason="invalid_timestamp", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = (
            f"{field} is a naive datetime; pass an aware one such as "
            "datetime(2024, 1, 31, 12, 0, tzinfo=UTC), or name the zone with assume_tz="
        )
        raise NaiveTimestampError(msg, field=field)
    return value.astimezone(UTC)


def _convert_enum(enum_type: type[E], value: object, *, reason: str, field: str) -> E:
    """Return ``value`` as a member of ``enum_type``; text is stripped and lower-cased."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        try:
            return enum_type(value.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(repr(member.value) for member in enum_type)
    msg = f"{field} must be one of {allowed}; got {value!r}"
    raise ValidationError(msg, reason=reason, field=field)


def _to_channel(value: object) -> ChannelKind:
    return _convert_enum(ChannelKind, value, reason="unknown_channel", field="channel")


def _to_purpose(value: object) -> Purpose:
    return _convert_enum(Purpose, value, reason="unknown_purpose", field="purpose")


def _to_contact_kind(value: object) -> ContactKind:
    return _convert_enum(ContactKind, value, reason="invalid_contact_kind", field="kind")


def _to_segment_kind(value: object) -> SegmentKind:
    return _convert_enum(SegmentKind, value, reason="unknown_segment_kind", field="kind")


def _to_source(value: object) -> PurchaseSource | None:
    if value is None:
        return None
    return _convert_enum(PurchaseSource, value, reason="unknown_source", field="source")


def _to_recorded_at(value: object) -> datetime:
    return _to_utc(value, field="recorded_at")


def _to_purchased_at(value: object) -> datetime:
    return _to_utc(value, field="purchased_at")


def _to_decimal(value: object, *, field: str) -> Decimal:
    """Convert an exact amount to Decimal; floats through their shortest repr."""
    if _is_missing(value):
        msg = f"{field} is missing; missing amounts are never read as 0"
        raise ValidationError(msg, reason="missing_amount", field=field)
    if isinstance(value, bool):
        msg = f"{field} must be a number, got a bool"
        raise ValidationError(msg, reason="unparseable_amount", field=field)
    if isinstance(value, float | np.floating):
        # repr() is the shortest text that reads back as the same float: 19.99 -> "19.99".
        value = repr(float(value))
    elif isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, str):
        value = value.strip()
    if not isinstance(value, Decimal | int | str):
        msg = f"{field} must be a Decimal, int, float or numeric text, got {type(value).__name__}"
        raise ValidationError(msg, reason="unparseable_amount", field=field)
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        msg = f"{field} is not a number; pass digits with '.' as the decimal point"
        raise ValidationError(msg, reason="unparseable_amount", field=field) from None
    if number.is_nan():
        msg = f"{field} is missing (NaN); missing amounts are never read as 0"
        raise ValidationError(msg, reason="missing_amount", field=field)
    if not number.is_finite():
        msg = f"{field} is not a finite number"
        raise ValidationError(msg, reason="unparseable_amount", field=field)
    return number


def _to_amount(value: object) -> Decimal:
    return _to_decimal(value, field="amount")


def _to_unit_price(value: object) -> Decimal:
    return _to_decimal(value, field="unit_price")


def _to_currency(value: object) -> str:
    if not isinstance(value, str):
        msg = f"currency must be an ISO 4217 code such as 'EUR', got {type(value).__name__}"
        raise ValidationError(msg, reason="unknown_currency", field="currency")
    code = value.strip().upper()
    if code not in CURRENCY_EXPONENTS:
        msg = f"unknown currency code {code!r}; use an ISO 4217 code such as 'EUR' or 'USD'"
        raise ValidationError(msg, reason="unknown_currency", field="currency")
    return code


def _unique(values: Iterable[V]) -> tuple[V, ...]:
    """Drop repeated values, keeping the first occurrence and the order."""
    return tuple(dict.fromkeys(values))


def _sequence(value: object, *, field: str, reason: str) -> list[object]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        msg = f"{field} must be a list or tuple, got {type(value).__name__}"
        raise ValidationError(msg, reason=reason, field=field)
    return list(value)


def _freeze_json(value: object, *, field: str) -> object:
    """Freeze a JSON-like value: mappings become FrozenDict, lists become tuples."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        msg = f"{field} holds a NaN or infinite number, which JSON cannot store"
        raise ValidationError(msg, reason="invalid_attribute", field=field)
    if isinstance(value, Mapping):
        return _freeze_mapping(value, field=field)
    if isinstance(value, list | tuple):
        return tuple(_freeze_json(item, field=field) for item in value)
    msg = (
        f"{field} holds a {type(value).__name__}; attributes take JSON values only "
        "(text, numbers, booleans, None, lists and mappings with text keys)"
    )
    raise ValidationError(msg, reason="invalid_attribute", field=field)


def _freeze_mapping(value: object, *, field: str) -> FrozenDict[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{field} must be a mapping, got {type(value).__name__}"
        raise ValidationError(msg, reason="invalid_attribute", field=field)
    frozen: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            msg = f"{field} has a key of type {type(key).__name__}; keys must be text"
            raise ValidationError(msg, reason="invalid_attribute", field=field)
        frozen[key] = _freeze_json(item, field=field)
    return FrozenDict(frozen)


def _thaw_json(value: object) -> object:
    if isinstance(value, Mapping):
        return {key: _thaw_json(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thaw_json(item) for item in value]
    return value


@cache
def _iana_zones() -> frozenset[str]:
    # "localtime" and "Factory" are files of the system database, not IANA zone names.
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})


def _check_time_zone(name: object, *, field: str = "time_zone") -> str:
    if isinstance(name, str) and name in _iana_zones():
        return name
    shown = repr(name) if isinstance(name, str) else type(name).__name__
    msg = (
        f"{field} {shown} is not an IANA time-zone name; use a name such as "
        "'Europe/Berlin' or 'America/New_York' (abbreviations and offsets like "
        "'CET+1' are ambiguous)"
    )
    raise ValidationError(msg, reason="invalid_timezone", field=field)


# --------------------------------------------------------------------------- consent


def _to_topic(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and _SUBTOPIC_PATTERN.fullmatch(value.strip().lower()):
        return value.strip().lower()
    msg = (
        "topic must be a snake_case name such as 'promotions' or 'replenishment' "
        f"(letters, digits, underscores; at most 63 characters), got {value!r}"
    )
    raise ValidationError(msg, reason="invalid_topic", field="topic")


def _validate_granted(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        msg = f"granted must be True or False, got {type(value).__name__}"
        raise ValidationError(msg, reason="invalid_consent", field="granted")


@attrs.frozen(kw_only=True)
class Consent:
    """One consent record: a customer granted or withdrew permission at an instant.

    Consent is kept per (channel, purpose), optionally narrowed to a finer marketing
    ``topic`` (``promotions``, ``replenishment``...) that a customer can opt out
    of alone (DESIGN.md decision 13).  Records are history: a later record for the
    same key supersedes an earlier one; :meth:`Customer.consent_for` picks the one
    in force.

    All fields are keyword-only.

    Parameters
    ----------
    channel
        A :class:`ChannelKind` or its value (``"email"``).
    purpose
        A :class:`Purpose` or its value (``"marketing"``).
    granted
        ``True`` for an opt-in, ``False`` for a withdrawal.
    recorded_at
        When the customer decided; aware, stored in UTC.
    source
        Where the decision was captured (``"checkout"``, ``"unsubscribe_link"``...).
    topic
        A finer marketing topic, snake_case; only with ``purpose="marketing"``.

    Raises
    ------
    ValidationError
        Reasons ``unknown_channel``, ``unknown_purpose``, ``invalid_consent``,
        ``invalid_topic``, ``missing_timestamp``, ``invalid_timestamp``;
        :class:`NaiveTimestampError` for a naive ``recorded_at``.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> consent = Consent(channel="EMAIL", purpose="marketing", granted=True,
    ...                   recorded_at=datetime(2024, 5, 1, 9, tzinfo=UTC), source="checkout")
    >>> consent.channel, consent.purpose
    (<ChannelKind.EMAIL: 'email'>, <Purpose.MARKETING: 'marketing'>)
    """

    channel: ChannelKind = attrs.field(converter=_to_channel)
    purpose: Purpose = attrs.field(converter=_to_purpose)
    granted: bool = attrs.field(validator=_validate_granted)
    recorded_at: datetime = attrs.field(converter=_to_recorded_at)
    source: str | None = attrs.field(default=None, converter=_optional_text)
    topic: str | None = attrs.field(default=None, converter=_to_topic)

    def __attrs_post_init__(self) -> None:
        """Refuse a topic on a purpose other than marketing."""
        if self.topic is not None and self.purpose is not Purpose.MARKETING:
            msg = f"topic is only for marketing consent, not {self.purpose.value!r}"
            raise ValidationError(msg, reason="invalid_topic", field="topic")

    def _sort_key(self) -> tuple[datetime, str, str, str, bool]:
        return (
            self.recorded_at,
            self.channel.value,
            self.purpose.value,
            self.topic or "",
            self.granted,
        )


def _to_consents(value: object) -> tuple[Consent, ...]:
    items = _sequence(value, field="consents", reason="invalid_consent")
    for item in items:
        if not isinstance(item, Consent):
            msg = (
                f"consents must hold Consent records, got {type(item).__name__}; "
                "build them with Consent(...) or consent_from_row(...)"
            )
            raise ValidationError(msg, reason="invalid_consent", field="consents")
    consents = [item for item in items if isinstance(item, Consent)]
    return _unique(sorted(consents, key=Consent._sort_key))  # noqa: SLF001 - same module


# --------------------------------------------------------------------------- contact point


@attrs.frozen
class ContactPoint:
    """A normalised e-mail address or phone number.

    The value is normalised with :mod:`retention.contacts` when the point is built;
    a phone written without ``+`` and a country code needs
    :meth:`ContactPoint.phone` with ``default_region``.  The value is left out of
    ``repr``.

    Examples
    --------
    >>> ContactPoint("email", "  Anna@Example.COM ").value
    'anna@example.com'
    >>> ContactPoint.phone("030 1234567", default_region="DE").value
    '+49301234567'
    """

    kind: ContactKind = attrs.field(converter=_to_contact_kind)
    value: str = attrs.field(repr=_hidden)

    def __attrs_post_init__(self) -> None:
        """Normalise the value for its kind."""
        if self.kind is ContactKind.EMAIL:
            normalised = normalize_email(self.value)
        else:
            normalised = normalize_phone(self.value)
        object.__setattr__(self, "value", normalised)

    @classmethod
    def email(cls, text: str) -> ContactPoint:
        """Build an e-mail contact point (trimmed, lower-cased, validated)."""
        return cls(ContactKind.EMAIL, normalize_email(text))

    @classmethod
    def phone(cls, text: str, *, default_region: str | None = None) -> ContactPoint:
        """Build a phone contact point in E.164, reading national numbers in ``default_region``."""
        return cls(ContactKind.PHONE, normalize_phone(text, default_region=default_region))

    def hash(self, *, secret: bytes | None) -> str:
        """Return :func:`retention.contacts.contact_hash` of this point (hex)."""
        return contact_hash(self.value, secret=secret, kind=self.kind)


# --------------------------------------------------------------------------- customer


def _normalize_each(
    values: object, normalize: Callable[[object], str], *, field: str, reason: str
) -> tuple[str, ...]:
    normalized = []
    for position, value in enumerate(_sequence(values, field=field, reason=reason), start=1):
        try:
            normalized.append(normalize(value))
        except ValidationError as error:
            msg = f"{field} entry {position}: {error}"
            raise ValidationError(msg, reason=error.reason, field=field) from None
    return _unique(normalized)


def _to_phones(value: object) -> tuple[str, ...]:
    return _normalize_each(value, normalize_phone, field="phones", reason="invalid_phone")


def _to_emails(value: object) -> tuple[str, ...]:
    return _normalize_each(value, normalize_email, field="emails", reason="invalid_email")


def _to_social_profiles(value: object) -> FrozenDict[str, str]:
    if not isinstance(value, Mapping):
        msg = f"social_profiles must map network to handle, got {type(value).__name__}"
        raise ValidationError(msg, reason="invalid_social_profile", field="social_profiles")
    profiles: dict[str, str] = {}
    for network, handle in value.items():
        if not (isinstance(network, str) and network.strip()):
            msg = "social_profiles has a blank or non-text network name"
            raise ValidationError(msg, reason="invalid_social_profile", field="social_profiles")
        if not (isinstance(handle, str) and handle.strip()):
            msg = f"social_profiles[{network.strip().lower()!r}] has a blank or non-text handle"
            raise ValidationError(msg, reason="invalid_social_profile", field="social_profiles")
        profiles[network.strip().lower()] = handle.strip()
    return FrozenDict(profiles)


def _to_preferred_channels(value: object) -> tuple[ChannelKind, ...]:
    items = _sequence(value, field="preferred_channels", reason="unknown_channel")
    return _unique(
        _convert_enum(ChannelKind, item, reason="unknown_channel", field="preferred_channels")
        for item in items
    )


def _to_attributes(value: object) -> FrozenDict[str, Any]:
    return _freeze_mapping(value, field="attributes")


def _to_time_zone(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    return _check_time_zone(value)


_LANGUAGE_TAG = re.compile(
    r"[A-Za-z]{2,3}"  # language
    r"(?:-[A-Za-z]{4})?"  # script
    r"(?:-(?:[A-Za-z]{2}|\d{3}))?"  # region
    r"(?:-[A-Za-z0-9]{5,8}|-\d[A-Za-z0-9]{3})*"  # variants
)


def _to_language(value: object) -> str | None:
    """Return a BCP 47 tag in canonical case (``de-DE``, ``zh-Hant-TW``), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        tag = value.strip().replace("_", "-")
        if _LANGUAGE_TAG.fullmatch(tag):
            subtags = tag.split("-")
            canonical = [subtags[0].lower()]
            for subtag in subtags[1:]:
                if len(subtag) == 4 and subtag.isalpha():
                    canonical.append(subtag.title())
                elif len(subtag) == 2 and subtag.isalpha():
                    canonical.append(subtag.upper())
                else:
                    canonical.append(subtag.lower())
            return "-".join(canonical)
    msg = f"language must be a BCP 47 tag such as 'de', 'en-GB' or 'zh-Hant-TW'; got {value!r}"
    raise ValidationError(msg, reason="invalid_language", field="language")


def _validate_birthday(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    _check_birthday(value)


def _check_birthday(value: object) -> None:
    if value is None:
        return
    if isinstance(value, datetime) or not isinstance(value, date):
        msg = f"birthday must be a date (not a datetime), got {type(value).__name__}"
        raise ValidationError(msg, reason="invalid_birthday", field="birthday")


def _validate_name(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"name must be a text, got {type(value).__name__}"
        raise ValidationError(msg, reason="invalid_text", field="name")


@attrs.frozen(kw_only=True)
class Customer:
    """A customer card: identity, contact points, preferences, consents and attributes.

    All fields are keyword-only.  The constructor normalises and validates every
    field; phone numbers must carry their country code (``+49 30 1234567``).  For
    cards whose phones are written nationally (``030 1234567``), build the
    customer with :meth:`Customer.create` and a ``default_region``, which reads
    those numbers in that region first: the region is a property of the data
    source, not of the customer, so it is not stored on the card.

    Parameters
    ----------
    customer_id
        Opaque, non-empty id without surrounding whitespace (``"00123"`` stays text).
    name
        Display name; surrounding whitespace is stripped and a blank name is ``None``.
    phones
        Phone numbers; normalised to E.164, repeated numbers dropped, order kept.
    emails
        E-mail addresses; trimmed, lower-cased and validated, repeats dropped.
    social_profiles
        Network -> handle (``{"instagram": "@anna"}``); network names lower-cased.
    birthday
        A :class:`datetime.date`, or ``None``.
    time_zone
        IANA name (``"Europe/Berlin"``) used for quiet hours and daily caps, or ``None``.
    language
        BCP 47 language tag for messages (``"de"``, ``"ru-RU"``, ``"zh-Hant-TW"``), written
        in its canonical case (language lower, script title, region upper), or ``None``.
    preferred_channels
        Channels in order of preference; repeats dropped.
    consents
        :class:`Consent` records (history); kept sorted by time, exact repeats dropped.
    acquisition_source
        How the customer came (``"instagram_ad"``, ``"referral"``...), or ``None``.
    loyalty_level
        The loyalty-programme level (``"silver"``), or ``None``.
    attributes
        Free-form JSON-like values (text, numbers, booleans, None, lists, mappings
        with text keys); frozen.

    Raises
    ------
    ValidationError
        With the ``reason`` and ``field`` at fault: ``missing_customer_id``,
        ``malformed_customer_id``, ``invalid_phone``, ``invalid_email``, ``invalid_language``,
        ``invalid_timezone``, ``invalid_birthday``, ``unknown_channel``,
        ``invalid_consent``, ``invalid_social_profile``, ``invalid_attribute``,
        ``invalid_text``.

    Personal fields (name, phones, e-mails, social profiles, birthday) are left
    out of ``repr``, so that a card written to a log or an assertion message does
    not carry them; read the attributes to see them.

    Examples
    --------
    >>> anna = Customer.create(
    ...     customer_id="c-1",
    ...     phones=["030 1234567"],
    ...     emails=["  Anna@Example.COM "],
    ...     time_zone="Europe/Berlin",
    ...     preferred_channels=["sms", "email"],
    ...     default_region="DE",
    ... )
    >>> anna.phones, anna.emails
    (('+49301234567',), ('anna@example.com',))
    >>> [channel.value for channel in anna.preferred_channels]
    ['sms', 'email']
    >>> anna.has_consent("email", "marketing")
    False
    """

    customer_id: str = attrs.field(validator=_validate_customer_id)
    name: str | None = attrs.field(default=None, validator=_validate_name, repr=_hidden)
    phones: tuple[str, ...] = attrs.field(default=(), converter=_to_phones, repr=_hidden)
    emails: tuple[str, ...] = attrs.field(default=(), converter=_to_emails, repr=_hidden)
    social_profiles: FrozenDict[str, str] = attrs.field(
        factory=FrozenDict, converter=_to_social_profiles, repr=_hidden
    )
    birthday: date | None = attrs.field(default=None, validator=_validate_birthday, repr=_hidden)
    time_zone: str | None = attrs.field(default=None, converter=_to_time_zone)
    language: str | None = attrs.field(default=None, converter=_to_language)
    preferred_channels: tuple[ChannelKind, ...] = attrs.field(
        default=(), converter=_to_preferred_channels
    )
    consents: tuple[Consent, ...] = attrs.field(default=(), converter=_to_consents)
    acquisition_source: str | None = attrs.field(default=None, converter=_optional_text)
    loyalty_level: str | None = attrs.field(default=None, converter=_optional_text)
    attributes: FrozenDict[str, Any] = attrs.field(factory=FrozenDict, converter=_to_attributes)

    def __attrs_post_init__(self) -> None:
        """Strip the name (a blank name is no name)."""
        if self.name is not None:
            object.__setattr__(self, "name", self.name.strip() or None)

    @classmethod
    def create(
        cls,
        *,
        customer_id: str,
        name: str | None = None,
        phones: Iterable[str] = (),
        emails: Iterable[str] = (),
        social_profiles: Mapping[str, str] | None = None,
        birthday: date | None = None,
        time_zone: str | None = None,
        language: str | None = None,
        preferred_channels: Iterable[ChannelKind | str] = (),
        consents: Iterable[Consent] = (),
        acquisition_source: str | None = None,
        loyalty_level: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        default_region: str | None = None,
    ) -> Customer:
        """Build a customer, reading national phone numbers in ``default_region``.

        Takes the same fields as the constructor plus ``default_region`` (ISO 3166-1
        alpha-2, such as ``"DE"``), used only for phones written without ``+`` and a
        country code.  Raises what the constructor raises, and ``invalid_region``
        for an unknown region.
        """
        return cls(
            customer_id=customer_id,
            name=name,
            phones=_normalize_phones(phones, default_region=default_region),
            emails=tuple(emails),
            social_profiles=social_profiles or {},
            birthday=birthday,
            time_zone=time_zone,
            language=language,
            preferred_channels=tuple(preferred_channels),
            consents=tuple(consents),
            acquisition_source=acquisition_source,
            loyalty_level=loyalty_level,
            attributes=attributes or {},
        )

    @property
    def contact_points(self) -> tuple[ContactPoint, ...]:
        """The e-mail addresses, then the phone numbers, as :class:`ContactPoint` values."""
        return tuple(ContactPoint(ContactKind.EMAIL, email) for email in self.emails) + tuple(
            ContactPoint(ContactKind.PHONE, phone) for phone in self.phones
        )

    @property
    def zone(self) -> tzinfo | None:
        """The customer's time zone as a :class:`zoneinfo.ZoneInfo`, or ``None``."""
        return None if self.time_zone is None else zoneinfo.ZoneInfo(self.time_zone)

    def consent_for(
        self,
        channel: ChannelKind | str,
        purpose: Purpose | str,
        *,
        topic: str | None = None,
    ) -> Consent | None:
        """Return the consent record in force for a channel and purpose, or ``None``.

        ``None`` means no record: for marketing that is a refusal (default deny).
        The record in force is the latest one for (channel, purpose); for a
        ``topic`` it is the latest among the general records of the purpose and the
        records of that topic, so a customer can opt out of ``"promotions"``
        alone, and a later opt-in or opt-out of all marketing applies to every
        topic.  When records share an instant, a withdrawal wins.

        Raises
        ------
        ValidationError
            Reasons ``unknown_channel``, ``unknown_purpose``, ``invalid_topic``.
        """
        wanted_channel = _to_channel(channel)
        wanted_purpose = _to_purpose(purpose)
        wanted_topic = _to_topic(topic)
        in_force: Consent | None = None
        for consent in self.consents:  # sorted by time; the last match wins
            if consent.channel is not wanted_channel or consent.purpose is not wanted_purpose:
                continue
            if consent.topic is not None and consent.topic != wanted_topic:
                continue
            if (
                in_force is None
                or consent.recorded_at > in_force.recorded_at
                or not consent.granted
            ):
                in_force = consent
        return in_force

    def has_consent(
        self,
        channel: ChannelKind | str,
        purpose: Purpose | str,
        *,
        topic: str | None = None,
    ) -> bool:
        """Whether the record in force (:meth:`consent_for`) grants the channel and purpose."""
        consent = self.consent_for(channel, purpose, topic=topic)
        return consent is not None and consent.granted

    def with_consent(self, consent: Consent) -> Customer:
        """Return a copy of the card with one more consent record."""
        return attrs.evolve(self, consents=(*self.consents, consent))


def _normalize_phones(phones: Iterable[str], *, default_region: str | None) -> tuple[str, ...]:
    region = _check_region(default_region)

    def normalize(text: object) -> str:
        return normalize_phone(text, default_region=region)

    return _normalize_each(phones, normalize, field="phones", reason="invalid_phone")


# --------------------------------------------------------------------------- purchase


def _validate_sku(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        msg = "sku must be a non-empty text without surrounding whitespace"
        raise ValidationError(msg, reason="invalid_item", field="sku")


def _validate_quantity(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        msg = f"quantity must be a positive integer, got {value!r}"
        raise ValidationError(msg, reason="invalid_quantity", field="quantity")


def _validate_unit_price(
    _instance: object, _attribute: attrs.Attribute[Any], value: Decimal
) -> None:
    if value < 0:
        msg = "unit_price must not be negative; a refund lists returned items at their price"
        raise ValidationError(msg, reason="invalid_price", field="unit_price")
    if value.adjusted() >= _MAX_AMOUNT_DIGITS:
        msg = "unit_price is beyond 2**63 - 1 minor units, which no store can hold"
        raise ValidationError(msg, reason="invalid_price", field="unit_price")


def _to_quantity(value: object) -> object:
    return int(value) if isinstance(value, np.integer) else value


@attrs.frozen(kw_only=True)
class Item:
    """One line of an order: a SKU, its category, how many, at what unit price.

    ``unit_price`` is in the order's currency and must be exact at its exponent
    (checked by :class:`Purchase`).  Items of a refund list what was returned, with
    positive quantities and prices.

    Raises
    ------
    ValidationError
        Reasons ``invalid_item`` (blank SKU), ``invalid_quantity``, ``invalid_price``,
        ``missing_amount``, ``unparseable_amount``.
    """

    sku: str = attrs.field(validator=_validate_sku)
    quantity: int = attrs.field(default=1, converter=_to_quantity, validator=_validate_quantity)
    unit_price: Decimal = attrs.field(converter=_to_unit_price, validator=_validate_unit_price)
    category: str | None = attrs.field(default=None, converter=_optional_text)

    @property
    def total(self) -> Decimal:
        """``quantity * unit_price``."""
        return self.unit_price * self.quantity


def _to_items(value: object) -> tuple[Item, ...]:
    items = _sequence(value, field="items", reason="invalid_item")
    for item in items:
        if not isinstance(item, Item):
            msg = f"items must hold Item records, got {type(item).__name__}"
            raise ValidationError(msg, reason="invalid_item", field="items")
    return tuple(item for item in items if isinstance(item, Item))


def _amount_out_of_range(order_id: str) -> ValidationError:
    msg = (
        f"order {order_id!r} has an amount beyond 2**63 - 1 minor units, which no store "
        "can hold; check the amount and its decimal separator"
    )
    return ValidationError(msg, reason="amount_out_of_range", field="amount")


@attrs.frozen(kw_only=True)
class Purchase:
    """An order, or a refund of one (``refund_of`` names the refunded order).

    Money is exact: ``amount`` is a :class:`~decimal.Decimal` that must be exact at
    the currency's ISO 4217 exponent and is stored at that exponent
    (``Decimal("19.9")`` EUR becomes ``Decimal("19.90")``; ``19.999`` EUR is refused);
    :attr:`amount_minor` gives integer minor units.  Floats are read through their
    shortest text (``19.99`` is exactly 19.99).  An order's amount is zero or
    positive; a refund's is zero or negative (RELIABILITY.md ING-03, ING-04).
    ``purchased_at`` must be aware and is converted to UTC.

    Parameters
    ----------
    order_id, customer_id
        Non-empty ids without surrounding whitespace.
    purchased_at
        When the order (or refund) happened; aware datetime or pandas Timestamp.
    amount
        Total of the order in ``currency`` (negative for a refund).
    currency
        ISO 4217 code; upper-cased.
    items
        :class:`Item` lines, possibly none.
    source
        A :class:`PurchaseSource` or its value, or ``None``.
    category
        Order-level category, as many purchase logs have one per row, or ``None``.
    refund_of
        The order id this row refunds, or ``None`` for an order.
    reason
        Why the customer bought (free text: ``"gift"``, ``"ran out"``), or ``None``.

    Raises
    ------
    ValidationError
        ``reason`` says why: ``missing_order_id``, ``malformed_order_id``,
        ``missing_customer_id``, ``malformed_customer_id``, ``missing_amount``,
        ``unparseable_amount``, ``precision_loss``, ``unknown_currency``,
        ``negative_amount_not_refund``, ``refund_sign_mismatch``, ``refund_of_self``,
        ``amount_out_of_range``,
        ``malformed_refund_of``, ``unknown_source``, ``invalid_item``,
        ``missing_timestamp``, ``invalid_timestamp``; :class:`NaiveTimestampError`
        for a naive ``purchased_at``.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> order = Purchase(order_id="A-1", customer_id="c-1",
    ...                  purchased_at=datetime(2024, 3, 1, 12, tzinfo=UTC),
    ...                  amount="19.9", currency="eur", source="site")
    >>> order.amount, order.amount_minor, order.currency, order.kind
    (Decimal('19.90'), 1990, 'EUR', 'purchase')
    """

    order_id: str = attrs.field(validator=_validate_order_id)
    customer_id: str = attrs.field(validator=_validate_customer_id)
    purchased_at: datetime = attrs.field(converter=_to_purchased_at)
    amount: Decimal = attrs.field(converter=_to_amount)
    currency: str = attrs.field(converter=_to_currency)
    items: tuple[Item, ...] = attrs.field(default=(), converter=_to_items)
    source: PurchaseSource | None = attrs.field(
        default=None,
        converter=_to_source,
    )
    category: str | None = attrs.field(default=None, converter=_optional_text)
    refund_of: str | None = attrs.field(default=None, validator=_validate_refund_of)
    reason: str | None = attrs.field(default=None, converter=_optional_text)

    def __attrs_post_init__(self) -> None:
        """Check exactness and sign, then store the amount at the currency exponent."""
        if self.amount.adjusted() >= _MAX_AMOUNT_DIGITS:
            raise _amount_out_of_range(self.order_id)
        minor = to_minor(self.amount, self.currency)  # precision_loss if not exact
        if abs(minor) > _MAX_MINOR:
            raise _amount_out_of_range(self.order_id)
        object.__setattr__(self, "amount", from_minor(minor, self.currency))
        if self.refund_of is None and minor < 0:
            msg = (
                f"order {self.order_id!r} has a negative amount but no refund_of; "
                "a refund must name the order it refunds in refund_of"
            )
            raise ValidationError(msg, reason="negative_amount_not_refund", field="amount")
        if self.refund_of is not None and minor > 0:
            msg = (
                f"refund {self.order_id!r} of order {self.refund_of!r} has a positive amount; "
                "refunds carry negative amounts"
            )
            raise ValidationError(msg, reason="refund_sign_mismatch", field="amount")
        if self.refund_of == self.order_id:
            msg = f"order {self.order_id!r} names itself in refund_of; name the refunded order"
            raise ValidationError(msg, reason="refund_of_self", field="refund_of")
        for item in self.items:
            try:
                to_minor(item.unit_price, self.currency)
            except ValidationError as error:
                msg = f"an item of order {self.order_id!r}: {error}"
                raise ValidationError(msg, reason=error.reason, field="items") from None

    @property
    def amount_minor(self) -> int:
        """The amount in integer minor units of the currency (1999 for 19.99 EUR)."""
        return to_minor(self.amount, self.currency)

    @property
    def is_refund(self) -> bool:
        """Whether this row refunds another order."""
        return self.refund_of is not None

    @property
    def kind(self) -> str:
        """``"refund"`` or ``"purchase"``, as in the canonical transactions frame."""
        return "refund" if self.refund_of is not None else "purchase"


# --------------------------------------------------------------------------- segment


def _validate_segment_name(
    _instance: object, _attribute: attrs.Attribute[Any], value: object
) -> None:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        msg = "segment name must be a non-empty text without surrounding whitespace"
        raise ValidationError(msg, reason="invalid_segment_name", field="name")


def _description(value: object) -> str:
    return _optional_text(value) or ""


@attrs.frozen
class Segment:
    """The definition of a segment: its name, how it is defined, what it means.

    >>> Segment("champions", "rfm", "bought recently, often and for a lot")
    Segment(name='champions', kind=<SegmentKind.RFM: 'rfm'>, \
description='bought recently, often and for a lot')
    """

    name: str = attrs.field(validator=_validate_segment_name)
    kind: SegmentKind = attrs.field(converter=_to_segment_kind)
    description: str = attrs.field(default="", converter=_description)


# --------------------------------------------------------------------------- row mappers


def _row_text(row: Mapping[str, Any], key: str) -> Any:  # noqa: ANN401 - row values are untyped
    """Return ``row[key]``, reading missing markers (None, NaN, NA, NaT, absent) as None."""
    value = row.get(key)
    return None if _is_missing(value) else value


def _row_value(row: Mapping[str, Any], key: str) -> Any:  # noqa: ANN401 - row values are untyped
    """Return ``row[key]`` or None; the domain type validates it."""
    return row.get(key)


def _row_datetime(value: object, *, field: str, assume_tz: str | None) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            msg = f"{field} is not an ISO 8601 timestamp"
            raise ValidationError(msg, reason="invalid_timestamp", field=field) from None
    if isinstance(value, pd.Timestamp) and value.tzinfo is None:
        value = _to_naive_datetime(value, field=field)
    if (
        assume_tz is not None
        and isinstance(value, datetime)
        and (value.tzinfo is None or value.utcoffset() is None)
    ):
        value = value.replace(
            tzinfo=zoneinfo.ZoneInfo(_check_time_zone(assume_tz, field="assume_tz"))
        )
    return _to_utc(value, field=field)


def _to_naive_datetime(value: pd.Timestamp, *, field: str) -> datetime:
    if value.nanosecond:
        msg = f"{field} has nanoseconds, which a datetime cannot hold; round it to microseconds"
        raise ValidationError(msg, reason="precision_loss", field=field)
    return value.to_pydatetime()


def _from_minor_value(minor: object, currency: str, *, field: str) -> Decimal:
    if isinstance(minor, bool) or not isinstance(minor, int | np.integer | float | np.floating):
        msg = f"{field} must be an integer number of minor units, got {type(minor).__name__}"
        raise ValidationError(msg, reason="unparseable_amount", field=field)
    if isinstance(minor, float | np.floating) and not float(minor).is_integer():
        msg = f"{field} must be a whole number of minor units"
        raise ValidationError(msg, reason="precision_loss", field=field)
    return from_minor(int(minor), currency)


def _row_amount(row: Mapping[str, Any], currency: str, *, name: str = "amount") -> Decimal:
    """Return the amount from ``<name>_minor`` if present, else from ``<name>``."""
    minor = _row_text(row, f"{name}_minor")
    if minor is not None:
        return _from_minor_value(minor, currency, field=f"{name}_minor")
    return _to_decimal(row.get(name), field=name)


def consent_to_row(consent: Consent) -> dict[str, Any]:
    """Map a :class:`Consent` to a plain dict (channel and purpose as their values).

    >>> from datetime import UTC, datetime
    >>> consent = Consent(channel="sms", purpose="service", granted=False,
    ...                   recorded_at=datetime(2024, 1, 1, tzinfo=UTC))
    >>> consent_to_row(consent)["purpose"]
    'service'
    """
    return {
        "channel": consent.channel.value,
        "purpose": consent.purpose.value,
        "topic": consent.topic,
        "granted": consent.granted,
        "recorded_at": consent.recorded_at,
        "source": consent.source,
    }


def consent_from_row(row: Mapping[str, Any], *, assume_tz: str | None = None) -> Consent:
    """Build a :class:`Consent` from a mapping with the keys of :func:`consent_to_row`.

    ``recorded_at`` may be an aware datetime or ISO 8601 text; a naive value is
    read in ``assume_tz`` if given (stores that hand back naive UTC pass ``"UTC"``),
    else it raises :class:`NaiveTimestampError`.  ``granted`` may be a bool or 0/1.
    """
    granted = _row_value(row, "granted")
    if isinstance(granted, np.bool_) or (
        isinstance(granted, int | np.integer)
        and not isinstance(granted, bool)
        and granted in (0, 1)
    ):
        granted = bool(granted)
    return Consent(
        channel=_row_value(row, "channel"),
        purpose=_row_value(row, "purpose"),
        granted=granted,
        recorded_at=_row_datetime(row.get("recorded_at"), field="recorded_at", assume_tz=assume_tz),
        source=_row_text(row, "source"),
        topic=_row_text(row, "topic"),
    )


def purchase_to_row(purchase: Purchase) -> dict[str, Any]:
    """Map a :class:`Purchase` to a storage row.

    Keys: ``order_id``, ``customer_id``, ``purchased_at`` (aware UTC datetime),
    ``amount_minor`` (int), ``currency``, ``kind`` (``"purchase"``/``"refund"``),
    ``refund_of``, ``source`` (text or None), ``category``, ``reason`` and ``items``,
    a list of dicts with ``sku``, ``category``, ``quantity`` and
    ``unit_price_minor`` (all JSON-ready).

    >>> from datetime import UTC, datetime
    >>> row = purchase_to_row(Purchase(order_id="A-1", customer_id="c-1",
    ...     purchased_at=datetime(2024, 3, 1, tzinfo=UTC), amount="5", currency="EUR"))
    >>> row["amount_minor"], row["kind"]
    (500, 'purchase')
    """
    return {
        "order_id": purchase.order_id,
        "customer_id": purchase.customer_id,
        "purchased_at": purchase.purchased_at,
        "amount_minor": purchase.amount_minor,
        "currency": purchase.currency,
        "kind": purchase.kind,
        "refund_of": purchase.refund_of,
        "source": None if purchase.source is None else purchase.source.value,
        "category": purchase.category,
        "reason": purchase.reason,
        "items": [
            {
                "sku": item.sku,
                "category": item.category,
                "quantity": item.quantity,
                "unit_price_minor": to_minor(item.unit_price, purchase.currency),
            }
            for item in purchase.items
        ],
    }


def purchase_from_row(row: Mapping[str, Any], *, assume_tz: str | None = None) -> Purchase:
    """Build a :class:`Purchase` from a storage row or a canonical-frame record.

    The amount comes from ``amount_minor`` (integer minor units) when the row has
    one, else from ``amount`` (Decimal, int, numeric text or float).  Missing
    markers (None, NaN, ``pd.NA``, ``NaT``) in optional keys read as absent.
    ``purchased_at`` may be an aware datetime, a pandas Timestamp or ISO 8601 text;
    a naive value is read in ``assume_tz`` if given (SQLite hands back naive UTC:
    pass ``"UTC"``), else :class:`NaiveTimestampError`.  ``items`` is optional, a
    list of mappings with ``sku``, ``quantity``, ``category`` and ``unit_price_minor``
    or ``unit_price``.  If the row has a ``kind``, it must agree with ``refund_of``
    (reason ``kind_mismatch``).

    Raises
    ------
    ValidationError
        What :class:`Purchase` raises, and ``kind_mismatch``.
    """
    currency = row.get("currency")
    refund_of = _row_text(row, "refund_of")
    kind = _row_text(row, "kind")
    if kind is not None and kind != ("refund" if refund_of is not None else "purchase"):
        msg = (
            f"order {row.get('order_id')!r} has kind {kind!r} but "
            f"{'a' if refund_of is not None else 'no'} refund_of; a refund is a row whose "
            "refund_of names its parent order"
        )
        raise ValidationError(msg, reason="kind_mismatch", field="kind")
    currency_code = _to_currency(currency)
    raw_items = _row_text(row, "items") or ()
    items = [
        _item_from_row(item, currency_code)
        for item in _sequence(raw_items, field="items", reason="invalid_item")
    ]
    return Purchase(
        order_id=_row_value(row, "order_id"),
        customer_id=_row_value(row, "customer_id"),
        purchased_at=_row_datetime(
            row.get("purchased_at"), field="purchased_at", assume_tz=assume_tz
        ),
        amount=_row_amount(row, currency_code),
        currency=currency_code,
        items=items,
        source=_row_text(row, "source"),
        category=_row_text(row, "category"),
        refund_of=refund_of,
        reason=_row_text(row, "reason"),
    )


def _mapping(value: object, *, field: str, reason: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{field} must hold mappings, got {type(value).__name__}"
        raise ValidationError(msg, reason=reason, field=field)
    return value


def _item_from_row(value: object, currency: str) -> Item:
    row = _mapping(value, field="items", reason="invalid_item")
    return Item(
        sku=_row_value(row, "sku"),
        quantity=row.get("quantity", 1),
        unit_price=_row_amount(row, currency, name="unit_price"),
        category=_row_text(row, "category"),
    )


def customer_to_row(customer: Customer) -> dict[str, Any]:
    """Map a :class:`Customer` to a dict of plain, JSON-ready values.

    Keys are the field names; ``phones``, ``emails`` and ``preferred_channels``
    become lists of text, ``social_profiles`` and ``attributes`` plain dicts (nested
    lists and dicts thawed), ``consents`` a list of :func:`consent_to_row` dicts.
    ``birthday`` stays a :class:`datetime.date` (or None) and consent times stay
    aware datetimes.

    >>> customer_to_row(Customer(customer_id="c-1", emails=["A@B.DE"]))["emails"]
    ['a@b.de']
    """
    return {
        "customer_id": customer.customer_id,
        "name": customer.name,
        "phones": list(customer.phones),
        "emails": list(customer.emails),
        "social_profiles": dict(customer.social_profiles),
        "birthday": customer.birthday,
        "time_zone": customer.time_zone,
        "language": customer.language,
        "preferred_channels": [channel.value for channel in customer.preferred_channels],
        "consents": [consent_to_row(consent) for consent in customer.consents],
        "acquisition_source": customer.acquisition_source,
        "loyalty_level": customer.loyalty_level,
        "attributes": _thaw_json(customer.attributes),
    }


def _row_birthday(row: Mapping[str, Any]) -> Any:  # noqa: ANN401 - validated by Customer
    birthday = _row_text(row, "birthday")
    if isinstance(birthday, str):
        try:
            return date.fromisoformat(birthday.strip())
        except ValueError:
            msg = "birthday is not an ISO date (YYYY-MM-DD)"
            raise ValidationError(msg, reason="invalid_birthday", field="birthday") from None
    if isinstance(birthday, pd.Timestamp | datetime):
        msg = "birthday must be a date, not a timestamp"
        raise ValidationError(msg, reason="invalid_birthday", field="birthday")
    return birthday


def customer_from_row(
    row: Mapping[str, Any],
    *,
    default_region: str | None = None,
    assume_tz: str | None = None,
) -> Customer:
    """Build a :class:`Customer` from a mapping with the keys of :func:`customer_to_row`.

    Only ``customer_id`` is required; absent or missing values (None, NaN, NA) read
    as empty.  ``birthday`` may be a date or ISO ``YYYY-MM-DD`` text.  National phone
    numbers are read in ``default_region``; naive consent times in ``assume_tz``.

    Raises
    ------
    ValidationError
        What :class:`Customer` and :func:`consent_from_row` raise.
    """
    birthday = _row_birthday(row)
    consents = _row_text(row, "consents") or ()
    return Customer.create(
        customer_id=_row_value(row, "customer_id"),
        name=_row_text(row, "name"),
        phones=_row_text(row, "phones") or (),
        emails=_row_text(row, "emails") or (),
        social_profiles=_row_text(row, "social_profiles") or {},
        birthday=birthday,
        time_zone=_row_text(row, "time_zone"),
        language=_row_text(row, "language"),
        preferred_channels=_row_text(row, "preferred_channels") or (),
        consents=[
            consent_from_row(
                _mapping(consent, field="consents", reason="invalid_consent"), assume_tz=assume_tz
            )
            for consent in _sequence(consents, field="consents", reason="invalid_consent")
        ],
        acquisition_source=_row_text(row, "acquisition_source"),
        loyalty_level=_row_text(row, "loyalty_level"),
        attributes=_row_text(row, "attributes") or {},
        default_region=default_region,
    )


def segment_to_row(segment: Segment) -> dict[str, Any]:
    """Map a :class:`Segment` to ``{"name", "kind", "description"}``."""
    return {"name": segment.name, "kind": segment.kind.value, "description": segment.description}


def segment_from_row(row: Mapping[str, Any]) -> Segment:
    """Build a :class:`Segment` from a mapping with the keys of :func:`segment_to_row`."""
    return Segment(
        _row_value(row, "name"), _row_value(row, "kind"), _row_text(row, "description") or ""
    )


# --------------------------------------------------------------------------- frame mappers


def _text_series(values: Sequence[str | None]) -> pd.Series:
    # dtype=str is the default string dtype: "str" on pandas 3, object on pandas 2.2.
    return pd.Series(values, dtype=str)


def purchases_to_frame(purchases: Iterable[Purchase]) -> pd.DataFrame:
    """Build the canonical transactions frame from purchases.

    Returns
    -------
    pandas.DataFrame
        One row per purchase, in the given order, with a default RangeIndex and the
        columns of :data:`TRANSACTION_COLUMNS`: ``customer_id``, ``order_id`` (text),
        ``purchased_at`` (``datetime64[us, UTC]``), ``amount_minor`` (int64),
        ``currency`` (text), ``amount`` (float64, for numerics only), ``kind``
        (``"purchase"``/``"refund"``), ``refund_of``, ``source``, ``category``
        (text, missing where absent).  Items and ``reason`` are not part of the
        frame; rows (:func:`purchase_to_row`) keep them.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> frame = purchases_to_frame([Purchase(order_id="A-1", customer_id="c-1",
    ...     purchased_at=datetime(2024, 3, 1, tzinfo=UTC), amount="19.99", currency="EUR")])
    >>> int(frame.loc[0, "amount_minor"]), float(frame.loc[0, "amount"])
    (1999, 19.99)
    """
    records = list(purchases)
    currencies = [purchase.currency for purchase in records]
    amount_minor = np.array([purchase.amount_minor for purchase in records], dtype=np.int64)
    exponents = np.array([CURRENCY_EXPONENTS[code] for code in currencies], dtype=np.int64)
    purchased_at = pd.DatetimeIndex(
        pd.to_datetime([purchase.purchased_at for purchase in records], utc=True)
    ).as_unit("us")
    return pd.DataFrame(
        {
            "customer_id": _text_series([purchase.customer_id for purchase in records]),
            "order_id": _text_series([purchase.order_id for purchase in records]),
            "purchased_at": pd.Series(purchased_at),
            "amount_minor": pd.Series(amount_minor, dtype=np.int64),
            "currency": _text_series(currencies),
            "amount": pd.Series(amount_minor / np.power(10.0, exponents), dtype=np.float64),
            "kind": _text_series([purchase.kind for purchase in records]),
            "refund_of": _text_series([purchase.refund_of for purchase in records]),
            "source": _text_series(
                [None if purchase.source is None else purchase.source.value for purchase in records]
            ),
            "category": _text_series([purchase.category for purchase in records]),
        },
        columns=list(TRANSACTION_COLUMNS),
    )


def _utc_values(column: pd.Series, *, frame_name: str) -> list[object]:
    """Return the ``purchased_at`` column as UTC datetimes (or raw values to convert)."""
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        index = pd.DatetimeIndex(column).tz_convert("UTC")
        if bool((index.nanosecond != 0).any()):
            msg = f"{frame_name}['purchased_at'] has nanoseconds, which a datetime cannot hold"
            raise ValidationError(msg, reason="precision_loss", field="purchased_at")
        return [None if value is pd.NaT else value for value in index.to_pydatetime()]
    if pd.api.types.is_datetime64_dtype(dtype):
        msg = (
            f"{frame_name}['purchased_at'] holds naive datetimes; canonical transactions are "
            "UTC: localise the column (Series.dt.tz_localize) or ingest with assume_tz="
        )
        raise NaiveTimestampError(msg, field="purchased_at")
    return column.tolist()


def _column(frame: pd.DataFrame, name: str) -> list[object] | None:
    """Return the column's values as Python objects, or ``None`` if there is no such column."""
    return frame[name].tolist() if name in frame.columns else None


def _require_frame(frame: object, *, frame_name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        msg = f"{frame_name} must be a pandas DataFrame, got {type(frame).__name__}"
        raise SchemaError(msg)


def purchases_from_frame(
    frame: pd.DataFrame, *, frame_name: str = "transactions"
) -> list[Purchase]:
    """Build purchases from a canonical transactions frame (see :func:`purchases_to_frame`).

    Parameters
    ----------
    frame
        With columns ``customer_id``, ``order_id``, ``purchased_at`` (tz-aware),
        ``amount_minor`` and ``currency``; optional ``kind``, ``refund_of``,
        ``source``, ``category`` and ``line`` (1-based source line, used in error
        messages).  ``amount`` (float) is ignored: the exact amount comes from
        ``amount_minor``.  The frame is not modified.
    frame_name
        How to call the frame in error messages.

    Returns
    -------
    list of Purchase
        In row order.

    Raises
    ------
    SchemaError
        If a required column is missing.
    ValidationError
        The first bad row's error, with its reason code, prefixed with the row's
        line (or position); :class:`NaiveTimestampError` for a naive column.
    """
    _require_frame(frame, frame_name=frame_name)
    missing = [name for name in _REQUIRED_TRANSACTION_COLUMNS if name not in frame.columns]
    if missing:
        present = ", ".join(repr(str(name)) for name in frame.columns) or "(none)"
        msg = (
            f"{frame_name} has no column {', '.join(map(repr, missing))}. Columns present: "
            f"{present}. purchases_from_frame reads canonical transactions (retention.ingest "
            f"output) with columns {', '.join(map(repr, _REQUIRED_TRANSACTION_COLUMNS))}."
        )
        raise SchemaError(msg, reason="missing_column")
    columns: dict[str, list[object]] = {
        name: frame[name].tolist()
        for name in ("customer_id", "order_id", "amount_minor", "currency")
    }
    columns["purchased_at"] = _utc_values(frame["purchased_at"], frame_name=frame_name)
    for name in ("kind", "refund_of", "source", "category", "line"):
        values = _column(frame, name)
        if values is not None:
            columns[name] = values
    purchases: list[Purchase] = []
    for position in range(len(frame)):
        row = {name: values[position] for name, values in columns.items()}
        try:
            purchases.append(purchase_from_row(row))
        except ValidationError as error:
            line = row.get("line")
            where = f"line {line}" if not _is_missing(line) else f"row {position}"
            msg = f"{frame_name} {where}: {error}"
            raise type(error)(msg, reason=error.reason, field=error.field) from error
    return purchases


#: Columns of the consents frame written by :func:`consents_to_frame`, in order.
CONSENT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "channel",
    "purpose",
    "topic",
    "granted",
    "recorded_at",
    "source",
)


def consents_to_frame(customers: Iterable[Customer]) -> pd.DataFrame:
    """Flatten the consent histories of customers into one frame, one row per record.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`CONSENT_COLUMNS`: ``customer_id``, ``channel``, ``purpose``,
        ``topic`` (text, missing for records of a whole purpose), ``granted`` (bool),
        ``recorded_at`` (``datetime64[us, UTC]``) and ``source`` (text, may be missing);
        customers in the given order, each one's records in time order.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> card = Customer(customer_id="c-1", consents=[Consent(channel="sms", purpose="marketing",
    ...     granted=True, recorded_at=datetime(2024, 1, 1, tzinfo=UTC))])
    >>> consents_to_frame([card])[["customer_id", "channel", "granted"]].to_numpy().tolist()
    [['c-1', 'sms', True]]
    """
    pairs = [
        (customer.customer_id, consent) for customer in customers for consent in customer.consents
    ]
    recorded_at = pd.DatetimeIndex(
        pd.to_datetime([consent.recorded_at for _, consent in pairs], utc=True)
    ).as_unit("us")
    return pd.DataFrame(
        {
            "customer_id": _text_series([customer_id for customer_id, _ in pairs]),
            "channel": _text_series([consent.channel.value for _, consent in pairs]),
            "purpose": _text_series([consent.purpose.value for _, consent in pairs]),
            "topic": _text_series([consent.topic for _, consent in pairs]),
            "granted": pd.Series([consent.granted for _, consent in pairs], dtype=bool),
            "recorded_at": pd.Series(recorded_at),
            "source": _text_series([consent.source for _, consent in pairs]),
        },
        columns=list(CONSENT_COLUMNS),
    )


def customers_with_consent(
    consents: pd.DataFrame,
    *,
    channel: ChannelKind | str,
    purpose: Purpose | str,
    topic: str | None = None,
) -> pd.Index:
    """Return the ids of the customers whose consent in force grants a channel and purpose.

    The vectorised form of :meth:`Customer.has_consent` over a consents frame (as
    :func:`consents_to_frame` writes it, or as a store returns it): per customer,
    the latest record for (channel, purpose) decides, together with the records of
    ``topic`` when one is asked for; at equal times a withdrawal wins.  Customers
    without an applicable record are not in the result (default deny).

    Parameters
    ----------
    consents
        Frame with columns ``customer_id``, ``channel``, ``purpose``, ``granted``,
        ``recorded_at`` and, optionally, ``topic``.
    channel, purpose
        What the message would use and be for.
    topic
        A finer marketing topic (``"promotions"``), or ``None`` for the purpose as a whole.

    Returns
    -------
    pandas.Index
        Customer ids, named ``customer_id``, in first-appearance order.

    Raises
    ------
    SchemaError
        If a required column is missing.
    ValidationError
        For an unknown channel, purpose or topic name.
    """
    _require_frame(consents, frame_name="consents")
    required = ("customer_id", "channel", "purpose", "granted", "recorded_at")
    missing = [name for name in required if name not in consents.columns]
    if missing:
        present = ", ".join(repr(str(name)) for name in consents.columns) or "(none)"
        msg = (
            f"consents has no column {', '.join(map(repr, missing))}. Columns present: "
            f"{present}. Build the frame with consents_to_frame(customers)."
        )
        raise SchemaError(msg, reason="missing_column")
    wanted_channel = _to_channel(channel).value
    wanted_purpose = _to_purpose(purpose).value
    wanted_topic = _to_topic(topic)
    applicable = (consents["channel"] == wanted_channel) & (consents["purpose"] == wanted_purpose)
    if "topic" in consents.columns:
        scope = consents["topic"].isna()
        if wanted_topic is not None:
            scope |= consents["topic"] == wanted_topic
        applicable &= scope
    records = consents.loc[applicable, ["customer_id", "granted", "recorded_at"]]
    # Latest record last; at equal times grants before withdrawals, so a withdrawal wins.
    ordered = records.assign(_withdrawn=~records["granted"].astype(bool)).sort_values(
        ["recorded_at", "_withdrawn"], kind="stable"
    )
    in_force = ordered.drop_duplicates("customer_id", keep="last")
    granted_ids = in_force.loc[in_force["granted"].astype(bool), "customer_id"]
    first_seen = records["customer_id"].drop_duplicates()
    result: pd.Index = pd.Index(first_seen[first_seen.isin(granted_ids)], name="customer_id")
    return result


def normalize_time_zone(name: object) -> str:
    """Return an IANA time-zone name with surrounding whitespace removed.

    Names are checked against the IANA database (``zoneinfo``), exactly as
    written: ``"Europe/Berlin"`` is accepted; ``"Berlin"``, ``"europe/berlin"``,
    ``"CET+1"`` and ``"localtime"`` are not (RELIABILITY.md ING-13).

    Raises
    ------
    ValidationError
        Reason ``invalid_timezone``.

    Examples
    --------
    >>> normalize_time_zone(" Europe/Moscow ")
    'Europe/Moscow'
    """
    if isinstance(name, str):
        name = name.strip()
    return _check_time_zone(name)


@attrs.frozen
class FieldIssue:
    """A field-level problem in a customer card that was kept without the bad value.

    Attributes
    ----------
    field : str
        ``"phones"``, ``"emails"``, ``"time_zone"`` or ``"birthday"``.
    reason : str
        The reason code (``invalid_phone``, ``invalid_email``, ``invalid_timezone``,
        ``invalid_birthday``).
    position : int or None
        1-based position of the entry in a list field, else ``None``.
    """

    field: str
    reason: str
    position: int | None = None


def customer_from_row_with_issues(
    row: Mapping[str, Any],
    *,
    default_region: str | None = None,
    assume_tz: str | None = None,
    default_time_zone: str | None = None,
) -> tuple[Customer, tuple[FieldIssue, ...]]:
    """Build a customer card, leaving out unusable contact values and reporting them.

    Like :func:`customer_from_row`, but a phone number or e-mail address that
    cannot be normalised, a time zone that is not an IANA name and an unreadable
    birthday do not reject the card: the value is left out (the channel it would
    serve is unusable) and a :class:`FieldIssue` names the field, reason code and
    position, with no personal data (RELIABILITY.md ING-11, ING-13).  A bad time
    zone is replaced by ``default_time_zone`` only if one is given, never silently
    by UTC.  Everything else (the id, consents, channels, attributes) is checked
    as strictly as by :func:`customer_from_row`: a consent record is never dropped.

    Returns
    -------
    tuple of (Customer, tuple of FieldIssue)

    Raises
    ------
    ValidationError
        As :func:`customer_from_row` for the strict fields, and ``invalid_region`` or
        ``invalid_timezone`` for a bad ``default_region`` or ``default_time_zone``.

    Examples
    --------
    >>> card, issues = customer_from_row_with_issues(
    ...     {"customer_id": "c-1", "phones": ["030 1234567", "12"], "time_zone": "Berlin"},
    ...     default_region="DE")
    >>> card.phones, card.time_zone
    (('+49301234567',), None)
    >>> [(issue.field, issue.reason, issue.position) for issue in issues]
    [('phones', 'invalid_phone', 2), ('time_zone', 'invalid_timezone', None)]
    """
    region = _check_region(default_region)
    fallback_zone = None if default_time_zone is None else normalize_time_zone(default_time_zone)
    issues: list[FieldIssue] = []

    def usable(field: str, normalize: Callable[[object], str]) -> list[str]:
        kept: list[str] = []
        values = _sequence(_row_text(row, field) or (), field=field, reason=f"invalid_{field[:-1]}")
        for position, value in enumerate(values, start=1):
            try:
                kept.append(normalize(value))
            except ValidationError as error:
                issues.append(FieldIssue(field, error.reason or f"invalid_{field[:-1]}", position))
        return kept

    phones = usable("phones", lambda text: normalize_phone(text, default_region=region))
    emails = usable("emails", normalize_email)
    time_zone = _row_text(row, "time_zone")
    if time_zone is not None:
        try:
            time_zone = normalize_time_zone(time_zone)
        except ValidationError:
            issues.append(FieldIssue("time_zone", "invalid_timezone"))
            time_zone = fallback_zone
    try:
        birthday = _row_birthday(row)
        _check_birthday(birthday)
    except ValidationError:
        issues.append(FieldIssue("birthday", "invalid_birthday"))
        birthday = None
    cleaned = {
        **row,
        "phones": phones,
        "emails": emails,
        "time_zone": time_zone,
        "birthday": birthday,
    }
    return customer_from_row(cleaned, assume_tz=assume_tz), tuple(issues)
