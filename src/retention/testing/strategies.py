"""Hypothesis strategies for the domain types (needs ``hypothesis``, the ``test`` extra).

Use them in property tests of any area::

    from hypothesis import given
    from retention.testing import strategies as rst

    @given(purchase=rst.purchases())
    def test_round_trip(purchase):
        assert purchase_from_row(purchase_to_row(purchase)) == purchase

Every strategy draws valid objects; contact points are drawn in raw, untidy
spellings (padding, upper case, national formats where a region is known) where
that matters, and the phone numbers are real-format numbers of a fixed set of
regions.
"""

from __future__ import annotations

import string
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import phonenumbers
from hypothesis import strategies as st

if TYPE_CHECKING:
    from collections.abc import Callable

from retention._money import CURRENCY_EXPONENTS, from_minor
from retention.models import (
    ChannelKind,
    Consent,
    Customer,
    Item,
    Purchase,
    PurchaseSource,
    Purpose,
    Segment,
    SegmentKind,
    _iana_zones,
)

__all__ = [
    "CURRENCIES",
    "INGEST_COLUMNS",
    "PHONE_REGIONS",
    "aware_datetimes",
    "consents",
    "currencies",
    "customer_ids",
    "customers",
    "emails",
    "ingest_frames",
    "items",
    "order_ids",
    "phone_numbers",
    "purchases",
    "raw_phone_numbers",
    "segments",
    "time_zones",
    "transaction_frames",
]

#: Currencies drawn by default: exponents 2 (EUR, USD, RUB), 0 (JPY) and 3 (BHD).
CURRENCIES: tuple[str, ...] = ("EUR", "USD", "RUB", "JPY", "BHD")

#: Regions whose example numbers seed :func:`phone_numbers`.
PHONE_REGIONS: tuple[str, ...] = ("DE", "US", "GB", "FR", "RU", "IN", "BR", "JP", "AU", "CH")

_ID_ALPHABET = string.ascii_letters + string.digits + "-_./:#"
_LOCAL_ALPHABET = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
_LABEL_ALPHABET = string.ascii_lowercase + string.digits
_EARLIEST = datetime(2000, 1, 1)  # noqa: DTZ001 - hypothesis bounds are naive by contract
_LATEST = datetime(2035, 12, 31)  # noqa: DTZ001 - hypothesis bounds are naive by contract
_ZONES = ("UTC", "Europe/Berlin", "Europe/Moscow", "America/New_York", "Asia/Kolkata")


def _ids(prefix: str) -> st.SearchStrategy[str]:
    return st.text(_ID_ALPHABET, min_size=1, max_size=12).map(lambda text: f"{prefix}{text}")


def customer_ids() -> st.SearchStrategy[str]:
    """Draw customer ids: short texts such as ``"c-a1"``, never blank or padded."""
    return _ids("c-")


def order_ids() -> st.SearchStrategy[str]:
    """Draw order ids such as ``"o-1x"``."""
    return _ids("o-")


def currencies() -> st.SearchStrategy[str]:
    """Draw one of :data:`CURRENCIES`."""
    return st.sampled_from(CURRENCIES)


def time_zones() -> st.SearchStrategy[str]:
    """Draw any IANA time-zone name the library accepts."""
    return st.sampled_from(sorted(_iana_zones()))


def aware_datetimes(
    *,
    min_value: datetime = _EARLIEST,
    max_value: datetime = _LATEST,
) -> st.SearchStrategy[datetime]:
    """Draw aware datetimes in a few zones (naive bounds, as hypothesis takes them)."""
    return st.datetimes(
        min_value=min_value,
        max_value=max_value,
        timezones=st.sampled_from([ZoneInfo(zone) for zone in _ZONES]),
    )


def _padded(text: str) -> str:
    return f"  {text} "


