"""`underwrite report`: the pull-request report, as CI posts it and as anyone runs it locally."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

GATE_REFUSED = 3  # as `underwrite release promote` exits when the gate says no


def report(
    base: str = typer.Option(..., help="git revision to compare with: the pull request's base"),
    out: Path = typer.Option(Path("reports/pr"), help="folder for report.md and plots/"),
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
        False, help="exit 3 if the gate would not promote head (or cannot judge it)"
    ),
) -> None:
    """Compare the workspace with BASE: params, metrics, fairness, gate, plots, stages, data."""
    from underwrite.report.build import make_report
    from underwrite.report.sources import ReportError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = make_report(Path.cwd(), base, out, repro_log, plots_url, check_lock)
    except ReportError as err:
        typer.echo(f"ERROR: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"report written to {out / 'report.md'}")
    if result.drift:
        typer.echo(
            f"ERROR: what was reproduced differs from the committed dvc.lock in "
            f"{len(result.drift)} place(s) (listed in the report): run `dvc repro` and commit "
            "dvc.lock",
            err=True,
        )
        raise typer.Exit(1)
    if fail_on_gate and not (result.verdict and result.verdict.passed):
        reason = result.verdict.summary() if result.verdict else "head has no up-to-date metrics"
        typer.echo(f"the gate would not promote head: {reason}", err=True)
        raise typer.Exit(GATE_REFUSED)
