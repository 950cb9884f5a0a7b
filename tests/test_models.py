from __future__ import annotations

import pickle
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

import retention
from retention import NaiveTimestampError, SchemaError, ValidationError
from retention.models import (
    CONSENT_COLUMNS,
    TRANSACTION_COLUMNS,
    ChannelKind,
    Consent,
    ContactKind,
    ContactPoint,
    Customer,
    FieldIssue,
    FrozenDict,
    Item,
    Purchase,
    PurchaseSource,
    Purpose,
    Segment,
    SegmentKind,
    consent_from_row,
    consent_to_row,
    consents_to_frame,
    customer_from_row,
    customer_from_row_with_issues,
    customer_to_row,
    customers_with_consent,
    normalize_time_zone,
    purchase_from_row,
    purchase_to_row,
    purchases_from_frame,
    purchases_to_frame,
    segment_from_row,
    segment_to_row,
)
from retention.testing import make_consent, make_customer, make_purchase
from retention.testing import strategies as rst

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def reason_of(callable_, *args, **kwargs):
    with pytest.raises(ValidationError) as caught:
        callable_(*args, **kwargs)
    return caught.value.reason


# --------------------------------------------------------------------------- exceptions


def test_validation_error_carries_reason_and_field_through_pickle():
    error = NaiveTimestampError("naive", field="purchased_at")
    assert error.reason == "naive_timestamp"
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is NaiveTimestampError
    assert (copy.reason, copy.field, copy.args) == ("naive_timestamp", "purchased_at", ("naive",))
    plain = ValidationError("x")
    assert plain.reason is None
    assert plain.field is None
    assert isinstance(plain, ValueError)


# --------------------------------------------------------------------------- consent


def test_consent_converts_channel_topic_and_time():
    consent = Consent(
        channel=" EMAIL ",
        purpose="Marketing",
        granted=True,
        recorded_at=datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        source="  checkout ",
    )
    assert consent.channel is ChannelKind.EMAIL
    assert consent.purpose is Purpose.MARKETING
    assert consent.recorded_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert consent.recorded_at.tzinfo is UTC
    assert consent.source == "checkout"
    assert consent.topic is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"channel": "fax"}, "unknown_channel"),
        ({"purpose": "spam"}, "unknown_purpose"),
        ({"granted": 1}, "invalid_consent"),
        ({"granted": "yes"}, "invalid_consent"),
        ({"recorded_at": None}, "missing_timestamp"),
        ({"recorded_at": date(2024, 1, 1)}, "invalid_timestamp"),
        ({"recorded_at": datetime(2024, 1, 1)}, "naive_timestamp"),  # noqa: DTZ001
        ({"topic": "Not Snake"}, "invalid_topic"),
        ({"purpose": "service", "topic": "promotions"}, "invalid_topic"),
    ],
)
def test_consent_refuses_bad_fields(overrides, reason):
    assert reason_of(make_consent, **overrides) == reason


def test_naive_consent_time_is_a_naive_timestamp_error():
    with pytest.raises(NaiveTimestampError):
        make_consent(recorded_at=datetime(2024, 1, 1))  # noqa: DTZ001


# --------------------------------------------------------------------------- customer


def test_customer_normalises_contacts_and_preferences():
    customer = Customer(
        customer_id="00123",
        name="  Anna Schmidt ",
        phones=["+49 (030) 1234-567", "+49301234567", "+1 202-555-0143"],
        emails=["  Anna@Example.COM ", "anna@example.com", "work@example.org"],
        social_profiles={" Instagram ": " @anna "},
        birthday=date(1990, 5, 17),
        time_zone=" Europe/Berlin ",
        preferred_channels=["SMS", ChannelKind.EMAIL, "sms"],
        acquisition_source=" referral ",
        loyalty_level="",
        attributes={"tags": ["vip", "coffee"], "visits": 3, "extra": {"a": [1, 2]}},
    )
    assert customer.customer_id == "00123"
    assert customer.name == "Anna Schmidt"
    assert customer.phones == ("+49301234567", "+12025550143")
    assert customer.emails == ("anna@example.com", "work@example.org")
    assert customer.social_profiles == {"instagram": "@anna"}
    assert customer.time_zone == "Europe/Berlin"
    assert customer.zone == ZoneInfo("Europe/Berlin")
    assert customer.preferred_channels == (ChannelKind.SMS, ChannelKind.EMAIL)
    assert customer.acquisition_source == "referral"
    assert customer.loyalty_level is None
    assert customer.attributes == {"tags": ("vip", "coffee"), "visits": 3, "extra": {"a": (1, 2)}}
    assert isinstance(customer.attributes["extra"], FrozenDict)
    assert hash(customer) == hash(attrs.evolve(customer))
    assert customer.contact_points == (
        ContactPoint(ContactKind.EMAIL, "anna@example.com"),
        ContactPoint(ContactKind.EMAIL, "work@example.org"),
        ContactPoint(ContactKind.PHONE, "+49301234567"),
        ContactPoint(ContactKind.PHONE, "+12025550143"),
    )