def emails() -> st.SearchStrategy[str]:
    """Draw valid e-mail addresses, sometimes in upper case or with surrounding spaces."""
    local = st.lists(st.text(_LOCAL_ALPHABET, min_size=1, max_size=10), min_size=1, max_size=3).map(
        ".".join
    )
    label = st.text(_LABEL_ALPHABET, min_size=1, max_size=10)
    tld = st.text(string.ascii_lowercase, min_size=2, max_size=6)
    domain = st.tuples(st.lists(label, min_size=1, max_size=3), tld).map(
        lambda parts: ".".join([*parts[0], parts[1]])
    )
    address = st.tuples(local, domain).map(lambda parts: f"{parts[0]}@{parts[1]}")
    spellings: list[Callable[[str], str]] = [str, str.upper, str.title, _padded]
    return st.tuples(address, st.sampled_from(spellings)).map(lambda pair: pair[1](pair[0]))


@cache
def _example_numbers() -> tuple[phonenumbers.PhoneNumber, ...]:
    numbers = []
    for region in PHONE_REGIONS:
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                numbers.append(number)
    return tuple(numbers)


def phone_numbers() -> st.SearchStrategy[str]:
    """Draw phone numbers in E.164 (``+4930...``) of the :data:`PHONE_REGIONS`.

    Each is a region's example number with its last three digits redrawn, so the
    length stays one the region's numbering plan allows.
    """

    def build(pair: tuple[phonenumbers.PhoneNumber, int]) -> str:
        example, tail = pair
        national = str(example.national_number)
        digits = national[:-3] + f"{tail:03d}"
        return f"+{example.country_code}{digits}"

    return st.tuples(st.sampled_from(_example_numbers()), st.integers(0, 999)).map(build)


def raw_phone_numbers() -> st.SearchStrategy[tuple[str, str]]:
    """Draw ``(text, region)`` pairs: a phone number as people write it, and its region.

    The text is in international, national or E.164 format (with spaces, dashes
    and brackets as ``phonenumbers`` formats them); ``normalize_phone(text,
    default_region=region)`` gives the E.164 form.
    """
    formats = st.sampled_from(
        [
            phonenumbers.PhoneNumberFormat.E164,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL,
        ]
    )

    def build(pair: tuple[str, int]) -> tuple[str, str]:
        e164, number_format = pair
        number = phonenumbers.parse(e164, None)
        region = phonenumbers.region_code_for_number(number) or "ZZ"
        if region == "ZZ":
            number_format = phonenumbers.PhoneNumberFormat.E164
            region = "US"
        return str(phonenumbers.format_number(number, number_format)), region

    return st.tuples(phone_numbers(), formats).map(build)


def consents(
    *,
    channels: st.SearchStrategy[ChannelKind] | None = None,
    purposes: st.SearchStrategy[Purpose] | None = None,
) -> st.SearchStrategy[Consent]:
    """Draw consent records (any channel, purpose, decision and time; some with a topic)."""
    channel_strategy = channels if channels is not None else st.sampled_from(ChannelKind)
    purpose_strategy = purposes if purposes is not None else st.sampled_from(Purpose)

    @st.composite
    def build(draw: st.DrawFn) -> Consent:
        purpose = draw(purpose_strategy)
        topic = (
            draw(st.none() | st.sampled_from(["promotions", "replenishment", "news"]))
            if purpose is Purpose.MARKETING
            else None
        )
        return Consent(
            channel=draw(channel_strategy),
            purpose=purpose,
            granted=draw(st.booleans()),
            recorded_at=draw(aware_datetimes()),
            source=draw(
                st.none() | st.sampled_from(["checkout", "signup_form", "unsubscribe_link"])
            ),
            topic=topic,
        )

    return build()


def _json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(10**6), 10**6)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=10)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=6,
    )


