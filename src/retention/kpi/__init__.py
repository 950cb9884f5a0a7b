"""KPIs, cohorts and experiments: measure everything, test one hypothesis at a time.

DataFrame in, tidy DataFrame out, by period, segment and channel.  Each metric states
its exact definition in its docstring; :func:`report` gathers them for one period with
the previous period beside it.
"""

from retention.kpi._frame import ColumnOptions
from retention.kpi.cohorts import cohort_matrix, cohort_table
from retention.kpi.metrics import (
    active_customers,
    average_order_value,
    churn_rate,
    historical_ltv,
    new_customer_repeat_share,
    new_customers,
    purchase_frequency,
    repeat_customer_share,
    repeat_revenue,
    returning_buyer_share,
    revenue,
    segment_shares,
)

__all__ = [
    "ColumnOptions",
    "active_customers",
    "average_order_value",
    "churn_rate",
    "cohort_matrix",
    "cohort_table",
    "historical_ltv",
    "new_customer_repeat_share",
    "new_customers",
    "purchase_frequency",
    "repeat_customer_share",
    "repeat_revenue",
    "returning_buyer_share",
    "revenue",
    "segment_shares",
]
