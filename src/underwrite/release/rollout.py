"""The release steps: build, stage, smoke, promote, rollback, status, and all of them in a row.

Every step checks what it needs before it changes anything, so a refused or failed step
leaves production (the running prod process) and the registry (the git tags) as they were.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from underwrite import repo
from underwrite.io import file_md5
from underwrite.params import Params, load_params
from underwrite.release import ReleaseError, bento, deploy, gating
from underwrite.release.registry import ModelVersion, Registry
from underwrite.release.settings import ReleaseSettings
from underwrite.release.smoke import SmokeResult, run_smoke

log = logging.getLogger(__name__)


class PromotionRefused(ReleaseError):
    """The gate said no; the message lists every reason."""

    def __init__(self, decision: gating.Decision):
        super().__init__(decision.summary())
        self.decision = decision


@dataclass(frozen=True)
class Context:
    repo: Path
    params: Params
    registry: Registry
    settings: ReleaseSettings


def context(repo: Path = Path(".")) -> Context:
    repo = Path(repo).resolve()
    if not (repo / ".git").exists() or not (repo / "dvc.yaml").is_file():
        raise ReleaseError(f"{repo} is not the project's repository (no .git or dvc.yaml)")
    settings = ReleaseSettings.from_env()
    registry = Registry(repo, base_branch=settings.base_branch)
    return Context(repo, load_params(repo / "params.yaml"), registry, settings)


def resolve(ctx: Context, version: str | None) -> ModelVersion:
    """A registered version by name; with none, the one for the committed dvc.lock."""
    return ctx.registry.get(version) if version else current_version(ctx)


# ---- register ---------------------------------------------------------------------------
def current_version(ctx: Context) -> ModelVersion:
    """The version of the model pinned by the committed dvc.lock; registered if it is new."""
    head = _git(ctx.repo, "rev-parse", "HEAD")
    md5 = ctx.registry.model_md5(head)
    _check_workspace(ctx, head, md5)
    for known in ctx.registry.versions():
        if ctx.registry.model_md5(known.commit) == md5:
            log.info("the model of %s (md5 %s) is registered as %s", head[:7], md5, known)
            return known
    return ctx.registry.register(head)


def _check_workspace(ctx: Context, head: str, md5: str) -> None:
    """Refuse to release a model that is not what the commit says it is."""
    path = ctx.registry.artifact_path(head)
    metrics = ctx.registry.metrics_path(head)
    changed = _git(ctx.repo, "status", "--porcelain", "--", "dvc.lock", metrics)
    if changed:
        raise ReleaseError(
            f"dvc.lock or {metrics} has uncommitted changes:\n{changed}\n"
            "commit them (the registry tags commits) and run again"
        )
    model = ctx.repo / path
    if not model.is_file():
        raise ReleaseError(f"{path} is missing: run `dvc pull` (or `dvc repro`) first")
    actual = file_md5(model)
    if actual != md5:
        raise ReleaseError(
            f"{path} (md5 {actual}) is not the model dvc.lock pins (md5 {md5}): "
            "run `dvc repro` and commit dvc.lock, or `dvc checkout` to restore it"
        )


def _git(path: Path, *args: str) -> str:
    try:
        return repo.git(path, *args)
    except repo.RepoError as err:
        raise ReleaseError(str(err)) from err


# ---- build, stage, smoke ----------------------------------------------------------------
def build(ctx: Context, version: ModelVersion) -> bento.Built:
    return bento.build(ctx.repo, ctx.registry, version)


def stage(ctx: Context, name: str | None = None) -> deploy.Deployment:
    """Serve the version's bento as staging, run the smoke suite, then assign `staging`."""
    settings = ctx.settings
    _check_staging_port(ctx)
    version = resolve(ctx, name)
    built = bento.find(ctx.registry, version) or build(ctx, version)
    deploy.stop(ctx.repo, "staging")
    running = deploy.start(
        ctx.repo, "staging", built.serving(version), settings.host, settings.staging_port,
        settings.readiness_timeout,
    )  # fmt: skip
    result = smoke(ctx, "staging")
    if not result.passed:
        raise ReleaseError(
            f"the smoke suite failed against staging {version.version} ({result.summary}); "
            f"see {result.output}. Staging is left running for a look; the registry is unchanged"
        )
    ctx.registry.assign(version.version, "staging")
    bento.mirror_stages(ctx.registry)
    return deploy.load(ctx.repo, "staging") or running


def _check_staging_port(ctx: Context) -> None:
    """Fail before registering or building, not after."""
    settings = ctx.settings
    if deploy.load(ctx.repo, "staging") is None:
        deploy.ensure_port_free(settings.host, settings.staging_port, "staging")


