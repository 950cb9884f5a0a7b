"""Experiment design, analysis, campaign ROI and the one-hypothesis guard."""

from __future__ import annotations

import math
from datetime import date

import attrs
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from retention import kpi
from retention.exceptions import NotFoundError, ValidationError

# ----------------------------------------------------------------------------- design


def test_assign_groups_exact_share_and_reproducible():
    audience = pd.DataFrame({"customer_id": [f"c{i:02d}" for i in range(10)]})
    groups = kpi.assign_groups(audience, seed=0, control_share=0.3)
    assert groups.index.tolist() == audience["customer_id"].tolist()
    assert (groups["group"] == "control").sum() == 3
    again = kpi.assign_groups(audience.iloc[::-1], seed=0, control_share=0.3)
    assert again.loc[groups.index, "group"].tolist() == groups["group"].tolist()


def test_assign_groups_seed_changes_the_draw():
    audience = pd.DataFrame({"customer_id": [f"c{i}" for i in range(200)]})
    first = kpi.assign_groups(audience, seed=1)["group"]
    second = kpi.assign_groups(audience, seed=2)["group"]
    assert (first != second).any()


def test_assign_groups_stratified():
    audience = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(10)], "segment": ["A"] * 4 + ["B"] * 6}
    )
    groups = kpi.assign_groups(audience, seed=3, control_share=0.5, strata_col="segment")
    counts = groups[groups["group"] == "control"].groupby("segment").size().to_dict()
    assert counts == {"A": 2, "B": 3}


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (pd.DataFrame({"customer_id": ["a", "a"]}), {}, "more than once"),
        (pd.DataFrame({"customer_id": ["a", None]}), {}, "missing customer ids"),
        (pd.DataFrame({"customer_id": ["a"]}), {"control_share": 1.0}, "control_share"),
        (pd.DataFrame({"id": ["a"]}), {}, r"no column 'customer_id' \(customer_id_col\)"),
        (pd.DataFrame({"customer_id": ["a"]}), {"strata_col": "segment"}, "'segment'"),
    ],
)
def test_assign_groups_bad_input(frame, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        kpi.assign_groups(frame, seed=1, **kwargs)


def test_sample_size_proportions_classic_value_and_unequal_groups():
    assert kpi.sample_size_proportions(0.10, 0.02) == kpi.SampleSize(3841, 3841)
    unequal = kpi.sample_size_proportions(0.10, 0.02, control_share=0.2)
    p1, p2, c, t = 0.10, 0.12, 0.2, 0.8
    pbar = c * p1 + t * p2
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    total = (
        za * math.sqrt(pbar * (1 - pbar) * (1 / c + 1 / t))
        + zb * math.sqrt(p1 * (1 - p1) / c + p2 * (1 - p2) / t)
    ) ** 2 / 0.02**2
    assert unequal == kpi.SampleSize(math.ceil(total * c), math.ceil(total * t))
    assert unequal.total == unequal.control + unequal.treatment


def test_minimum_detectable_effect_inverts_the_sample_size():
    mde = kpi.minimum_detectable_effect_proportions(0.10, 3841, 3841)
    assert mde == pytest.approx(0.02, abs=2e-5)
    mean_mde = kpi.minimum_detectable_effect_means(20.0, 1570, 1570)
    assert kpi.sample_size_means(20.0, mean_mde).control == 1570
    assert kpi.sample_size_means(20.0, 2.0, control_share=0.25) == kpi.SampleSize(
        math.ceil((1.959964 + 0.841621) ** 2 * 400 * (4 + 4 / 3) / 4 * 0.25 - 1e-3),
        math.ceil((1.959964 + 0.841621) ** 2 * 400 * (4 + 4 / 3) / 4 * 0.75 - 1e-3),
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: kpi.sample_size_proportions(0.95, 0.1), "minimum_effect"),
        (lambda: kpi.sample_size_proportions(0.1, 0.0), "minimum_effect"),
        (lambda: kpi.sample_size_proportions(1.5, 0.1), "baseline"),
        (lambda: kpi.sample_size_means(0.0, 1.0), "standard_deviation"),
        (lambda: kpi.sample_size_means(1.0, 1.0, power=1.2), "power"),
        (lambda: kpi.minimum_detectable_effect_means(1.0, 1, 10), "n_control"),
        (lambda: kpi.minimum_detectable_effect_proportions(0.99, 2, 2), "no uplift"),
    ],
)
def test_design_bad_arguments(call, match):
    with pytest.raises(ValidationError, match=match):
        call()


# --------------------------------------------------------------------------- analysis


def _conversions(n_c: int, x_c: int, n_t: int, x_t: int, segment: str = "all") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": ["control"] * n_c + ["treatment"] * n_t,
            "converted": [True] * x_c
            + [False] * (n_c - x_c)
            + [True] * x_t
            + [False] * (n_t - x_t),
            "segment": segment,
        }
    )


