"""Shared preparation of a transactions frame for the KPI functions.

Every KPI function validates and normalises its input the same way, then works on two
small tables: ``orders`` (one row per purchase order) and ``refunds`` (one row per
refund row).  :func:`prepare` builds them once, so :func:`retention.kpi.report` can
compute every metric from one pass over the data.

Definitions used everywhere (they are what the SQL push-down must reproduce):

* a **row** is a refund when ``kind == "refund"`` (or, without a kind column, when
  ``refund_of`` is set); every other row is a purchase row;
* an **order** is the set of purchase rows sharing an ``order_id``; without an order id
  column every purchase row is its own order (as in CDNOW);
* an order is **counted** (is "a purchase") unless it is *fully refunded*: its refunds
  dated on or before ``as_of`` add up to at least its amount, and that amount is positive.
  Zero-value orders are purchases;
* **gross revenue** is the sum of purchase rows, **refunds** the sum of refund amounts
  as a positive figure, **net revenue** their difference; a refund falls in the period
  of its own date;
* rows after ``as_of`` are ignored.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final, TypedDict

import attrs
import numpy as np
import pandas as pd

from retention._validation import describe_ids, is_ingest_result, require_columns
from retention.exceptions import MixedCurrencyError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

__all__ = [
    "CANONICAL",
    "PERIODS",
    "ColumnOptions",
    "Prepared",
    "as_timestamp",
    "normalise_datetimes",
    "period_index",
    "period_ordinals",
    "prepare",
]

#: Period aliases the KPI functions accept (pandas period frequencies).
PERIODS: Final = ("D", "W", "M", "Q", "Y")

#: Column names of the canonical ingested frame; optional columns with these default
#: names are used when present and ignored when absent.
CANONICAL: Final = {
    "customer_id_col": "customer_id",
    "datetime_col": "purchased_at",
    "monetary_value_col": "amount",
    "order_id_col": "order_id",
    "kind_col": "kind",
    "refund_of_col": "refund_of",
    "currency_col": "currency",
}


_NS_PER_DAY: Final = 86_400_000_000_000


class ColumnOptions(TypedDict, total=False):
    """Column keywords shared by the KPI functions (all optional, canonical defaults).

    ``customer_id_col`` (``"customer_id"``), ``datetime_col`` (``"purchased_at"``) and
    ``monetary_value_col`` (``"amount"``) are required columns.  ``order_id_col``
    (``"order_id"``), ``kind_col`` (``"kind"``), ``refund_of_col`` (``"refund_of"``) and
    ``currency_col`` (``"currency"``) are used when the frame has them; a name passed
    explicitly must exist, and ``None`` ignores the column.  ``tz`` (default UTC) is the
    zone aware timestamps are converted to before periods are cut; naive timestamps are
    read as calendar time as they stand.
    """

    customer_id_col: str
    datetime_col: str
    monetary_value_col: str
    order_id_col: str | None
    kind_col: str | None
    refund_of_col: str | None
    currency_col: str | None
    tz: str | None


def period_ordinals(at: pd.Series, period: str) -> NDArray[np.int64]:
    """Integer pandas period ordinals of naive datetimes (``M`` 0 == 1970-01)."""
    nanoseconds = at.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if len(nanoseconds) == 0:
        return np.zeros(0, dtype=np.int64)
    day: NDArray[np.int64] = np.floor_divide(nanoseconds, _NS_PER_DAY)
    if period == "D":
        return day
    # Calendar arithmetic on the few distinct days only, then a lookup per row.
    first, last = int(day.min()), int(day.max())
    days = pd.DatetimeIndex(np.arange(first, last + 1, dtype=np.int64).astype("datetime64[D]"))
    lookup = np.asarray(days.to_period(period).asi8, dtype=np.int64)
    result: NDArray[np.int64] = lookup[day - first]
    return result


def period_index(ordinals: NDArray[np.int64] | Sequence[int], period: str) -> pd.PeriodIndex:
    """Turn period ordinals back into a :class:`pandas.PeriodIndex`."""
    values = np.asarray(ordinals, dtype=np.int64)
    index: pd.PeriodIndex = pd.PeriodIndex.from_ordinals(  # type: ignore[attr-defined]  # pandas-stubs lacks it
        values, freq=period
    )
    return index


def require_positive(value: object, *, name: str) -> float:
    """Return ``value`` as a float if it is a positive number (not a bool), else raise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        msg = f"{name} must be a positive number, got {value!r}"
        raise ValidationError(msg)
    return float(value)


