"""May a version go to production? The evidence from staging, then the quality gate.

The quality gate itself (metric tolerances, fairness limits) is underwrite.gate; this module
feeds it the candidate's metrics and those of the version the registry has in production,
both read from git at each version's commit, never from the latest training run.

The watch list (underwrite.watchlist) is scored by both models and shown; a candidate that
misses the `expect`ed decision of a case production gets right is refused (cases both miss are
noted: the candidate is no worse). The cases and their expectations are read at production's
commit, like the rest of the policy, so a candidate cannot relax them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from underwrite import gate, watchlist
from underwrite.params import EvaluateParams, GateParams
from underwrite.release import ReleaseError, bento, deploy
from underwrite.release.registry import ModelVersion, Registry
from underwrite.repo import load_yaml


@dataclass(frozen=True)
class Decision:
    candidate: ModelVersion
    production: ModelVersion | None
    reasons: list[str]
    watch: watchlist.Comparison | None = None

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def summary(self) -> str:
        against = f"production {self.production.version}" if self.production else "no production"
        table = ["watch list (production's cases):", *self.watch.lines()] if self.watch else []
        if self.allowed:
            return "\n".join(
                [f"{self.candidate.version} passes the gate against {against}", *table]
            )
        lines = [f"promotion of {self.candidate.version} refused (against {against}):"]
        return "\n".join(lines + [f"  - {reason}" for reason in self.reasons] + table)


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
    watch = watch_list(registry, candidate, production) if production else None
    unmet = watchlist.unmet(watch.rows) if watch else []
    return Decision(candidate, production, reasons + verdict.reasons + unmet, watch)


def watch_list(
    registry: Registry, candidate: ModelVersion, production: ModelVersion
) -> watchlist.Comparison | None:
    """Production's watch list scored by production's model and the candidate's, at the
    candidate's decision threshold (what it would serve); None when production has no list."""
    try:
        cases = watchlist.load_at(registry.repo, production.commit)
    except watchlist.WatchlistError as err:
        raise ReleaseError(f"production's watch list cannot be read: {err}") from err
    if not cases:
        return None
    models = [_model(registry, version) for version in (production, candidate)]
    rows = watchlist.compare(cases, *models, threshold=_threshold(registry, candidate))
    labels = (f"production {production.version}", f"candidate {candidate.version}")
    return watchlist.Comparison(rows, *labels, notes=watchlist.still_missed(rows))


def _model(registry: Registry, version: ModelVersion):
    path = registry.artifact_path(version.commit)
    return watchlist.model_from_bytes(bento.model_bytes(registry, version.commit, path))


def _threshold(registry: Registry, version: ModelVersion) -> float:
    section = load_yaml(registry.read_at(version.commit, "params.yaml")).get("evaluate", {})
    try:
        return EvaluateParams.model_validate(section).threshold
    except ValidationError as err:
        raise ReleaseError(f"{version}: params.yaml cannot be read ({err})") from err