def test_ing_11_customer_create_reads_national_phones_in_the_default_region():
    customer = Customer.create(customer_id="c-1", phones=["030 1234567"], default_region="DE")
    assert customer.phones == ("+49301234567",)
    with pytest.raises(ValidationError) as caught:
        Customer(customer_id="c-1", phones=["030 1234567"])
    assert (caught.value.reason, caught.value.field) == ("invalid_phone", "phones")
    assert "1234567" not in str(caught.value)
    assert reason_of(Customer.create, customer_id="c-1", default_region="XX") == "invalid_region"


@pytest.mark.parametrize(
    ("overrides", "reason", "field"),
    [
        ({"customer_id": ""}, "missing_customer_id", "customer_id"),
        ({"customer_id": "   "}, "missing_customer_id", "customer_id"),
        ({"customer_id": " c-1"}, "malformed_customer_id", "customer_id"),
        ({"customer_id": 123}, "malformed_customer_id", "customer_id"),
        ({"name": 5}, "invalid_text", "name"),
        ({"phones": "+49301234567"}, "invalid_phone", "phones"),
        ({"phones": ["+49 1"]}, "invalid_phone", "phones"),
        ({"emails": ["anna"]}, "invalid_email", "emails"),
        ({"emails": "anna@example.com"}, "invalid_email", "emails"),
        ({"time_zone": "Berlin"}, "invalid_timezone", "time_zone"),
        ({"time_zone": "CET+1"}, "invalid_timezone", "time_zone"),
        ({"time_zone": "europe/berlin"}, "invalid_timezone", "time_zone"),
        ({"time_zone": "localtime"}, "invalid_timezone", "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "invalid_timezone", "time_zone"),
        ({"time_zone": ""}, "invalid_timezone", "time_zone"),
        ({"time_zone": 3}, "invalid_timezone", "time_zone"),
        ({"birthday": datetime(1990, 5, 17, tzinfo=UTC)}, "invalid_birthday", "birthday"),
        ({"birthday": "1990-05-17"}, "invalid_birthday", "birthday"),
        ({"language": "German"}, "invalid_language", "language"),
        ({"language": "d"}, "invalid_language", "language"),
        ({"language": "de-"}, "invalid_language", "language"),
        ({"language": 7}, "invalid_language", "language"),
        ({"preferred_channels": ["pigeon"]}, "unknown_channel", "preferred_channels"),
        ({"consents": [{"channel": "email"}]}, "invalid_consent", "consents"),
        ({"social_profiles": {"vk": ""}}, "invalid_social_profile", "social_profiles"),
        ({"social_profiles": ["vk"]}, "invalid_social_profile", "social_profiles"),
        ({"attributes": {"seen": {1, 2}}}, "invalid_attribute", "attributes"),
        ({"attributes": {"score": float("nan")}}, "invalid_attribute", "attributes"),
        ({"attributes": {1: "x"}}, "invalid_attribute", "attributes"),
    ],
)
def test_customer_refuses_bad_fields(overrides, reason, field):
    with pytest.raises(ValidationError) as caught:
        make_customer(**overrides)
    assert (caught.value.reason, caught.value.field) == (reason, field)


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("de", "de"),
        (" EN-gb ", "en-GB"),
        ("ru_RU", "ru-RU"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("sl-rozaj", "sl-rozaj"),
    ],
)
def test_customer_language_is_a_canonical_bcp47_tag(tag, canonical):
    assert make_customer(language=tag).language == canonical


def test_customer_is_frozen_and_evolve_validates_again():
    customer = make_customer()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        customer.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        customer.attributes["x"] = 1  # type: ignore[index]
    assert reason_of(attrs.evolve, customer, time_zone="Mars/Olympus") == "invalid_timezone"


def _consent(channel, purpose, granted, day, topic=None):
    return Consent(
        channel=channel,
        purpose=purpose,
        granted=granted,
        recorded_at=datetime(2024, 1, day, tzinfo=UTC),
        topic=topic,
    )


def test_consent_for_is_default_deny_and_latest_wins():
    customer = make_customer()
    assert customer.consent_for("email", "marketing") is None
    assert not customer.has_consent("email", "marketing")
    granted = _consent("email", "marketing", True, 1)
    withdrawn = _consent("email", "marketing", False, 5)
    customer = make_customer(consents=[withdrawn, granted, _consent("sms", "marketing", True, 9)])
    assert customer.consents[0] == granted  # kept in time order
    assert customer.consent_for(ChannelKind.EMAIL, Purpose.MARKETING) == withdrawn
    assert not customer.has_consent("email", "marketing")
    assert customer.has_consent("sms", "marketing")
    assert not customer.has_consent("sms", "transactional")
    regranted = customer.with_consent(_consent("email", "marketing", True, 7))
    assert regranted.has_consent("email", "marketing")


def test_consent_withdrawal_wins_a_tie():
    customer = make_customer(
        consents=[_consent("email", "marketing", True, 3), _consent("email", "marketing", False, 3)]
    )
    assert not customer.has_consent("email", "marketing")
    customer = make_customer(
        consents=[_consent("email", "marketing", False, 3), _consent("email", "marketing", True, 3)]
    )
    assert not customer.has_consent("email", "marketing")