def require_period(period: object) -> str:
    """Return ``period`` if it is one of the accepted aliases, else raise."""
    if not isinstance(period, str) or period not in PERIODS:
        msg = (
            f"period must be one of {', '.join(map(repr, PERIODS))} "
            f"(day, week, month, quarter, year); got {period!r}"
        )
        raise ValidationError(msg)
    return period


def normalise_datetimes(values: pd.Series, *, column: str, tz: str | None) -> pd.Series:
    """Naive datetimes as they stand; aware ones converted to ``tz`` then made naive.

    Raises
    ------
    ValidationError
        If the column holds no datetimes, a mix of naive and aware values, or gaps.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        out = values.dt.tz_convert(tz or "UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(dtype):
        out = values
    elif pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(values, skipna=True) in {
        "datetime",
        "datetime64",
    }:
        aware = values.map(lambda v: getattr(v, "tzinfo", None) is not None, na_action="ignore")
        if aware.any() and not aware.dropna().all():
            msg = (
                f"column {column!r} mixes naive and time-zone-aware datetimes; make them "
                "all aware (or all naive calendar time) first"
            )
            raise ValidationError(msg)
        if aware.any():
            out = pd.to_datetime(values, utc=True).dt.tz_convert(tz or "UTC").dt.tz_localize(None)
        else:
            out = pd.to_datetime(values)
    else:
        msg = (
            f"column {column!r} must hold datetimes, got dtype {dtype}; "
            f"convert it with pandas.to_datetime first"
        )
        raise ValidationError(msg)
    if out.isna().any():
        msg = (
            f"column {column!r} has {int(out.isna().sum())} missing timestamps; "
            "drop or ingest them (ingest quarantines them as missing_timestamp)"
        )
        raise ValidationError(msg)
    result: pd.Series = out.astype("datetime64[ns]")
    return result


def as_timestamp(
    value: object, *, name: str, column_is_aware: bool, tz: str | None
) -> pd.Timestamp:
    """``as_of`` (or another instant) in the frame's calendar time.

    A naive value goes with a naive column; an aware one is converted to ``tz`` for an
    aware column.  A date means the end of that day (inclusive).
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        return pd.Timestamp(value) + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    if not isinstance(value, datetime):
        msg = f"{name} must be a datetime or date, got {type(value).__name__}"
        raise ValidationError(msg)
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        if not column_is_aware:
            msg = (
                f"{name} is time-zone aware but the datetime column is naive calendar "
                f"time; pass a naive {name} (or make the column aware)"
            )
            raise ValidationError(msg)
        return stamp.tz_convert(tz or "UTC").tz_localize(None)
    if column_is_aware:
        msg = (
            f"{name} is a naive datetime but the datetime column is time-zone aware; "
            f"pass an aware {name}, for example datetime(2024, 1, 31, tzinfo=UTC)"
        )
        raise ValidationError(msg)
    return stamp


def _optional(frame: pd.DataFrame, options: Mapping[str, object], key: str) -> str | None:
    """Resolve an optional column: default name used if present, explicit name must exist."""
    if key not in options:
        default = CANONICAL[key]
        return default if default in frame.columns else None
    value = options[key]
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"{key} must be a column name or None, got {type(value).__name__}"
        raise ValidationError(msg)
    return value


def _required(options: Mapping[str, object], key: str) -> str:
    value = options.get(key, CANONICAL[key])
    if not isinstance(value, str):
        msg = f"{key} must be a column name, got {type(value).__name__}"
        raise ValidationError(msg)
    return value


def check_single_currency(values: pd.Series, *, column: str) -> str | None:
    """Return the one currency of ``values`` or raise :class:`MixedCurrencyError`."""
    if values.empty:
        return None
    if values.isna().any():
        msg = f"column {column!r} has missing currency codes; fill them before computing KPIs"
        raise ValidationError(msg)
    first = values.iloc[0]
    if bool((values != first).any()):
        found = sorted(str(code) for code in pd.unique(values))
        position = int(np.argmax((values != first).to_numpy()))
        msg = (
            f"column {column!r} holds several currencies ({describe_ids(found)}; the first "
            f"row in another currency is row {position}); KPIs never add different "
            "currencies: filter to one currency or convert the amounts first"
        )
        raise MixedCurrencyError(msg)
    return str(first)


