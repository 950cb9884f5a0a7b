"""Dated exchange rates: exact conversion of minor units between currencies (TIM-03)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import attrs
import numpy as np
import pandas as pd

from retention._money import CURRENCY_EXPONENTS, is_known_currency
from retention._validation import require_columns
from retention.exceptions import ValidationError

__all__ = ["DatedRates"]


def _exact_rate(value: object) -> tuple[int, int]:
    """Return a rate as (numerator, power of ten of the denominator), exactly."""
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError):
        msg = f"exchange rate {value!r} is not a number"
        raise ValidationError(msg, reason="invalid_rate") from None
    if not rate.is_finite() or rate <= 0:
        msg = f"exchange rate {value!r} must be a positive finite number"
        raise ValidationError(msg, reason="invalid_rate")
    sign, digits, exponent = rate.as_tuple()
    del sign
    numerator = int("".join(map(str, digits)))
    if not isinstance(exponent, int):  # pragma: no cover - finite decimals have int exponents
        raise ValidationError(f"exchange rate {value!r} is not finite", reason="invalid_rate")
    if exponent >= 0:
        return numerator * 10**exponent, 0
    return numerator, -exponent


def _rate_table(rates: pd.DataFrame) -> pd.DataFrame:
    require_columns(rates, frame_name="rates", date="date", currency="currency", rate="rate")
    valid_from = pd.to_datetime(rates["date"], utc=True).astype("datetime64[us, UTC]")
    codes = rates["currency"].astype(str).str.strip().str.upper()
    unknown = sorted({code for code in codes if not is_known_currency(code)})
    if unknown:
        msg = f"rates name unknown currency codes {unknown}; use ISO 4217 codes"
        raise ValidationError(msg, reason="unknown_currency", field="currency")
    exact = [_exact_rate(value) for value in rates["rate"]]
    table = pd.DataFrame(
        {
            "valid_from": valid_from.reset_index(drop=True),
            "source": codes.to_numpy(dtype=object),
            "numerator": np.array([n for n, _ in exact], dtype=object),
            "scale": np.array([k for _, k in exact], dtype=np.int64),
        }
    )
    return table.sort_values("valid_from", kind="stable").reset_index(drop=True)


def _currency_code(code: object) -> str:
    return str(code).strip().upper()


@attrs.frozen(eq=False)
class DatedRates:
    """Exchange rates that change over time, for ``ingest(converter=...)``.

    Parameters
    ----------
    currency
        The ISO 4217 code every amount is converted to.
    rates
        A frame with columns ``date`` (the instant or day from which a rate applies; a
        naive value is read as UTC), ``currency`` (the source currency) and ``rate``
        (units of ``currency`` per unit of the source currency, given as text, Decimal,
        int or float; floats are read through their shortest text).

    Each row uses the latest rate dated at or before its purchase time.  Conversion is
    exact: ``amount_minor * rate`` is rescaled to the target exponent in integers and
    rounded half to even once.  Rows in the target currency are kept as they are; rows
    dated before their currency's first rate get no amount (``no_exchange_rate``).

    Examples
    --------
    >>> rates = DatedRates("EUR", pd.DataFrame({"date": ["2024-01-01"], "currency": ["USD"],
    ...                                         "rate": ["0.9"]}))
    >>> rates.convert(pd.Series([1000]), pd.Series(["USD"]),
    ...               pd.Series(pd.to_datetime(["2024-03-01"], utc=True))).tolist()
    [900]
    """

    currency: str = attrs.field(converter=_currency_code)
    rates: pd.DataFrame = attrs.field(converter=_rate_table)

    @currency.validator
    def _check_currency(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not is_known_currency(value):
            msg = f"currency {value!r} is not an ISO 4217 code"
            raise ValidationError(msg, reason="unknown_currency", field="currency")

    def convert(
        self, amount_minor: pd.Series, currency: pd.Series, purchased_at: pd.Series
    ) -> pd.Series:
        """Return the amounts in minor units of :attr:`currency` (missing without a rate)."""
        n = len(amount_minor)
        target_exponent = CURRENCY_EXPONENTS[self.currency]
        rows = pd.DataFrame(
            {
                "position": np.arange(n),
                "source": currency.to_numpy(dtype=object),
                "at": pd.DatetimeIndex(purchased_at).tz_convert("UTC").as_unit("us"),
                "minor": amount_minor.to_numpy(dtype=object),
            }
        )
        result = np.full(n, None, dtype=object)
        same = (rows["source"] == self.currency).to_numpy(dtype=bool)
        result[same] = rows["minor"].to_numpy(dtype=object)[same]
        other = rows[~same].sort_values("at", kind="stable")
        if len(other):
            table = self.rates.assign(valid_from=self.rates["valid_from"].dt.as_unit("us"))
            joined = pd.merge_asof(
                other,
                table,
                left_on="at",
                right_on="valid_from",
                left_by="source",
                right_by="source",
                direction="backward",
            )
            known = joined["numerator"].notna().to_numpy(dtype=bool)
            joined = joined[known]
            source_exponent = np.array(
                [CURRENCY_EXPONENTS[code] for code in joined["source"]], dtype=np.int64
            )
            shift = target_exponent - source_exponent
            up = np.power(10, np.maximum(shift, 0)).astype(object)
            down = np.power(10, np.maximum(-shift, 0)).astype(object)
            scale = np.array([10**k for k in joined["scale"]], dtype=object)
            value = (
                joined["minor"].to_numpy(dtype=object)
                * joined["numerator"].to_numpy(dtype=object)
                * up
            )
            divisor = scale * down
            quotient = value // divisor
            remainder = value - quotient * divisor
            twice = remainder * 2
            round_up = (twice > divisor) | ((twice == divisor) & (quotient % 2 == 1))
            rounded = quotient + round_up.astype(object)
            result[joined["position"].to_numpy(dtype=np.int64)] = rounded
        return pd.Series(pd.array(result, dtype="Int64"), index=amount_minor.index)
