"""KPIs, cohorts and experiments: measure everything, test one hypothesis at a time.

DataFrame in, tidy DataFrame out, by period, segment and channel.  Each metric states
its exact definition in its docstring; :func:`report` gathers them for one period with
the previous period beside it.

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