@attrs.frozen
class Prepared:
    """Validated transactions as ``orders`` and ``refunds`` tables (private).

    ``counted`` holds the orders that count as purchases (``orders`` itself when all do).
    ``orders`` columns: ``unit`` (int code of the customer, or of the customer and the
    ``by`` groups), ``order`` (int code), ``at`` (naive datetime64[ns], first row of the
    order), ``amount`` (float gross), ``counted`` (bool), ``ordinal`` (period ordinal) and
    the ``by`` columns.  ``refunds`` columns: ``unit``, ``parent`` (order code or -1),
    ``at``, ``amount`` (positive magnitude), ``ordinal`` and the ``by`` columns.
    """

    orders: pd.DataFrame
    refunds: pd.DataFrame
    counted: pd.DataFrame
    customers: pd.Index
    n_units: int
    as_of: pd.Timestamp
    period: str
    by: tuple[str, ...]
    currency: str | None
    column_is_aware: bool
    tz: str | None


def _unit_codes(
    extra: Mapping[str, pd.Series], customer: NDArray[np.int64], by: tuple[str, ...]
) -> NDArray[np.int64]:
    if not by:
        return customer
    keys = pd.DataFrame({"_customer": customer, **{name: extra[name].to_numpy() for name in by}})
    return np.asarray(keys.groupby(list(keys.columns), sort=False, dropna=False).ngroup())


def prepare(
    transactions: object,
    *,
    as_of: object,
    period: str,
    by: str | Sequence[str] | None = None,
    carry: Mapping[str, str] | None = None,
    options: Mapping[str, object] | None = None,
) -> Prepared:
    """Validate ``transactions`` and build the orders and refunds tables.

    Raises
    ------
    SchemaError
        If a required or explicitly named column is missing.
    ValidationError
        For missing ids, amounts or timestamps, negative purchase amounts, positive
        refund amounts, unknown kinds, a bad period, or an ``as_of`` of the wrong kind.
    MixedCurrencyError
        If the currency column holds more than one currency.
    """
    options = dict(options or {})
    unknown = set(options) - {*CANONICAL, "tz"}
    if unknown:
        msg = f"unknown column keyword(s) {describe_ids(sorted(unknown))}"
        raise ValidationError(msg)
    period = require_period(period)
    tz_value = options.get("tz")
    tz = tz_value if isinstance(tz_value, str) else None
    frame = _as_frame(transactions)
    names = _Names.resolve(frame, options, by, carry)
    source = frame[names.datetime]
    column_is_aware = isinstance(source.dtype, pd.DatetimeTZDtype) or (
        pd.api.types.is_object_dtype(source.dtype)
        and any(getattr(v, "tzinfo", None) is not None for v in source[:1])
    )
    at = normalise_datetimes(source, column=names.datetime, tz=tz)
    cutoff = as_timestamp(as_of, name="as_of", column_is_aware=column_is_aware, tz=tz)
    keep_mask = (at <= cutoff).to_numpy()
    keep: slice | NDArray[np.bool_] = slice(None) if keep_mask.all() else keep_mask

    def column(name: str) -> pd.Series:
        values = frame[name]
        return values if isinstance(keep, slice) else values[keep]

    at = at if isinstance(keep, slice) else at[keep]
    ids = column(names.customer)
    if ids.isna().any():
        msg = f"column {names.customer!r} (customer_id_col) has missing customer ids"
        raise ValidationError(msg)
    amount = _amounts(column(names.amount), names.amount)
    currency = (
        check_single_currency(column(names.currency), column=names.currency)
        if names.currency
        else None
    )
    extra = {name: column(name) for name in (*names.by, *names.carried)}
    for name, values in extra.items():
        if values.isna().any():
            msg = f"column {name!r} (by) has missing values; fill them (e.g. 'unknown') first"
            raise ValidationError(msg)
    is_refund = _refund_flags(
        column(names.kind) if names.kind else None,
        column(names.refund_of) if names.refund_of else None,
        names.kind,
        len(ids),
    )
    _check_signs(amount, is_refund, names.amount)

    customer_codes, customers = pd.factorize(ids, sort=False)
    customer_codes = np.asarray(customer_codes, dtype=np.int64)
    unit = _unit_codes(extra, customer_codes, names.by)
    rows = {
        "unit": unit,
        "customer": customer_codes,
        "at": at.to_numpy(dtype="datetime64[ns]"),
        "amount": amount,
        "ordinal": period_ordinals(at, period),
        **{name: values.to_numpy() for name, values in extra.items()},
    }
    orders, order_labels = _orders(
        rows, is_refund, column(names.order) if names.order else None, names, period
    )
    parents = (
        column(names.refund_of).to_numpy()[is_refund]
        if names.refund_of is not None and is_refund.any()
        else None
    )
    refunds = _refunds(rows, is_refund, parents, order_labels)
    counted = _counted(orders, refunds)
    orders["counted"] = counted
    return Prepared(
        orders=orders,
        refunds=refunds,
        counted=orders if counted.all() else orders[counted],
        customers=pd.Index(customers, name=names.customer),
        n_units=int(unit.max()) + 1 if len(unit) else 0,
        as_of=cutoff,
        period=period,
        by=names.by,
        currency=currency,
        column_is_aware=column_is_aware,
        tz=tz,
    )


