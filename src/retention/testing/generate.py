"""Seeded purchase logs of any size, written block by block, with their expected outcome.

:func:`write_purchase_csv` and :func:`write_purchase_parquet` stream a synthetic purchase
history to disk without holding it in memory (one block of :data:`BLOCK_ROWS` rows at a
time, one Parquet row group per block) and return a :class:`GeneratedPurchases`: what
``retention.ingest`` must make of the file with :data:`GENERATED_COLUMNS` -- rows read,
stored, deduplicated, quarantined by reason, refunds, customers and the sum of the stored
``amount_minor``.  The scale tests (RELIABILITY.md SCL-02) and ``benchmarks/`` use them.

The file is laid out in periods of 100 rows; the position ``p`` of a row in its period
decides what it is:

* ``p`` in 13, 37, 61, 89 (only with ``bad_rows=True``): a bad row, its reason cycling
  through :data:`GENERATED_BAD_REASONS` (empty or unparseable amount, unparseable
  timestamp, empty customer id, negative amount on a purchase, a cent fraction);
* ``p`` = 30 and 90: an exact repeat of the row 20 lines up (deduplicated);
* ``p`` = 95: the order id of the row 25 lines up with another amount
  (``duplicate_order_conflict``);
* ``p`` = 55: a refund of half (rounded up) the order 5 lines up, same customer;
* every other row: a purchase with a fresh order id, a customer drawn from
  ``rows // 5`` ids, an instant in 2020-2024 and an amount of 0.01 to 999.99 EUR.

Every reference points back inside the same period, so the outcome does not depend on
chunk boundaries, and the same seed gives the same bytes.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as folder:
...     expected = write_purchase_csv(pathlib.Path(folder) / "log.csv", 200, seed=1)
>>> expected.rows_read == expected.stored + expected.deduplicated + expected.quarantined
True
>>> expected.deduplicated, expected.refunds, expected.quarantined_by_reason["missing_amount"]
(4, 2, 2)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from retention.exceptions import ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from numpy.typing import NDArray

__all__ = [
    "BLOCK_ROWS",
    "GENERATED_BAD_REASONS",
    "GENERATED_COLUMNS",
    "GeneratedPurchases",
    "write_purchase_csv",
    "write_purchase_parquet",
]

#: Rows generated (and written) at a time; a multiple of the 100-row period.
BLOCK_ROWS = 100_000

#: The reason codes of the injected bad rows, in the order they cycle.
GENERATED_BAD_REASONS = (
    "missing_amount",
    "unparseable_amount",
    "unparseable_timestamp",
    "missing_customer_id",
    "negative_amount_not_refund",
    "precision_loss",
)

#: Keyword arguments of ``retention.ingest`` for a generated file.
GENERATED_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "customer_id_col": "customer",
        "order_id_col": "order",
        "datetime_col": "paid_at",
        "monetary_value_col": "total",
        "refund_of_col": "refund_of",
        "currency": "EUR",
    }
)

_PERIOD = 100
_BAD = (13, 37, 61, 89)
_REPEAT = {30: 20, 90: 20}  # position -> how many lines up the repeated row lies
_CONFLICT = (95, 25)
_REFUND = (55, 5)
_BAD_VALUES = {
    "missing_amount": ("total", ""),
    "unparseable_amount": ("total", "12.3.4"),
    "unparseable_timestamp": ("paid_at", "yesterday"),
    "missing_customer_id": ("customer", ""),
    "negative_amount_not_refund": ("total", "-5.00"),
    "precision_loss": ("total", "1.234"),
}
_START = np.datetime64("2020-01-01T00:00:00", "s")
_SPAN_SECONDS = 5 * 365 * 86_400


def _frozen_counts(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType({key: int(value[key]) for key in sorted(value)})


@attrs.frozen
class GeneratedPurchases:
    """What ingesting a generated file with :data:`GENERATED_COLUMNS` must give.

    ``rows_read == stored + deduplicated + quarantined``; ``stored`` counts purchases
    and refunds, ``amount_minor_sum`` is the sum of their ``amount_minor`` (refunds
    negative), ``customers`` the distinct customer ids among them.
    """

    path: Path
    rows_read: int
    stored: int
    deduplicated: int
    quarantined: int
    quarantined_by_reason: Mapping[str, int] = attrs.field(converter=_frozen_counts)
    refunds: int
    customers: int
    amount_minor_sum: int


def _text(values: NDArray[Any]) -> pd.Series:
    return pd.Series(values.astype(str), dtype=object)


def _amount_text(minor: NDArray[np.int64]) -> pd.Series:
    units = _text(minor // 100)
    cents = _text(minor % 100).str.zfill(2)
    return units + "." + cents


@attrs.define
class _Generator:
    rows: int
    seed: int
    bad_rows: bool
    customer_ids: int = attrs.field(init=False)
    seen_customers: NDArray[np.bool_] = attrs.field(init=False)
    counts: dict[str, int] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.customer_ids = max(self.rows // 5, 1)
        self.seen_customers = np.zeros(self.customer_ids, dtype=bool)
        for name in ("stored", "deduplicated", "refunds", "amount_minor_sum"):
            self.counts[name] = 0

    def blocks(self) -> Iterator[pd.DataFrame]:
        for begin in range(0, self.rows, BLOCK_ROWS):
            yield self.block(begin, min(begin + BLOCK_ROWS, self.rows))

    def block(self, begin: int, end: int) -> pd.DataFrame:
        rng = np.random.default_rng([self.seed, begin // BLOCK_ROWS])
        size = end - begin
        index = np.arange(begin, end, dtype=np.int64)
        position = index % _PERIOD
        customer = rng.integers(0, self.customer_ids, size)
        stamps = _START + rng.integers(0, _SPAN_SECONDS, size).astype("timedelta64[s]")
        minor = rng.integers(1, 100_000, size).astype(np.int64)
        order = index.copy()
        refund_of = np.full(size, -1, dtype=np.int64)
        # repeats and conflicts copy an earlier row of the same period (same block)
        for at, back in _REPEAT.items():
            rows = np.flatnonzero(position == at)
            customer[rows], stamps[rows] = customer[rows - back], stamps[rows - back]
            minor[rows], order[rows] = minor[rows - back], order[rows - back]
        at, back = _CONFLICT
        conflict = np.flatnonzero(position == at)
        customer[conflict], stamps[conflict] = customer[conflict - back], stamps[conflict - back]
        order[conflict] = order[conflict - back]
        minor[conflict] = minor[conflict - back] % 99_999 + 1  # always another amount
        at, back = _REFUND
        refund = np.flatnonzero(position == at)
        customer[refund] = customer[refund - back]
        refund_of[refund] = order[refund - back]
        minor[refund] = -((minor[refund - back] + 1) // 2)
        frame = pd.DataFrame(
            {
                "customer": "c" + _text(customer).str.zfill(7),
                "order": "o" + _text(order).str.zfill(10),
                "paid_at": _text(np.datetime_as_string(stamps, unit="s")) + "Z",
                "total": _amount_text(np.abs(minor)),
                "refund_of": ("o" + _text(refund_of).str.zfill(10)).where(refund_of >= 0, ""),
            }
        )
        frame.loc[minor < 0, "total"] = "-" + frame.loc[minor < 0, "total"]
        bad = np.zeros(size, dtype=bool)
        if self.bad_rows:
            slot = np.searchsorted(np.array(_BAD), position)
            bad = np.isin(position, _BAD)
            reason = (index // _PERIOD * len(_BAD) + slot) % len(GENERATED_BAD_REASONS)
            for number, name in enumerate(GENERATED_BAD_REASONS):
                rows = bad & (reason == number)
                column, value = _BAD_VALUES[name]
                frame.loc[rows, column] = value
                self.counts[name] = self.counts.get(name, 0) + int(rows.sum())
        repeat = np.isin(position, list(_REPEAT))
        is_conflict = position == _CONFLICT[0]
        kept = ~(bad | repeat | is_conflict)
        self.counts["duplicate_order_conflict"] = self.counts.get(
            "duplicate_order_conflict", 0
        ) + int(is_conflict.sum())
        self.counts["stored"] += int(kept.sum())
        self.counts["deduplicated"] += int(repeat.sum())
        self.counts["refunds"] += int((kept & (refund_of >= 0)).sum())
        self.counts["amount_minor_sum"] += int(minor[kept].sum())
        self.seen_customers[customer[kept]] = True
        return frame

    def result(self, path: Path) -> GeneratedPurchases:
        reasons = {
            name: count
            for name, count in self.counts.items()
            if name in GENERATED_BAD_REASONS or name == "duplicate_order_conflict"
        }
        reasons = {name: count for name, count in reasons.items() if count}
        return GeneratedPurchases(
            path=path,
            rows_read=self.rows,
            stored=self.counts["stored"],
            deduplicated=self.counts["deduplicated"],
            quarantined=sum(reasons.values()),
            quarantined_by_reason=reasons,
            refunds=self.counts["refunds"],
            customers=int(self.seen_customers.sum()),
            amount_minor_sum=self.counts["amount_minor_sum"],
        )


def _check(rows: object, seed: object) -> None:
    for name, value in (("rows", rows), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            msg = f"{name} must be a non-negative integer, got {value!r}"
            raise ValidationError(msg, field=name)


def write_purchase_csv(
    path: Path, rows: int, *, seed: int = 0, bad_rows: bool = True
) -> GeneratedPurchases:
    """Write a seeded purchase log of ``rows`` records as CSV, one block at a time.

    Columns ``customer,order,paid_at,total,refund_of`` (ISO 8601 UTC instants,
    two-decimal EUR amounts, refunds negative with the refunded order in ``refund_of``);
    see the module for the layout.  ``bad_rows=False`` leaves out the injected bad rows
    (repeats, conflicts and refunds stay).  Returns the expected ingest outcome.
    """
    _check(rows, seed)
    generator = _Generator(rows=rows, seed=seed, bad_rows=bad_rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("customer,order,paid_at,total,refund_of\n")
        for block in generator.blocks():
            block.to_csv(handle, index=False, header=False, lineterminator="\n")
    return generator.result(path)


def write_purchase_parquet(
    path: Path, rows: int, *, seed: int = 0, bad_rows: bool = True
) -> GeneratedPurchases:
    """Write the same log as :func:`write_purchase_csv` as Parquet (text columns).

    Each block of :data:`BLOCK_ROWS` rows is one row group; empty fields are nulls.
    Needs ``pyarrow``.
    """
    _check(rows, seed)
    import pyarrow as pa  # noqa: PLC0415 - optional dependency
    import pyarrow.parquet as pq  # noqa: PLC0415

    schema = pa.schema(
        [(name, pa.string()) for name in ("customer", "order", "paid_at", "total", "refund_of")]
    )
    generator = _Generator(rows=rows, seed=seed, bad_rows=bad_rows)
    with pq.ParquetWriter(path, schema) as writer:
        for block in generator.blocks():
            arrays = []
            for name in schema.names:
                values = block[name].to_numpy(dtype=object, copy=True)
                values[values == ""] = None
                arrays.append(pa.array(values, type=pa.string()))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return generator.result(path)
