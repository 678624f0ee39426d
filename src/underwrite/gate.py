"""The quality gate: may a candidate model replace the one in production?

Promotion (release) and the pull-request report both ask this, with the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from underwrite.params import GateParams

LOWER_IS_BETTER = frozenset({"brier", "log_loss"})


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.passed:
            return "passes the gate"
        return "refused: " + "; ".join(self.reasons)


def metric_regressions(candidate: dict, production: dict, tolerances: dict[str, float]):
    """A reason for every metric that is worse than production's beyond its tolerance."""
    for name, tolerance in tolerances.items():
        if name not in candidate:
            yield f"{name}: missing from the candidate's metrics"
            continue
        if name not in production:
            continue
        worse_by = candidate[name] - production[name]
        if name not in LOWER_IS_BETTER:
            worse_by = -worse_by
        if worse_by > tolerance:
            yield (
                f"{name} {candidate[name]:.4f} is worse than production's "
                f"{production[name]:.4f} by {worse_by:.4f} (tolerance {tolerance})"
            )


def fairness_violations(candidate: dict, params: GateParams):
    """A reason for every fairness gap above its limit."""
    fairness = candidate.get("fairness", {})
    for grouping, limit in params.fairness.items():
        gaps = fairness.get(grouping)
        if gaps is None:
            yield f"fairness by {grouping}: missing from the candidate's metrics"
            continue
        for name, allowed in limit.model_dump().items():
            if name not in gaps:
                yield f"{grouping} {name}: missing from the candidate's metrics"
            elif gaps[name] > allowed:
                yield f"{grouping} {name} {gaps[name]:.4f} exceeds the limit {allowed}"


def check(candidate: dict, production: dict | None, params: GateParams) -> Verdict:
    """Judge a candidate's metrics.json against production's (None: nothing in production)."""
    reasons = list(fairness_violations(candidate, params))
    if production is not None:
        reasons += metric_regressions(candidate, production, params.tolerances)
    return Verdict(passed=not reasons, reasons=reasons)
