"""Contact points: normalised e-mail addresses and phone numbers, and their hashes.

The same normalisers run wherever a contact point enters the library (ingest,
customer cards, suppression-list import, lookup), so that one person's address
always compares, deduplicates and hashes the same way (RELIABILITY.md ING-11,
SEC-05, SEC-06).  Normalisation is deterministic and idempotent:
``normalize_email(normalize_email(x)) == normalize_email(x)`` and likewise for
phones.

Reason codes
------------
Errors are :class:`~retention.exceptions.ValidationError` with a stable
``reason`` (public API; messages never contain the rejected value):

``invalid_email``
    not a string, or not a sane ``local@domain.tld`` address;
``invalid_phone``
    not a string, unparseable, no country code and no ``default_region``, or a
    digit count no number in that country can have;
``invalid_region``
    ``default_region`` is not a region the ``phonenumbers`` package knows;
``invalid_secret``
    the HMAC secret of :func:`contact_hash` is not non-empty ``bytes``;
``invalid_contact``, ``invalid_contact_kind``
    :func:`normalize_contact` got a non-string value, or a kind other than
    ``"email"``/``"phone"``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import unicodedata

import phonenumbers

from retention.exceptions import ValidationError

__all__ = [
    "ContactKind",
    "contact_hash",
    "contact_kind",
    "normalize_contact",
    "normalize_email",
    "normalize_phone",
]

_MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit minus the angle brackets
_MAX_LOCAL_LENGTH = 64
_MAX_LABEL_LENGTH = 63
_MIN_E164_DIGITS = 7  # the shortest numbers in service (Niue, Tokelau: +683 4002)
_ATEXT_SPECIALS = frozenset("!#$%&'*+-/=?^_`{|}~")


class ContactKind(enum.StrEnum):
    """The kinds of contact point that are normalised and hashed."""

    EMAIL = "email"
    PHONE = "phone"


def _invalid_email(why: str) -> ValidationError:
    return ValidationError(
        f"e-mail address is not valid: {why}; pass an address such as 'name@example.com'",
        reason="invalid_email",
        field="email",
    )


def _is_local_char(char: str) -> bool:
    if char.isascii():
        return char.isalnum() or char in _ATEXT_SPECIALS
    # RFC 6531 (internationalised addresses): letters, marks and digits of any script.
    return unicodedata.category(char)[0] in "LMN"


def _is_domain_char(char: str) -> bool:
    if char.isascii():
        return char.isalnum() or char == "-"
    return unicodedata.category(char)[0] in "LMN"


def _check_domain(domain: str) -> None:
    if not domain:
        raise _invalid_email("the domain after '@' is empty")
    labels = domain.split(".")
    if len(labels) < 2:  # a domain needs a name and a top-level domain
        raise _invalid_email("the domain has no '.' (local host names are not accepted)")
    for label in labels:
        if not label:
            raise _invalid_email("the domain has an empty label ('..' or a leading/trailing '.')")
        if len(label) > _MAX_LABEL_LENGTH:
            raise _invalid_email("a domain label is longer than 63 characters")
        if label.startswith("-") or label.endswith("-"):
            raise _invalid_email("a domain label starts or ends with '-'")
        if not all(_is_domain_char(char) for char in label):
            raise _invalid_email("the domain contains a character other than letters, digits, '-'")
    if labels[-1].isdigit():
        raise _invalid_email("the top-level domain is numeric (IP addresses are not accepted)")


def normalize_email(text: object) -> str:
    """Return the normalised form of an e-mail address.

    Normalisation trims surrounding whitespace, lower-cases the whole address
    (local part included, as every mainstream mailbox provider treats it
    case-insensitively) and applies Unicode NFC, so that equal addresses compare
    and hash equal.  Nothing else is rewritten: dots and ``+tags`` are kept.

    The accepted shape is ``local@domain``: a local part of at most 64 characters
    made of letters, digits, ``!#$%&'*+-/=?^_`{|}~`` and non-consecutive inner dots
    (letters and digits of any script are allowed, RFC 6531), and a domain of at
    least two dot-separated labels of letters, digits and inner hyphens with a
    non-numeric top-level label.  Quoted local parts, comments, IP-address
    literals and local host names are refused: they are valid in RFC 5322 but
    never a customer's mailbox.

    Parameters
    ----------
    text
        The address as entered.

    Returns
    -------
    str
        The normalised address.

    Raises
    ------
    ValidationError
        Reason ``invalid_email`` for anything that is not a string of that shape.
        The message says what is wrong without repeating the address.

    Examples
    --------
    >>> normalize_email("  Anna@Example.COM ")
    'anna@example.com'
    >>> normalize_email("anna.m+shop@example.co.uk")
    'anna.m+shop@example.co.uk'
    """
    if not isinstance(text, str):
        raise _invalid_email(f"expected a string, got {type(text).__name__}")
    address = unicodedata.normalize("NFC", text.strip().lower())
    if not address:
        raise _invalid_email("it is empty")
    if len(address) > _MAX_EMAIL_LENGTH:
        raise _invalid_email("it is longer than 254 characters")
    local, at, domain = address.rpartition("@")
    if not at:
        raise _invalid_email("it has no '@'")
    if not local:
        raise _invalid_email("the part before '@' is empty")
    if len(local) > _MAX_LOCAL_LENGTH:
        raise _invalid_email("the part before '@' is longer than 64 characters")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise _invalid_email("the part before '@' has a leading, trailing or double '.'")
    if not all(char == "." or _is_local_char(char) for char in local):
        raise _invalid_email("the part before '@' contains a character that is not allowed")
    _check_domain(domain)
    return address


def _invalid_phone(why: str) -> ValidationError:
    return ValidationError(
        f"phone number is not valid: {why}",
        reason="invalid_phone",
        field="phone",
    )


def _check_region(default_region: object) -> str | None:
    if default_region is None:
        return None
    if isinstance(default_region, str):
        region = default_region.strip().upper()
        if region in phonenumbers.SUPPORTED_REGIONS:
            return region
    msg = (
        f"default_region {default_region!r} is not a known region; pass an ISO 3166-1 "
        "alpha-2 code such as 'DE' or 'US', or None for numbers written with '+' and a "
        "country code"
    )
    raise ValidationError(msg, reason="invalid_region", field="default_region")


def normalize_phone(text: object, *, default_region: str | None = None) -> str:
    """Return a phone number in E.164 form (``+49301234567``).

    The number is parsed with the ``phonenumbers`` package.  A number written
    with ``+`` and a country code needs no region; a national number
    (``030 1234567``) is read in ``default_region`` and refused without one.
    The check is "possible number" (a digit count some number of that country
    can have, and at least 7 digits with the country code, the shortest numbers
    in service), not "assigned number", so that normalisation does not change
    when the numbering-plan metadata is updated.  ``00`` international prefixes
    and national trunk prefixes (``0``, ``8``, ``(0)``) are understood.
    Extensions are dropped, as E.164 has none.

    Parameters
    ----------
    text
        The number as entered: spaces, dashes, dots, brackets and a ``(0)`` trunk
        prefix are fine.
    default_region
        ISO 3166-1 alpha-2 region (``"DE"``) used for numbers without a country
        code.  Numbers with ``+`` ignore it.

    Returns
    -------
    str
        The E.164 form: ``+``, country code, national number, digits only.

    Raises
    ------
    ValidationError
        Reason ``invalid_phone`` if the text is not a string, cannot be parsed,
        has no country code and no region was given, or has a length no number
        of that country has; reason ``invalid_region`` if ``default_region`` is
        not a known region.

    Examples
    --------
    >>> normalize_phone("+49 (030) 1234-567")
    '+49301234567'
    >>> normalize_phone("030 1234567", default_region="DE")
    '+49301234567'
    """
    region = _check_region(default_region)
    if not isinstance(text, str):
        raise _invalid_phone(f"expected a string, got {type(text).__name__}")
    if not text.strip():
        raise _invalid_phone("it is empty")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            why = (
                "it has no valid country code; write it with '+' and the country code "
                "or pass default_region= (for example 'DE')"
            )
        else:
            why = "it cannot be read as a phone number"
        raise _invalid_phone(why) from None
    e164 = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    if len(e164) - 1 < _MIN_E164_DIGITS or not phonenumbers.is_possible_number(number):
        raise _invalid_phone("it has a number of digits that no number in its country has")
    return e164


def contact_kind(text: str) -> ContactKind:
    """Tell an e-mail address from a phone number by its shape (an ``@`` or not).

    >>> contact_kind("anna@example.com"), contact_kind("+49 30 1234567")
    (<ContactKind.EMAIL: 'email'>, <ContactKind.PHONE: 'phone'>)
    """
    return ContactKind.EMAIL if "@" in text else ContactKind.PHONE


def normalize_contact(
    text: object,
    *,
    kind: ContactKind | str | None = None,
    default_region: str | None = None,
) -> str:
    """Normalise an e-mail address or a phone number.

    Parameters
    ----------
    text
        The contact point as entered.
    kind
        ``"email"`` or ``"phone"``; ``None`` decides by shape (:func:`contact_kind`).
    default_region
        Region for national phone numbers, as in :func:`normalize_phone`.

    Returns
    -------
    str
        :func:`normalize_email` or :func:`normalize_phone` of ``text``.

    Raises
    ------
    ValidationError
        Reason ``invalid_email`` or ``invalid_phone`` (see above); a ``kind`` other
        than ``"email"`` or ``"phone"`` is a ValidationError too.
    """
    if kind is None:
        if not isinstance(text, str):
            msg = f"a contact point must be a string, got {type(text).__name__}"
            raise ValidationError(msg, reason="invalid_contact", field="contact")
        resolved = contact_kind(text)
    else:
        try:
            resolved = ContactKind(kind)
        except ValueError:
            msg = f"kind must be 'email' or 'phone', got {kind!r}"
            raise ValidationError(msg, reason="invalid_contact_kind", field="kind") from None
    if resolved is ContactKind.EMAIL:
        return normalize_email(text)
    return normalize_phone(text, default_region=default_region)


def _check_secret(secret: object) -> None:
    if secret is not None and not (isinstance(secret, bytes) and secret):
        msg = "secret must be non-empty bytes (or None for plain SHA-256)"
        raise ValidationError(msg, reason="invalid_secret", field="secret")


def contact_hash(
    value: str,
    *,
    secret: bytes | None,
    kind: ContactKind | str | None = None,
    default_region: str | None = None,
) -> str:
    """Hash a contact point for suppression lists and erasure.

    The value is first normalised (:func:`normalize_contact`), so that
    ``"  ANNA@example.com"`` and ``"anna@example.com"`` hash alike; the UTF-8 bytes
    of the normalised form are then hashed.  With a ``secret`` the hash is
    HMAC-SHA-256 keyed with it (what the stores keep after erasure, DESIGN.md
    decision 8); without one it is plain SHA-256, which is what pre-hashed
    suppression lists from ad platforms and other tools usually carry.

    Parameters
    ----------
    value
        An e-mail address or phone number, raw or already normalised.
    secret
        The deployment's secret key (non-empty bytes), or ``None`` for plain SHA-256.
    kind
        ``"email"`` or ``"phone"``; ``None`` decides by shape.
    default_region
        Region for national phone numbers.

    Returns
    -------
    str
        64 lower-case hexadecimal characters.

    Raises
    ------
    ValidationError
        Reasons ``invalid_email``, ``invalid_phone`` or ``invalid_region`` from the
        normalisers, ``invalid_secret`` if ``secret`` is neither ``None`` nor
        non-empty bytes.

    Examples
    --------
    >>> contact_hash("  Anna@Example.COM ", secret=None) == contact_hash(
    ...     "anna@example.com", secret=None)
    True
    >>> len(contact_hash("+49 30 1234567", secret=b"deployment-secret"))
    64
    """
    _check_secret(secret)
    data = normalize_contact(value, kind=kind, default_region=default_region).encode("utf-8")
    if secret is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(secret, data, hashlib.sha256).hexdigest()