def test_proportion_test_hand_computed():
    row = kpi.proportion_test(_conversions(1000, 100, 1000, 130)).iloc[0]
    assert (row["n_control"], row["conversions_treatment"]) == (1000, 130)
    assert row["difference"] == pytest.approx(0.03)
    pooled = 230 / 2000
    z = 0.03 / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert row["z"] == pytest.approx(z)
    assert row["z"] == pytest.approx(2.1027, abs=1e-4)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert row["p_value"] == pytest.approx(0.0355, abs=1e-4)
    se = math.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)
    assert row["ci_low"] == pytest.approx(0.03 - 1.959964 * se, abs=1e-6)
    assert row["ci_high"] == pytest.approx(0.03 + 1.959964 * se, abs=1e-6)
    assert row["relative_lift"] == pytest.approx(0.3)


def test_proportion_test_per_segment():
    outcomes = pd.concat(
        [_conversions(10, 1, 10, 5, "new"), _conversions(20, 10, 20, 10, "loyal")],
        ignore_index=True,
    )
    result = kpi.proportion_test(outcomes, by="segment").set_index("segment")
    assert result.loc["new", "difference"] == pytest.approx(0.4)
    assert result.loc["loyal", "difference"] == 0.0
    assert result.loc["loyal", "p_value"] == 1.0


def test_proportion_test_bad_input():
    with pytest.raises(ValidationError, match="'group'"):
        kpi.proportion_test(_conversions(2, 1, 2, 1).assign(group="test"))
    with pytest.raises(ValidationError, match="'converted'"):
        kpi.proportion_test(_conversions(2, 1, 2, 1).assign(converted=2))
    with pytest.raises(ValidationError, match="both control and treatment"):
        kpi.proportion_test(_conversions(2, 1, 0, 0))


def test_revenue_test_matches_welch_and_bootstrap_is_seeded():
    rng = np.random.default_rng(5)
    control = rng.gamma(2.0, 10.0, 300)
    treatment = rng.gamma(2.0, 12.0, 250)
    outcomes = pd.DataFrame(
        {
            "group": ["control"] * 300 + ["treatment"] * 250,
            "revenue": np.concatenate([control, treatment]),
        }
    )
    row = kpi.revenue_test(outcomes, seed=1).iloc[0]
    welch = stats.ttest_ind(treatment, control, equal_var=False)
    assert row["t"] == pytest.approx(welch.statistic)
    assert row["p_value"] == pytest.approx(welch.pvalue)
    assert row["difference"] == pytest.approx(treatment.mean() - control.mean())
    interval = welch.confidence_interval(0.95)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((interval.low, interval.high))
    assert row["bootstrap_low"] < row["difference"] < row["bootstrap_high"]
    again = kpi.revenue_test(outcomes, seed=1).iloc[0]
    assert again["bootstrap_low"] == row["bootstrap_low"]
    other = kpi.revenue_test(outcomes, seed=2).iloc[0]
    assert other["bootstrap_low"] != row["bootstrap_low"]


def test_revenue_test_per_segment_and_small_groups():
    outcomes = pd.DataFrame(
        {
            "group": ["control", "control", "treatment", "treatment"] * 2,
            "revenue": [1.0, 3.0, 2.0, 6.0, 0.0, 0.0, 0.0, 0.0],
            "segment": ["a"] * 4 + ["b"] * 4,
        }
    )
    result = kpi.revenue_test(outcomes, seed=0, by="segment", n_bootstrap=200).set_index("segment")
    assert result.loc["a", "difference"] == 2.0
    assert np.isnan(result.loc["b", "p_value"])  # no variance at all
    with pytest.raises(ValidationError, match="at least two customers"):
        kpi.revenue_test(outcomes.iloc[:3], seed=0)
    with pytest.raises(ValidationError, match="n_bootstrap"):
        kpi.revenue_test(outcomes, seed=0, n_bootstrap=10)


# ------------------------------------------------------------------------------- ROI


@pytest.fixture
def campaign() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign": ["spring"] * 5,
            "group": ["control", "control", "treatment", "treatment", "treatment"],
            "channel": [None, None, "email", "email", "sms"],
            "revenue": [10.0, 0.0, 30.0, 10.0, 0.0],
            "offer_cost": [0.0, 0.0, 5.0, 5.0, 0.0],
            "message_cost": [0.0, 0.0, 1.0, 1.0, 2.0],
        }
    )


def test_campaign_roi_per_channel(campaign):
    result = kpi.campaign_roi(campaign, channel_col="channel").set_index(["campaign", "channel"])
    email = result.loc[("spring", "email")]
    assert email["revenue_per_customer_control"] == 5.0
    assert email["incremental_revenue"] == 30.0  # (20 - 5) * 2
    assert email["cost"] == 12.0  # offer (discounts, bonuses) + messages
    assert email["roi"] == 1.5
    sms = result.loc[("spring", "sms")]
    assert (sms["incremental_revenue"], sms["cost"], sms["roi"]) == (-5.0, 2.0, -3.5)


