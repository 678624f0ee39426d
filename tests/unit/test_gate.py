"""The quality gate: regressions beyond tolerance and fairness gaps above limits refuse."""

from __future__ import annotations

import pytest

from underwrite.gate import check
from underwrite.params import FairnessLimit, GateParams

PARAMS = GateParams(
    tolerances={"roc_auc": 0.01, "pr_auc": 0.02, "brier": 0.005, "log_loss": 0.01},
    fairness={
        "race": FairnessLimit(approval_rate_gap=0.30, tpr_gap=0.15),
        "sex": FairnessLimit(approval_rate_gap=0.10, tpr_gap=0.10),
    },
)
PRODUCTION = {"roc_auc": 0.88, "pr_auc": 0.97, "brier": 0.068, "log_loss": 0.245}
FAIR = {
    "race": {"approval_rate_gap": 0.25, "tpr_gap": 0.10},
    "sex": {"approval_rate_gap": 0.02, "tpr_gap": 0.01},
}


def candidate(**changes) -> dict:
    metrics = {**PRODUCTION, "fairness": {k: dict(v) for k, v in FAIR.items()}}
    metrics.update(changes)
    return metrics


def test_candidate_equal_to_production_passes():
    verdict = check(candidate(), PRODUCTION, PARAMS)

    assert verdict.passed
    assert verdict.reasons == []
    assert verdict.summary() == "passes the gate"


def test_candidate_passes_when_nothing_is_in_production():
    assert check(candidate(roc_auc=0.5, brier=0.9), None, PARAMS).passed


@pytest.mark.parametrize(
    ("metric", "within", "beyond"),
    [
        ("roc_auc", 0.875, 0.865),  # higher is better: 0.005 and 0.015 worse
        ("pr_auc", 0.955, 0.945),
        ("brier", 0.072, 0.074),  # lower is better: 0.004 and 0.006 worse
        ("log_loss", 0.25, 0.26),
    ],
)
def test_metric_regression_beyond_tolerance_is_refused(metric, within, beyond):
    assert check(candidate(**{metric: within}), PRODUCTION, PARAMS).passed

    verdict = check(candidate(**{metric: beyond}), PRODUCTION, PARAMS)

    assert not verdict.passed
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith(f"{metric} {beyond:.4f} is worse than production's")
    assert f"tolerance {PARAMS.tolerances[metric]}" in verdict.summary()


@pytest.mark.parametrize(
    ("metric", "better"), [("roc_auc", 0.95), ("pr_auc", 0.99), ("brier", 0.01), ("log_loss", 0.1)]
)
def test_metric_improvement_passes_in_either_direction(metric, better):
    assert check(candidate(**{metric: better}), PRODUCTION, PARAMS).passed


@pytest.mark.parametrize(
    ("grouping", "gap", "value"),
    [
        ("race", "approval_rate_gap", 0.31),
        ("race", "tpr_gap", 0.16),
        ("sex", "approval_rate_gap", 0.11),
        ("sex", "tpr_gap", 0.11),
    ],
)
def test_fairness_gap_above_its_limit_is_refused(grouping, gap, value):
    unfair = candidate()
    unfair["fairness"][grouping][gap] = value

    verdict = check(unfair, None, PARAMS)

    assert not verdict.passed
    limit = getattr(PARAMS.fairness[grouping], gap)
    assert verdict.reasons == [f"{grouping} {gap} {value:.4f} exceeds the limit {limit}"]


def test_fairness_gap_at_its_limit_passes():
    at_limit = candidate()
    at_limit["fairness"]["race"]["approval_rate_gap"] = 0.30

    assert check(at_limit, PRODUCTION, PARAMS).passed


def test_missing_metric_is_refused_naming_it():
    metrics = candidate()
    del metrics["pr_auc"]

    verdict = check(metrics, PRODUCTION, PARAMS)

    assert verdict.reasons == ["pr_auc: missing from the candidate's metrics"]


def test_missing_fairness_grouping_is_refused_naming_it():
    metrics = candidate()
    del metrics["fairness"]["sex"]

    verdict = check(metrics, None, PARAMS)

    assert verdict.reasons == ["fairness by sex: missing from the candidate's metrics"]


def test_missing_fairness_gap_is_refused_naming_it():
    metrics = candidate()
    del metrics["fairness"]["race"]["tpr_gap"]

    verdict = check(metrics, None, PARAMS)

    assert verdict.reasons == ["race tpr_gap: missing from the candidate's metrics"]


def test_metric_absent_from_production_is_not_compared():
    production = {k: v for k, v in PRODUCTION.items() if k != "log_loss"}

    assert check(candidate(log_loss=9.0), production, PARAMS).passed


def test_every_problem_is_reported_at_once():
    metrics = candidate(roc_auc=0.5, brier=0.5)
    metrics["fairness"]["sex"]["tpr_gap"] = 0.5

    verdict = check(metrics, PRODUCTION, PARAMS)

    assert [reason.split(" ")[0] for reason in verdict.reasons] == ["sex", "roc_auc", "brier"]
    assert verdict.summary().startswith("refused: sex tpr_gap")
