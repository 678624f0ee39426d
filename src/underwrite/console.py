"""The command-line edge: logging set-up, one-line errors, and the exit codes every command uses.

Exit codes (the same for every `underwrite` command and the make targets that call them):

| code | name        | meaning                                                              |
|------|-------------|----------------------------------------------------------------------|
| 0    | OK          | done; nothing to report                                              |
| 1    | ERROR       | could not do its job: the message names the input and the fix        |
| 2    | USAGE       | the command line itself is wrong (an unknown option, a bad value)    |
| 3    | REFUSED     | the quality gate refused the candidate (release promote, report)    |
| 4    | DRIFT       | the drift check found drift                                          |
| 5    | CANNOT_TELL | too little data to judge (a drift window with too few rows)          |

REFUSED, DRIFT and CANNOT_TELL are findings, not failures: the command worked and says what it
found. make prints them as `make: *** [...] Error N` with the same N.
"""

from __future__ import annotations

import logging
from enum import IntEnum

import typer

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2  # click's own code for a bad command line
    REFUSED = 3
    DRIFT = 4
    CANNOT_TELL = 5


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr, one line a record; the Azure SDK's per-request chatter stays quiet."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    # the Azure SDK logs every HTTP request and response, headers and all, at INFO
    logging.getLogger("azure").setLevel(logging.WARNING)


def fail(err: Exception | str, code: ExitCode = ExitCode.ERROR) -> typer.Exit:
    """Print `ERROR: <reason>` (no traceback) and return the Exit to raise."""
    typer.echo(f"ERROR: {err}", err=True)
    return typer.Exit(int(code))


def finding(message: str, code: ExitCode) -> typer.Exit:
    """Print what a command found (drift, a refused gate) and return the Exit to raise."""
    typer.echo(message, err=True)
    return typer.Exit(int(code))