def customers(*, customer_id: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Customer]:
    """Draw customer cards with every field exercised (contacts, consents, attributes)."""
    return st.builds(
        Customer,
        customer_id=customer_id if customer_id is not None else customer_ids(),
        name=st.none() | st.text(min_size=1, max_size=20),
        phones=st.lists(phone_numbers(), max_size=2).map(tuple),
        emails=st.lists(emails(), max_size=2).map(tuple),
        social_profiles=st.dictionaries(
            st.sampled_from(["instagram", "telegram", "vk", "facebook"]),
            st.text(string.ascii_letters + string.digits + "@_.", min_size=1, max_size=12),
            max_size=2,
        ),
        birthday=st.none() | st.dates(min_value=date(1920, 1, 1), max_value=date(2015, 12, 31)),
        time_zone=st.none() | time_zones(),
        language=st.none() | st.sampled_from(["de", "en-GB", "ru", "zh-Hant-TW", "es-419"]),
        preferred_channels=st.lists(st.sampled_from(ChannelKind), max_size=3).map(tuple),
        consents=st.lists(consents(), max_size=4).map(tuple),
        acquisition_source=st.none() | st.sampled_from(["referral", "instagram_ad", "store"]),
        loyalty_level=st.none() | st.sampled_from(["bronze", "silver", "gold"]),
        attributes=st.dictionaries(st.text(min_size=1, max_size=8), _json_values(), max_size=3),
    )


def items(currency: str = "EUR") -> st.SearchStrategy[Item]:
    """Draw order lines priced exactly in ``currency``."""
    exponent = CURRENCY_EXPONENTS[currency]
    return st.builds(
        Item,
        sku=st.text(string.ascii_uppercase + string.digits + "-", min_size=1, max_size=8),
        quantity=st.integers(1, 20),
        unit_price=st.integers(0, 10**5 * 10**exponent).map(
            lambda minor: from_minor(minor, currency)
        ),
        category=st.none() | st.sampled_from(["books", "music", "coffee", "shoes"]),
    )


def purchases(
    *,
    customer_id: st.SearchStrategy[str] | None = None,
    currency: st.SearchStrategy[str] | None = None,
    refunds: bool = True,
    with_items: bool = True,
    max_amount_minor: int = 10**7,
) -> st.SearchStrategy[Purchase]:
    """Draw orders, and refunds (negative amount, ``refund_of`` set) unless ``refunds=False``.

    Amounts are whole minor units of the drawn currency (zero included), so they
    are exact; ``purchased_at`` is aware and comes out in UTC.  ``with_items=False``
    draws orders without item lines (and without ``reason``), which is all a
    transactions frame holds.
    """
    ids = customer_id if customer_id is not None else customer_ids()
    currency_strategy = currency if currency is not None else currencies()

    @st.composite
    def build(draw: st.DrawFn) -> Purchase:
        code = draw(currency_strategy)
        order_id = draw(order_ids())
        is_refund = refunds and draw(st.booleans())
        refund_of = (
            draw(order_ids().filter(lambda parent: parent != order_id)) if is_refund else None
        )
        minor = draw(st.integers(0, max_amount_minor))
        return Purchase(
            order_id=order_id,
            customer_id=draw(ids),
            purchased_at=draw(aware_datetimes()),
            amount=from_minor(-minor if is_refund else minor, code),
            currency=code,
            items=tuple(draw(st.lists(items(code), max_size=3))) if with_items else (),
            source=draw(st.none() | st.sampled_from(PurchaseSource)),
            category=draw(st.none() | st.sampled_from(["books", "music", "coffee"])),
            refund_of=refund_of,
            reason=draw(st.none() | st.sampled_from(["gift", "ran out", "promotion"]))
            if with_items
            else None,
        )

    return build()


def segments() -> st.SearchStrategy[Segment]:
    """Draw segment definitions."""
    return st.builds(
        Segment,
        name=st.text(string.ascii_lowercase + "_", min_size=1, max_size=12),
        kind=st.sampled_from(SegmentKind),
        description=st.text(max_size=20),
    )


#: Column keywords for :func:`retention.ingest` on frames drawn by :func:`ingest_frames`.
INGEST_COLUMNS: dict[str, str] = {
    "customer_id_col": "customer",
    "datetime_col": "paid_at",
    "monetary_value_col": "total",
    "order_id_col": "order",
    "refund_of_col": "refund_of",
}