def test_consent_topic_can_be_opted_out_of_alone():
    customer = make_customer(
        consents=[
            _consent("email", "marketing", True, 1),
            _consent("email", "marketing", False, 2, topic="promotions"),
        ]
    )
    assert customer.has_consent("email", "marketing")
    assert customer.has_consent("email", "marketing", topic="replenishment")
    assert not customer.has_consent("email", "marketing", topic="promotions")
    # a later opt-out of all marketing covers every topic, a later opt-in too
    later = customer.with_consent(_consent("email", "marketing", False, 3))
    assert not later.has_consent("email", "marketing", topic="replenishment")
    assert later.with_consent(_consent("email", "marketing", True, 4)).has_consent(
        "email", "marketing", topic="promotions"
    )
    assert reason_of(customer.consent_for, "email", "marketing", topic="Bad Name") == (
        "invalid_topic"
    )


@given(
    records=st.lists(rst.consents(channels=st.just(ChannelKind.EMAIL)), max_size=6),
    purpose=st.sampled_from(Purpose),
)
def test_consent_in_force_is_the_latest_applicable_record(records, purpose):
    customer = make_customer(consents=records)
    found = customer.consent_for("email", purpose)
    applicable = [r for r in records if r.purpose is purpose and r.topic is None]
    if not applicable:
        assert found is None
        return
    latest = max(r.recorded_at for r in applicable)
    assert found is not None
    assert found.recorded_at == latest
    assert found.granted == all(r.granted for r in applicable if r.recorded_at == latest)


def test_contact_point_normalises_by_kind():
    assert ContactPoint("EMAIL", " A@Example.com ").value == "a@example.com"
    assert ContactPoint("phone", "+49 (030) 1234-567").value == "+49301234567"
    assert ContactPoint.phone("030 1234567", default_region="DE").value == "+49301234567"
    assert ContactPoint.email("A@B.de") == ContactPoint("email", "a@b.de")
    assert reason_of(ContactPoint, "phone", "030 1234567") == "invalid_phone"
    assert reason_of(ContactPoint, "fax", "1") == "invalid_contact_kind"
    point = ContactPoint("email", "a@b.de")
    assert point.hash(secret=b"k") == retention.contact_hash("A@B.DE", secret=b"k")


# --------------------------------------------------------------------------- purchase


def test_purchase_normalises_amount_currency_time_and_source():
    purchase = Purchase(
        order_id="A-1",
        customer_id="c-1",
        purchased_at=datetime(2024, 3, 1, 17, 30, tzinfo=ZoneInfo("Asia/Kolkata")),
        amount="19.9",
        currency=" eur ",
        source="POS",
        category=" books ",
        reason="  ",
    )
    assert purchase.amount == Decimal("19.90")
    assert str(purchase.amount) == "19.90"
    assert purchase.amount_minor == 1990
    assert purchase.currency == "EUR"
    assert purchase.purchased_at == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert purchase.purchased_at.tzinfo is UTC
    assert purchase.source is PurchaseSource.POS
    assert purchase.category == "books"
    assert purchase.reason is None
    assert purchase.kind == "purchase"
    assert not purchase.is_refund


@pytest.mark.parametrize(
    ("amount", "currency", "minor", "text"),
    [
        (19.99, "EUR", 1999, "19.99"),
        (0.1, "EUR", 10, "0.10"),
        (Decimal("19.99"), "EUR", 1999, "19.99"),
        (500, "JPY", 500, "500"),
        ("500.0", "JPY", 500, "500"),
        ("1.234", "BHD", 1234, "1.234"),
        (np.float64(12.5), "USD", 1250, "12.50"),
        (np.int64(7), "USD", 700, "7.00"),
        ("-0.00", "EUR", 0, "0.00"),
    ],
)
def test_purchase_amount_is_exact_at_the_currency_exponent(amount, currency, minor, text):
    purchase = make_purchase(amount=amount, currency=currency)
    assert purchase.amount_minor == minor
    assert str(purchase.amount) == text


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"amount": 19.999}, "precision_loss"),
        ({"amount": "500.5", "currency": "JPY"}, "precision_loss"),
        ({"amount": None}, "missing_amount"),
        ({"amount": float("nan")}, "missing_amount"),
        ({"amount": Decimal("NaN")}, "missing_amount"),
        ({"amount": "N/A"}, "unparseable_amount"),
        ({"amount": "1,5"}, "unparseable_amount"),
        ({"amount": float("inf")}, "unparseable_amount"),
        ({"amount": True}, "unparseable_amount"),
        ({"amount": [1]}, "unparseable_amount"),
        ({"currency": "XYZ"}, "unknown_currency"),
        ({"currency": "€"}, "unknown_currency"),
        ({"currency": None}, "unknown_currency"),
        ({"order_id": ""}, "missing_order_id"),
        ({"order_id": "A-1 "}, "malformed_order_id"),
        ({"customer_id": " "}, "missing_customer_id"),
        ({"customer_id": "\tc-1"}, "malformed_customer_id"),
        ({"purchased_at": None}, "missing_timestamp"),
        ({"purchased_at": pd.NaT}, "missing_timestamp"),
        ({"purchased_at": "2024-03-01T12:00:00Z"}, "invalid_timestamp"),
        ({"purchased_at": datetime(2024, 3, 1)}, "naive_timestamp"),  # noqa: DTZ001
        ({"purchased_at": pd.Timestamp("2024-03-01 12:00")}, "naive_timestamp"),
        (
            {"purchased_at": pd.Timestamp("2024-03-01 12:00:00.000000001", tz="UTC")},
            "precision_loss",
        ),
        ({"source": "web"}, "unknown_source"),
        ({"amount": Decimal("1E+30")}, "amount_out_of_range"),
        ({"amount": Decimal("-1E+999999"), "refund_of": "A-0"}, "amount_out_of_range"),
        ({"amount": 2**63, "currency": "JPY"}, "amount_out_of_range"),
        ({"refund_of": ""}, "malformed_refund_of"),
        ({"refund_of": "A-1", "amount": "-1"}, "refund_of_self"),
        ({"items": [{"sku": "X"}]}, "invalid_item"),
        ({"items": "X"}, "invalid_item"),
    ],
)
def test_purchase_refuses_bad_fields(overrides, reason):
    assert reason_of(make_purchase, **overrides) == reason


