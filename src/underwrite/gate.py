"""The quality gate: may a candidate model replace the one in production?

Promotion (release) and the pull-request report both ask this, with the same answer, by
production's policy (``underwrite.policy``), never the candidate's. Both models score the
same holdout rows and one seeded, label-stratified bootstrap resamples those rows for both
(``underwrite.judgement``), so each check sees the paired distribution. Each check is a
claim that would refuse the candidate: a metric worse than production's beyond its margin,
a metric past its floor, a fairness gap wider than production's, a gap or adverse impact
ratio past its limit. Its one-sided bootstrap p-value is the share of resamples where the
claim does not hold; Holm's step-down over the whole family keeps the chance of refusing
for noise at most ``alpha``. A check whose interval holds its limit is "at risk".
docs/judgement.md ("The gate") gives the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from underwrite.judgement import bootstrap, statistics
from underwrite.judgement.bootstrap import POWER, Difference
from underwrite.judgement.cells import Cells, collapse, observed
from underwrite.judgement.statistics import AIR
from underwrite.params import BootstrapParams, GateParams

CALIBRATION = "calibration_in_the_large"  # |mean score - observed approval rate|
GATED_GAPS = ("approval_rate_gap", "tpr_gap")


@dataclass(frozen=True)
class Evidence:
    """Both models' scores on the same holdout rows (production None: nothing to compare)."""

    label: np.ndarray
    groups: pd.DataFrame
    candidate: np.ndarray
    production: np.ndarray | None
    threshold: float
    bootstrap: BootstrapParams
    reference_groups: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One claim that would refuse the candidate, and how strongly the holdout supports it."""

    claim: str  # e.g. "roc_auc worse than production's by more than 0.02"
    value: float  # the quantity the claim is about, on the holdout
    ci_low: float
    ci_high: float
    limit: float
    p_value: float  # share of resamples (plus one) where the claim does not hold
    refused: bool = False  # after Holm
    against_production: bool = False  # a comparison with production's own value (limit 0)
    worse_is_higher: bool = True  # which side of the limit the claim is about

    @property
    def at_risk(self) -> bool:
        """Not refused, but the interval reaches past a declared limit: the holdout cannot
        rule out that the candidate is past it (or sees it there, short of Holm's bar)."""
        past = self.ci_high >= self.limit if self.worse_is_higher else self.ci_low <= self.limit
        return not self.refused and not self.against_production and past

    def reason(self) -> str:
        return (
            f"{self.claim}: {self.value:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}] "
            f"(p={self.p_value:.4f}, after Holm)"
        )


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    differences: dict[str, Difference] = field(default_factory=dict)
    policy_changes: list[str] = field(default_factory=list)
    method: str = ""
    rows: int = 0
    judged: bool = True  # False: the evidence could not be had; reasons say why

    def summary(self) -> str:
        if self.passed:
            return "passes the gate"
        return ("cannot judge: " if not self.judged else "refused: ") + "; ".join(self.reasons)


def cannot_judge(reason: str, policy_changes: list[str] | None = None) -> Verdict:
    """A refusal because the gate lacks its evidence; REASON names the fix."""
    return Verdict(False, [reason], policy_changes=policy_changes or [], judged=False)


def direction(name: str) -> int | None:
    """+1 when a higher value of statistic NAME is better, -1 when a lower one is, None for
    neither: the judgement's directions, and calibration in the large (lower is better)."""
    return -1 if name.rsplit(".", 1)[-1] == CALIBRATION else statistics.direction(name)


def model_statistics(weights: np.ndarray, cells: Cells, refs: dict, model: int) -> dict:
    """Every statistic the judgement knows, and calibration in the large, per resample."""
    result = bootstrap.statistics(weights, cells, refs, model)
    errors = weights @ np.column_stack(
        [np.ones_like(cells.label), cells.scores[model] - cells.label]
    )
    result[CALIBRATION] = np.abs(errors[:, 1] / errors[:, 0])
    return result


def _joint(evidence: Evidence) -> tuple[dict, dict, Cells]:
    """Point values and resampled values, keyed (model, statistic); model 0 is the candidate."""
    scores = (
        [evidence.candidate]
        if evidence.production is None
        else [evidence.candidate, evidence.production]
    )
    cells = collapse(evidence.label, scores, evidence.threshold, evidence.groups)
    refs = bootstrap.references(cells, evidence.reference_groups, model=len(scores) - 1)

    def both(weights: np.ndarray) -> dict:
        return {
            f"{model}:{name}": values
            for model in range(len(scores))
            for name, values in model_statistics(weights, cells, refs, model).items()
        }

    return both(observed(cells)), bootstrap.draws(cells, both, evidence.bootstrap), cells


@dataclass(frozen=True)
class Sample:
    """Point values and resampled values, keyed "<model>:<statistic>" (0 the candidate)."""

    point: dict[str, np.ndarray]
    draws: dict[str, np.ndarray]
    confidence: float

    def check(
        self, claim: str, key: str, limit: float, worse_is_higher: bool, minus: str | None = None
    ) -> Check:
        """Whether statistic KEY (less statistic MINUS) is past LIMIT on its worse side."""
        value, values = float(self.point[key][0]), self.draws[key]
        if minus is not None:
            value, values = value - float(self.point[minus][0]), values - self.draws[minus]
        finite = values[np.isfinite(values)]
        holds = finite > limit if worse_is_higher else finite < limit
        p_value = (1 + int(np.sum(~holds))) / (1 + len(finite))
        low, high = bootstrap.interval(values, self.confidence)
        return Check(claim, value, low, high, limit, p_value, worse_is_higher=worse_is_higher)


def margin_checks(policy: GateParams, sample: Sample) -> list[Check]:
    """Per metric: worse than production's by more than its margin (positive = worse)."""
    found = []
    for name, margin in policy.margins.items():
        worse, better = ("1:", "0:") if direction(name) == 1 else ("0:", "1:")
        claim = f"{name} worse than production's by more than {margin}"
        found.append(sample.check(claim, worse + name, margin, True, better + name))
    return found


def floor_checks(policy: GateParams, sample: Sample) -> list[Check]:
    """Per floor: the candidate alone past it, whatever production scored."""
    found = []
    for name, floor in policy.floors.items():
        higher_better = direction(name) == 1
        word = "below its floor" if higher_better else "above its ceiling"
        found.append(sample.check(f"{name} {word} {floor}", f"0:{name}", floor, not higher_better))
    return found


def fairness_checks(policy: GateParams, sample: Sample, paired: bool) -> list[Check]:
    """Per attribute: gaps wider than production's, gaps and the lowest AIR past limits."""
    found = []
    for attribute, limits in policy.fairness.items():
        for gap in GATED_GAPS:
            key, limit = f"0:{attribute}.{gap}", getattr(limits, gap)
            if paired:
                claim = f"{attribute} {gap} wider than production's"
                wider = sample.check(claim, key, 0, True, f"1:{attribute}.{gap}")
                found.append(replace(wider, against_production=True))
            found.append(
                sample.check(f"{attribute} {gap} above its limit {limit}", key, limit, True)
            )
        air = limits.adverse_impact_ratio
        claim = f"{attribute} {AIR} below its limit {air}"
        found.append(sample.check(claim, f"0:{attribute}.{AIR}", air, False))
    return found


def checks(policy: GateParams, sample: Sample, paired: bool) -> list[Check]:
    """Every claim the policy can refuse on, before the family-wise correction."""
    margins = margin_checks(policy, sample) if paired else []
    return margins + floor_checks(policy, sample) + fairness_checks(policy, sample, paired)


def holm(p_values: list[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected with family-wise error at most ALPHA."""
    rejected = [False] * len(p_values)
    for rank, index in enumerate(sorted(range(len(p_values)), key=p_values.__getitem__)):
        if p_values[index] > alpha / (len(p_values) - rank):
            break
        rejected[index] = True
    return rejected


def differences(point: dict, draws: dict, params: BootstrapParams) -> dict[str, Difference]:
    """Candidate minus production per statistic (groups' own rates left out), paired."""
    z = norm.ppf((1 + params.confidence) / 2) + norm.ppf(POWER)
    result = {}
    for key in point:
        model, name = key.split(":", 1)
        if model != "0" or ".groups." in name:
            continue
        values = draws[key] - draws[f"1:{name}"]
        spread = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else np.nan
        cand, prod = float(point[key][0]), float(point[f"1:{name}"][0])
        result[name] = Difference(
            cand, prod, cand - prod, *bootstrap.interval(values, params.confidence), z * spread
        )
    return result


def judge(
    evidence: Evidence, policy: GateParams, policy_changes: list[str] | None = None
) -> Verdict:
    """The gate's verdict on the candidate, by POLICY (production's)."""
    unknown = sorted(set(policy.fairness) - set(evidence.groups.columns))
    if unknown:
        return cannot_judge(
            f"the gate policy sets fairness limits for {', '.join(unknown)}, which the holdout "
            f"has no groups for (it has {', '.join(evidence.groups.columns)}); the policy "
            "must name protected attributes of the schema",
            policy_changes,
        )
    paired = evidence.production is not None
    point, draws, cells = _joint(evidence)
    found = checks(policy, Sample(point, draws, evidence.bootstrap.confidence), paired)
    refused = holm([c.p_value for c in found], policy.alpha)
    found = [replace(c, refused=r) for c, r in zip(found, refused, strict=True)]
    method = bootstrap.method(evidence.bootstrap, cells, paired=paired)
    method += (
        f"; refusals: one-sided bootstrap p-values, Holm over {len(found)} checks "
        f"at alpha {policy.alpha}"
    )
    return Verdict(
        passed=not any(refused),
        reasons=[c.reason() for c in found if c.refused],
        checks=found,
        differences=differences(point, draws, evidence.bootstrap) if paired else {},
        policy_changes=policy_changes or [],
        method=method,
        rows=len(evidence.label),
    )
