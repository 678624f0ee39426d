"""The quality gate: paired checks on the same rows, Holm over the family, production's policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics

from underwrite.gate import Check, Evidence, holm, judge
from underwrite.gate_sources import PolicyError, policy_changes, read_sides
from underwrite.params import BootstrapParams, FairnessLimit, GateParams

FAST = BootstrapParams(resamples=500, seed=1, confidence=0.95)
POLICY = GateParams()
OLD_TOLERANCE = 0.01  # the point-estimate rule the gate replaces: refuse when 0.01 worse


def holdout(rows: int = 500, seed: int = 0):
    """Labels, production's informative scores (ROC AUC about 0.88, as on the project's
    holdout), race/sex groups, and the latent signal both models' scores come from."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["white", "black", "hispanic"], rows, p=[0.75, 0.15, 0.10])
    y = (rng.random(rows) < 0.88).astype(int)
    latent = 2.0 + 1.7 * (y - 0.5) + rng.normal(0, 1.0, rows)
    groups = pd.DataFrame({"race": race, "sex": rng.choice(["male", "female"], rows)})
    return y, refit(latent, seed=100), groups, latent


def refit(latent: np.ndarray, seed: int) -> np.ndarray:
    """A model's scores: the latent signal plus its own noise (equal quality for any seed)."""
    return _logistic(latent + np.random.default_rng(seed).normal(0, 0.5, len(latent)))


def noisy(score: np.ndarray, sd: float, seed: int) -> np.ndarray:
    """Production's scores with extra noise: a worse model (the larger SD, the worse)."""
    logit = np.log(score / (1 - score)) + np.random.default_rng(seed).normal(0, sd, len(score))
    return _logistic(logit)


def _logistic(logit: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-logit))


def evidence(candidate, production, y, groups) -> Evidence:
    return Evidence(y, groups, candidate, production, 0.5, FAST)


def test_candidate_equal_to_production_passes_with_no_detectable_difference():
    y, score, groups, _ = holdout()

    verdict = judge(evidence(score, score, y, groups), POLICY)

    assert verdict.passed and verdict.judged
    assert verdict.reasons == []
    assert verdict.differences["roc_auc"].difference == 0
    assert verdict.summary() == "passes the gate"


def test_slightly_worse_candidate_within_the_noise_passes_where_point_estimates_refuse():
    y, score, groups, latent = holdout()
    candidate = refit(latent, seed=108)  # as good as production, 0.018 lower on this holdout
    auc_drop = metrics.roc_auc_score(y, score) - metrics.roc_auc_score(y, candidate)
    assert auc_drop > OLD_TOLERANCE  # the old rule refuses: worse beyond its tolerance

    verdict = judge(evidence(candidate, score, y, groups), POLICY)

    assert verdict.passed, verdict.reasons
    roc = verdict.differences["roc_auc"]
    assert roc.difference == pytest.approx(-auc_drop)
    assert roc.ci_low < -OLD_TOLERANCE < 0 < roc.ci_high  # within the noise
    assert roc.judged(higher_is_better=True) == "no detectable difference"
    assert roc.minimum_detectable > OLD_TOLERANCE  # the holdout cannot see 0.01


def test_clearly_worse_candidate_is_refused_naming_the_metric_and_its_interval():
    y, score, groups, _ = holdout()
    worse = noisy(score, 3.0, seed=2)  # ROC AUC 0.65 against 0.88

    verdict = judge(evidence(worse, score, y, groups), POLICY)

    assert not verdict.passed
    refused = [c.claim for c in verdict.checks if c.refused]
    assert "roc_auc worse than production's by more than 0.02" in refused
    assert any(
        r.startswith("roc_auc worse than production's") and "[" in r for r in verdict.reasons
    )
    assert verdict.summary().startswith("refused: ")


def test_metric_below_its_floor_is_refused_even_with_nothing_in_production():
    y, _, groups, _ = holdout()
    guessing = np.random.default_rng(5).random(len(y))

    verdict = judge(evidence(guessing, None, y, groups), POLICY)

    assert not verdict.passed
    assert "roc_auc below its floor 0.8" in [c.claim for c in verdict.checks if c.refused]
    assert verdict.differences == {}  # nothing to compare with


