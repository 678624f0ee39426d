"""`underwrite import-model` and `underwrite serve`: the trained model into BentoML, then served."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

SERVICE = "underwrite.service:LoanApproval"


def _import(model: Path, repo: Path) -> str:
    from underwrite.bento_model import ModelImportError, import_model
    from underwrite.params import ParamsError

    try:
        return str(import_model(model, repo))
    except (ModelImportError, ParamsError) as err:
        typer.echo(f"ERROR: {err}", err=True)
        raise typer.Exit(1) from None


def import_model_command(
    model: Path = typer.Option(Path("models/model.joblib"), help="the trained Pipeline"),
    repo: Path = typer.Option(Path("."), help="the repository whose dvc.lock records it"),
) -> None:
    """Import the trained model into the BentoML model store (labels: commit, md5s, metrics)."""
    typer.echo(_import(model, repo))


def serve_command(
    model: Path = typer.Option(Path("models/model.joblib"), help="the trained Pipeline"),
    repo: Path = typer.Option(Path("."), help="the repository whose dvc.lock records it"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(3000, help="port to listen on"),
    workers: str = typer.Option("", help="worker processes (default: one per CPU)"),
) -> None:
    """Import the current model, then serve it with `bentoml serve` until interrupted."""
    tag = _import(model, repo)
    env = dict(os.environ, UNDERWRITE_MODEL_TAG=tag)
    if workers:
        env["UNDERWRITE_WORKERS"] = workers
    typer.echo(f"serving {tag} on http://{host}:{port} (OpenAPI: /docs.json, Swagger UI: /)")
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
    ]
    try:
        raise typer.Exit(subprocess.run(command, env=env).returncode)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
