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
_ISO = re.compile(
    r"^(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?)?)"
    r" ?(?P<offset>Z|z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
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
    """Return the regular expression a trimmed amount must match under the declared separators."""
    point = re.escape(decimal)
    if thousands is None:
        integer = "[0-9]+"
    else:
        group = f"[{_SPACES}]" if thousands in _SPACES else re.escape(thousands)
        integer = f"[0-9]{{1,3}}(?:{group}[0-9]{{3}})+|[0-9]+"
    symbol = r"[^0-9\s+\-.,']*"
    return (
        rf"^(?P<sign>[+-]?)\s*(?P<pre>{symbol})\s*(?P<sign2>[+-]?)"
        rf"(?P<int>{integer})?(?:{point}(?P<frac>[0-9]+))?\s*(?P<post>{symbol})$"
    )


def parse_amount_text(  # noqa: PLR0915 - one vectorised pass, step by step
    text: pd.Series,
    exponents: NDArray[np.int64],
    currencies: pd.Series,
    *,
    decimal: str,
    thousands: str | None,
    strip_currency_symbol: bool,
) -> tuple[NDArray[np.int64], dict[str, NDArray[np.bool_]], NDArray[np.object_]]:
    """Parse trimmed, non-missing amount text into integer minor units.

    Returns the minor units, masks for ``unparseable_amount``, ``precision_loss``,
    ``amount_out_of_range`` and ``currency_symbol_mismatch``, and the currency symbol
    found on each row (empty string when none).
    """
    n = len(text)
    minor = np.zeros(n, dtype=np.int64)
    symbols = np.full(n, "", dtype=object)
    trimmed = text.str.strip()
    parts = trimmed.str.extract(amount_pattern(decimal, thousands))
    matched = parts["sign"].notna().to_numpy(dtype=bool)
    pre = parts["pre"].fillna("")
    post = parts["post"].fillna("")
    integer = parts["int"].fillna("")
    fraction = parts["frac"].fillna("")
    sign = parts["sign"].fillna("")
    sign2 = parts["sign2"].fillna("")
    no_digits = ((integer == "") & (fraction == "")).to_numpy(dtype=bool)
    two_signs = ((sign != "") & (sign2 != "")).to_numpy(dtype=bool)
    two_symbols = ((pre != "") & (post != "")).to_numpy(dtype=bool)
    symbol = pre.where(pre != "", post)
    has_symbol = (symbol != "").to_numpy(dtype=bool)
    symbols[has_symbol] = symbol.to_numpy(dtype=object)[has_symbol]
    unparseable = ~matched | no_digits | two_signs | two_symbols
    mismatch = np.zeros(n, dtype=bool)
    if strip_currency_symbol:
        pairs = pd.DataFrame({"symbol": symbol.to_numpy(dtype=object), "currency": currencies})
        pairs = pairs[has_symbol & ~unparseable]
        if len(pairs):
            unique = pairs.drop_duplicates()
            allowed = {
                (s, c): bool(
                    isinstance(c, str) and (c in CURRENCY_SYMBOLS.get(s, ()) or s.upper() == c)
                )
                for s, c in zip(unique["symbol"], unique["currency"], strict=True)
            }
            ok = np.array(
                [allowed[key] for key in zip(pairs["symbol"], pairs["currency"], strict=True)],
                dtype=bool,
            )
            rows = np.flatnonzero(has_symbol & ~unparseable)
            mismatch[rows[~ok]] = True
    else:
        unparseable |= has_symbol
    digits_int = integer.str.replace(r"[^0-9]", "", regex=True)
    digits_int = digits_int.where(digits_int != "", "0")
    precision = np.zeros(n, dtype=bool)
    too_large = np.zeros(n, dtype=bool)
    usable = ~unparseable & ~mismatch
    for exponent in np.unique(exponents[usable]):
        rows = usable & (exponents == exponent)
        frac = fraction[rows]
        kept = frac.str.slice(0, int(exponent)).str.pad(int(exponent), side="right", fillchar="0")
        extra = frac.str.slice(int(exponent))
        precision[rows] = extra.str.contains("[1-9]", regex=True).to_numpy(dtype=bool)
        digits = (digits_int[rows] + kept).str.lstrip("0")
        digits = digits.where(digits != "", "0")
        large = (digits.str.len() > _MAX_DIGITS).to_numpy(dtype=bool)
        too_large[rows] = large
        values = np.zeros(int(rows.sum()), dtype=np.int64)
        values[~large] = digits[~large].astype("int64").to_numpy(dtype=np.int64)
        minor[rows] = values
    negative = ((sign == "-") | (sign2 == "-")).to_numpy(dtype=bool)
    minor[negative] = -minor[negative]
    precision &= usable
    too_large &= usable & ~precision
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
    """Parse trimmed, non-missing timestamp text strictly.

    Without ``date_format`` only ISO 8601 is read (``2024-03-01``,
    ``2024-03-01T10:00:00+01:00``, ``...Z``); nothing is guessed and day-first is never
    inferred.  With ``date_format`` every row must match it exactly.

    Returns
    -------
    tuple
        Wall-clock or UTC values (``datetime64``, NaT where unparseable), a mask of rows
        that carried a UTC offset (values already converted to UTC), and a mask of
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
    parts = trimmed.str.extract(_ISO.pattern)
    stamp = parts["stamp"].str.replace(",", ".", regex=False)
    parsed = pd.to_datetime(stamp, format="ISO8601", errors="coerce")
    offset = parts["offset"]
    aware = offset.notna().to_numpy(dtype=bool)
    numeric = offset.where(~offset.isin(["Z", "z", "UTC"]), "+00:00").fillna("+00:00")
    digits = numeric.str.replace(":", "", regex=False)
    sign = np.where(digits.str.slice(0, 1) == "-", -1, 1)
    hours = pd.to_numeric(digits.str.slice(1, 3), errors="coerce").to_numpy(dtype=np.float64)
    minutes = pd.to_numeric(digits.str.slice(3, 5).replace("", "0"), errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad_offset = aware & ~((hours <= 23) & (minutes < 60))
    shift = pd.to_timedelta(np.where(bad_offset, 0, sign * (hours * 60 + minutes)), unit="min")
    parsed = parsed - shift
    bad = parsed.isna().to_numpy(dtype=bool) | bad_offset
    parsed = parsed.where(~bad)
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