def test_campaign_roi_per_campaign(campaign):
    row = kpi.campaign_roi(campaign).iloc[0]
    assert (row["n_treatment"], row["n_control"]) == (3, 2)
    assert row["incremental_revenue"] == pytest.approx(25.0)
    assert row["roi"] == pytest.approx(11 / 14)


def test_zero_cost_campaign_is_an_error_not_infinity(campaign):
    free = campaign.assign(offer_cost=0.0, message_cost=0.0)
    with pytest.raises(ValidationError, match="cost is zero"):
        kpi.campaign_roi(free)


def test_campaign_roi_needs_control_and_clean_costs(campaign):
    with pytest.raises(ValidationError, match="without control: 'spring'"):
        kpi.campaign_roi(campaign[campaign["group"] == "treatment"])
    costly_control = campaign.assign(message_cost=1.0)
    with pytest.raises(ValidationError, match="control rows carry"):
        kpi.campaign_roi(costly_control)
    with pytest.raises(ValidationError, match="'offer_cost'"):
        kpi.campaign_roi(campaign.assign(offer_cost="free"))
    with pytest.raises(ValidationError, match="at least one cost column"):
        kpi.campaign_roi(campaign, offer_cost_col=None, message_cost_col=None)


# ------------------------------------------------------------------------------ guard


def _experiment(**changes: object) -> kpi.Experiment:
    base = kpi.Experiment(
        name="day25-offer",
        hypothesis="a 10 % offer on day 25 lifts the repeat rate",
        kpi="repeat_rate",
        audience={"a", "b", "c"},
        start=date(2024, 3, 1),
        end=date(2024, 3, 31),
    )
    return attrs.evolve(base, **changes)


def test_overlapping_experiment_on_the_same_kpi_is_refused():
    registry = kpi.ExperimentRegistry()
    registry.start(_experiment())
    clash = _experiment(name="sms-reminder", audience={"c", "d"}, start=date(2024, 3, 20))
    with pytest.raises(ValidationError, match=r"'day25-offer'.*1 shared customers"):
        registry.start(clash)
    assert "sms-reminder" not in registry
    assert len(registry) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"audience": {"x", "y"}},
        {"kpi": "aov"},
        {"start": date(2024, 4, 1), "end": date(2024, 4, 30)},
        {"independent_of": {"day25-offer"}},
    ],
)
def test_non_conflicting_experiments_start(changes):
    registry = kpi.ExperimentRegistry()
    registry.start(_experiment())
    registry.start(_experiment(name="second", **changes))
    assert [e.name for e in registry] == ["day25-offer", "second"]


def test_independence_declared_by_the_running_experiment():
    registry = kpi.ExperimentRegistry()
    registry.start(_experiment(independent_of="later"))
    registry.start(_experiment(name="later"))
    assert "later" in registry


def test_kpi_names_compare_case_insensitively():
    registry = kpi.ExperimentRegistry()
    registry.start(_experiment())
    with pytest.raises(ValidationError, match="one hypothesis at a time"):
        registry.start(_experiment(name="other", kpi=" Repeat_Rate "))


def test_stopped_experiment_frees_its_audience_after_the_stop_day():
    registry = kpi.ExperimentRegistry()
    registry.start(_experiment())
    registry.stop("day25-offer", as_of=date(2024, 3, 10))
    assert registry.stopped_on("day25-offer") == date(2024, 3, 10)
    registry.start(_experiment(name="next", start=date(2024, 3, 11)))
    assert [e.name for e in registry.running(as_of=date(2024, 3, 12))] == ["next"]
    assert [e.name for e in registry.running(as_of=date(2024, 3, 5))] == ["day25-offer"]
    with pytest.raises(ValidationError):
        registry.start(_experiment(name="overlap", start=date(2024, 3, 10)))


def test_registry_errors():
    registry = kpi.ExperimentRegistry()
    registry.start(_experiment())
    with pytest.raises(ValidationError, match="already registered"):
        registry.start(_experiment())
    with pytest.raises(NotFoundError, match="no experiment named 'nope'"):
        registry.get("nope")
    with pytest.raises(NotFoundError):
        registry.stop("nope", as_of=date(2024, 3, 1))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"end": date(2024, 2, 1)}, "ends"),
        ({"audience": set()}, "empty audience"),
        ({"audience": "abc"}, "collection of customer ids"),
        ({"hypothesis": " "}, "hypothesis"),
        ({"start": "2024-03-01"}, "dates"),
    ],
)
def test_experiment_validation(changes, match):
    with pytest.raises(ValidationError, match=match):
        _experiment(**changes)
