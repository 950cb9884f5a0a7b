from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retention import ValidationError
from retention.contacts import (
    ContactKind,
    contact_hash,
    contact_kind,
    normalize_contact,
    normalize_email,
    normalize_phone,
)
from retention.testing import strategies as rst


def _attempt(normalize, *args, **kwargs):
    """Return (normalised value, None) or (None, reason code)."""
    try:
        return normalize(*args, **kwargs), None
    except ValidationError as error:
        return None, error.reason


# --------------------------------------------------------------------------- phones (ING-11)


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+49 (030) 1234-567", "DE", "+49301234567"),
        ("+49 (030) 1234-567", None, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("(030) 123 45 67", "de", "+49301234567"),
        ("0049 30 1234567", "DE", "+49301234567"),
        ("+49301234567", None, "+49301234567"),
        ("+49301234567", "US", "+49301234567"),
        ("8 (495) 123-45-67", "RU", "+74951234567"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+1 202-555-0143", None, "+12025550143"),
        ("030 1234567 ext. 12", "DE", "+49301234567"),
        ("+15550100999", None, "+15550100999"),
    ],
)
def test_ing_11_phone_table(text, region, expected):
    assert normalize_phone(text, default_region=region) == expected


def test_ing_11_national_phone_without_region_is_invalid_phone():
    with pytest.raises(ValidationError) as caught:
        normalize_phone("030 1234567")
    assert caught.value.reason == "invalid_phone"
    assert "default_region" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "12", "+49 1", "+999 1234567", None, 49301234567, b"+49"],
)
def test_ing_11_unusable_phones_are_invalid_phone(text):
    with pytest.raises(ValidationError) as caught:
        normalize_phone(text, default_region="DE")
    assert caught.value.reason == "invalid_phone"
    assert caught.value.field == "phone"


@pytest.mark.parametrize("region", ["XX", "Germany", "", 49])
def test_unknown_region_is_invalid_region(region):
    with pytest.raises(ValidationError) as caught:
        normalize_phone("+49 30 1234567", default_region=region)
    assert caught.value.reason == "invalid_region"


def test_phone_errors_do_not_repeat_the_number():
    with pytest.raises(ValidationError) as caught:
        normalize_phone("555 0100 999")
    assert "555" not in str(caught.value)
    assert "555" not in repr(caught.value)


@given(pair=rst.raw_phone_numbers())
def test_ing_11_phone_normalisation_reads_every_format_and_is_idempotent(pair):
    text, region = pair
    once = normalize_phone(text, default_region=region)
    assert once.startswith("+")
    assert once[1:].isdigit()
    assert normalize_phone(once) == once
    assert normalize_phone(once, default_region=region) == once


@given(
    text=st.text(alphabet="0123456789 +-().x", max_size=20),
    region=st.sampled_from([None, "DE", "US", "RU", "GB", "JP"]),
)
def test_ing_11_phone_normalisation_is_idempotent_on_any_text(text, region):
    once, reason = _attempt(normalize_phone, text, default_region=region)
    if once is None:
        assert reason == "invalid_phone"
        return
    assert normalize_phone(once, default_region=region) == once
    assert normalize_phone(once) == once


# --------------------------------------------------------------------------- e-mail (ING-11)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Anna@Example.COM ", "anna@example.com"),
        ("anna@example.com", "anna@example.com"),
        ("\tANNA.M+Shop@Mail.Example.co.uk\n", "anna.m+shop@mail.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("Ivan@Пример.РФ", "ivan@пример.рф"),
        ("user@xn--80ak6aa92e.com", "user@xn--80ak6aa92e.com"),
        ("a@b.io", "a@b.io"),
    ],
)
def test_ing_11_email_table(text, expected):
    assert normalize_email(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "anna",
        "anna@",
        "@example.com",
        "anna@localhost",
        "anna@@example.com",
        "an na@example.com",
        "anna@exa_mple.com",
        "anna@-example.com",
        "anna@example-.com",
        "anna@example..com",
        "anna@.example.com",
        "anna@example.com.",
        ".anna@example.com",
        "anna.@example.com",
        "an..na@example.com",
        "anna@1.2.3.4",
        "anna@[192.0.2.1]",
        '"anna"@example.com',
        "anna(comment)@example.com",
        "anna@example.com, bob@example.com",
        "<anna@example.com>",
        "a" * 65 + "@example.com",
        "anna@" + "a" * 64 + ".com",
        "anna@" + ".".join(["a" * 60] * 5) + ".com",
        None,
        42,
    ],
)
def test_ing_11_bad_emails_are_invalid_email(text):
    with pytest.raises(ValidationError) as caught:
        normalize_email(text)
    assert caught.value.reason == "invalid_email"
    assert caught.value.field == "email"