def test_naive_purchase_time_is_a_naive_timestamp_error():
    with pytest.raises(NaiveTimestampError) as caught:
        make_purchase(purchased_at=datetime(2024, 3, 1))  # noqa: DTZ001
    assert caught.value.field == "purchased_at"


def test_purchase_accepts_aware_pandas_timestamps():
    purchase = make_purchase(purchased_at=pd.Timestamp("2024-03-01 13:00", tz="Europe/Berlin"))
    assert purchase.purchased_at == T0
    assert type(purchase.purchased_at) is datetime


@pytest.mark.parametrize(
    ("amount", "refund_of", "reason"),
    [
        ("-0.01", None, "negative_amount_not_refund"),
        ("-100", None, "negative_amount_not_refund"),
        ("0.01", "A-0", "refund_sign_mismatch"),
        ("30", "A-0", "refund_sign_mismatch"),
        ("0", None, None),
        ("0", "A-0", None),
        ("-30", "A-0", None),
        ("100", None, None),
    ],
)
def test_ing_04_sign_rules_of_orders_and_refunds(amount, refund_of, reason):
    if reason is None:
        purchase = make_purchase(amount=amount, refund_of=refund_of)
        assert purchase.kind == ("refund" if refund_of else "purchase")
        assert purchase.is_refund == (refund_of is not None)
    else:
        assert reason_of(make_purchase, amount=amount, refund_of=refund_of) == reason


@given(minor=st.integers(-(10**9), 10**9), is_refund=st.booleans())
def test_ing_04_sign_property_over_sign_and_kind(minor, is_refund):
    refund_of = "A-0" if is_refund else None
    amount = Decimal(minor).scaleb(-2)
    allowed = minor <= 0 if is_refund else minor >= 0
    if allowed:
        assert make_purchase(amount=amount, refund_of=refund_of).amount_minor == minor
    else:
        expected = "refund_sign_mismatch" if is_refund else "negative_amount_not_refund"
        assert reason_of(make_purchase, amount=amount, refund_of=refund_of) == expected


def test_items_are_validated_and_priced_exactly():
    item = Item(sku="SKU-1", quantity=2, unit_price="4.50", category="coffee")
    assert item.total == Decimal("9.00")
    purchase = make_purchase(items=[item], amount="9.00")
    assert purchase.items == (item,)
    assert reason_of(Item, sku="", unit_price=1) == "invalid_item"
    assert reason_of(Item, sku="X", quantity=0, unit_price=1) == "invalid_quantity"
    assert reason_of(Item, sku="X", quantity=True, unit_price=1) == "invalid_quantity"
    assert reason_of(Item, sku="X", quantity=1.5, unit_price=1) == "invalid_quantity"
    assert reason_of(Item, sku="X", unit_price="-1") == "invalid_price"
    assert reason_of(Item, sku="X", unit_price="1E+999999") == "invalid_price"
    assert reason_of(Item, sku="X", unit_price=None) == "missing_amount"
    cheap = Item(sku="X", unit_price="0.5")
    with pytest.raises(ValidationError) as caught:
        make_purchase(items=[cheap], amount=1, currency="JPY")
    assert (caught.value.reason, caught.value.field) == ("precision_loss", "items")


def test_evolve_validates_purchases_again():
    purchase = make_purchase()
    assert reason_of(attrs.evolve, purchase, amount=Decimal(-1)) == "negative_amount_not_refund"
    refund = attrs.evolve(purchase, order_id="R-1", refund_of="A-1", amount=Decimal(-5))
    assert refund.kind == "refund"


