"""May a version go to production? The evidence from staging, then the quality gate.

The quality gate itself (metric tolerances, fairness limits) is underwrite.gate; this module
feeds it the candidate's metrics and those of the version the registry has in production,
both read from git at each version's commit, never from the latest training run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from underwrite import gate
from underwrite.params import GateParams
from underwrite.release import deploy
from underwrite.release.registry import ModelVersion, Registry


@dataclass(frozen=True)
class Decision:
    candidate: ModelVersion
    production: ModelVersion | None
    reasons: list[str]

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def summary(self) -> str:
        against = f"production {self.production.version}" if self.production else "no production"
        if self.allowed:
            return f"{self.candidate.version} passes the gate against {against}"
        lines = [f"promotion of {self.candidate.version} refused (against {against}):"]
        return "\n".join(lines + [f"  - {reason}" for reason in self.reasons])


def staging_evidence(repo: Path, registry: Registry, candidate: ModelVersion) -> list[str]:
    """Reasons the candidate has not (yet) proven itself in staging."""
    in_staging = registry.in_stage("staging")
    if in_staging is None or in_staging.version != candidate.version:
        now = in_staging.version if in_staging else "nothing"
        return [
            f"{candidate.version} is not in staging (the registry has {now} there): "
            f"run `underwrite release stage {candidate.version}` first"
        ]
    running = deploy.load(repo, "staging")
    if running is None or running.version != candidate.version:
        return [
            f"staging is not serving {candidate.version} any more: "
            f"run `underwrite release stage {candidate.version}` again"
        ]
    if running.smoke != "passed":
        return [f"the smoke suite has not passed against staging {candidate.version}"]
    return []


def decide(repo: Path, registry: Registry, candidate: ModelVersion, params: GateParams):
    """Everything that stands between the candidate and production (nothing: promote)."""
    production = registry.in_stage("prod")
    reasons = staging_evidence(repo, registry, candidate)
    if production is not None and production.version == candidate.version:
        reasons.append(f"{candidate.version} is already in production")
    production_metrics = registry.metrics(production.commit) if production else None
    verdict = gate.check(registry.metrics(candidate.commit), production_metrics, params)
    return Decision(candidate, production, reasons + verdict.reasons)