def test_email_errors_do_not_repeat_the_address():
    with pytest.raises(ValidationError) as caught:
        normalize_email("pii-sentinel@example")
    assert "pii-sentinel" not in str(caught.value)


@given(address=rst.emails())
def test_ing_11_generated_emails_normalise_idempotently(address):
    once = normalize_email(address)
    assert once == once.strip().lower()
    assert normalize_email(once) == once


@given(text=st.text(max_size=30) | st.from_regex(r"\s*[\w.+'-]{1,10}@[\w-]{1,8}\.[\w]{2,5}\s*"))
def test_ing_11_email_normalisation_is_idempotent_on_any_text(text):
    once, reason = _attempt(normalize_email, text)
    if once is None:
        assert reason == "invalid_email"
        return
    assert normalize_email(once) == once


# --------------------------------------------------------------------------- kinds and hashes


def test_contact_kind_is_told_by_the_at_sign():
    assert contact_kind("anna@example.com") is ContactKind.EMAIL
    assert contact_kind("+49 30 1234567") is ContactKind.PHONE


def test_normalize_contact_dispatches_on_kind():
    assert normalize_contact(" A@B.de ") == "a@b.de"
    assert normalize_contact("030 1234567", default_region="DE") == "+49301234567"
    assert normalize_contact("+49 30 1234567", kind="phone") == "+49301234567"
    with pytest.raises(ValidationError) as caught:
        normalize_contact("+49 30 1234567", kind="email")
    assert caught.value.reason == "invalid_email"
    with pytest.raises(ValidationError) as caught:
        normalize_contact("x", kind="fax")
    assert caught.value.reason == "invalid_contact_kind"
    with pytest.raises(ValidationError) as caught:
        normalize_contact(None)
    assert caught.value.reason == "invalid_contact"


def test_contact_hash_is_sha256_of_the_normalised_form_without_secret():
    expected = hashlib.sha256(b"anna@example.com").hexdigest()
    assert contact_hash("  Anna@Example.COM ", secret=None) == expected
    assert contact_hash("anna@example.com", secret=None) == expected


def test_contact_hash_is_hmac_sha256_with_a_secret():
    secret = b"deployment-secret"
    expected = hmac.new(secret, b"+49301234567", hashlib.sha256).hexdigest()
    assert contact_hash("+49 (030) 1234-567", secret=secret) == expected
    assert contact_hash("030 1234567", secret=secret, default_region="DE") == expected
    assert contact_hash("+49301234567", secret=b"other") != expected
    assert contact_hash("+49301234567", secret=None) != expected


def test_contact_hash_refuses_bad_secrets_and_values():
    for secret in (b"", "text-secret", 42):
        with pytest.raises(ValidationError) as caught:
            contact_hash("anna@example.com", secret=secret)
        assert caught.value.reason == "invalid_secret"
    with pytest.raises(ValidationError) as caught:
        contact_hash("030 1234567", secret=None)
    assert caught.value.reason == "invalid_phone"


@given(address=rst.emails(), secret=st.none() | st.binary(min_size=1, max_size=32))
def test_contact_hash_ignores_spelling(address, secret):
    digest = contact_hash(address, secret=secret)
    assert len(digest) == 64
    assert digest == contact_hash(normalize_email(address), secret=secret)
    assert digest == contact_hash(f"  {address.upper()} ", secret=secret)