_INGEST_VALUES: dict[str, tuple[str, ...]] = {
    "customer": ("c1", "c2", "00123", "", " c3"),
    "paid_at": (
        "2024-01-01T00:00Z",
        "2024-01-01T00:00+01:00",
        "2024-03-31 02:30",
        "2024-10-27 02:30",
        "2024-06-01 12:00",
        "",
        "2024-02-30",
        "3000-01-01T00:00Z",
    ),
    "total": ("1", "1.0", "1.00", "19.9", "-1", "-0.50", "0", "N/A", "", "1,5", "2.999"),
    "order": ("A", "B", "C", "D", ""),
    "refund_of": ("", "", "", "A", "B", "Z"),
}


def ingest_frames(*, max_rows: int = 25) -> st.SearchStrategy[Any]:
    """Draw raw purchase frames for :func:`retention.ingest`, good and bad rows mixed.

    Columns are those of :data:`INGEST_COLUMNS` (all text, as read from a CSV): repeated
    and conflicting order ids, refunds with known and unknown parents, missing and
    malformed ids, amounts and timestamps, naive times in a daylight-saving gap and
    repeat (ingest them with ``assume_tz="Europe/Berlin"``), future rows and zeros.
    """
    import pandas as pd  # noqa: PLC0415 - keep the strategies module light to import

    row = st.fixed_dictionaries(
        {column: st.sampled_from(values) for column, values in _INGEST_VALUES.items()}
    )
    return st.lists(row, max_size=max_rows).map(
        lambda rows: pd.DataFrame(rows, columns=list(_INGEST_VALUES), dtype=str)
    )


def transaction_frames(
    *,
    max_orders: int = 25,
    customers: str = "abcdefg",
    channels: tuple[str, ...] = ("web", "app"),
) -> st.SearchStrategy[Any]:
    """Draw clean transactions frames in the canonical ingested shape, refunds included.

    Columns ``customer_id``, ``order_id``, ``purchased_at`` (naive calendar time in
    2024, minute resolution), ``amount`` (float, whole cents), ``kind``, ``refund_of``
    and ``channel``.  Each refund names an earlier order of the same customer, is dated
    on or after it and returns a quarter, half or all of it, so the frames are what
    :func:`retention.ingest` accepts; zero-value orders occur.  Used by the KPI
    properties (shares in [0, 1], partitions, totals preserved across periods).
    """
    import numpy as np  # noqa: PLC0415 - keep the strategies module light to import
    import pandas as pd  # noqa: PLC0415

    start = np.datetime64("2024-01-01T00:00")
    columns = ["customer_id", "order_id", "purchased_at", "amount", "kind", "refund_of"]

    @st.composite
    def build(draw: st.DrawFn) -> Any:  # noqa: ANN401 - a pandas DataFrame
        n = draw(st.integers(min_value=0, max_value=max_orders))
        who = draw(st.lists(st.sampled_from(customers), min_size=n, max_size=n))
        minutes = draw(st.lists(st.integers(0, 60 * 24 * 200), min_size=n, max_size=n))
        cents = draw(st.lists(st.integers(0, 50_000), min_size=n, max_size=n))
        via = draw(st.lists(st.sampled_from(channels), min_size=n, max_size=n))
        rows: list[tuple[object, ...]] = [
            (who[i], f"o{i}", start + np.timedelta64(minutes[i], "m"), cents[i] / 100,
             "purchase", None, via[i])
            for i in range(n)
        ]  # fmt: skip
        refunded = draw(st.sets(st.integers(0, n - 1), max_size=n)) if n else set()
        for i in sorted(refunded):
            share = draw(st.sampled_from([0.25, 0.5, 1.0]))
            delay = draw(st.integers(0, 60 * 24 * 40))
            rows.append(
                (who[i], f"r{i}", start + np.timedelta64(minutes[i] + delay, "m"),
                 -round(cents[i] * share) / 100, "refund", f"o{i}", via[i])
            )  # fmt: skip
        frame = pd.DataFrame(rows, columns=[*columns, "channel"])
        frame["purchased_at"] = pd.to_datetime(frame["purchased_at"]).astype("datetime64[ns]")
        frame["amount"] = frame["amount"].astype(float)
        return frame

    return build()
