"""A small shop shared by the KPI tests."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture
def shop() -> pd.DataFrame:
    """Four customers over three months; o2 fully refunded, o6 refunded in part."""
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "a", "c", "b", "d", "d"],
            "order_id": ["o1", "o2", "o3", "r1", "o4", "o5", "o6", "r2"],
            "purchased_at": pd.to_datetime(
                [
                    "2024-01-05 10:00",
                    "2024-02-01 10:00",
                    "2024-02-03 10:00",
                    "2024-02-10 10:00",
                    "2024-03-10 10:00",
                    "2024-03-15 10:00",
                    "2024-03-20 10:00",
                    "2024-03-25 10:00",
                ],
                utc=True,
            ),
            "amount": [100.0, 50.0, 20.0, -50.0, 30.0, 10.0, 40.0, -10.0],
            "currency": ["EUR"] * 8,
            "kind": ["purchase"] * 3 + ["refund"] + ["purchase"] * 3 + ["refund"],
            "refund_of": [None, None, None, "o2", None, None, None, "o6"],
            "channel": ["web", "app", "web", "app", "web", "app", "web", "web"],
            "segment": ["new", "loyal", "new", "loyal", "new", "loyal", "new", "new"],
        }
    )
