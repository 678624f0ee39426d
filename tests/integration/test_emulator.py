"""The local Azurite: start, reuse, stop, clear failures, and pointing DVC at it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from underwrite.storage.commands import azurite_app
from underwrite.storage.emulator import AZURITE, Emulator, EmulatorError, free_loopback_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _twin(emulator: Emulator) -> Emulator:
    """A second handle on the same location and port, as a new CLI call would make."""
    return Emulator(port=emulator.port, location=emulator.location, executable=emulator.executable)


def _fake_azurite(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-azurite-blob"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") == -1


def test_emulator_serves_blobs_with_its_own_generated_account(azurite: Emulator) -> None:
    container = azurite.ensure_container("hello")
    container.upload_blob("greeting.txt", b"hi", overwrite=True)

    assert container.download_blob("greeting.txt").readall() == b"hi"
    assert "devstoreaccount1" not in azurite.connection_string
    assert f"BlobEndpoint=http://127.0.0.1:{azurite.port}/underwrite;" in azurite.connection_string
    key_file = azurite.location / "account.json"
    assert json.loads(key_file.read_text()) == {"underwrite": azurite.account_key()}
    assert key_file.stat().st_mode & 0o077 == 0


def test_ensure_container_is_idempotent(azurite: Emulator) -> None:
    azurite.ensure_container("twice")
    azurite.ensure_container("twice").upload_blob("x", b"x", overwrite=True)

    assert [blob.name for blob in azurite.ensure_container("twice").list_blobs()] == ["x"]


def test_start_reuses_the_running_emulator(azurite: Emulator) -> None:
    before = azurite.running()
    twin = _twin(azurite)

    twin.start(timeout=10)

    assert twin.running() == before
    assert twin.connection_string == azurite.connection_string
    assert twin.is_running()


def test_start_on_another_port_names_the_running_one(azurite: Emulator) -> None:
    other = Emulator(
        port=free_loopback_port(), location=azurite.location, executable=azurite.executable
    )

    with pytest.raises(EmulatorError, match=f"already runs on 127.0.0.1:{azurite.port}"):
        other.start(timeout=5)


def test_start_and_stop_a_second_emulator(tmp_path: Path, azurite: Emulator) -> None:
    emulator = Emulator(
        port=free_loopback_port(), location=tmp_path / "az", executable=azurite.executable
    )
    emulator.start(timeout=30)
    record = emulator.running()
    assert record is not None and emulator.is_running()

    assert emulator.stop() is True

    assert not _pid_alive(record.pid)
    assert not emulator.is_running()
    assert not emulator.pid_file.exists()
    assert emulator.stop() is False


def test_start_after_the_key_changed_says_to_restart(tmp_path: Path, azurite: Emulator) -> None:
    emulator = Emulator(port=free_loopback_port(), location=tmp_path, executable=azurite.executable)
    emulator.start(timeout=30)
    (tmp_path / "account.json").unlink()  # a new key is generated on next use

    try:
        with pytest.raises(EmulatorError, match=r"rejects the key .*`underwrite azurite stop`"):
            _twin(emulator).start(timeout=10)
    finally:
        emulator.stop()


def test_emulator_refuses_a_non_loopback_host(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match=r"0\.0\.0\.0 is not a loopback address"):
        Emulator(host="0.0.0.0", location=tmp_path)


def test_start_without_azurite_installed_says_run_npm_ci(tmp_path: Path) -> None:
    emulator = Emulator(port=free_loopback_port(), location=tmp_path, executable=tmp_path / "nope")

    with pytest.raises(EmulatorError, match=r"not installed .*run `npm ci` \(or `make setup`\)"):
        emulator.start(timeout=5)


def test_start_on_a_busy_port_names_the_port_and_how_to_choose_another(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    executable = request.config.rootpath / AZURITE
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        emulator = Emulator(port=port, location=tmp_path, executable=executable)

        with pytest.raises(
            EmulatorError, match=f"port {port} on 127.0.0.1 is already in use.*--port"
        ):
            emulator.start(timeout=5)


def test_start_timeout_points_to_the_log_and_stops_the_process(tmp_path: Path) -> None:
    emulator = Emulator(
        port=free_loopback_port(), location=tmp_path, executable=_fake_azurite(tmp_path, "sleep 60")
    )

    with pytest.raises(EmulatorError, match=f"within 1s; see its log {emulator.log_file}"):
        emulator.start(timeout=1)

    assert emulator.running() is None


def test_start_reports_an_early_exit_with_the_log_tail(tmp_path: Path) -> None:
    fake = _fake_azurite(tmp_path, "echo 'EADDRINUSE: something broke' >&2; exit 3")
    emulator = Emulator(port=free_loopback_port(), location=tmp_path, executable=fake)

    with pytest.raises(EmulatorError, match=r"exited while starting(.|\n)*something broke"):
        emulator.start(timeout=10)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(azurite_app, list(args))
    return result.exit_code, result.output


def test_status_command_exit_codes(azurite: Emulator, tmp_path: Path) -> None:
    code, output = _cli("status", "--port", str(azurite.port), "--location", str(azurite.location))
    assert (code, azurite.blob_endpoint in output) == (0, True)

    code, output = _cli("status", "--location", str(tmp_path))
    assert code == 1
    assert "not running" in output


def _dvc(repo: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_configure_dvc_keeps_the_key_out_of_committed_config(
    azurite: Emulator, dvc_repo: Path
) -> None:
    _dvc(dvc_repo, "remote", "add", "-d", "blob", "azure://configured")
    place = ("--port", str(azurite.port), "--location", str(azurite.location))

    code, output = _cli("configure-dvc", "--repo", str(dvc_repo), *place)

    assert code == 0, output
    assert "container 'configured'" in output
    assert azurite.account_key() in (dvc_repo / ".dvc" / "config.local").read_text()
    assert azurite.account_key() not in (dvc_repo / ".dvc" / "config").read_text()
    assert azurite.ensure_container("configured").exists()


def test_configure_dvc_without_the_remote_says_how_to_add_it(
    azurite: Emulator, dvc_repo: Path
) -> None:
    place = ("--port", str(azurite.port), "--location", str(azurite.location))

    code, output = _cli("configure-dvc", "--repo", str(dvc_repo), *place)

    assert code == 1
    assert "dvc remote add -d blob azure://<container>" in output
