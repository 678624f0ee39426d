"""`underwrite retrain loop` and `underwrite retrain pr` from the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from underwrite import paths
from underwrite.console import ExitCode, fail, setup_logging
from underwrite.retrain import RetrainError

NEXT_STEPS = (
    "next: review `git diff`, then commit the new data version and what it changed:\n"
    "  git commit -m 'Retrain on labelled production data'\n"
    "(every file the loop changed is staged; `git restore --staged . && git checkout . && "
    "dvc checkout` undoes it)"
)

retrain_app = typer.Typer(
    help="Close the loop: labelled production data -> new data version -> retraining PR.",
    no_args_is_help=True,
)


@retrain_app.command("loop")
def loop_command(
    log_source: Annotated[
        str, typer.Option("--log", help="folder or azure:// URL")
    ] = paths.INFERENCE_LOG,
    labels: Annotated[str, typer.Option(help="labels file: request_id, approve")] = str(
        paths.LABELS
    ),
    profile: Annotated[Path, typer.Option()] = paths.PROFILE,
    out: Annotated[Path, typer.Option(help="report folder")] = paths.RETRAIN_REPORT,
    end: Annotated[str, typer.Option(help="window end: now, latest or ISO 8601")] = "now",
    cache: Annotated[Path, typer.Option()] = paths.LOG_CACHE / "loop",
    params: Annotated[Path, typer.Option()] = paths.PARAMS,
    push: Annotated[bool, typer.Option(help="dvc push after the repro")] = False,
) -> None:
    """Run the loop here: exit 0 when done (no drift, or retrained), 5 cannot tell, 1 bad input."""
    from underwrite.drift.commands import expected_errors
    from underwrite.retrain.loop import LoopInputs, run_loop

    setup_logging()
    inputs = LoopInputs(log_source, labels, profile, out, end, cache, params, push)
    try:
        outcome = run_loop(inputs)
    except (*expected_errors(), RetrainError) as err:
        raise fail(err) from None
    typer.echo(f"{outcome}: report {out / 'report.md'}")
    if outcome == "retrained":
        typer.echo(NEXT_STEPS)
    raise typer.Exit(ExitCode.CANNOT_TELL if outcome == "cannot_tell" else ExitCode.OK)


@retrain_app.command("pr")
def pr_command(
    branch: Annotated[str, typer.Option(help="the branch holding the retraining commit")],
    base: Annotated[str, typer.Option(help="the branch to merge into")] = "main",
    report: Annotated[Path, typer.Option(help="PR description")] = paths.RETRAIN_REPORT
    / "report.md",
    title: Annotated[str, typer.Option()] = "Retrain on drifted production data",
    repository: Annotated[str, typer.Option(envvar="GITHUB_REPOSITORY")] = "",
    api: Annotated[str, typer.Option(envvar="GITHUB_API_URL")] = "https://api.github.com",
) -> None:
    """Open the retraining pull request, or update the open one (token: GITHUB_TOKEN)."""
    from underwrite.retrain.github import GitHub, open_or_update_pr

    token = os.environ.get("GITHUB_TOKEN", "")
    try:
        if not token or not repository:
            raise RetrainError("set GITHUB_TOKEN and GITHUB_REPOSITORY (owner/name)")
        if not report.is_file():
            raise RetrainError(f"{report}: no such file; run `underwrite retrain loop` first")
        github = GitHub(repository, token, api)
        number, created = open_or_update_pr(github, branch, base, title, report.read_text())
    except RetrainError as err:
        raise fail(err) from None
    typer.echo(f"{'opened' if created else 'updated'} pull request #{number}")
    typer.echo(f"number={number}")