def test_personal_fields_stay_out_of_repr():
    customer = make_customer(
        name="Pii Sentinel",
        phones=["+15550100999"],
        emails=["pii-sentinel@example.invalid"],
        social_profiles={"vk": "pii_sentinel"},
        birthday=date(1990, 5, 17),
    )
    text = repr(customer) + repr(customer.contact_points)
    for secret in ("Sentinel", "15550100999", "pii-sentinel", "pii_sentinel", "1990"):
        assert secret not in text
    assert "customer_id='c-1'" in text
    assert "phones=<1 hidden>" in text
    assert "name=None" in repr(make_customer(name=None))


def test_largest_storable_amount_is_accepted():
    assert make_purchase(amount=2**63 - 1, currency="JPY").amount_minor == 2**63 - 1


def test_domain_objects_pickle_and_hash():
    customer = make_customer(
        social_profiles={"vk": "anna"},
        attributes={"a": [1, {"b": 2}]},
        consents=[make_consent()],
    )
    purchase = make_purchase(items=[Item(sku="X", unit_price=1)])
    for value in (customer, purchase, make_consent(), Segment("vip", "rule")):
        copy = pickle.loads(pickle.dumps(value))  # noqa: S301 - our own bytes
        assert copy == value
        assert hash(copy) == hash(value)


def test_segment_definition():
    segment = Segment("champions", "RFM", "  bought recently, often and for a lot ")
    assert segment.kind is SegmentKind.RFM
    assert segment.description == "bought recently, often and for a lot"
    assert Segment("lost", SegmentKind.LIFECYCLE).description == ""
    assert reason_of(Segment, "", "rfm") == "invalid_segment_name"
    assert reason_of(Segment, " x", "rfm") == "invalid_segment_name"
    assert reason_of(Segment, "x", "clustering") == "unknown_segment_kind"


# --------------------------------------------------------------------------- row mappers


def test_purchase_to_row_is_plain_storage_values():
    purchase = make_purchase(
        items=[Item(sku="SKU-1", quantity=2, unit_price="4.50", category="coffee")],
        amount="9.00",
        category="coffee",
        reason="ran out",
    )
    assert purchase_to_row(purchase) == {
        "order_id": "A-1",
        "customer_id": "c-1",
        "purchased_at": datetime(2024, 1, 15, 12, 0, tzinfo=UTC),
        "amount_minor": 900,
        "currency": "EUR",
        "kind": "purchase",
        "refund_of": None,
        "source": "site",
        "category": "coffee",
        "reason": "ran out",
        "items": [{"sku": "SKU-1", "category": "coffee", "quantity": 2, "unit_price_minor": 450}],
    }


def test_purchase_from_row_reads_store_and_text_forms():
    row = {
        "order_id": "R-1",
        "customer_id": "c-1",
        "purchased_at": datetime(2024, 3, 1, 12, 0),  # noqa: DTZ001 - as SQLite returns it
        "amount_minor": -3000,
        "currency": "eur",
        "kind": "refund",
        "refund_of": "A-1",
        "source": float("nan"),
        "category": pd.NA,
    }
    refund = purchase_from_row(row, assume_tz="UTC")
    assert refund.purchased_at == T0
    assert refund.amount == Decimal("-30.00")
    assert refund.source is None
    assert refund.category is None
    with pytest.raises(NaiveTimestampError):
        purchase_from_row(row)
    text = purchase_from_row(
        {
            "order_id": "A-2",
            "customer_id": "c-1",
            "purchased_at": "2024-03-01T17:30:00+05:30",
            "amount": "19.99",
            "currency": "EUR",
        }
    )
    assert (text.purchased_at, text.amount_minor, text.items) == (T0, 1999, ())
    berlin = purchase_from_row(
        {**row, "purchased_at": "2024-03-01 13:00"}, assume_tz="Europe/Berlin"
    )
    assert berlin.purchased_at == T0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"kind": "purchase"}, "kind_mismatch"),
        ({"refund_of": None}, "kind_mismatch"),
        ({"amount_minor": -3000.5}, "precision_loss"),
        ({"amount_minor": "-3000"}, "unparseable_amount"),
        ({"amount_minor": None}, "missing_amount"),
        ({"purchased_at": "yesterday"}, "invalid_timestamp"),
        ({"currency": "ZZZ"}, "unknown_currency"),
        ({"items": [{"sku": "X", "unit_price_minor": 1.5}]}, "precision_loss"),
        ({"items": ["X"]}, "invalid_item"),
    ],
)
def test_purchase_from_row_refuses_bad_rows(changes, reason):
    row = {
        "order_id": "R-1",
        "customer_id": "c-1",
        "purchased_at": T0,
        "amount_minor": -3000,
        "currency": "EUR",
        "kind": "refund",
        "refund_of": "A-1",
    }
    assert reason_of(purchase_from_row, {**row, **changes}) == reason


