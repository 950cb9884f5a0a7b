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

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final, TypedDict

import attrs
import numpy as np
import pandas as pd

from retention._validation import describe_ids, require_columns
from retention.exceptions import MixedCurrencyError, ValidationError

if TYPE_CHECKING:
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
    values = at.to_numpy(dtype="datetime64[ns]")
    if period == "D":
        return values.astype("datetime64[D]").astype(np.int64)
    if period == "M":
        return values.astype("datetime64[M]").astype(np.int64)
    if period == "Q":
        return values.astype("datetime64[M]").astype(np.int64) // 3
    if period == "Y":
        return values.astype("datetime64[Y]").astype(np.int64)
    return np.asarray(at.dt.to_period(period).array.asi8, dtype=np.int64)


def period_index(ordinals: NDArray[np.int64] | Sequence[int], period: str) -> pd.PeriodIndex:
    """Turn period ordinals back into a :class:`pandas.PeriodIndex`."""
    return pd.PeriodIndex.from_ordinals(np.asarray(ordinals, dtype=np.int64), freq=period)


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
    elif dtype == object and pd.api.types.infer_dtype(values, skipna=True) in {
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
    return out.astype("datetime64[ns]")


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

    ``orders`` columns: ``unit`` (int code of the customer, or of the customer and the
    ``by`` groups), ``order`` (int code), ``at`` (naive datetime64[ns], first row of the
    order), ``amount`` (float gross), ``counted`` (bool), ``ordinal`` (period ordinal) and
    the ``by`` columns.  ``refunds`` columns: ``unit``, ``parent`` (order code or -1),
    ``at``, ``amount`` (positive magnitude), ``ordinal`` and the ``by`` columns.
    """

    orders: pd.DataFrame
    refunds: pd.DataFrame
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
    customer_col = _required(options, "customer_id_col")
    datetime_col = _required(options, "datetime_col")
    amount_col = _required(options, "monetary_value_col")
    tz_value = options.get("tz")
    tz = tz_value if isinstance(tz_value, str) else None
    if not isinstance(transactions, pd.DataFrame) and all(
        hasattr(transactions, name) for name in ("transactions", "quarantine", "report")
    ):
        transactions = transactions.transactions  # an IngestResult: use its clean frame
    if not isinstance(transactions, pd.DataFrame):
        require_columns(transactions, frame_name="transactions")
    assert isinstance(transactions, pd.DataFrame)  # noqa: S101 - narrowed by require_columns
    order_col = _optional(transactions, options, "order_id_col")
    kind_col = _optional(transactions, options, "kind_col")
    refund_of_col = _optional(transactions, options, "refund_of_col")
    currency_col = _optional(transactions, options, "currency_col")
    by_cols = (by,) if isinstance(by, str) else tuple(by or ())
    carry = dict(carry or {})
    carried = tuple(name for name in dict.fromkeys(carry.values()) if name not in by_cols)
    require_columns(
        transactions,
        frame_name="transactions",
        customer_id_col=customer_col,
        datetime_col=datetime_col,
        monetary_value_col=amount_col,
        order_id_col=order_col,
        kind_col=kind_col,
        refund_of_col=refund_of_col,
        currency_col=currency_col,
        **{f"by[{i}]": name for i, name in enumerate(by_cols)},
        **carry,
    )
    column_is_aware = isinstance(transactions[datetime_col].dtype, pd.DatetimeTZDtype) or (
        transactions[datetime_col].dtype == object
        and any(getattr(v, "tzinfo", None) is not None for v in transactions[datetime_col][:1])
    )
    at = normalise_datetimes(transactions[datetime_col], column=datetime_col, tz=tz)
    cutoff = as_timestamp(as_of, name="as_of", column_is_aware=column_is_aware, tz=tz)
    keep_mask = (at <= cutoff).to_numpy()
    keep: slice | NDArray[np.bool_] = slice(None) if keep_mask.all() else keep_mask

    def column(name: str) -> pd.Series:
        values = transactions[name]
        return values if isinstance(keep, slice) else values[keep]

    at = at if isinstance(keep, slice) else at[keep]
    ids = column(customer_col)
    if ids.isna().any():
        msg = f"column {customer_col!r} (customer_id_col) has missing customer ids"
        raise ValidationError(msg)
    amounts = column(amount_col)
    if not pd.api.types.is_numeric_dtype(amounts.dtype) or pd.api.types.is_bool_dtype(
        amounts.dtype
    ):
        msg = (
            f"column {amount_col!r} (monetary_value_col) must be numeric, got {amounts.dtype}; "
            "convert it with pandas.to_numeric"
        )
        raise ValidationError(msg)
    amount = amounts.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(amount).any() or np.isinf(amount).any():
        msg = (
            f"column {amount_col!r} (monetary_value_col) has missing or infinite amounts; "
            "they are never read as 0: drop them or ingest the frame (it quarantines them)"
        )
        raise ValidationError(msg)
    currency = (
        check_single_currency(column(currency_col), column=currency_col) if currency_col else None
    )
    extra = {name: column(name) for name in (*by_cols, *carried)}
    for name, values in extra.items():
        if values.isna().any():
            msg = f"column {name!r} (by) has missing values; fill them (e.g. 'unknown') first"
            raise ValidationError(msg)

    if kind_col is not None:
        kinds = column(kind_col)
        is_refund = (kinds == "refund").to_numpy(dtype=bool, na_value=False)
        bad = ~is_refund & ~(kinds == "purchase").to_numpy(dtype=bool, na_value=False)
        if bad.any():
            found = sorted({str(v) for v in kinds[bad].unique()})
            msg = (
                f"column {kind_col!r} (kind_col) must hold 'purchase' or 'refund'; found "
                f"{describe_ids(found)}"
            )
            raise ValidationError(msg)
    elif refund_of_col is not None:
        is_refund = column(refund_of_col).notna().to_numpy()
    else:
        is_refund = np.zeros(len(ids), dtype=bool)
    if (amount[~is_refund] < 0).any():
        msg = (
            f"column {amount_col!r} (monetary_value_col) has negative amounts on purchase "
            "rows; mark refunds with a kind column ('refund') and refund_of"
        )
        raise ValidationError(msg)
    if (amount[is_refund] > 0).any():
        msg = (
            f"column {amount_col!r} (monetary_value_col) has positive amounts on refund rows; "
            "refund amounts are negative (ingest quarantines them as refund_sign_mismatch)"
        )
        raise ValidationError(msg)

    customer_codes, customers = pd.factorize(ids, sort=False)
    customer_codes = customer_codes.astype(np.int64)
    unit = _unit_codes(extra, customer_codes, by_cols)
    ordinal = period_ordinals(at, period)
    at_values = at.to_numpy(dtype="datetime64[ns]")
    purchase = ~is_refund
    any_refund = bool(is_refund.any())
    by_data = {
        name: values.to_numpy()[purchase] if any_refund else values.to_numpy()
        for name, values in extra.items()
    }
    refund_by = {name: values.to_numpy()[is_refund] for name, values in extra.items()}

    if order_col is not None:
        order_ids = column(order_col)
        if any_refund:
            order_ids = order_ids[purchase]
        if order_ids.isna().any():
            msg = f"column {order_col!r} (order_id_col) has missing order ids on purchase rows"
            raise ValidationError(msg)
        order_codes_all, order_labels = pd.factorize(order_ids, sort=False)
        order_codes = order_codes_all.astype(np.int64)
    else:
        order_codes = np.arange(int(purchase.sum()), dtype=np.int64)
        order_labels = None

    def pick(values: NDArray[Any]) -> NDArray[Any]:
        return values[purchase] if any_refund else values

    rows = pd.DataFrame(
        {
            "unit": pick(unit),
            "customer": pick(customer_codes),
            "order": order_codes,
            "at": pick(at_values),
            "amount": pick(amount),
            "ordinal": pick(ordinal),
            **by_data,
        }
    )
    if order_col is not None and len(order_labels) < len(rows):
        grouped = rows.groupby("order", sort=False)
        orders = grouped.agg(
            unit=("unit", "first"),
            customer=("customer", "first"),
            at=("at", "min"),
            amount=("amount", "sum"),
            **{name: (name, "first") for name in (*by_cols, *carried)},
        ).reset_index()
        orders["ordinal"] = period_ordinals(orders["at"], period)
    else:
        orders = rows

    parent = np.full(int(is_refund.sum()), -1, dtype=np.int64)
    if order_labels is not None and refund_of_col is not None and is_refund.any():
        parent = np.asarray(
            pd.Index(order_labels).get_indexer(column(refund_of_col).to_numpy()[is_refund]),
            dtype=np.int64,
        )
    refunds = pd.DataFrame(
        {
            "unit": unit[is_refund],
            "customer": customer_codes[is_refund],
            "parent": parent,
            "at": at_values[is_refund],
            "amount": -amount[is_refund],
            "ordinal": ordinal[is_refund],
            **refund_by,
        }
    )
    counted = np.ones(len(orders), dtype=bool)
    linked = refunds[refunds["parent"] >= 0]
    if not linked.empty:
        refunded = linked.groupby("parent")["amount"].sum()
        order_amount = orders.set_index("order")["amount"]
        parent_amount = order_amount.reindex(refunded.index)
        full = refunded.index[(refunded >= parent_amount - 1e-9) & (parent_amount > 0)]
        counted = ~orders["order"].isin(full).to_numpy()
    orders["counted"] = counted
    return Prepared(
        orders=orders,
        refunds=refunds,
        customers=pd.Index(customers, name=customer_col),
        n_units=int(unit.max()) + 1 if len(unit) else 0,
        as_of=cutoff,
        period=period,
        by=by_cols,
        currency=currency,
        column_is_aware=column_is_aware,
        tz=tz,
    )
