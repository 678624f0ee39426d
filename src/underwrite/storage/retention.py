"""`underwrite log purge`: delete inference-log files older than the retention period.

The inference log holds personal data (docs/data-governance.md), so it is kept only as
long as monitoring and retraining need it. Every log file is named ``<day>-...jsonl`` by
the UTC day its records were written (serving.log_writer), so a file's age is read from
its name, the same way for a local folder and for an ``azure://<container>/<prefix>``
location; files without that name are left alone and named in the output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from underwrite.console import fail
from underwrite.io import AZURE_SCHEME, azure_storage_options
from underwrite.paths import INFERENCE_LOG

log = logging.getLogger(__name__)

LOG_SUFFIX = ".jsonl"


@dataclass(frozen=True)
class Purge:
    deleted: list[str]
    kept: int
    unnamed: list[str]  # files whose name carries no day: never deleted


def day_of(name: str) -> date | None:
    """The UTC day in a log file's name (``2026-11-29-host-pid.jsonl``), or None."""
    try:
        return date.fromisoformat(Path(name).name[:10])
    except ValueError:
        return None


def purge(
    location: str, older_than_days: int, dry_run: bool = False, today: date | None = None
) -> Purge:
    """Delete (or, with DRY_RUN, only list) log files written before today - OLDER_THAN_DAYS."""
    if older_than_days < 1:
        raise ValueError(f"--older-than {older_than_days}: must be at least 1 day")
    cutoff = (today or datetime.now(UTC).date()) - timedelta(days=older_than_days)
    files = _AzureFiles(location) if location.startswith(AZURE_SCHEME) else _LocalFiles(location)
    names = files.list()
    days = {name: day_of(name) for name in names}
    old = sorted(n for n, d in days.items() if d is not None and d < cutoff)
    if old and not dry_run:
        files.delete(old)
    unnamed = sorted(n for n, d in days.items() if d is None)
    return Purge(deleted=old, kept=len(names) - len(old) - len(unnamed), unnamed=unnamed)


class _LocalFiles:
    def __init__(self, location: str):
        self.folder = Path(location)

    def list(self) -> list[str]:
        return [str(p) for p in sorted(self.folder.glob(f"*{LOG_SUFFIX}"))]

    def delete(self, names: list[str]) -> None:
        for name in names:
            Path(name).unlink()


class _AzureFiles:
    def __init__(self, location: str):
        import adlfs

        self.fs = adlfs.AzureBlobFileSystem(**azure_storage_options())
        self.prefix = location.removeprefix(AZURE_SCHEME).rstrip("/")

    def list(self) -> list[str]:
        return sorted(self.fs.glob(f"{self.prefix}/*{LOG_SUFFIX}"))

    def delete(self, names: list[str]) -> None:
        self.fs.rm(names)


log_app = typer.Typer(help="The inference log: retention and deletion.", no_args_is_help=True)


@log_app.command("purge")
def purge_command(
    older_than: Annotated[
        int, typer.Option("--older-than", help="Delete files written more than DAYS days ago.")
    ],
    location: Annotated[
        str,
        typer.Option(
            envvar="UNDERWRITE_INFERENCE_LOG", help="Log folder or azure://<container>/<prefix>."
        ),
    ] = INFERENCE_LOG,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, delete nothing.")] = False,
) -> None:
    """Delete inference-log files older than the retention period (local or azure://)."""
    try:
        result = purge(location, older_than, dry_run=dry_run)
    except (ValueError, OSError) as err:
        raise fail(err) from None
    verb = "would delete" if dry_run else "deleted"
    for name in result.deleted:
        typer.echo(f"{verb} {name}")
    for name in result.unnamed:
        typer.echo(f"left alone (no day in its name) {name}")
    typer.echo(f"{location}: {verb} {len(result.deleted)} files, kept {result.kept}")