def test_customer_rows_are_plain_and_json_ready():
    consent = make_consent()
    customer = make_customer(
        birthday=date(1990, 5, 17),
        social_profiles={"telegram": "@anna"},
        attributes={"tags": ["a"], "nested": {"k": None}},
        consents=[consent],
    )
    row = customer_to_row(customer)
    assert row == {
        "customer_id": "c-1",
        "name": "Test Customer",
        "phones": ["+15550100001"],
        "emails": ["customer-1@example.invalid"],
        "social_profiles": {"telegram": "@anna"},
        "birthday": date(1990, 5, 17),
        "time_zone": "Europe/Berlin",
        "language": None,
        "preferred_channels": ["email", "sms"],
        "consents": [consent_to_row(consent)],
        "acquisition_source": None,
        "loyalty_level": None,
        "attributes": {"tags": ["a"], "nested": {"k": None}},
    }
    assert type(row["attributes"]["nested"]) is dict
    assert customer_from_row(row) == customer


def test_customer_from_row_reads_text_forms_and_regions():
    customer = customer_from_row(
        {
            "customer_id": "c-9",
            "phones": ["030 1234567"],
            "birthday": "1990-05-17",
            "name": float("nan"),
            "consents": [
                {
                    "channel": "sms",
                    "purpose": "marketing",
                    "granted": 1,
                    "recorded_at": "2024-01-01 10:00:00",
                }
            ],
        },
        default_region="DE",
        assume_tz="UTC",
    )
    assert customer.phones == ("+49301234567",)
    assert customer.birthday == date(1990, 5, 17)
    assert customer.name is None
    assert customer.has_consent("sms", "marketing")
    assert reason_of(customer_from_row, {"customer_id": "c", "birthday": "17.05.1990"}) == (
        "invalid_birthday"
    )
    assert (
        reason_of(customer_from_row, {"customer_id": "c", "consents": ["x"]}) == "invalid_consent"
    )
    assert reason_of(customer_from_row, {"name": "no id"}) == "malformed_customer_id"


def test_ing_11_unusable_contacts_leave_the_card_usable_and_are_reported():
    row = {
        "customer_id": "c-1",
        "phones": ["030 1234567", "12", "+49 30 7654321", None],
        "emails": ["  Anna@Example.COM ", "anna-at-example.com"],
        "time_zone": "CET+1",
        "birthday": "31.02.1990",
        "consents": [consent_to_row(make_consent())],
    }
    card, issues = customer_from_row_with_issues(row, default_region="DE")
    assert card.phones == ("+49301234567", "+49307654321")
    assert card.emails == ("anna@example.com",)
    assert card.time_zone is None
    assert card.birthday is None
    assert card.consents == (make_consent(),)
    assert issues == (
        FieldIssue("phones", "invalid_phone", 2),
        FieldIssue("phones", "invalid_phone", 4),
        FieldIssue("emails", "invalid_email", 2),
        FieldIssue("time_zone", "invalid_timezone"),
        FieldIssue("birthday", "invalid_birthday"),
    )
    assert "Example" not in repr(issues)


def test_bad_time_zone_falls_back_only_to_a_configured_zone():
    row = {"customer_id": "c-1", "time_zone": "Berlin"}
    card, issues = customer_from_row_with_issues(row, default_time_zone="Europe/Berlin")
    assert card.time_zone == "Europe/Berlin"
    assert issues == (FieldIssue("time_zone", "invalid_timezone"),)
    card, _ = customer_from_row_with_issues(row)
    assert card.time_zone is None  # never silently UTC
    clean, none = customer_from_row_with_issues({"customer_id": "c-1", "time_zone": "Asia/Tokyo"})
    assert (clean.time_zone, none) == ("Asia/Tokyo", ())
    assert reason_of(customer_from_row_with_issues, row, default_time_zone="CET+1") == (
        "invalid_timezone"
    )
    assert reason_of(customer_from_row_with_issues, row, default_region="XX") == "invalid_region"


def test_strict_fields_still_reject_the_card():
    assert (
        reason_of(customer_from_row_with_issues, {"customer_id": " c"}) == "malformed_customer_id"
    )
    consent = {**consent_to_row(make_consent()), "channel": "fax"}
    bad_consent = {"customer_id": "c", "consents": [consent]}
    assert reason_of(customer_from_row_with_issues, bad_consent) == "unknown_channel"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        (" UTC ", "UTC"),
        ("Australia/Lord_Howe", "Australia/Lord_Howe"),
    ],
)
def test_normalize_time_zone_accepts_iana_names(text, expected):
    assert normalize_time_zone(text) == expected


@pytest.mark.parametrize(
    "text", ["Berlin", "CET+1", "europe/berlin", "localtime", "", None, "Europe"]
)
def test_normalize_time_zone_refuses_other_names(text):
    assert reason_of(normalize_time_zone, text) == "invalid_timezone"


def test_segment_rows():
    segment = Segment("at_risk", "rfm", "used to buy often, not lately")
    assert segment_to_row(segment) == {
        "name": "at_risk",
        "kind": "rfm",
        "description": "used to buy often, not lately",
    }
    assert segment_from_row(segment_to_row(segment)) == segment


