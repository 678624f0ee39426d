"""`underwrite demo`: replay the talk's four demos in a scratch copy; exit 0 when they ran.

Ctrl-C and SIGTERM stop the demo and everything it started (try/finally); every wait is
bounded. The artefacts (the pull-request report, release status, drift and retrain reports,
plots, each command's full output) stay in the folder named at the end.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from underwrite.console import ExitCode, fail

INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C


def demo_command(
    workdir: Annotated[
        Path | None,
        typer.Option(help="an empty folder for the scratch copy [default: a new temp folder]"),
    ] = None,
    keep_copy: Annotated[
        bool, typer.Option(help="keep the scratch repository, not only its artefacts")
    ] = False,
    repo: Annotated[Path, typer.Option(help="the project to copy")] = Path("."),
) -> None:
    """Replay the talk's four demos (faulty answer, pipeline, pull request, release) and the
    drift -> retrain loop in a scratch copy with its own Azurite, ports and BentoML store."""
    from underwrite.demo import DemoError, story
    from underwrite.demo.runner import Runner, cleanup
    from underwrite.demo.scratch import Scratch, free_ports

    root = _workdir(workdir)
    scratch = Scratch(root, repo.resolve(), ports=free_ports(("staging", "prod", "azurite")))
    runner = Runner(scratch, echo=lambda line: typer.echo(line))
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    code = ExitCode.OK
    try:
        tale = story.Story(runner)
        for step in (story.setup, story.demo_production, story.demo_pipeline,
                     story.demo_pull_request, story.demo_release, story.demo_drift):  # fmt: skip
            step(tale)
        story.collect(tale)
        _summary(tale, time.monotonic() - started)
    except DemoError as err:
        code = fail(f"{err}\n(everything so far: {scratch.root})").exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted: stopping what the demo started", err=True)
        code = INTERRUPTED
    finally:
        stopped = cleanup(runner)
        signal.signal(signal.SIGTERM, previous)
        if stopped:
            typer.echo(f"stopped: {', '.join(stopped)}")
        if not keep_copy and code == ExitCode.OK:
            shutil.rmtree(scratch.repo, ignore_errors=True)
            shutil.rmtree(scratch.home, ignore_errors=True)
            shutil.rmtree(scratch.azurite, ignore_errors=True)
    raise typer.Exit(int(code))


def _workdir(workdir: Path | None) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="underwrite-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if any(workdir.iterdir()):
        raise fail(f"--workdir {workdir} is not empty; give an empty or new folder")
    return workdir.resolve()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _summary(tale, seconds: float) -> None:
    typer.echo()
    for moment, decision in tale.decisions.items():
        typer.echo(f"watched application income-666-unknown {moment}: {decision}")
    typer.echo(f"demo finished in {seconds:.0f} s")
    typer.echo(f"artefacts: {tale.scratch.artefacts}")
