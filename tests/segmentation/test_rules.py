from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retention.exceptions import SchemaError, ValidationError
from retention.segmentation import (
    And,
    Condition,
    Not,
    Or,
    RuleSegment,
    categories_bought,
    event_counts,
    field,
    memberships,
    rule_from_dict,
)

CUSTOMERS = pd.DataFrame(
    {
        "frequency": [0.0, 3.0, 8.0, 5.0],
        "monetary_value": [0.0, 40.0, 150.0, np.nan],
        "level": ["basic", "silver", "gold", "gold"],
        "lapsed": [False, True, False, False],
        "city": ["Oslo", None, "Riga", "Oslo"],
    },
    index=pd.Index(["a", "b", "c", "d"], name="customer_id"),
)


def _members(rule):
    return RuleSegment("s", rule).evaluate(CUSTOMERS)


def test_conditions_by_hand():
    assert _members(field("frequency") >= 3).tolist() == [False, True, True, True]
    assert _members(field("frequency") > 3).tolist() == [False, False, True, True]
    assert _members(field("frequency") < 3).tolist() == [True, False, False, False]
    assert _members(field("frequency") <= 3).tolist() == [True, True, False, False]
    assert _members(field("level") == "gold").tolist() == [False, False, True, True]
    assert _members(field("level") != "gold").tolist() == [True, True, False, False]
    assert _members(field("level").isin(["silver", "gold"])).tolist() == [False, True, True, True]
    assert _members(field("frequency").between(3, 5)).tolist() == [False, True, False, True]
    assert _members(field("city").is_null()).tolist() == [False, True, False, False]
    assert _members(field("lapsed").is_true()).tolist() == [False, True, False, False]


def test_missing_values_never_match_and_negation_includes_them():
    assert _members(field("monetary_value") >= 0).tolist() == [True, True, True, False]
    assert _members(~(field("monetary_value") >= 0)).tolist() == [False, False, False, True]
    assert _members(field("city") == "Oslo").tolist() == [True, False, False, True]


def test_composition_with_and_or_not():
    vip = (field("monetary_value") >= 100) | (
        (field("level") == "gold") & ~field("lapsed").is_true()
    )
    assert _members(vip).tolist() == [False, False, True, True]
    assert isinstance(vip, Or)
    both = (field("frequency") >= 1) & (field("level") == "gold") & (field("city") == "Riga")
    assert isinstance(both, And)
    assert len(both.rules) == 3  # flattened
    assert _members(both).tolist() == [False, False, True, False]
    assert isinstance(~both, Not)
    assert both.fields() == frozenset({"frequency", "level", "city"})


def test_round_trip_through_dict_and_json():
    segment = RuleSegment(
        "vip",
        ((field("monetary_value") >= 100) | field("level").isin(["gold"]))
        & ~field("lapsed").is_true()
        & field("frequency").between(1, 10)
        & ~field("city").is_null(),
        description="big spenders still buying",
    )
    data = segment.to_dict()
    assert data == json.loads(json.dumps(data))
    assert data["rule"]["and"][0] == {
        "or": [
            {"field": "monetary_value", "op": "ge", "value": 100},
            {"field": "level", "op": "in", "value": ["gold"]},
        ]
    }
    assert RuleSegment.from_dict(data) == segment
    assert RuleSegment.from_json(segment.to_json()) == segment
    # d has no monetary value but is gold, not lapsed, 5 purchases, in Oslo
    assert RuleSegment.from_json(segment.to_json()).evaluate(CUSTOMERS).tolist() == [
        False,
        False,
        True,
        True,
    ]


_conditions = st.one_of(
    st.builds(
        Condition,
        st.sampled_from(["frequency", "monetary_value"]),
        st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
        st.integers(-5, 200),
    ),
    st.builds(
        lambda values: Condition("level", "in", tuple(values)),
        st.lists(st.sampled_from(["basic", "silver", "gold"]), min_size=1),
    ),
    st.builds(lambda: Condition("city", "is_null")),
)
_rules = st.recursive(
    _conditions,
    lambda children: st.one_of(
        st.builds(lambda rules: And(tuple(rules)), st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda rules: Or(tuple(rules)), st.lists(children, min_size=1, max_size=3)),
        st.builds(Not, children),
    ),
    max_leaves=8,
)


@given(rule=_rules)
def test_any_rule_round_trips_and_evaluates_the_same(rule):
    again = rule_from_dict(json.loads(json.dumps(rule.to_dict())))
    assert again == rule
    np.testing.assert_array_equal(rule.mask(CUSTOMERS), again.mask(CUSTOMERS))
    np.testing.assert_array_equal((~rule).mask(CUSTOMERS), ~rule.mask(CUSTOMERS))