@given(purchase=rst.purchases())
def test_purchase_row_round_trip(purchase):
    assert purchase_from_row(purchase_to_row(purchase)) == purchase


@given(customer=rst.customers())
def test_customer_row_round_trip(customer):
    row = customer_to_row(customer)
    again = customer_from_row(row)
    assert again == customer
    assert customer_to_row(again) == row


@given(consent=rst.consents())
def test_consent_row_round_trip(consent):
    assert consent_from_row(consent_to_row(consent)) == consent


@given(segment=rst.segments())
def test_segment_row_round_trip(segment):
    assert segment_from_row(segment_to_row(segment)) == segment


# --------------------------------------------------------------------------- frame mappers


def test_purchases_to_frame_writes_the_canonical_columns():
    purchases = [
        make_purchase(order_id="A-1", amount="100.00", category="books"),
        make_purchase(order_id="R-1", refund_of="A-1", amount="-30.00", source=None),
        make_purchase(order_id="J-1", customer_id="c-2", amount=500, currency="JPY"),
    ]
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["c-1", "c-1", "c-2"], dtype=str),
            "order_id": pd.Series(["A-1", "R-1", "J-1"], dtype=str),
            "purchased_at": pd.Series(
                pd.DatetimeIndex([datetime(2024, 1, 15, 12, tzinfo=UTC)] * 3).as_unit("us")
            ),
            "amount_minor": np.array([10000, -3000, 500], dtype=np.int64),
            "currency": pd.Series(["EUR", "EUR", "JPY"], dtype=str),
            "amount": np.array([100.0, -30.0, 500.0]),
            "kind": pd.Series(["purchase", "refund", "purchase"], dtype=str),
            "refund_of": pd.Series([None, "A-1", None], dtype=str),
            "source": pd.Series(["site", None, "site"], dtype=str),
            "category": pd.Series(["books", None, None], dtype=str),
        }
    )
    frame = purchases_to_frame(purchases)
    assert tuple(frame.columns) == TRANSACTION_COLUMNS
    assert_frame_equal(frame, expected)
    assert str(frame["purchased_at"].dtype) == "datetime64[us, UTC]"
    assert frame["refund_of"].isna().tolist() == [True, False, True]


def test_empty_purchases_make_an_empty_canonical_frame():
    frame = purchases_to_frame([])
    assert tuple(frame.columns) == TRANSACTION_COLUMNS
    assert len(frame) == 0
    assert frame["amount_minor"].dtype == np.int64
    assert frame["amount"].dtype == np.float64
    assert str(frame["purchased_at"].dtype) == "datetime64[us, UTC]"
    assert purchases_from_frame(frame) == []


def test_purchases_from_frame_reads_a_literal_canonical_frame_without_mutating_it():
    frame = pd.DataFrame(
        {
            "customer_id": ["c-1", "c-1"],
            "order_id": ["A-1", "R-1"],
            "purchased_at": pd.to_datetime(["2024-03-01 13:00", "2024-03-02 13:00"]).tz_localize(
                "Europe/Berlin"
            ),
            "amount_minor": [10000, -3000],
            "currency": ["EUR", "EUR"],
            "amount": [100.0, -30.0],
            "kind": ["purchase", "refund"],
            "refund_of": [None, "A-1"],
            "line": [2, 3],
        }
    )
    before = frame.copy()
    purchases = purchases_from_frame(frame)
    assert_frame_equal(frame, before)
    assert purchases == [
        make_purchase(order_id="A-1", purchased_at=T0, amount="100", source=None),
        make_purchase(
            order_id="R-1",
            purchased_at=T0 + timedelta(days=1),
            amount="-30",
            refund_of="A-1",
            source=None,
        ),
    ]


def test_purchases_from_frame_names_the_bad_line_and_keeps_the_reason():
    frame = purchases_to_frame([make_purchase(), make_purchase(order_id="A-2")])
    frame["amount_minor"] = np.array([100, -5], dtype=np.int64)
    frame["line"] = [6, 7]
    with pytest.raises(ValidationError) as caught:
        purchases_from_frame(frame)
    assert caught.value.reason == "negative_amount_not_refund"
    assert "line 7" in str(caught.value)
    del frame["line"]
    with pytest.raises(ValidationError, match="row 1"):
        purchases_from_frame(frame)


def test_purchases_from_frame_refuses_naive_columns_and_missing_columns():
    frame = purchases_to_frame([make_purchase()])
    frame["purchased_at"] = frame["purchased_at"].dt.tz_localize(None)
    with pytest.raises(NaiveTimestampError) as caught:
        purchases_from_frame(frame)
    assert caught.value.field == "purchased_at"
    with pytest.raises(SchemaError) as missing:
        purchases_from_frame(frame.drop(columns=["currency", "amount_minor"]))
    assert "'amount_minor', 'currency'" in str(missing.value)
    with pytest.raises(SchemaError):
        purchases_from_frame([make_purchase()])  # type: ignore[arg-type]


