"""Test helpers for code that uses ``retention``: ready-made domain objects and strategies.

This package ships in the wheel for the tests of host applications and of
``retention`` itself.  It is never imported by ``import retention``; its
:mod:`retention.testing.strategies` module needs ``hypothesis`` (the ``test``
extra), and so does :mod:`retention.testing.contracts`, the ``StoreContract`` suite every
store passes.

:func:`write_purchase_csv` and :func:`write_purchase_parquet` stream seeded purchase logs
of any size (with injected bad rows, repeats, conflicts and refunds) and return what
``retention.ingest`` must make of them (:mod:`retention.testing.generate`).

The ``make_*`` helpers build one valid object with fixed, clearly synthetic
defaults; keyword arguments replace fields (through :func:`attrs.evolve`, so the
result is validated like any other).

>>> make_purchase(order_id="A-2", amount="5.00").amount_minor
500
>>> make_customer(emails=["Test@Example.com"]).emails
('test@example.com',)
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

from retention.models import ChannelKind, Consent, Customer, Purchase, PurchaseSource, Purpose
from retention.testing.generate import (
    GENERATED_COLUMNS,
    GeneratedPurchases,
    write_purchase_csv,
    write_purchase_parquet,
)

__all__ = [
    "GENERATED_COLUMNS",
    "GeneratedPurchases",
    "make_consent",
    "make_customer",
    "make_purchase",
    "write_purchase_csv",
    "write_purchase_parquet",
]

_PURCHASE = Purchase(
    order_id="A-1",
    customer_id="c-1",
    purchased_at=datetime(2024, 1, 15, 12, 0, tzinfo=UTC),
    amount=Decimal("19.99"),
    currency="EUR",
    source=PurchaseSource.SITE,
)

_CONSENT = Consent(
    channel=ChannelKind.EMAIL,
    purpose=Purpose.MARKETING,
    granted=True,
    recorded_at=datetime(2024, 1, 1, 9, 0, tzinfo=UTC),
    source="test",
)

_CUSTOMER = Customer(
    customer_id="c-1",
    name="Test Customer",
    phones=("+15550100001",),
    emails=("customer-1@example.invalid",),
    time_zone="Europe/Berlin",
    preferred_channels=(ChannelKind.EMAIL, ChannelKind.SMS),
)


def make_purchase(**overrides: Any) -> Purchase:  # noqa: ANN401 - any field of Purchase
    """Return a valid :class:`~retention.models.Purchase`, with ``overrides`` applied.

    Defaults: order ``"A-1"`` of customer ``"c-1"`` on 2024-01-15 12:00 UTC,
    19.99 EUR from the site, no items, not a refund.
    """
    return attrs.evolve(_PURCHASE, **overrides)


def make_consent(**overrides: Any) -> Consent:  # noqa: ANN401 - any field of Consent
    """Return a valid :class:`~retention.models.Consent`, with ``overrides`` applied.

    Defaults: e-mail marketing granted on 2024-01-01 09:00 UTC from source ``"test"``.
    """
    return attrs.evolve(_CONSENT, **overrides)


def make_customer(**overrides: Any) -> Customer:  # noqa: ANN401 - any field of Customer
    """Return a valid :class:`~retention.models.Customer`, with ``overrides`` applied.

    Defaults: customer ``"c-1"`` with a synthetic name, one fictional phone
    (``+15550100001``), one ``example.invalid`` address, time zone Europe/Berlin,
    preferring e-mail then SMS, and no consents (so marketing is denied).
    """
    return attrs.evolve(_CUSTOMER, **overrides)