@given(rule=_rules, seed=st.integers(0, 2**32 - 1))
def test_membership_does_not_depend_on_row_order(rule, seed):
    shuffled = CUSTOMERS.sample(frac=1.0, random_state=seed)
    segment = RuleSegment("s", rule)
    assert segment.evaluate(shuffled).loc[CUSTOMERS.index].tolist() == (
        segment.evaluate(CUSTOMERS).tolist()
    )


def test_unknown_field_names_the_field():
    segment = RuleSegment("typo", (field("frequncy") >= 3) & (field("level") == "gold"))
    with pytest.raises(ValidationError, match="'frequncy'") as error:
        segment.evaluate(CUSTOMERS)
    assert "'typo'" in str(error.value)
    assert "'frequency'" in str(error.value)  # the columns present are listed
    assert error.value.field == "frequncy"
    assert error.value.reason == "unknown_field"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"field": "x", "op": "ge", "value": 1, "extra": 2}, "'extra'"),
        ({"field": "x", "op": "like", "value": "a%"}, "unknown operator 'like'"),
        ({"field": "x"}, "'field' and 'op'"),
        ({"and": [], "or": []}, "unknown keys"),
        ({"and": {"field": "x"}}, "list of rules"),
        ({"and": []}, "at least one rule"),
        ({"not": {"field": "x", "op": "is_null"}, "also": 1}, "unknown keys"),
        ({"field": "", "op": "eq", "value": 1}, "non-empty"),
        ({"field": "x", "op": "between", "value": [5, 1]}, "low <= high"),
        ({"field": "x", "op": "between", "value": [1]}, r"\[low, high\]"),
        ({"field": "x", "op": "in", "value": "abc"}, "list of values"),
        ({"field": "x", "op": "eq", "value": {"a": 1}}, "JSON scalar"),
        ({"field": "x", "op": "eq", "value": float("nan")}, "JSON scalar"),
        ({"field": "x", "op": "is_null", "value": 1}, "takes no value"),
        ("frequency >= 3", "must be a dict"),
    ],
)
def test_malformed_rules_are_validation_errors(data, match):
    with pytest.raises(ValidationError, match=match):
        rule_from_dict(data)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"name": "x", "rule": {"field": "a", "op": "is_null"}, "colour": "red"}, "'colour'"),
        ({"rule": {"field": "a", "op": "is_null"}}, "'name' and 'rule'"),
        ({"name": " ", "rule": {"field": "a", "op": "is_null"}}, "non-empty name"),
        ({"name": "x", "rule": {"field": "a", "op": "is_null"}, "description": 3}, "string"),
    ],
)
def test_malformed_segments_are_validation_errors(data, match):
    with pytest.raises(ValidationError, match=match):
        RuleSegment.from_dict(data)


def test_bad_json_is_a_validation_error():
    with pytest.raises(ValidationError, match="not valid"):
        RuleSegment.from_json("{name: ")


def test_type_mismatch_names_the_field():
    with pytest.raises(ValidationError, match="'level'"):
        RuleSegment("s", field("level") > 3).evaluate(CUSTOMERS)


def test_memberships_may_overlap_and_names_must_be_unique():
    segments = [
        RuleSegment("gold", field("level") == "gold"),
        RuleSegment("frequent", field("frequency") >= 5),
    ]
    members = memberships(CUSTOMERS, segments)
    assert members.to_dict("list") == {
        "gold": [False, False, True, True],
        "frequent": [False, False, True, True],
    }
    assert members.index.equals(CUSTOMERS.index)
    with pytest.raises(ValidationError, match="'gold'"):
        memberships(CUSTOMERS, [segments[0], segments[0]])


def test_categories_bought_and_event_counts_feed_rules():
    transactions = pd.DataFrame(
        {"customer_id": ["a", "a", "b", "c"], "category": ["coffee", "tea", "coffee", "machine"]}
    )
    bought = categories_bought(transactions)
    assert bought.to_dict("index") == {
        "a": {"bought_coffee": True, "bought_machine": False, "bought_tea": True},
        "b": {"bought_coffee": True, "bought_machine": False, "bought_tea": False},
        "c": {"bought_coffee": False, "bought_machine": True, "bought_tea": False},
    }
    events = pd.DataFrame(
        {"customer_id": ["a", "b", "b", "b"], "event": ["view", "cart", "view", "view"]}
    )
    counts = event_counts(events)
    assert counts.to_dict("index") == {"a": {"cart": 0, "view": 1}, "b": {"cart": 1, "view": 2}}
    customers = CUSTOMERS.join(bought).join(counts).fillna({"cart": 0})
    abandoned = RuleSegment("abandoned_cart", (field("cart") >= 1) & ~field("bought_tea").is_true())
    assert abandoned.evaluate(customers).tolist() == [False, True, False, False]


def test_feature_helpers_validate_their_input():
    with pytest.raises(SchemaError, match="category_col"):
        categories_bought(pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(ValidationError, match="missing"):
        event_counts(pd.DataFrame({"customer_id": ["a"], "event": [None]}))
