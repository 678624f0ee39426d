"""One module per DVC stage, each with a small main(); dvc.yaml runs them as python -m.

ingest -> validate -> prepare -> train -> evaluate, and profile (drift monitoring's reference).
Each stage's paths come from dvc.yaml as arguments and its knobs from params.yaml as typed
objects; ``run_stage`` turns expected errors into one line and exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer


class StageError(Exception):
    """A stage cannot go on; the message says why and what to do."""


def run_stage(main: Callable[..., None]) -> None:
    """Run a stage's main as a command: logging to stderr, expected errors without a traceback."""
    from underwrite.console import ExitCode, setup_logging
    from underwrite.io import SourceError
    from underwrite.params import ParamsError

    setup_logging()
    try:
        typer.run(main)
    except (StageError, SourceError, ParamsError) as err:
        print(f"ERROR: {err}", file=sys.stderr)
        raise SystemExit(ExitCode.ERROR) from None
