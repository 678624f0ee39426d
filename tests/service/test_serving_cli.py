"""`underwrite import-model` and `underwrite serve` (their import step and its errors)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bentoml_support import Server, wait_ready
from typer.testing import CliRunner

from underwrite.cli import app
from underwrite.serving.commands import port_in_use
from underwrite.storage.emulator import free_loopback_port

UNDERWRITE = Path(sys.executable).parent / "underwrite"


def test_import_model_prints_the_stored_tag(model_tag: str, tiny_repo: Path):
    result = CliRunner().invoke(app, ["import-model", "--repo", str(tiny_repo)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == model_tag


def test_import_model_without_a_pipeline_run_names_what_to_do(bentoml_home, tmp_path: Path):
    result = CliRunner().invoke(app, ["import-model", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert "model.joblib: no such file; run `dvc repro` or `dvc pull`" in result.output


def test_serve_refuses_a_model_dvc_lock_does_not_record(bentoml_home, tiny_repo, tmp_path):
    repo = Path(shutil.copytree(tiny_repo, tmp_path / "repo"))
    (repo / "models" / "model.joblib").write_bytes(b"something else")
    result = CliRunner().invoke(app, ["serve", "--repo", str(repo), "--port", "1"])
    assert result.exit_code == 1
    assert "is not the version dvc.lock records" in result.output
    assert "serving" not in result.output


def test_serve_on_a_busy_port_says_so_in_one_line(bentoml_home, tiny_repo):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--repo", str(tiny_repo), "--port", str(port)])
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert f"SERVE_PORT={port + 1}" in result.output
    assert "Traceback" not in result.output


@pytest.mark.integration
def test_sigterm_to_underwrite_serve_frees_its_port_within_10_seconds(
    bentoml_home, tiny_repo, tmp_path
):
    port = free_loopback_port()
    env = {**os.environ, "UNDERWRITE_INFERENCE_LOG": str(tmp_path / "log")}
    command = [str(UNDERWRITE), "serve", "--repo", str(tiny_repo), "--port", str(port)]
    with (tmp_path / "serve.log").open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_ready(Server(f"http://127.0.0.1:{port}", process, tmp_path, tmp_path / "serve.log"))
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        deadline = time.monotonic() + 10
        while port_in_use("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not port_in_use("127.0.0.1", port), "the port is still held 10 s after SIGTERM"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