def _as_frame(transactions: object) -> pd.DataFrame:
    """Return the frame itself, or an IngestResult's clean transactions."""
    if not isinstance(transactions, pd.DataFrame) and is_ingest_result(transactions):
        transactions = getattr(transactions, "transactions")  # noqa: B009 - an IngestResult
    if not isinstance(transactions, pd.DataFrame):
        require_columns(transactions, frame_name="transactions")
    assert isinstance(transactions, pd.DataFrame)  # noqa: S101 - narrowed by require_columns
    return transactions


@attrs.frozen
class _Names:
    """Resolved column names of one call."""

    customer: str
    datetime: str
    amount: str
    order: str | None
    kind: str | None
    refund_of: str | None
    currency: str | None
    by: tuple[str, ...]
    carried: tuple[str, ...]

    @classmethod
    def resolve(
        cls,
        frame: pd.DataFrame,
        options: Mapping[str, object],
        by: str | Sequence[str] | None,
        carry: Mapping[str, str] | None,
    ) -> _Names:
        by_cols = (by,) if isinstance(by, str) else tuple(by or ())
        carry = dict(carry or {})
        names = cls(
            customer=_required(options, "customer_id_col"),
            datetime=_required(options, "datetime_col"),
            amount=_required(options, "monetary_value_col"),
            order=_optional(frame, options, "order_id_col"),
            kind=_optional(frame, options, "kind_col"),
            refund_of=_optional(frame, options, "refund_of_col"),
            currency=_optional(frame, options, "currency_col"),
            by=by_cols,
            carried=tuple(n for n in dict.fromkeys(carry.values()) if n not in by_cols),
        )
        require_columns(
            frame,
            frame_name="transactions",
            customer_id_col=names.customer,
            datetime_col=names.datetime,
            monetary_value_col=names.amount,
            order_id_col=names.order,
            kind_col=names.kind,
            refund_of_col=names.refund_of,
            currency_col=names.currency,
            **{f"by[{i}]": name for i, name in enumerate(by_cols)},
            **carry,
        )
        return names


def _amounts(amounts: pd.Series, name: str) -> NDArray[np.float64]:
    if not pd.api.types.is_numeric_dtype(amounts.dtype) or pd.api.types.is_bool_dtype(
        amounts.dtype
    ):
        msg = (
            f"column {name!r} (monetary_value_col) must be numeric, got {amounts.dtype}; "
            "convert it with pandas.to_numeric"
        )
        raise ValidationError(msg)
    amount = amounts.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(amount).all():
        msg = (
            f"column {name!r} (monetary_value_col) has missing or infinite amounts; "
            "they are never read as 0: drop them or ingest the frame (it quarantines them)"
        )
        raise ValidationError(msg)
    return amount


