"""KPIs, cohorts and experiments: measure everything, test one hypothesis at a time.

DataFrame in, tidy DataFrame out, by period, segment and channel.  Each metric states
its exact definition in its docstring; :func:`report` gathers them for one period with
the previous period beside it.

Definitions shared by every purchase KPI (the SQL push-down reproduces them):

* a row is a **refund** when ``kind == "refund"`` (without a kind column: when
  ``refund_of`` is set); every other row is a purchase row. Purchase amounts are never
  negative, refund amounts never positive;
* an **order** is the set of purchase rows sharing an ``order_id`` (without an order id
  column every purchase row is its own order, as in CDNOW); it is dated by its earliest row;
* an order **counts as a purchase** unless it is fully refunded: its refunds dated up to
  ``as_of`` add up to at least its positive amount. Zero-value orders are purchases;
* a customer's **first purchase** is their earliest counted order (ties: the order that
  appears first in the frame); the **second** is the earliest other counted order;
* **gross revenue** sums purchase rows, **refunds** are the refund amounts as a positive
  figure, **net revenue** is gross minus refunds, each in the period of its own date;
* rows after ``as_of`` are ignored; naive datetimes are calendar time, aware ones are
  converted to ``tz`` (default UTC) before periods are cut; a currency column holding more
  than one currency raises :class:`~retention.exceptions.MixedCurrencyError`.

Modules:

* :mod:`retention.kpi.metrics`: repeat purchases, inflow, active customers, AOV,
  frequency, LTV, churn, segment shares;
* :mod:`retention.kpi.loyalty`: enrolment, bonuses, referrals, levels;
* :mod:`retention.kpi.surveys`: NPS and CSI with confidence intervals;
* :mod:`retention.kpi.cohorts`: the acquisition-cohort retention matrix;
* :mod:`retention.kpi.experiments`: design, analysis, campaign ROI and the
  one-hypothesis-at-a-time guard.
"""

from retention.kpi._frame import ColumnOptions
from retention.kpi._report import DEFINITIONS, report
from retention.kpi.cohorts import cohort_matrix, cohort_table
from retention.kpi.experiments import (
    Experiment,
    ExperimentRegistry,
    SampleSize,
    assign_groups,
    campaign_roi,
    minimum_detectable_effect_means,
    minimum_detectable_effect_proportions,
    proportion_test,
    revenue_test,
    sample_size_means,
    sample_size_proportions,
)
from retention.kpi.loyalty import (
    bonus_summary,
    enrolment_conversion,
    level_distribution,
    referral_summary,
)
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
from retention.kpi.surveys import csi, nps

__all__ = [
    "DEFINITIONS",
    "ColumnOptions",
    "Experiment",
    "ExperimentRegistry",
    "SampleSize",
    "active_customers",
    "assign_groups",
    "average_order_value",
    "bonus_summary",
    "campaign_roi",
    "churn_rate",
    "cohort_matrix",
    "cohort_table",
    "csi",
    "enrolment_conversion",
    "historical_ltv",
    "level_distribution",
    "minimum_detectable_effect_means",
    "minimum_detectable_effect_proportions",
    "new_customer_repeat_share",
    "new_customers",
    "nps",
    "proportion_test",
    "purchase_frequency",
    "referral_summary",
    "repeat_customer_share",
    "repeat_revenue",
    "report",
    "returning_buyer_share",
    "revenue",
    "revenue_test",
    "sample_size_means",
    "sample_size_proportions",
    "segment_shares",
]
