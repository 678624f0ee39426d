"""One module per DVC stage, each with a small main(); dvc.yaml runs them as python -m."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import typer


class StageError(Exception):
    """A stage cannot go on; the message says why and what to do."""


def run_stage(main: Callable[..., None]) -> None:
    """Run a stage's main as a command: logging to stderr, expected errors without a traceback."""
    from underwrite.io import SourceError
    from underwrite.params import ParamsError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # the Azure SDK logs every HTTP request and response, headers and all, at INFO
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        typer.run(main)
    except (StageError, SourceError, ParamsError) as err:
        print(f"ERROR: {err}", file=sys.stderr)
        raise SystemExit(1) from None