def _refund_flags(
    kinds: pd.Series | None, refund_of: pd.Series | None, kind_col: str | None, rows: int
) -> NDArray[np.bool_]:
    if kinds is not None:
        is_refund = (kinds == "refund").to_numpy(dtype=bool, na_value=False)
        bad = ~is_refund & ~(kinds == "purchase").to_numpy(dtype=bool, na_value=False)
        if bad.any():
            found = sorted({str(v) for v in kinds[bad].unique()})
            msg = (
                f"column {kind_col!r} (kind_col) must hold 'purchase' or 'refund'; found "
                f"{describe_ids(found)}"
            )
            raise ValidationError(msg)
        return is_refund
    if refund_of is not None:
        return refund_of.notna().to_numpy()
    return np.zeros(rows, dtype=bool)


def _check_signs(amount: NDArray[np.float64], is_refund: NDArray[np.bool_], name: str) -> None:
    negative = amount < 0
    if negative.any() and (negative & ~is_refund).any():
        msg = (
            f"column {name!r} (monetary_value_col) has negative amounts on purchase "
            "rows; mark refunds with a kind column ('refund') and refund_of"
        )
        raise ValidationError(msg)
    if is_refund.any() and (amount[is_refund] > 0).any():
        msg = (
            f"column {name!r} (monetary_value_col) has positive amounts on refund rows; "
            "refund amounts are negative (ingest quarantines them as refund_sign_mismatch)"
        )
        raise ValidationError(msg)


def _orders(
    rows: Mapping[str, NDArray[Any]],
    is_refund: NDArray[np.bool_],
    order_ids: pd.Series | None,
    names: _Names,
    period: str,
) -> tuple[pd.DataFrame, pd.Index | None]:
    """One row per purchase order (order lines summed), and the order id labels."""
    any_refund = bool(is_refund.any())
    purchase = ~is_refund
    picked = {key: values[purchase] if any_refund else values for key, values in rows.items()}
    if order_ids is None:
        picked["order"] = np.arange(len(picked["unit"]), dtype=np.int64)
        return pd.DataFrame(picked, copy=False), None
    if any_refund:
        order_ids = order_ids[purchase]
    if order_ids.isna().any():
        msg = f"column {names.order!r} (order_id_col) has missing order ids on purchase rows"
        raise ValidationError(msg)
    codes, labels = pd.factorize(order_ids, sort=False)
    picked["order"] = np.asarray(codes, dtype=np.int64)
    lines = pd.DataFrame(picked, copy=False)
    if len(labels) == len(lines):
        return lines, pd.Index(labels)
    orders = (
        lines.groupby("order", sort=False)
        .agg(
            unit=("unit", "first"),
            customer=("customer", "first"),
            at=("at", "min"),
            amount=("amount", "sum"),
            **{name: (name, "first") for name in (*names.by, *names.carried)},
        )
        .reset_index()
    )
    orders["ordinal"] = period_ordinals(orders["at"], period)
    return orders, pd.Index(labels)


def _refunds(
    rows: Mapping[str, NDArray[Any]],
    is_refund: NDArray[np.bool_],
    parents: NDArray[Any] | None,
    order_labels: pd.Index | None,
) -> pd.DataFrame:
    """One row per refund row, amount as a positive magnitude, parent order code or -1."""
    refunds = pd.DataFrame({key: values[is_refund] for key, values in rows.items()}, copy=False)
    refunds["amount"] = -refunds["amount"]
    if parents is not None and order_labels is not None:
        refunds["parent"] = np.asarray(order_labels.get_indexer(pd.Index(parents)), dtype=np.int64)
    else:
        refunds["parent"] = np.full(len(refunds), -1, dtype=np.int64)
    return refunds


def _counted(orders: pd.DataFrame, refunds: pd.DataFrame) -> NDArray[np.bool_]:
    """Orders that are not fully refunded (refunds >= a positive order amount)."""
    linked = refunds[(refunds["parent"] >= 0).to_numpy()]
    if linked.empty:
        return np.ones(len(orders), dtype=bool)
    size = int(orders["order"].max()) + 1
    order_amount = np.zeros(size, dtype=np.float64)
    order_amount[orders["order"].to_numpy()] = orders["amount"].to_numpy()
    refunded = np.bincount(
        linked["parent"].to_numpy(), weights=linked["amount"].to_numpy(), minlength=size
    )
    full = (refunded >= order_amount - 1e-9) & (order_amount > 0)
    return np.asarray(~full[orders["order"].to_numpy()], dtype=bool)
