"""`underwrite import-model` and `underwrite serve`: the trained model into BentoML, then served."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import typer

from underwrite import paths
from underwrite.console import ExitCode, fail

SERVICE = "underwrite.serving.service:LoanApproval"
STOP_TIMEOUT = 10.0  # seconds the server gets to finish after a signal before it is killed


def _import(model: Path, repo: Path) -> str:
    from underwrite.params import ParamsError
    from underwrite.serving.store import ModelImportError, import_model

    try:
        return str(import_model(model, repo))
    except (ModelImportError, ParamsError) as err:
        raise fail(err) from None


def import_model_command(
    model: Path = typer.Option(paths.MODEL, help="the trained Pipeline"),
    repo: Path = typer.Option(Path("."), help="the repository whose dvc.lock records it"),
) -> None:
    """Import the trained model into the BentoML model store (labels: commit, md5s, metrics)."""
    typer.echo(_import(model, repo))


def examples_command(
    out: Path = typer.Option(Path("examples"), help="folder for approved/denied/batch.json"),
    model: Path = typer.Option(paths.MODEL, help="the trained Pipeline"),
    data: Path = typer.Option(paths.TEST_DATA, help="held-out applications"),
    params: Path = typer.Option(paths.PARAMS),
) -> None:
    """Write example requests from held-out applications: one approved, one denied, a batch."""
    import joblib

    from underwrite.io import read_table
    from underwrite.params import load_params
    from underwrite.schema import LABEL
    from underwrite.serving.examples import pick, write_examples

    frame = read_table(data)
    probabilities = joblib.load(model).predict_proba(frame.drop(columns=[LABEL]))[:, 1]
    chosen = pick(frame, probabilities, load_params(params).evaluate.threshold)
    for path in write_examples(out, chosen):
        typer.echo(f"wrote {path}")


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (so bentoml serve could not bind)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def serve_command(
    model: Path = typer.Option(paths.MODEL, help="the trained Pipeline"),
    repo: Path = typer.Option(Path("."), help="the repository whose dvc.lock records it"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(3000, envvar="SERVE_PORT", help="port to listen on"),
    workers: str = typer.Option("", help="worker processes (default: one per CPU)"),
) -> None:
    """Import the current model, then serve exactly it with `bentoml serve` until stopped."""
    if port_in_use(host, port):
        raise fail(
            f"port {port} on {host} is already in use: stop what listens there "
            f"(`ss -ltnp 'sport = :{port}'` shows it) or pick another port, "
            f"e.g. `make serve SERVE_PORT={port + 1}`"
        )
    tag = _import(model, repo)
    env = dict(os.environ, UNDERWRITE_MODEL_TAG=tag)  # this model, not the store's newest
    if workers:
        env["UNDERWRITE_WORKERS"] = workers
    typer.echo(f"serving {tag} on http://{host}:{port} (OpenAPI: /docs.json, Swagger UI: /)")
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host]
    raise typer.Exit(run_forwarding_signals([*command, "--port", str(port)], env))


def run_forwarding_signals(command: list[str], env: dict[str, str]) -> int:
    """Run the server in its own process group; SIGINT/SIGTERM go to the whole group.

    BentoML's workers are children of the server: signalling only the server can leave a
    worker holding the port, so the signal goes to the group, and whatever is left
    STOP_TIMEOUT seconds later is killed. The handler only signals; waiting happens here,
    outside it (a wait inside the handler would deadlock on the interrupted wait's lock).
    """
    server = subprocess.Popen(command, env=env, start_new_session=True)
    asked: list[float] = []

    def forward(signum: int, _frame: object) -> None:
        asked.append(time.monotonic())
        _signal_group(server.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = _wait_until_stopped(server, asked)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _signal_group(server.pid, signal.SIGKILL)  # workers that outlived the server
    return ExitCode.OK if code in (0, -signal.SIGTERM, -signal.SIGINT) else code


def _wait_until_stopped(server: subprocess.Popen, asked: list[float]) -> int:
    while True:
        try:
            return server.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if asked and time.monotonic() - asked[0] > STOP_TIMEOUT:
                _signal_group(server.pid, signal.SIGKILL)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
