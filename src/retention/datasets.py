"""Public data sets shipped with the package, for examples, tests and the demo."""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_cdnow_sample"]


def load_cdnow_sample() -> pd.DataFrame:
    """Load the CDNOW 1-in-10 sample (Fader, Hardie & Lee 2005).

    Returns
    -------
    pandas.DataFrame
        6,919 purchases of 2,357 customers with columns ``customer_id`` (the sample id
        as text, ``"0001"``...), ``order_id`` (``"<customer>-<n>"``, one per row),
        ``date`` (naive calendar dates, 1997-01-01 to 1998-06-30), ``cds`` (number of
        CDs) and ``amount`` (US dollars).

    Examples
    --------
    >>> transactions = load_cdnow_sample()
    >>> transactions["customer_id"].nunique(), len(transactions)
    (2357, 6919)
    """
    source = resources.files("retention") / "data" / "cdnow_sample.txt"
    with source.open("r", encoding="ascii") as handle:
        frame = pd.read_csv(
            handle,
            sep=r"\s+",
            header=None,
            names=["master_id", "customer_id", "date", "cds", "amount"],
            dtype={"master_id": str, "customer_id": str, "date": str},
        )
    sequence = frame.groupby("customer_id").cumcount() + 1
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "order_id": frame["customer_id"] + "-" + sequence.astype(str),
            "date": pd.to_datetime(frame["date"], format="%Y%m%d"),
            "cds": frame["cds"].astype("int64"),
            "amount": frame["amount"].astype("float64"),
        }
    )
