"""May a version go to production? The evidence from staging, then the quality gate.

The quality gate itself is underwrite.gate; this module feeds it both versions' model files
(from DVC at each version's commit, never the latest training run), scored on the
candidate's holdout rows that production's holdout rule also held out, and production's
policy: `gate:` in params.yaml at the production version's commit, or at the base branch's
head when nothing is in production. The candidate's own policy is only compared with it.

The watch list (underwrite.watchlist) is scored by both models and shown; a candidate that
misses the `expect`ed decision of a case production gets right is refused (cases both miss are
noted: the candidate is no worse). The cases and their expectations are read at production's
commit, like the rest of the policy, so a candidate cannot relax them.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from underwrite import gate, gate_sources, paths, watchlist
from underwrite.params import EvaluateParams
from underwrite.release import ReleaseError, bento, deploy
from underwrite.release.registry import ModelVersion, Registry
from underwrite.repo import load_yaml

# Whose params.yaml declares the policy while nothing is in production: always main, even
# when releases may come from another branch (UNDERWRITE_BASE_BRANCH), so that a candidate
# released from its own branch never sets its own bar.
POLICY_BRANCH = "main"


@dataclass(frozen=True)
class Decision:
    candidate: ModelVersion
    production: ModelVersion | None
    reasons: list[str]
    policy_changes: list[str] = field(default_factory=list)
    watch: watchlist.Comparison | None = None

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def summary(self) -> str:
        against = f"production {self.production.version}" if self.production else "no production"
        table = ["watch list (production's cases):", *self.watch.lines()] if self.watch else []
        if self.allowed:
            return "\n".join(
                [
                    f"{self.candidate.version} passes the gate against {against}",
                    *table,
                    *self.policy_changes,
                ]
            )
        lines = [f"promotion of {self.candidate.version} refused (against {against}):"]
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines + table + self.policy_changes)


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


def policy_side(registry: Registry, production: ModelVersion | None) -> tuple[str, str]:
    """The commit whose params.yaml declares the policy, and how to name it."""
    if production is not None:
        return production.commit, f"production {production.version}"
    return _head(registry, POLICY_BRANCH), f"{POLICY_BRANCH}'s head"


def quality_gate(
    registry: Registry, candidate: ModelVersion, production: ModelVersion | None
) -> gate.Verdict:
    """The quality gate's verdict, by production's policy, on the same holdout rows."""
    try:
        commit, where = policy_side(registry, production)
        policy, settings, rule = gate_sources.read_sides(
            registry.read_at(commit, paths.PARAMS.as_posix()), where
        )
        own = gate_sources.read_sides(
            registry.read_at(candidate.commit, paths.PARAMS.as_posix()), str(candidate)
        )[0]
    except (ReleaseError, gate_sources.PolicyError) as err:
        return gate.cannot_judge(f"the gate policy cannot be read: {err}")
    changes = gate_sources.policy_changes(policy, own)
    try:
        holdout = gate_sources.shared_holdout(_holdout(registry, candidate), rule)
        models = [_model(registry, v) if v else None for v in (candidate, production)]
    except ReleaseError as err:
        return gate.cannot_judge(str(err), changes)
    evidence = gate_sources.evidence(holdout, models[0], models[1], settings)
    return gate.judge(evidence, policy, changes)


def _head(registry: Registry, branch: str) -> str:
    from underwrite import repo

    try:
        return repo.git(registry.repo, "rev-parse", "--verify", f"{branch}^{{commit}}")
    except repo.RepoError as err:
        raise ReleaseError(
            f"nothing is in production and there is no branch {branch!r} whose params.yaml "
            "declares the gate policy"
        ) from err


def _holdout(registry: Registry, version: ModelVersion) -> pd.DataFrame:
    content = bento.model_bytes(registry, version.commit, paths.TEST_DATA.as_posix())
    return pd.read_parquet(io.BytesIO(content))


def _model(registry: Registry, version: ModelVersion):
    with tempfile.TemporaryDirectory(prefix="underwrite-gate-") as folder:
        path = bento.write_model_file(registry, version, Path(folder))
        return gate_sources.load_model(path.read_bytes())


def decide(repo: Path, registry: Registry, candidate: ModelVersion):
    """Everything that stands between the candidate and production (nothing: promote)."""
    production = registry.in_stage("prod")
    reasons = staging_evidence(repo, registry, candidate)
    if production is not None and production.version == candidate.version:
        reasons.append(f"{candidate.version} is already in production")
    verdict = quality_gate(registry, candidate, production)
    watch = watch_list(registry, candidate, production) if production else None
    unmet = watchlist.unmet(watch.rows) if watch else []
    return Decision(
        candidate, production, reasons + verdict.reasons + unmet, verdict.policy_changes, watch
    )


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


def _threshold(registry: Registry, version: ModelVersion) -> float:
    section = load_yaml(registry.read_at(version.commit, "params.yaml")).get("evaluate", {})
    try:
        return EvaluateParams.model_validate(section).threshold
    except ValidationError as err:
        raise ReleaseError(f"{version}: params.yaml cannot be read ({err})") from err
