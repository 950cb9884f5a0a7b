"""Vectorised parsing of ingested values: text ids, exact money, strict timestamps.

Every function takes a column of one chunk and returns arrays aligned with it plus
boolean masks of the rows that fail, keyed by reason code.  Nothing here loops over
rows in Python on the common path (text read from a CSV); object columns holding
mixed Python values are converted to text element by element first.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "CURRENCY_SYMBOLS",
    "MISSING_TOKENS",
    "amount_pattern",
    "as_text",
    "is_missing_text",
    "localize",
    "parse_amount_numbers",
    "parse_amount_text",
    "parse_timestamp_text",
    "text_dtype",
]

#: Values read as "no value" in amount and timestamp columns (compared case-insensitively
#: after trimming whitespace).  They are never read as zero.
MISSING_TOKENS = frozenset({"", "nan", "none", "null", "n/a", "na", "-", "nat", "\u2014"})

#: Currency symbols accepted with ``strip_currency_symbol=True`` and the ISO 4217 codes
#: each may stand for.  A row's own ISO code (``EUR 12.50``) is accepted as well.
CURRENCY_SYMBOLS: dict[str, frozenset[str]] = {
    "€": frozenset({"EUR"}),
    "$": frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "ARS", "CLP", "COP"}),
    "US$": frozenset({"USD"}),
    "£": frozenset({"GBP"}),
    "¥": frozenset({"JPY", "CNY"}),
    "₽": frozenset({"RUB"}),
    "\u0440\u0443\u0431": frozenset({"RUB"}),  # rub (Cyrillic)
    "\u0440": frozenset({"RUB"}),  # r (Cyrillic)
    "₹": frozenset({"INR"}),
    "₩": frozenset({"KRW"}),
    "₺": frozenset({"TRY"}),
    "₴": frozenset({"UAH"}),
    "₸": frozenset({"KZT"}),
    "₪": frozenset({"ILS"}),
    "₫": frozenset({"VND"}),
    "₱": frozenset({"PHP"}),
    "฿": frozenset({"THB"}),
    "zł": frozenset({"PLN"}),
    "Kč": frozenset({"CZK"}),
    "Ft": frozenset({"HUF"}),
    "kr": frozenset({"SEK", "NOK", "DKK", "ISK"}),
    "Fr": frozenset({"CHF"}),
    "R$": frozenset({"BRL"}),
    "C$": frozenset({"CAD"}),
    "A$": frozenset({"AUD"}),
}

_SPACES = " \u00a0\u202f"
_OFFSET = r"(?:Z|z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)$"
_ISO = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?)?"
    r" ?(?:Z|z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
)
_MAX_DIGITS = 18


def text_dtype() -> Any:  # noqa: ANN401 - a pandas dtype object
    """Return the string dtype of the running pandas (NaN-missing ``str`` in 3.x, object in 2.2)."""
    try:
        return pd.StringDtype(na_value=np.nan)
    except TypeError:  # pragma: no cover - pandas < 2.3
        return object


def _element_text(value: object) -> object:  # noqa: PLR0911 - one return per value type
    if value is None or value is pd.NaT or value is pd.NA:
        return np.nan
    if isinstance(value, float) and np.isnan(value):
        return np.nan
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (float, np.floating)):
        return np.format_float_positional(value, trim="-")
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    return str(value)


def as_text(column: pd.Series) -> pd.Series:
    """Return ``column`` as text with NaN for missing values (ids, amounts, dates).

    Integer columns become their digits; integral float columns (ids read by a
    careless reader) become the integer digits; other values their shortest exact text.
    """
    dtype = text_dtype()
    result: pd.Series
    if pd.api.types.is_string_dtype(column.dtype) and column.dtype != object:
        result = column.astype(dtype)
        return result
    if pd.api.types.is_integer_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        missing = column.isna().to_numpy(dtype=bool)
        out = np.full(len(column), np.nan, dtype=object)
        out[~missing] = column[~missing].astype("int64").astype(str).to_numpy(dtype=object)
        result = pd.Series(out, index=column.index, dtype=dtype)
        return result
    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(values)
        integral = finite & (np.floor(values) == values) & (np.abs(values) < 2**53)
        out = np.full(len(column), np.nan, dtype=object)
        out[integral] = values[integral].astype(np.int64).astype(str)
        other = finite & ~integral
        out[other] = [np.format_float_positional(v, trim="-") for v in values[other]]
        result = pd.Series(out, index=column.index, dtype=dtype)
        return result
    result = column.astype(object).map(_element_text).astype(dtype)
    return result


def is_missing_text(text: pd.Series) -> NDArray[np.bool_]:
    """Rows that hold no value: NaN, blank, or one of :data:`MISSING_TOKENS`."""
    stripped = text.str.strip().str.lower()
    return (text.isna() | stripped.isin(MISSING_TOKENS)).to_numpy(dtype=bool)


# -- money -------------------------------------------------------------------------------


def amount_pattern(decimal: str, thousands: str | None) -> str:
    """Return the regular expression a trimmed amount must match under the declared separators.

    The groups are the sign (before or after a leading symbol), the leading symbol, the
    integer part, the fraction and a trailing symbol.
    """
    symbol = r"[^0-9\s+\-.,']*"
    return (
        rf"^(?P<sign>[+-]?)\s*(?P<pre>{symbol})\s*(?P<sign2>[+-]?)"
        rf"(?P<int>{_integer_pattern(thousands)})?(?:{re.escape(decimal)}(?P<frac>[0-9]+))?"
        rf"\s*(?P<post>{symbol})$"
    )


def _integer_pattern(thousands: str | None) -> str:
    if thousands is None:
        return "[0-9]+"
    group = f"[{_SPACES}]" if thousands in _SPACES else re.escape(thousands)
    return f"[0-9]{{1,3}}(?:{group}[0-9]{{3}})+|[0-9]+"


def _number_pattern(decimal: str, thousands: str | None) -> str:
    return rf"[+-]?(?:{_integer_pattern(thousands)})?(?:{re.escape(decimal)}[0-9]+)?"


def _strip_symbols(
    trimmed: pd.Series,
    rows: NDArray[np.bool_],
    currencies: pd.Series,
    *,
    decimal: str,
    thousands: str | None,
    strip_currency_symbol: bool,
) -> tuple[pd.Series, NDArray[np.object_], NDArray[np.bool_], NDArray[np.bool_]]:
    """Split the rows holding a currency symbol (the rare path) into symbol and number.

    Returns the number text of every row (unchanged where no symbol), the symbol per row,
    and the masks of rows that cannot be read and of symbols not matching the currency.
    """
    n = len(trimmed)
    symbols = np.full(n, "", dtype=object)
    unparseable = np.zeros(n, dtype=bool)
    mismatch = np.zeros(n, dtype=bool)
    core = trimmed.copy()
    if not rows.any():
        return core, symbols, unparseable, mismatch
    parts = trimmed[rows].str.extract(amount_pattern(decimal, thousands)).astype(object)
    parts = parts.where(parts.notna(), "")
    matched = (
        trimmed[rows]
        .str.fullmatch(amount_pattern(decimal, thousands))
        .to_numpy(dtype=bool, na_value=False)
    )
    pre, post = parts["pre"], parts["post"]
    symbol = pre.where(pre != "", post).to_numpy(dtype=object)
    bad = (
        ~matched
        | ((pre != "") & (post != "")).to_numpy(dtype=bool)
        | ((parts["sign"] != "") & (parts["sign2"] != "")).to_numpy(dtype=bool)
        | (symbol == "")
    )
    if strip_currency_symbol:
        codes = currencies[rows].to_numpy(dtype=object)
        allowed = {
            (s, c): isinstance(c, str) and (c in CURRENCY_SYMBOLS.get(s, ()) or s.upper() == c)
            for s, c in set(zip(symbol, codes, strict=True))
        }
        wrong = np.array([not allowed[key] for key in zip(symbol, codes, strict=True)], dtype=bool)
        mismatch[np.flatnonzero(rows)] = wrong & ~bad
    else:
        bad = np.ones(len(bad), dtype=bool)
    fraction = parts["frac"].where(parts["frac"] == "", decimal + parts["frac"])
    number = parts["sign"] + parts["sign2"] + parts["int"] + fraction
    core[rows] = number.to_numpy(dtype=object)
    unparseable[np.flatnonzero(rows)] = bad
    symbols[np.flatnonzero(rows)] = symbol
    return core, symbols, unparseable, mismatch


def parse_amount_text(
    text: pd.Series,
    exponents: NDArray[np.int64],
    currencies: pd.Series,
    *,
    decimal: str,
    thousands: str | None,
    strip_currency_symbol: bool,
) -> tuple[NDArray[np.int64], dict[str, NDArray[np.bool_]], NDArray[np.object_]]:
    """Parse non-missing amount text into integer minor units, without floats.

    The number is validated against the declared format, reduced to its digits and the
    count of fraction digits, and scaled to the currency's exponent in integers: a value
    finer than the exponent is ``precision_loss`` (never rounded), one beyond 18 digits
    ``amount_out_of_range``.  Rows holding a currency symbol take a slower path.

    Returns the minor units, masks for ``unparseable_amount``, ``precision_loss``,
    ``amount_out_of_range`` and ``currency_symbol_mismatch``, and the currency symbol
    found on each row (empty string when none).
    """
    trimmed = text.str.strip()
    has_symbol = trimmed.str.contains(f"[^0-9+\\-.,'\t{_SPACES}]", regex=True).to_numpy(
        dtype=bool, na_value=False
    )
    core, symbols, unparseable, mismatch = _strip_symbols(
        trimmed,
        has_symbol,
        currencies,
        decimal=decimal,
        thousands=thousands,
        strip_currency_symbol=strip_currency_symbol,
    )
    valid = core.str.fullmatch(_number_pattern(decimal, thousands)).to_numpy(
        dtype=bool, na_value=False
    ) & core.str.contains("[0-9]", regex=True).to_numpy(dtype=bool, na_value=False)
    unparseable = unparseable | ~valid
    usable = ~unparseable & ~mismatch
    core = core.where(usable, "0")
    negative = core.str.startswith("-").to_numpy(dtype=bool, na_value=False)
    kept = core.str.replace(f"[^0-9{re.escape(decimal)}]", "", regex=True)
    point = kept.str.find(decimal).to_numpy(dtype=np.int64)
    length = kept.str.len().to_numpy(dtype=np.int64)
    fraction_digits = np.where(point < 0, 0, length - point - 1)
    digits = kept.str.replace(decimal, "", regex=False).str.lstrip("0")
    significant = digits.str.len().to_numpy(dtype=np.int64)
    digits = digits.where(digits != "", "0")
    shift = exponents - fraction_digits
    too_large = usable & ((significant > _MAX_DIGITS) | (significant + shift > _MAX_DIGITS))
    digits = digits.where(~too_large, "0")
    value = digits.astype("int64").to_numpy(dtype=np.int64)
    up = np.where(shift > 0, shift, 0)
    down = np.where(shift < 0, -shift, 0)
    divisor = np.power(10, np.minimum(down, _MAX_DIGITS)).astype(np.int64)
    precision = usable & ~too_large & ((down > _MAX_DIGITS) & (value != 0) | (value % divisor != 0))
    minor = np.where(precision | too_large | ~usable, 0, value // divisor * np.power(10, up))
    minor = np.where(negative, -minor, minor).astype(np.int64)
    return (
        minor,
        {
            "unparseable_amount": unparseable,
            "currency_symbol_mismatch": mismatch & ~unparseable,
            "precision_loss": precision,
            "amount_out_of_range": too_large,
        },
        symbols,
    )


def parse_amount_numbers(
    values: NDArray[np.float64], exponents: NDArray[np.int64]
) -> tuple[NDArray[np.int64], dict[str, NDArray[np.bool_]]]:
    """Convert numeric amounts (float or integer columns) to minor units, exactly.

    A float is accepted only when it is the nearest double to a decimal with at most the
    currency's exponent of places (``19.99`` -> 1999 EUR; ``19.999`` -> ``precision_loss``).
    """
    finite = np.isfinite(values)
    scale = np.power(10.0, exponents)
    scaled = np.where(finite, values * scale, 0.0)
    rounded = np.rint(scaled)
    too_large = finite & (np.abs(rounded) >= 2.0**53)
    exact = np.where(finite & ~too_large, rounded / scale == values, np.ones(len(values), bool))
    minor = np.where(finite & ~too_large, rounded, 0).astype(np.int64)
    return minor, {
        "unparseable_amount": ~finite,
        "amount_out_of_range": too_large,
        "precision_loss": finite & ~too_large & ~exact,
    }


# -- time --------------------------------------------------------------------------------


def parse_timestamp_text(
    text: pd.Series, *, date_format: str | None
) -> tuple[pd.Series, NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse non-missing timestamp text strictly.

    Without ``date_format`` only ISO 8601 is read (``2024-03-01``,
    ``2024-03-01T10:00:00+01:00``, ``...Z``); nothing is guessed and day-first is never
    inferred.  With ``date_format`` every row must match it exactly.

    Returns
    -------
    tuple
        Values as naive ``datetime64`` (UTC for rows that carried an offset, wall-clock
        time for the others; NaT where unparseable; digits below the microsecond are
        dropped), the mask of rows that carried a UTC offset, and the mask of
        unparseable rows.
    """
    trimmed = text.str.strip()
    n = len(text)
    if date_format is not None:
        aware_format = "%z" in date_format or "%Z" in date_format
        parsed = pd.to_datetime(trimmed, format=date_format, errors="coerce", utc=aware_format)
        if aware_format:
            parsed = parsed.dt.tz_localize(None)
        bad = parsed.isna().to_numpy(dtype=bool)
        aware = np.full(n, aware_format, dtype=bool) & ~bad
        return parsed, aware, bad
    shaped = trimmed.str.fullmatch(_ISO.pattern).to_numpy(dtype=bool, na_value=False)
    aware = shaped & trimmed.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool, na_value=False)
    naive = shaped & ~aware
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    if naive.any():
        stamps = trimmed[naive].str.replace(",", ".", regex=False)
        wall = pd.to_datetime(stamps, format="ISO8601", errors="coerce")
        parsed[naive] = wall.astype("datetime64[us]")
    if aware.any():
        stamps = trimmed[aware]
        unusual = stamps.str.contains(r",|UTC$|z$| (?:[+-][0-9]{2}(?::?[0-9]{2})?|Z)$", regex=True)
        if unusual.any():  # decimal commas, "UTC"/"z" suffixes, a space before the offset
            stamps = (
                stamps.str.replace(",", ".", regex=False)
                .str.replace(r"(?:UTC|z)$", "Z", regex=True)
                .str.replace(r" ([+-][0-9]{2}(?::?[0-9]{2})?|Z)$", r"\1", regex=True)
            )
        instants = pd.to_datetime(stamps, format="ISO8601", errors="coerce", utc=True)
        parsed[aware] = instants.dt.tz_localize(None).astype("datetime64[us]")
    bad = parsed.isna().to_numpy(dtype=bool)
    return parsed, aware & ~bad, bad