def test_gap_beyond_its_limit_with_confidence_is_refused_and_near_it_is_at_risk():
    y, score, groups, _ = holdout()
    black = (groups["race"] == "black").to_numpy()
    unfair = np.where(black, score * 0.4, score)  # black applicants mostly denied
    strict = GateParams(fairness={"race": FairnessLimit(approval_rate_gap=0.3, tpr_gap=1.0)})

    refused = judge(evidence(unfair, None, y, groups), strict)

    assert "race approval_rate_gap above its limit 0.3" in [
        c.claim for c in refused.checks if c.refused
    ]
    gap = next(c for c in refused.checks if c.claim.startswith("race approval_rate_gap"))
    at_limit = GateParams(
        fairness={"race": FairnessLimit(approval_rate_gap=gap.value, tpr_gap=1.0)}
    )
    close = judge(evidence(unfair, None, y, groups), at_limit)
    check = next(c for c in close.checks if c.claim.startswith("race approval_rate_gap"))
    assert not check.refused and check.at_risk


def test_fairness_gap_wider_than_production_with_confidence_is_refused():
    y, score, groups, _ = holdout()
    black = (groups["race"] == "black").to_numpy()
    unfair = np.where(black, score * 0.4, score)
    loose = GateParams(fairness={"race": FairnessLimit(approval_rate_gap=1.0, tpr_gap=1.0)})

    verdict = judge(evidence(unfair, score, y, groups), loose)

    refused = [c.claim for c in verdict.checks if c.refused]
    assert "race approval_rate_gap wider than production's" in refused


@pytest.mark.parametrize(
    ("p_values", "rejected"),
    [
        ([0.01, 0.02, 0.04], [True, True, True]),  # 0.01 <= 0.05/3, 0.02 <= 0.05/2, 0.04 <= 0.05
        ([0.03, 0.5], [False, False]),  # 0.03 > 0.05/2 stops the step-down
        ([0.5, 0.001, 0.02], [False, True, True]),
    ],
)
def test_holm_rejects_step_down_at_family_wise_alpha(p_values, rejected):
    assert holm(p_values, 0.05) == rejected


def test_loosened_policy_lists_every_changed_key():
    loose = GateParams(
        margins={**POLICY.margins, "roc_auc": 1.0},
        fairness={"race": FairnessLimit(approval_rate_gap=1.0, tpr_gap=0.15)},
    )

    lines = policy_changes(POLICY, loose)

    assert "gate policy changed: gate.margins.roc_auc 0.02 -> 1.0 (ignored)" in lines
    assert "gate policy changed: gate.fairness.race.approval_rate_gap 0.3 -> 1.0 (ignored)" in lines
    assert "gate policy changed: gate.fairness.sex.tpr_gap 0.1 -> (absent) (ignored)" in lines
    assert policy_changes(POLICY, POLICY) == []


def test_older_policy_of_tolerances_is_read_as_margins_of_the_same_size():
    text = yaml.safe_dump(
        {"gate": {"tolerances": {"roc_auc": 0.01, "brier": 0.005}, "fairness": {}}}
    )

    policy, _, _ = read_sides(text, "base abc")

    assert policy.margins == {"roc_auc": 0.01, "brier": 0.005}
    assert policy.fairness == {}


def test_unreadable_production_policy_names_where_and_the_key():
    with pytest.raises(
        PolicyError, match=r"params.yaml of base abc: gate.alpha: Input should be a valid number"
    ):
        read_sides(yaml.safe_dump({"gate": {"alpha": "strict"}}), "base abc")
    with pytest.raises(PolicyError, match=r"base abc has no params\.yaml"):
        read_sides(None, "base abc")


def test_policy_naming_an_attribute_the_holdout_lacks_cannot_judge():
    y, score, groups, _ = holdout()
    policy = GateParams(fairness={"age": FairnessLimit(approval_rate_gap=0.1, tpr_gap=0.1)})

    verdict = judge(evidence(score, score, y, groups), policy)

    assert not verdict.passed and not verdict.judged
    assert "fairness limits for age, which the holdout has no groups for" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("interval", "worse_is_higher", "refused", "at_risk"),
    [
        ((0.25, 0.35), True, False, True),  # the interval holds the limit
        ((0.31, 0.40), True, False, True),  # wholly past it, short of Holm's bar
        ((0.31, 0.40), True, True, False),  # refused: no longer a risk but a reason
        ((0.10, 0.20), True, False, False),  # wholly on the good side
        ((0.10, 0.20), False, False, True),  # a minimum (e.g. an AIR) of 0.3: past it
    ],
)
def test_check_is_at_risk_when_its_interval_reaches_past_the_limit(
    interval, worse_is_higher, refused, at_risk
):
    check = Check("claim", sum(interval) / 2, *interval, 0.3, 0.02, refused, False, worse_is_higher)

    assert check.at_risk == at_risk
