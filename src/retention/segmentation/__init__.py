"""Segmentation: repurchase cycles, regularity groups, RFM, rule segments, churn, migrations.

Partitions (every customer in exactly one group): :func:`regularity` and
:func:`rfm_segments`.  Memberships (may overlap): rule :class:`RuleSegment` s.

>>> import retention.segmentation as seg
>>> [str(group) for group in seg.Regularity]
['REGULAR', 'PERIODIC', 'ERRATIC', 'ONE_TIME']
"""

from retention.segmentation.churn import CHURN_ACTIONS, churn_boundaries, churn_status
from retention.segmentation.cycle import CYCLE_COLUMNS, repurchase_cycles
from retention.segmentation.migrations import Transitions, segment_migration, transition_matrix
from retention.segmentation.regularity import Regularity, classify_regularity, regularity
from retention.segmentation.rfm import (
    RFM_GROUPS,
    RFMThresholds,
    cell_code,
    default_segment_map,
    rfm_scores,
    rfm_segments,
    segment_shares,
)
from retention.segmentation.rules import (
    And,
    Condition,
    Field,
    Not,
    Or,
    Rule,
    RuleSegment,
    categories_bought,
    event_counts,
    field,
    memberships,
    rule_from_dict,
)

__all__ = [
    "CHURN_ACTIONS",
    "CYCLE_COLUMNS",
    "RFM_GROUPS",
    "And",
    "Condition",
    "Field",
    "Not",
    "Or",
    "RFMThresholds",
    "Regularity",
    "Rule",
    "RuleSegment",
    "Transitions",
    "categories_bought",
    "cell_code",
    "churn_boundaries",
    "churn_status",
    "classify_regularity",
    "default_segment_map",
    "event_counts",
    "field",
    "memberships",
    "regularity",
    "repurchase_cycles",
    "rfm_scores",
    "rfm_segments",
    "rule_from_dict",
    "segment_migration",
    "segment_shares",
    "transition_matrix",
]
