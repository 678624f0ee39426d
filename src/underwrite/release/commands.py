"""`underwrite release ...`: the registry and the rollout, one command per step.

Exit codes: 0 done, 1 a step could not go on (nothing changed), 3 the gate refused promotion.
Heavy modules are imported inside the commands so that `underwrite --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from underwrite.console import ExitCode, fail, finding, setup_logging

app = typer.Typer(
    help="Model registry (GTO tags) and rollout: build, stage, smoke, promote, rollback.",
    no_args_is_help=True,
)

REPO = typer.Option(Path("."), "--repo", help="the project's git repository")
VERSION = typer.Argument(
    None, help="a registered version (v0.0.3); default: the committed dvc.lock's model"
)


class Env(StrEnum):
    staging = "staging"
    prod = "prod"


def _run(step: Callable[..., Any], repo: Path, *args: Any) -> Any:
    """Run a step with progress logging; errors print their reason and exit non-zero."""
    from underwrite.params import ParamsError
    from underwrite.release import ReleaseError
    from underwrite.release.rollout import PromotionRefused, context

    setup_logging()
    try:
        return step(context(repo), *args)
    except PromotionRefused as refused:
        raise finding(f"gate refused (exit 3): {refused}", ExitCode.REFUSED) from None
    except (ReleaseError, ParamsError) as err:
        raise fail(err) from None


@app.command()
def build(version: str | None = VERSION, repo: Path = REPO) -> None:
    """Build a bento from a registered version (registering the current model if new)."""
    from underwrite.release import rollout

    built = _run(lambda ctx, v: rollout.build(ctx, rollout.resolve(ctx, v)), repo, version)
    typer.echo(f"built {built.tag} with model {built.model_tag} (md5 {built.model_md5})")


@app.command()
def stage(version: str | None = VERSION, repo: Path = REPO) -> None:
    """Serve the version as staging, run the smoke suite, then assign it to `staging`."""
    from underwrite.release import rollout

    running = _run(rollout.stage, repo, version)
    typer.echo(f"staging serves {running.version} at {running.url}; smoke suite {running.smoke}")


@app.command()
def smoke(env: Env = typer.Option(Env.staging, "--env"), repo: Path = REPO) -> None:
    """Run the smoke suite against the running staging (or prod) and record the result."""
    from underwrite.release import rollout

    result = _run(rollout.smoke, repo, env.value)
    typer.echo(f"smoke suite against {env.value}: {result.summary} (output: {result.output})")
    if not result.passed:
        raise typer.Exit(1)


@app.command()
def promote(version: str | None = typer.Argument(None, help="default: the version in staging"),
            repo: Path = REPO) -> None:  # fmt: skip
    """Put the staged version in production if the gate allows; refusals print the reasons."""
    from underwrite.release import rollout

    running = _run(rollout.promote, repo, version)
    typer.echo(f"production serves {running.version} at {running.url}")


@app.command()
def rollback(repo: Path = REPO) -> None:
    """Put production back on the version it served before this one."""
    from underwrite.release import rollout

    running = _run(rollout.rollback, repo)
    typer.echo(f"production rolled back to {running.version} at {running.url}")


@app.command()
def status(repo: Path = REPO) -> None:
    """Registered versions, stages, and what local staging and production serve."""
    from underwrite.release import rollout

    typer.echo(_run(rollout.status, repo))


@app.command("all")
def release_all(repo: Path = REPO) -> None:
    """build -> stage -> smoke -> promote for the committed dvc.lock's model."""
    from underwrite.release import rollout

    running = _run(rollout.release, repo)
    typer.echo(f"released: production serves {running.version} at {running.url}")


@app.command()
def stop(env: list[Env] = typer.Argument(None, help="default: both"), repo: Path = REPO) -> None:
    """Stop the local staging and/or production servers (the registry is not touched)."""
    from underwrite.release import deploy

    for name in [e.value for e in env] if env else list(deploy.ENVIRONMENTS):
        stopped = _run(lambda ctx, n: deploy.stop(ctx.repo, n), repo, name)
        typer.echo(f"{name}: {'stopped ' + stopped.version if stopped else 'was not running'}")