def smoke(ctx: Context, env: str = "staging") -> SmokeResult:
    """Run the smoke suite against an environment and record the result on its deployment."""
    running = deploy.load(ctx.repo, env)
    if running is None:
        raise ReleaseError(f"{env} is not running: run `underwrite release stage` first")
    settings = ctx.settings
    version = ctx.registry.get(running.version)
    model = bento.write_model_file(ctx.registry, version, ctx.repo / deploy.STATE_DIR / env)
    result = run_smoke(
        ctx.repo, settings.smoke_suite, running.url, model, settings.smoke_timeout, env
    )
    deploy.save(ctx.repo, running.with_smoke(result.passed))
    return result


# ---- promote, rollback ------------------------------------------------------------------
def promote(ctx: Context, version: str | None = None) -> deploy.Deployment:
    """Production gets the version in staging, if the gate allows; the registry records it."""
    candidate = ctx.registry.get(version) if version else ctx.registry.in_stage("staging")
    if candidate is None:
        raise ReleaseError("nothing is in staging: run `underwrite release stage` first")
    decision = gating.decide(ctx.repo, ctx.registry, candidate)
    if not decision.allowed:
        raise PromotionRefused(decision)
    staging = deploy.load(ctx.repo, "staging")
    running = _replace_production(ctx, staging.serving())
    ctx.registry.assign(candidate.version, "prod")
    bento.mirror_stages(ctx.registry)
    log.info(decision.summary())
    return running


def rollback(ctx: Context) -> deploy.Deployment:
    """Production goes back to the version it served before; the registry records it."""
    lineage = ctx.registry.prod_lineage()
    if not lineage:
        raise ReleaseError("nothing is in production yet, so there is nothing to roll back")
    if len(lineage) < 2:
        raise ReleaseError(
            f"production's lineage has nothing before {lineage[0]} to roll back to "
            "(see `underwrite release status`)"
        )
    current, previous = lineage[-1], ctx.registry.get(lineage[-2])
    built = bento.find(ctx.registry, previous) or build(ctx, previous)
    running = _replace_production(ctx, built.serving(previous))
    ctx.registry.assign(
        previous.version, "prod", message=f"rollback: {current} -> {previous.version}"
    )
    bento.mirror_stages(ctx.registry)
    return running


def _replace_production(ctx: Context, new: deploy.Serving) -> deploy.Deployment:
    """Stop the prod server and serve the new bento; if it is not ready, bring the old back."""
    settings = ctx.settings
    where = (settings.host, settings.prod_port, settings.readiness_timeout)
    old = deploy.stop(ctx.repo, "prod")
    try:
        return deploy.start(ctx.repo, "prod", new, *where)
    except ReleaseError as err:
        if old is None:
            raise ReleaseError(f"{err}\nthe registry is unchanged") from err
        log.warning("new production failed; restoring %s (%s)", old.version, old.bento)
        deploy.start(ctx.repo, "prod", old.serving(), *where)
        raise ReleaseError(
            f"{err}\nproduction was restored to {old.version}; the registry is unchanged"
        ) from err


# ---- status, all ------------------------------------------------------------------------
def status(ctx: Context) -> str:
    """The registry's versions and stages, and what staging and production serve."""
    stages = {s: ctx.registry.in_stage(s) for s in ("staging", "prod")}
    lines = [f"registry ({ctx.registry.artifact}; `gto show {ctx.registry.artifact}`):"]
    for known in ctx.registry.versions():
        marks = [s for s, v in stages.items() if v and v.version == known.version]
        lines.append(f"  {known.version:<10} commit {known.commit[:7]}  {' '.join(marks)}")
    if len(lines) == 1:
        lines.append("  no version registered yet (`underwrite release build`)")
    lineage = ctx.registry.prod_lineage()
    lines.append(f"production lineage: {' -> '.join(lineage) if lineage else '(none)'}")
    for env in deploy.ENVIRONMENTS:
        running = deploy.load(ctx.repo, env)
        if running is None:
            lines.append(f"{env}: not running")
            continue
        lines.append(
            f"{env}: {running.version} at {running.url}, bento {running.bento}, "
            f"smoke {running.smoke}, pid {running.pid}"
        )
    return "\n".join(lines)


def release(ctx: Context) -> deploy.Deployment:
    """build -> stage (with the smoke suite) -> promote, for the committed dvc.lock's model."""
    _check_staging_port(ctx)
    version = current_version(ctx)
    build(ctx, version)
    stage(ctx, version.version)
    return promote(ctx, version.version)
