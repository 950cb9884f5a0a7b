"""Loyalty-programme KPIs: enrolment, bonuses, referrals and levels, per period."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Unpack

import numpy as np
import pandas as pd

from retention._validation import describe_ids, require_columns
from retention.exceptions import MixedCurrencyError, ValidationError
from retention.kpi._frame import (
    CANONICAL,
    ColumnOptions,
    as_timestamp,
    check_single_currency,
    normalise_datetimes,
    period_index,
    period_ordinals,
    prepare,
    require_period,
)
from retention.kpi.metrics import compute_revenue, cumulative, firsts, grid, ratio

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["bonus_summary", "enrolment_conversion", "level_distribution", "referral_summary"]

AsOf = datetime | date


def _rows(
    frame: pd.DataFrame,
    *,
    frame_name: str,
    as_of: AsOf,
    datetime_col: str,
    keyword: str,
    tz: str | None,
    allow_missing: bool = False,
) -> tuple[pd.DataFrame, pd.Series, pd.Timestamp]:
    """Rows of ``frame`` up to ``as_of`` and their calendar datetimes."""
    require_columns(frame, frame_name=frame_name, **{keyword: datetime_col})
    aware = isinstance(frame[datetime_col].dtype, pd.DatetimeTZDtype)
    values = frame[datetime_col]
    present = values.notna().to_numpy() if allow_missing else np.ones(len(frame), dtype=bool)
    at = normalise_datetimes(values[present], column=datetime_col, tz=tz)
    cutoff = as_timestamp(as_of, name="as_of", column_is_aware=aware, tz=tz)
    keep = (at <= cutoff).to_numpy()
    return frame[present][keep], at[keep], cutoff


def _period_range(first: int | None, last: int) -> pd.Index:
    start = last if first is None else min(first, last)
    return pd.Index(np.arange(start, last + 1, dtype=np.int64), name="ordinal")


def _ends(ordinals: pd.Index, period: str, cutoff: pd.Timestamp) -> np.ndarray:
    """Return each period's end: the next period's start, or just after ``as_of``."""
    starts = period_index(ordinals.to_numpy() + 1, period).start_time
    return np.minimum(starts.to_numpy(), np.datetime64(cutoff + pd.Timedelta(1, "ns")))


def _tidy(columns: dict[str, pd.Series], index: pd.Index, period: str) -> pd.DataFrame:
    frame = pd.DataFrame(columns, index=index).reset_index()
    frame.insert(0, "period", period_index(frame.pop("ordinal").to_numpy(), period))
    return frame


def enrolment_conversion(
    base: pd.DataFrame,
    members: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    customer_id_col: str = CANONICAL["customer_id_col"],
    datetime_col: str = CANONICAL["datetime_col"],
    enrolled_at_col: str = "enrolled_at",
    kind_col: str | None = CANONICAL["kind_col"],
    tz: str | None = None,
) -> pd.DataFrame:
    """Loyalty-programme enrolment conversion: enrolled / buyers (or visitors) per period.

    Definition: ``base_customers`` = distinct customers with a row of ``base`` dated in
    the period (``base`` is the transactions frame for "enrolled / buyers", or a visits
    frame for "enrolled / visitors"; refund rows are left out when ``base`` has a kind
    column); ``enrolled_customers`` = those of them enrolled by the period end
    (``enrolled_at`` up to the next period's start, or up to ``as_of``);
    ``enrolment_conversion = enrolled_customers / base_customers``; ``new_enrolments``
    counts members whose ``enrolled_at`` is in the period.

    Parameters
    ----------
    base
        Buyers' transactions or visitors' visits: customer id and datetime columns.
    members
        One row per programme member: customer id and ``enrolled_at`` (missing = not
        enrolled).
    as_of
        Rows after it are ignored.
    period
        ``"D"``, ``"W"``, ``"M"``, ``"Q"`` or ``"Y"``.
    customer_id_col, datetime_col, enrolled_at_col, kind_col
        Column names (``customer_id_col`` in both frames).
    tz
        Zone aware datetimes are converted to (default UTC).

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``base_customers``, ``enrolled_customers``,
        ``enrolment_conversion``, ``new_enrolments``.
    """
    period = require_period(period)
    require_columns(base, frame_name="base", customer_id_col=customer_id_col)
    require_columns(members, frame_name="members", customer_id_col=customer_id_col)
    base_rows, base_at, cutoff = _rows(
        base,
        frame_name="base",
        as_of=as_of,
        datetime_col=datetime_col,
        keyword="datetime_col",
        tz=tz,
    )
    if kind_col is not None and kind_col in base_rows.columns:
        purchase = (base_rows[kind_col] != "refund").to_numpy()
        base_rows, base_at = base_rows[purchase], base_at[purchase]
    member_rows, enrolled_at, _ = _rows(
        members,
        frame_name="members",
        as_of=as_of,
        datetime_col=enrolled_at_col,
        keyword="enrolled_at_col",
        tz=tz,
        allow_missing=True,
    )
    enrolled = (
        pd.Series(enrolled_at.to_numpy(), index=member_rows[customer_id_col].to_numpy())
        .groupby(level=0)
        .min()
    )
    last = int(period_ordinals(pd.Series([cutoff]), period)[0])
    table = pd.DataFrame(
        {
            "customer": base_rows[customer_id_col].to_numpy(),
            "ordinal": period_ordinals(base_at, period),
        }
    ).drop_duplicates()
    member_ordinals = period_ordinals(pd.Series(enrolled.to_numpy()), period)
    first_candidates = [int(v.min()) for v in (table["ordinal"], member_ordinals) if len(v)]
    index = _period_range(min(first_candidates) if first_candidates else None, last)
    ends = pd.Series(_ends(index, period, cutoff), index=index)
    joined_at = enrolled.reindex(table["customer"].to_numpy()).to_numpy()
    is_enrolled = joined_at < ends.reindex(table["ordinal"].to_numpy()).to_numpy()
    base_count = table.groupby("ordinal").size().reindex(index, fill_value=0)
    enrolled_count = table[is_enrolled].groupby("ordinal").size().reindex(index, fill_value=0)
    new = pd.Series(member_ordinals).value_counts().reindex(index, fill_value=0)
    return _tidy(
        {
            "base_customers": base_count.astype(np.int64),
            "enrolled_customers": enrolled_count.astype(np.int64),
            "enrolment_conversion": ratio(enrolled_count, base_count),
            "new_enrolments": new.astype(np.int64),
        },
        index,
        period,
    )


def bonus_summary(
    ledger: pd.DataFrame,
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    amounts_include_bonus: bool = True,
    ledger_datetime_col: str = "booked_at",
    ledger_kind_col: str = "kind",
    ledger_amount_col: str = "amount",
    ledger_currency_col: str | None = None,
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Bonus accrual, redemption and the share of turnover paid with bonuses, per period.

    Definitions
    -----------
    ``ledger`` rows are bonus movements valued in money: kind ``"accrual"`` (bonuses
    granted), ``"redemption"`` (bonuses spent as payment) or ``"expiry"``, with a
    positive amount.  Per period:

    * ``accrued``, ``redeemed``, ``expired``: sums of the ledger amounts of each kind;
    * ``gross_revenue``, ``net_revenue``: as in :func:`retention.kpi.revenue`;
    * ``turnover`` = ``gross_revenue`` when transaction amounts are order totals that
      include the part paid with bonuses (``amounts_include_bonus=True``), else
      ``gross_revenue + redeemed``;
    * ``bonus_paid_share = redeemed / turnover``;
    * ``accrual_rate = accrued / net_revenue`` (bonuses granted per unit of revenue).

    Parameters
    ----------
    ledger
        The bonus ledger.
    transactions
        The purchases (see :class:`~retention.kpi.ColumnOptions` for the keywords).
    as_of
        Rows after it are ignored.
    period
        ``"D"``, ``"W"``, ``"M"``, ``"Q"`` or ``"Y"``.
    amounts_include_bonus
        Whether transaction amounts include the part paid with bonuses.
    ledger_datetime_col, ledger_kind_col, ledger_amount_col, ledger_currency_col
        Ledger column names; with a currency column it must match the transactions'.
    **columns
        Column keywords of ``transactions``.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``accrued``, ``redeemed``, ``expired``, ``gross_revenue``,
        ``net_revenue``, ``turnover``, ``bonus_paid_share``, ``accrual_rate``.
    """
    prep = prepare(transactions, as_of=as_of, period=period, options=dict(columns))
    require_columns(
        ledger,
        frame_name="ledger",
        ledger_kind_col=ledger_kind_col,
        ledger_amount_col=ledger_amount_col,
        ledger_currency_col=ledger_currency_col,
    )
    rows, at, _ = _rows(
        ledger,
        frame_name="ledger",
        as_of=as_of,
        datetime_col=ledger_datetime_col,
        keyword="ledger_datetime_col",
        tz=prep.tz,
    )
    if ledger_currency_col is not None:
        currency = check_single_currency(rows[ledger_currency_col], column=ledger_currency_col)
        if currency is not None and prep.currency is not None and currency != prep.currency:
            msg = (
                f"the ledger is in {currency} but the transactions are in {prep.currency}; "
                "KPIs never add different currencies: convert one of them first"
            )
            raise MixedCurrencyError(msg)
    kinds = rows[ledger_kind_col]
    allowed = {"accrual", "redemption", "expiry"}
    unknown = sorted({str(v) for v in kinds.unique()} - allowed)
    if unknown:
        msg = (
            f"column {ledger_kind_col!r} (ledger_kind_col) must hold 'accrual', 'redemption' "
            f"or 'expiry'; found {describe_ids(unknown)}"
        )
        raise ValidationError(msg)
    amounts = rows[ledger_amount_col]
    if not pd.api.types.is_numeric_dtype(amounts.dtype):
        msg = f"column {ledger_amount_col!r} (ledger_amount_col) must be numeric"
        raise ValidationError(msg)
    values = amounts.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any() or (values < 0).any():
        msg = (
            f"column {ledger_amount_col!r} (ledger_amount_col) must hold non-negative amounts "
            "(the kind says the direction) without gaps"
        )
        raise ValidationError(msg)
    index = grid(prep)
    ordinals = period_ordinals(at, prep.period)
    if len(ordinals) and int(ordinals.min()) < int(index.min()):
        index = pd.Index(
            np.arange(int(ordinals.min()), int(index.max()) + 1, dtype=np.int64), name="ordinal"
        )
    movements = pd.DataFrame({"ordinal": ordinals, "kind": kinds.to_numpy(), "amount": values})
    sums = movements.pivot_table(
        index="ordinal", columns="kind", values="amount", aggfunc="sum", dropna=False
    )
    sums = sums.reindex(index=index, columns=sorted(allowed)).fillna(0.0)
    figures = compute_revenue(prep, index)
    gross, net = figures["gross_revenue"], figures["net_revenue"]
    turnover = gross if amounts_include_bonus else gross + sums["redemption"]
    return _tidy(
        {
            "accrued": sums["accrual"],
            "redeemed": sums["redemption"],
            "expired": sums["expiry"],
            "gross_revenue": gross,
            "net_revenue": net,
            "turnover": turnover,
            "bonus_paid_share": ratio(sums["redemption"], turnover),
            "accrual_rate": ratio(sums["accrual"], net.where(net > 0, 0.0)),
        },
        index,
        prep.period,
    )


def referral_summary(
    referrals: pd.DataFrame,
    transactions: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    referrer_col: str = "referrer_id",
    referred_col: str = "referred_id",
    referred_at_col: str = "referred_at",
    **columns: Unpack[ColumnOptions],
) -> pd.DataFrame:
    """Referral share (customers who brought someone) and referred revenue, per period.

    Definitions
    -----------
    ``referrals`` has one row per referred person: who referred them, who they are (their
    customer id once they buy) and when.  Per period:

    * ``referrals``: referrals dated in the period; ``referrers``: distinct referrers
      among them;
    * ``customers_to_date``: customers with a purchase up to the period end;
      ``referrers_to_date``: those of them who have referred at least one person up to
      the period end; ``referrer_share = referrers_to_date / customers_to_date``;
    * ``referred_revenue``: net revenue dated in the period from customers who were
      referred (referral dated on or before ``as_of``);
      ``referred_revenue_share = referred_revenue / net_revenue`` (NaN when net revenue
      is not positive).

    Parameters
    ----------
    referrals
        The referral records.
    transactions
        The purchases (see :class:`~retention.kpi.ColumnOptions`).
    as_of, period
        As in :func:`retention.kpi.revenue`.
    referrer_col, referred_col, referred_at_col
        Referral column names; ids are compared with the transactions' customer ids.
    **columns
        Column keywords of ``transactions``.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``referrals``, ``referrers``, ``customers_to_date``,
        ``referrers_to_date``, ``referrer_share``, ``net_revenue``, ``referred_revenue``,
        ``referred_revenue_share``.
    """
    prep = prepare(transactions, as_of=as_of, period=period, options=dict(columns))
    require_columns(
        referrals, frame_name="referrals", referrer_col=referrer_col, referred_col=referred_col
    )
    rows, at, _ = _rows(
        referrals,
        frame_name="referrals",
        as_of=as_of,
        datetime_col=referred_at_col,
        keyword="referred_at_col",
        tz=prep.tz,
    )
    if rows[referrer_col].isna().any():
        msg = f"column {referrer_col!r} (referrer_col) has missing referrer ids"
        raise ValidationError(msg)
    index = grid(prep)
    ordinals = period_ordinals(at, prep.period)
    if len(ordinals) and int(ordinals.min()) < int(index.min()):
        index = pd.Index(
            np.arange(int(ordinals.min()), int(index.max()) + 1, dtype=np.int64), name="ordinal"
        )
    table = pd.DataFrame({"referrer": rows[referrer_col].to_numpy(), "ordinal": ordinals})
    referral_count = table.groupby("ordinal").size().reindex(index, fill_value=0)
    referrer_count = table.drop_duplicates().groupby("ordinal").size().reindex(index, fill_value=0)
    customers = firsts(prep)
    first_ordinal = pd.Series(
        customers["first_ordinal"].to_numpy(), index=prep.customers[customers["customer"]]
    )
    first_referral = table.groupby("referrer")["ordinal"].min()
    both = pd.concat(
        [first_ordinal.rename("bought"), first_referral.rename("referred")], axis=1, join="inner"
    )
    since = both.max(axis=1).astype(np.int64)
    referrers_to_date = cumulative(
        since.value_counts().reindex(index, fill_value=0).astype(np.int64), prep
    )
    customers_to_date = cumulative(
        first_ordinal.value_counts().reindex(index, fill_value=0).astype(np.int64), prep
    )
    referred_codes = prep.customers.get_indexer(pd.Index(pd.unique(rows[referred_col].dropna())))
    referred_codes = referred_codes[referred_codes >= 0]
    orders = prep.orders[prep.orders["customer"].isin(referred_codes).to_numpy()]
    refunds = prep.refunds[prep.refunds["customer"].isin(referred_codes).to_numpy()]
    referred = orders.groupby("ordinal")["amount"].sum().reindex(
        index, fill_value=0.0
    ) - refunds.groupby("ordinal")["amount"].sum().reindex(index, fill_value=0.0)
    net = compute_revenue(prep, index)["net_revenue"]
    return _tidy(
        {
            "referrals": referral_count.astype(np.int64),
            "referrers": referrer_count.astype(np.int64),
            "customers_to_date": customers_to_date,
            "referrers_to_date": referrers_to_date,
            "referrer_share": ratio(referrers_to_date, customers_to_date),
            "net_revenue": net,
            "referred_revenue": referred.astype(np.float64),
            "referred_revenue_share": ratio(referred, net.where(net > 0, 0.0)),
        },
        index,
        prep.period,
    )


def level_distribution(
    level_changes: pd.DataFrame,
    *,
    as_of: AsOf,
    period: str = "M",
    levels: Sequence[str] | None = None,
    customer_id_col: str = CANONICAL["customer_id_col"],
    datetime_col: str = "changed_at",
    level_col: str = "level",
    tz: str | None = None,
) -> pd.DataFrame:
    """Distribution of members over loyalty levels at the end of each period.

    Definition: ``level_changes`` has one row per change of a member's level (the first
    row is the level they joined at).  A member's level at the end of a period is the
    level of their latest change dated before the next period's start (or up to
    ``as_of``); ``members`` counts members per level and ``share = members / all members
    at that period end``, so the shares of a period sum to 1.

    Parameters
    ----------
    level_changes
        Customer id, datetime and level columns.
    as_of, period
        As in :func:`retention.kpi.revenue`.
    levels
        The levels in programme order (default: sorted labels); a label outside it is a
        ValidationError.
    customer_id_col, datetime_col, level_col
        Column names.
    tz
        Zone aware datetimes are converted to (default UTC).

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``level``, ``members``, ``share``.
    """
    period = require_period(period)
    require_columns(
        level_changes,
        frame_name="level_changes",
        customer_id_col=customer_id_col,
        level_col=level_col,
    )
    rows, at, cutoff = _rows(
        level_changes,
        frame_name="level_changes",
        as_of=as_of,
        datetime_col=datetime_col,
        keyword="datetime_col",
        tz=tz,
    )
    labels = rows[level_col]
    if labels.isna().any():
        msg = f"column {level_col!r} (level_col) has missing levels"
        raise ValidationError(msg)
    order = list(levels) if levels is not None else sorted({str(v) for v in labels.unique()})
    codes = pd.Index(order).get_indexer(pd.Index(labels.astype(str)))
    if (codes < 0).any():
        unknown = sorted({str(v) for v in labels[codes < 0].unique()})
        msg = f"column {level_col!r} (level_col) has levels {describe_ids(unknown)} not in levels"
        raise ValidationError(msg)
    last = int(period_ordinals(pd.Series([cutoff]), period)[0])
    ordinals = period_ordinals(at, period)
    index = _period_range(int(ordinals.min()) if len(ordinals) else None, last)
    table = pd.DataFrame(
        {
            "customer": rows[customer_id_col].to_numpy(),
            "ordinal": ordinals,
            "at": at.to_numpy(),
            "code": codes,
        }
    ).sort_values("at", kind="stable")
    latest = table.drop_duplicates(["customer", "ordinal"], keep="last")
    wide = latest.pivot_table(index="customer", columns="ordinal", values="code", aggfunc="last")
    held = wide.reindex(columns=index).ffill(axis=1).to_numpy(dtype=np.float64)
    per_period = np.zeros((len(index), len(order)), dtype=np.int64)
    for position in range(len(index)):
        column = held[:, position]
        per_period[position] = np.bincount(
            column[~np.isnan(column)].astype(np.int64), minlength=len(order)
        )
    full = pd.MultiIndex.from_product([index, range(len(order))], names=["ordinal", "code"])
    counts = pd.Series(per_period.ravel(), index=full)
    share = ratio(counts, counts.groupby(level="ordinal").transform("sum"))
    frame = pd.DataFrame({"members": counts, "share": share}).reset_index()
    frame.insert(0, "period", period_index(frame.pop("ordinal").to_numpy(), period))
    frame.insert(1, "level", np.asarray(order, dtype=object)[frame.pop("code").to_numpy()])
    frame["level"] = frame["level"].astype(str)
    return frame
