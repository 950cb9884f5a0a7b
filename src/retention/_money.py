"""Currencies and exact money: ISO 4217 exponents, minor units, Decimal rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from retention.exceptions import ValidationError

__all__ = [
    "CURRENCY_EXPONENTS",
    "currency_exponent",
    "from_minor",
    "is_known_currency",
    "quantize",
    "to_minor",
]

#: ISO 4217 minor-unit exponents of the active currency codes.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        (
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN "
            "BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
            "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR "
            "KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN "
            "MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD "
            "SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD "
            "TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWL"
        ).split(),
        2,
    ),
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}


def is_known_currency(code: str) -> bool:
    """Return whether ``code`` is an ISO 4217 code this library knows."""
    return code in CURRENCY_EXPONENTS


def currency_exponent(code: str) -> int:
    """Return the ISO 4217 exponent of ``code`` (2 for EUR, 0 for JPY, 3 for BHD).

    Raises
    ------
    ValidationError
        If the code is not an ISO 4217 currency code (reason ``unknown_currency``).
    """
    try:
        return CURRENCY_EXPONENTS[code]
    except KeyError:
        msg = f"unknown currency code {code!r}; use an ISO 4217 code such as 'EUR' or 'USD'"
        raise ValidationError(msg, reason="unknown_currency", field="currency") from None


def to_minor(amount: Decimal | int | str, currency: str) -> int:
    """Convert an exact amount to integer minor units of ``currency``.

    The amount must be exact at the currency's exponent: ``19.99`` EUR is 1999,
    ``19.999`` EUR is refused rather than rounded.

    Raises
    ------
    ValidationError
        With reason ``unknown_currency``, ``unparseable_amount`` (not a number or
        infinite), ``missing_amount`` (NaN) or ``precision_loss`` (more decimal places
        than the currency allows).

    >>> to_minor(Decimal("19.99"), "EUR")
    1999
    >>> to_minor("500", "JPY")
    500
    """
    exponent = currency_exponent(currency)
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError, TypeError):
        msg = f"amount {amount!r} is not a number"
        raise ValidationError(msg, reason="unparseable_amount", field="amount") from None
    if value.is_nan():
        msg = "amount is missing (NaN); pass a number, missing amounts are never read as 0"
        raise ValidationError(msg, reason="missing_amount", field="amount")
    if not value.is_finite():
        msg = f"amount {amount!r} is not a finite number"
        raise ValidationError(msg, reason="unparseable_amount", field="amount")
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        msg = (
            f"amount {amount!r} has more decimal places than {currency} allows ({exponent}); "
            "round it explicitly before passing it"
        )
        raise ValidationError(msg, reason="precision_loss", field="amount")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """Convert integer minor units back to a Decimal at the currency's exponent.

    >>> from_minor(1999, "EUR")
    Decimal('19.99')
    """
    exponent = currency_exponent(currency)
    return Decimal(int(minor)).scaleb(-exponent)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-even to the exponent of ``currency``.

    >>> quantize(Decimal("2.345"), "EUR")
    Decimal('2.34')
    """
    exponent = currency_exponent(currency)
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_EVEN)
