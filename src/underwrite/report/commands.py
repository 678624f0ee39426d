"""`underwrite report`: the pull-request report, as CI posts it and as anyone runs it locally."""

from __future__ import annotations

from pathlib import Path

import typer

from underwrite import paths
from underwrite.console import ExitCode, fail, finding, setup_logging


def report(
    base: str = typer.Option(..., help="git revision to compare with: the pull request's base"),
    out: Path = typer.Option(paths.PR_REPORT, help="folder for report.md and plots/"),
    repro_log: Path | None = typer.Option(
        None, help="the saved output of `dvc repro 2>&1 | tee FILE`: which stages ran"
    ),
    plots_url: str | None = typer.Option(
        None, help="also write comment.md, which links the plots at this URL instead of images"
    ),
    check_lock: bool = typer.Option(
        False, help="exit 1 if the workspace's dvc.lock differs from the committed one"
    ),
    fail_on_gate: bool = typer.Option(
        False,
        help="exit 3 if the gate would not promote head (or cannot judge it); the report is "
        "written either way (`make report` sets it)",
    ),
) -> None:
    """Compare the workspace with BASE: params, metrics, fairness, gate, plots, stages, data."""
    from underwrite.report.build import make_report
    from underwrite.report.sources import ReportError

    setup_logging()
    try:
        result = make_report(Path.cwd(), base, out, repro_log, plots_url, check_lock)
    except ReportError as err:
        raise fail(err) from None
    typer.echo(f"report written to {out / 'report.md'}")
    for line in result.verdict.policy_changes if result.verdict else []:
        typer.echo(line)
    if result.drift:
        raise fail(
            f"what was reproduced differs from the committed dvc.lock in "
            f"{len(result.drift)} place(s) (listed in the report): run `dvc repro` and commit "
            "dvc.lock"
        )
    if fail_on_gate and not (result.verdict and result.verdict.passed):
        reason = result.verdict.summary() if result.verdict else "head has no up-to-date metrics"
        raise finding(f"gate refused (exit 3): {reason}", ExitCode.REFUSED)
