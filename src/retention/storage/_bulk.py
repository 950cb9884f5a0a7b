"""Column-wise encodings of validated batches for each backend's bulk path.

:class:`~retention.storage.SqlStore` writes large purchase batches without building a
Python object per row: PostgreSQL gets ``COPY ... FROM STDIN`` text assembled column by
column, DuckDB scans a registered frame, SQLite takes ``executemany`` tuples zipped from
column lists.  Every function here takes columns already validated by
:mod:`retention.storage._rows`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

__all__ = ["copy_text", "instant_cells", "naive_utc", "sqlite_instants", "text_cells"]

_COPY_SPECIAL = ("\\", "\t", "\n", "\r")
_COPY_NULL = "\\N"


def _escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def text_cells(values: pd.Series | Sequence[Any]) -> list[str]:
    r"""Return text values as cells of PostgreSQL's ``COPY`` text format (``\N`` = NULL).

    Backslashes, tabs and line breaks are escaped, so any text (even ``\N`` or ``\.``)
    arrives unchanged.  The escape pass runs only when one of them occurs at all.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    missing = series.isna()
    if bool(missing.all()):
        return [_COPY_NULL] * len(series)
    cells: list[Any] = series.astype(object).tolist()
    if bool(missing.any()):
        cells = [_COPY_NULL if flag else cell for flag, cell in zip(missing, cells, strict=True)]
        present = "".join(cell for flag, cell in zip(missing, cells, strict=True) if not flag)
    else:
        present = "".join(cells)
    if any(special in present for special in _COPY_SPECIAL):
        cells = [cell if flag else _escape(cell) for flag, cell in zip(missing, cells, strict=True)]
    return cells


def naive_utc(instants: pd.Series) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    """Return aware instants as naive UTC ``datetime64[us]`` values."""
    naive = instants.dt.tz_convert("UTC").dt.tz_localize(None)
    values: np.ndarray[Any, np.dtype[np.datetime64]] = naive.to_numpy(dtype="datetime64[us]")
    return values


def instant_cells(instants: pd.Series) -> list[str]:
    """Return aware instants (no missing) as ISO 8601 UTC text with microseconds."""
    text = np.datetime_as_string(naive_utc(instants), unit="us", timezone="UTC")
    return list(text.tolist())


def sqlite_instants(instants: pd.Series) -> list[str]:
    """Return aware instants (no missing) in SQLAlchemy's SQLite storage format.

    That is naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``, as SQLAlchemy's ``DateTime`` binds
    it, so values written here compare and read back like values it wrote.
    """
    text = np.datetime_as_string(naive_utc(instants), unit="us")
    return [value.replace("T", " ", 1) for value in text.tolist()]


def sqlite_instant(instant: datetime) -> str:
    """Return one aware instant in SQLAlchemy's SQLite storage format."""
    return sqlite_instants(pd.Series([instant]).astype("datetime64[us, UTC]"))[0]


def copy_text(columns: Sequence[Sequence[str]]) -> str:
    """Join cells column-wise into ``COPY`` text: tab between cells, a newline after rows."""
    if not columns or not len(columns[0]):
        return ""
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"