def localize(
    wall: pd.Series, zone: str, *, ambiguous: str
) -> tuple[pd.Series, NDArray[np.bool_], NDArray[np.bool_]]:
    """Read naive wall-clock times in ``zone``; return UTC values and problem masks.

    Returns the UTC values (NaT where the time does not exist or is ambiguous and
    ``ambiguous`` is ``"raise"``), the mask of nonexistent local times (spring-forward
    gap) and the mask of ambiguous ones (fall-back repeat) left unresolved.
    """
    index = pd.DatetimeIndex(wall)
    n = len(index)
    earliest = index.tz_localize(zone, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT")
    latest = index.tz_localize(zone, ambiguous=np.zeros(n, dtype=bool), nonexistent="NaT")
    present = ~np.asarray(index.isna(), dtype=bool)
    resolved = ~np.asarray(earliest.isna(), dtype=bool)
    nonexistent: NDArray[np.bool_] = present & ~resolved
    differ = np.asarray(earliest != latest, dtype=bool)
    unresolved: NDArray[np.bool_] = present & resolved & differ
    if ambiguous in {"earliest", "latest"}:
        unresolved = np.zeros(n, dtype=bool)
    chosen = latest if ambiguous == "latest" else earliest
    result = pd.Series(chosen.tz_convert("UTC"), index=wall.index)
    result = result.where(~unresolved)
    return result, nonexistent, unresolved
