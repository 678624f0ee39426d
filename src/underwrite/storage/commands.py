"""`underwrite azurite`: start, stop and check the local emulator, and point DVC at it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from underwrite.console import fail
from underwrite.storage.credentials import read_remote, write_private
from underwrite.storage.emulator import Emulator, EmulatorError
from underwrite.storage.errors import DoctorError


def _dvc(repo: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise EmulatorError(f"`dvc {args[0]} {args[1]}` failed in {repo}: {result.stderr.strip()}")


def configure_dvc(emulator: Emulator, repo: Path, remote: str = "blob") -> str:
    """Point DVC remote REMOTE of REPO at the running emulator; returns the container name.

    The connection string goes to .dvc/config.local (never committed) and the container
    named by the remote's url azure://<container> is created.
    """
    try:
        container = read_remote(repo, remote).container
    except DoctorError as error:
        raise EmulatorError(str(error)) from error
    emulator.start()
    emulator.ensure_container(container)
    local_config = repo / ".dvc" / "config.local"
    write_private(local_config, local_config.read_text() if local_config.exists() else "")
    _dvc(
        repo, "remote", "modify", "--local", remote, "connection_string", emulator.connection_string
    )
    local_config.chmod(0o600)  # in case DVC replaced the file rather than rewriting it
    return container


azurite_app = typer.Typer(
    help="The local Azure Blob emulator (Azurite) for tests and a local DVC remote.",
    no_args_is_help=True,
)
Port = Annotated[
    int, typer.Option(envvar="AZURITE_PORT", help="Loopback port of the blob service.")
]
Location = Annotated[
    Path,
    typer.Option(envvar="AZURITE_LOCATION", help="Folder for data, log, pidfile and account key."),
]


@azurite_app.command("start")
def start_command(
    port: Port = 10000, location: Location = Path(".azurite"), timeout: float = 30.0
) -> None:
    """Start Azurite in the background (or reuse the one already running)."""
    emulator = Emulator(port=port, location=location)
    try:
        emulator.start(timeout=timeout)
    except EmulatorError as error:
        raise fail(error) from error
    typer.echo(f"✓ Azurite answers on {emulator.blob_endpoint} (log: {emulator.log_file})")


@azurite_app.command("stop")
def stop_command(location: Location = Path(".azurite")) -> None:
    """Stop the Azurite started from LOCATION."""
    stopped = Emulator(location=location).stop()
    typer.echo("✓ Azurite stopped" if stopped else "Azurite was not running")


@azurite_app.command("status")
def status_command(port: Port = 10000, location: Location = Path(".azurite")) -> None:
    """Say whether Azurite runs and answers; exit code 1 when it does not."""
    emulator = Emulator(port=port, location=location)
    record = emulator.running()
    if record is None:
        typer.echo("Azurite is not running; start it with `make azurite`")
        raise typer.Exit(1)
    emulator.port = record.port
    if not emulator.is_running():
        typer.echo(f"✗ Azurite pid {record.pid} does not answer on {emulator.blob_endpoint}")
        raise typer.Exit(1)
    typer.echo(f"✓ Azurite pid {record.pid} answers on {emulator.blob_endpoint}")


@azurite_app.command("configure-dvc")
def configure_dvc_command(
    remote: str = "blob",
    repo: Path = Path("."),
    port: Port = 10000,
    location: Location = Path(".azurite"),
) -> None:
    """Point a DVC remote at the emulator (.dvc/config.local) and create its container."""
    emulator = Emulator(port=port, location=location)
    try:
        container = configure_dvc(emulator, repo, remote)
    except EmulatorError as error:
        raise fail(error) from error
    typer.echo(
        f"✓ remote '{remote}' → container '{container}' on {emulator.blob_endpoint} "
        "(connection string in .dvc/config.local)"
    )


@azurite_app.command("connection-string")
def connection_string_command(port: Port = 10000, location: Location = Path(".azurite")) -> None:
    """Print the emulator's connection string, e.g. for AZURE_STORAGE_CONNECTION_STRING."""
    typer.echo(Emulator(port=port, location=location).connection_string)