def test_purchases_from_frame_reads_nanosecond_columns_only_when_exact():
    frame = purchases_to_frame([make_purchase()])
    frame["purchased_at"] = frame["purchased_at"].dt.as_unit("ns")
    assert purchases_from_frame(frame) == [make_purchase()]
    frame["purchased_at"] = frame["purchased_at"] + pd.Timedelta(1, "ns")
    assert reason_of(purchases_from_frame, frame) == "precision_loss"


@given(purchases=st.lists(rst.purchases(with_items=False), max_size=6))
def test_purchase_frame_round_trip(purchases):
    frame = purchases_to_frame(purchases)
    again = purchases_from_frame(frame)
    assert again == purchases
    assert_frame_equal(purchases_to_frame(again), frame)


def test_frames_do_not_carry_items_or_reasons():
    purchase = make_purchase(items=[Item(sku="X", unit_price="19.99")], reason="gift")
    (again,) = purchases_from_frame(purchases_to_frame([purchase]))
    assert again == attrs.evolve(purchase, items=(), reason=None)


# --------------------------------------------------------------------------- consent frames


def test_consents_to_frame_flattens_histories():
    anna = make_customer(
        customer_id="c-1",
        consents=[
            _consent("email", "marketing", True, 1),
            _consent("email", "marketing", False, 2, topic="promotions"),
        ],
    )
    bob = make_customer(customer_id="c-2", consents=[_consent("sms", "service", False, 3)])
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["c-1", "c-1", "c-2"], dtype=str),
            "channel": pd.Series(["email", "email", "sms"], dtype=str),
            "purpose": pd.Series(["marketing", "marketing", "service"], dtype=str),
            "topic": pd.Series([None, "promotions", None], dtype=str),
            "granted": [True, False, False],
            "recorded_at": pd.Series(
                pd.DatetimeIndex([datetime(2024, 1, day, tzinfo=UTC) for day in (1, 2, 3)]).as_unit(
                    "us"
                )
            ),
            "source": pd.Series([None, None, None], dtype=str),
        }
    )
    frame = consents_to_frame([anna, make_customer(customer_id="c-0"), bob])
    assert tuple(frame.columns) == CONSENT_COLUMNS
    assert_frame_equal(frame, expected)
    assert len(consents_to_frame([])) == 0


def test_customers_with_consent_is_default_deny_and_honours_topics():
    cards = [
        make_customer(
            customer_id="c-1",
            consents=[
                _consent("email", "marketing", True, 1),
                _consent("email", "marketing", False, 2, topic="promotions"),
            ],
        ),
        make_customer(
            customer_id="c-2",
            consents=[
                _consent("email", "marketing", True, 4),
                _consent("email", "marketing", False, 4),
            ],
        ),
        make_customer(customer_id="c-3", consents=[_consent("email", "marketing", True, 9)]),
        make_customer(customer_id="c-4"),
    ]
    frame = consents_to_frame(cards)
    assert customers_with_consent(frame, channel="email", purpose="marketing").tolist() == [
        "c-1",
        "c-3",
    ]
    assert customers_with_consent(
        frame, channel="email", purpose="marketing", topic="promotions"
    ).tolist() == ["c-3"]
    assert customers_with_consent(frame, channel="sms", purpose="marketing").empty
    with pytest.raises(SchemaError):
        customers_with_consent(
            frame.drop(columns=["granted"]), channel="email", purpose="marketing"
        )
    assert reason_of(customers_with_consent, frame, channel="fax", purpose="marketing") == (
        "unknown_channel"
    )


@given(
    cards=st.lists(rst.customers(), max_size=5, unique_by=lambda card: card.customer_id),
    channel=st.sampled_from(ChannelKind),
    purpose=st.sampled_from(Purpose),
    topic=st.none() | st.sampled_from(["promotions", "news"]),
)
def test_customers_with_consent_agrees_with_has_consent(cards, channel, purpose, topic):
    if purpose is not Purpose.MARKETING:
        topic = None
    frame = consents_to_frame(cards)
    found = customers_with_consent(frame, channel=channel, purpose=purpose, topic=topic)
    expected = [
        card.customer_id for card in cards if card.has_consent(channel, purpose, topic=topic)
    ]
    assert sorted(found) == sorted(expected)


# --------------------------------------------------------------------------- public API


def test_domain_types_are_exported_from_the_package():
    for name in (
        "ChannelKind",
        "Consent",
        "ContactKind",
        "ContactPoint",
        "Customer",
        "Item",
        "Purchase",
        "PurchaseSource",
        "Segment",
        "SegmentKind",
        "Purpose",
        "contact_hash",
        "normalize_email",
        "normalize_phone",
    ):
        assert name in retention.__all__
        assert getattr(retention, name) is not None


def test_make_helpers_apply_overrides():
    assert make_purchase(order_id="X-9").order_id == "X-9"
    assert make_customer(customer_id="c-7").customer_id == "c-7"
    assert not make_consent(granted=False).granted
    assert reason_of(make_purchase, currency="???") == "unknown_currency"


def test_importing_retention_does_not_import_the_testing_kit():
    code = "import sys, retention; print(sorted(m for m in sys.modules if m.startswith('retention.testing')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
