"""The model registry: versions and stages of the model as GTO tags in git.

GTO writes one annotated tag per event: `loan-approval@v0.0.3` registers a version (a commit
whose dvc.lock pins the model), `loan-approval#staging#4` / `loan-approval#prod#5` assign a
stage. "What is in production?" is the newest prod assignment, exactly what `gto show` prints.
What a version *is* (its model md5, its metrics) is read from git at the version's commit.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import gto.api
from gto.constants import VersionSort
from gto.exceptions import GTOException
from gto.registry import GitRegistry

from underwrite import repo
from underwrite.paths import MODEL_ARTIFACT, MODEL_CARD
from underwrite.release import ReleaseError

log = logging.getLogger(__name__)

STAGES = ("staging", "prod")
CARD = MODEL_CARD.as_posix()  # written by the pipeline's model_card stage
ROLLBACK = "rollback:"  # how the message of a prod assignment made by a rollback starts
GIT_TIMEOUT = 60


@dataclass(frozen=True)
class ModelVersion:
    version: str
    commit: str

    def __str__(self) -> str:
        return f"{self.version} (commit {self.commit[:7]})"


@dataclass(frozen=True)
class Assignment:
    version: str
    stage: str
    tag: str
    message: str
    created_at: datetime


class Registry:
    """One artifact's versions and stages in the git repository at `repo`."""

    def __init__(self, repo: Path, artifact: str = MODEL_ARTIFACT, base_branch: str = "main"):
        self.repo = Path(repo)
        self.artifact = artifact
        self.base_branch = base_branch

    # ---- reading the registry -------------------------------------------------------------
    def _state(self):
        with GitRegistry.from_url(str(self.repo)) as reg:
            return reg.get_state().find_artifact(self.artifact, create_new=True)

    def versions(self) -> list[ModelVersion]:
        """Registered versions, oldest first."""
        found = self._state().get_versions(include_non_explicit=False, sort=VersionSort.SemVer)
        return [ModelVersion(v.version, v.commit_hexsha) for v in reversed(found) if v.is_active]

    def get(self, version: str) -> ModelVersion:
        for known in self.versions():
            if known.version == version:
                return known
        names = ", ".join(v.version for v in self.versions()) or "none yet"
        raise ReleaseError(
            f"{self.artifact} has no registered version {version!r} (registered: {names}); "
            f"see `gto show {self.artifact}`"
        )

    def for_commit(self, commit: str) -> ModelVersion | None:
        return next((v for v in self.versions() if v.commit == commit), None)

    def in_stage(self, stage: str) -> ModelVersion | None:
        """The version a stage points at now: the newest assignment, as `gto show` has it."""
        check_stage(stage)
        stages = self._state().get_vstages(sort=VersionSort.Timestamp)
        current = stages.get(stage)
        if not current:
            return None
        return ModelVersion(current[0].version, current[0].commit_hexsha)

    def assignments(self, stage: str) -> list[Assignment]:
        """Every assignment of `stage`, oldest first (ties broken by the tag's counter)."""
        check_stage(stage)
        found = [
            Assignment(a.version, a.stage, a.tag, a.message, a.created_at)
            for version in self._state().versions
            for vstage in version.get_vstages(active_only=False)
            if vstage.stage == stage
            for a in vstage.assignments
        ]
        return sorted(found, key=lambda a: (a.created_at, _counter(a.tag)))

    def prod_lineage(self) -> list[str]:
        """The versions production went through, the current one last; rollbacks pop it."""
        lineage: list[str] = []
        for a in self.assignments("prod"):
            if a.message.startswith(ROLLBACK) and len(lineage) >= 2 and lineage[-2] == a.version:
                lineage.pop()
            elif not lineage or lineage[-1] != a.version:
                lineage.append(a.version)
        return lineage

    # ---- writing the registry ------------------------------------------------------------
    def register(self, commit: str) -> ModelVersion:
        """Register the model at `commit` as the next version (patch bump)."""
        self.check_on_base(commit)
        self._after_last_event()
        try:
            tag = gto.api.register(
                str(self.repo), self.artifact, ref=commit, message=self.card_summary(commit)
            )
        except GTOException as err:
            raise ReleaseError(f"gto register {self.artifact} {commit[:7]}: {err}") from err
        log.info("registered %s %s at %s", self.artifact, tag.version, commit[:7])
        return ModelVersion(tag.version, tag.commit_hexsha)

    def assign(self, version: str, stage: str, message: str | None = None) -> str:
        """Assign `stage` to `version` with a new tag (kept even when it was there before)."""
        check_stage(stage)
        self.check_on_base(self.get(version).commit)
        self._after_last_event()
        try:
            event = gto.api.assign(
                str(self.repo), self.artifact, stage, version=version, message=message, force=True
            )
        except GTOException as err:
            raise ReleaseError(f"gto assign {self.artifact} {version} {stage}: {err}") from err
        log.info("assigned %s %s to %s (%s)", self.artifact, version, stage, event.tag)
        return event.tag

    def check_on_base(self, commit: str) -> None:
        """Refuse a commit that is not on the base branch: versions come only from merged work.

        Anyone who can push can also tag; this keeps a branch's commit out of staging and
        production however it was tagged (the release workflow checks the same).
        """
        base = self._base_ref()
        try:
            repo.git(self.repo, "merge-base", "--is-ancestor", commit, base)
        except repo.RepoError:
            raise ReleaseError(
                f"commit {commit[:7]} is not on {self.base_branch}: a version is registered and "
                f"assigned only from a commit merged into {self.base_branch} "
                "(UNDERWRITE_BASE_BRANCH); merge its pull request first, then release from "
                f"{self.base_branch}"
            ) from None

    def _base_ref(self) -> str:
        for ref in (f"refs/heads/{self.base_branch}", f"refs/remotes/origin/{self.base_branch}"):
            try:
                return repo.git(self.repo, "rev-parse", "--verify", "--quiet", ref)
            except repo.RepoError:
                continue
        raise ReleaseError(
            f"no branch {self.base_branch!r} (nor origin/{self.base_branch}) in {self.repo}: "
            "fetch it, or set UNDERWRITE_BASE_BRANCH to the branch releases come from"
        )

    def _after_last_event(self) -> None:
        """Git tag times have one-second resolution: never create two events in one second,
        or `gto show` could not tell which assignment is the newest."""
        tagged = [e.created_at for e in self._state().get_events() if getattr(e, "tag", None)]
        if not tagged:
            return
        wait = max(tagged).timestamp() + 1 - datetime.now(UTC).timestamp()
        time.sleep(min(max(wait, 0.0), 1.0))  # at most a second, whatever the clocks say

    def card_summary(self, commit: str) -> str:
        """The version's description in its registration tag: the model card's head lines."""
        card = repo.show(self.repo, commit, CARD) or ""
        kept = [line for line in card.splitlines() if line.startswith(("**", "- model md5"))]
        return "\n".join([f"{self.artifact} at {commit[:7]}; model card: {CARD}", *kept])

    # ---- what a version committed --------------------------------------------------------
    def read_at(self, commit: str, path: str) -> str:
        text = repo.show(self.repo, commit, path)
        if text is None:
            raise ReleaseError(f"commit {commit[:7]} has no {path} in git")
        return text

    def artifact_path(self, commit: str) -> str:
        """Where the model lives, from the `artifacts:` section of dvc.yaml at `commit`."""
        path = repo.artifact_path(repo.load_yaml(self.read_at(commit, "dvc.yaml")), self.artifact)
        if path is None:
            raise ReleaseError(f"dvc.yaml at {commit[:7]} declares no artifact {self.artifact!r}")
        return path

    def model_md5(self, commit: str) -> str:
        """The model's md5 as dvc.lock at `commit` records it."""
        path = self.artifact_path(commit)
        md5 = repo.out_md5(repo.load_yaml(self.read_at(commit, "dvc.lock")), path)
        if md5:
            return md5
        raise ReleaseError(
            f"dvc.lock at {commit[:7]} records no {path}: run `dvc repro` and commit dvc.lock"
        )

    def metrics_path(self, commit: str) -> str:
        """The metrics file of the stage that evaluates the model (a dep) in dvc.yaml."""
        model = self.artifact_path(commit)
        found = repo.evaluation_metrics(repo.load_yaml(self.read_at(commit, "dvc.yaml")), model)
        if found:
            return found
        raise ReleaseError(f"dvc.yaml at {commit[:7]} has no stage that evaluates {model}")

    def metrics(self, commit: str) -> dict:
        """The evaluation metrics committed with the model (reports/evaluate/metrics.json)."""
        return json.loads(self.read_at(commit, self.metrics_path(commit)))


def check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ReleaseError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}")


def _counter(tag: str) -> int:
    last = tag.rsplit("#", 1)[-1]
    return int(last) if last.isdigit() else 0
