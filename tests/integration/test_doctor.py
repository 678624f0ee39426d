"""`underwrite doctor` against a real DVC repo and a real Azurite, healthy and broken."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from underwrite.storage.doctor import PROBE_PREFIX, Check, doctor_command, run_doctor
from underwrite.storage.emulator import Emulator, free_loopback_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("loopback_only", "no_azure_login"),
]


@pytest.fixture
def no_azure_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide every Azure credential and DVC config this machine has, so no test reaches them."""
    for variable in list(os.environ):
        if variable.startswith(("AZURE_", "IDENTITY_", "MSI_")):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "az-config"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "dvc-global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "dvc-system"))


def _dvc(repo: Path, *args: str) -> None:
    command = [sys.executable, "-m", "dvc", *args]
    subprocess.run(command, cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo made once by the real CLIs: git init, dvc init, dvc remote add -d blob."""
    repo = tmp_path_factory.mktemp("template") / "repo"
    repo.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_GLOBAL_CONFIG_DIR", str(repo.parent / "dvc-global"))
        patch.setenv("DVC_SYSTEM_CONFIG_DIR", str(repo.parent / "dvc-system"))
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True, timeout=30)
        _dvc(repo, "init", "-q")
        _dvc(repo, "remote", "add", "-d", "blob", "azure://placeholder")
    return repo


def _configure(repo: Path, level: str, **options: str) -> None:
    """Set options of remote 'blob' in one DVC config level, as `dvc remote modify` would."""
    from dvc.config import Config

    with Config(dvc_dir=str(repo / ".dvc")).edit(level) as config:
        config["remote"].setdefault("blob", {}).update(options)


@pytest.fixture
def container() -> str:
    return f"doctor-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def blob_repo(template_repo: Path, tmp_path: Path, container: str) -> Path:
    """A copy of the template repo whose remote 'blob' points at azure://CONTAINER."""
    repo = shutil.copytree(template_repo, tmp_path / "repo")
    _configure(repo, "repo", url=f"azure://{container}")
    return repo


def _connection_string(emulator: Emulator, key: str = "", port: int = 0) -> str:
    return emulator.connection_string.replace(
        emulator.account_key(), key or emulator.account_key()
    ).replace(f":{emulator.port}/", f":{port or emulator.port}/")


def _failure(checks: list[Check]) -> Check:
    assert all(check.ok for check in checks[:-1])
    assert not checks[-1].ok, checks
    return checks[-1]


def test_doctor_passes_on_a_healthy_remote_and_leaves_no_test_blob(
    azurite: Emulator, blob_repo: Path, container: str
) -> None:
    _configure(blob_repo, "local", connection_string=azurite.connection_string)
    azurite.ensure_container(container)

    checks = list(run_doctor(blob_repo, timeout=5))

    assert all(check.ok for check in checks), checks
    steps = " | ".join(check.step for check in checks)
    assert "credential: connection string from .dvc/config.local" in steps
    assert f"container '{container}' exists" in steps
    assert "read it back" in steps and "deleted .underwrite-doctor/" in steps
    leftovers = azurite.ensure_container(container).list_blobs(name_starts_with=PROBE_PREFIX)
    assert list(leftovers) == []


def test_doctor_reads_the_connection_string_from_env_like_dvc(
    azurite: Emulator, blob_repo: Path, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    azurite.ensure_container(container)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)

    checks = list(run_doctor(blob_repo, timeout=5))

    assert all(check.ok for check in checks), checks
    assert (
        checks[1].step == "credential: connection string from env AZURE_STORAGE_CONNECTION_STRING"
    )


def test_doctor_on_a_missing_container_says_how_to_create_it(
    azurite: Emulator, blob_repo: Path, container: str
) -> None:
    _configure(blob_repo, "local", connection_string=azurite.connection_string)

    failure = _failure(list(run_doctor(blob_repo, timeout=5)))

    assert failure.step == f"container '{container}'"
    assert f"container '{container}' does not exist in account 'underwrite'" in failure.detail
    assert f"az storage container create --account-name underwrite --name {container}" in (
        failure.detail
    )


def test_doctor_with_a_wrong_key_says_the_key_was_rejected(
    azurite: Emulator, blob_repo: Path, container: str
) -> None:
    wrong_key = base64.b64encode(secrets.token_bytes(64)).decode()
    _configure(blob_repo, "local", connection_string=_connection_string(azurite, key=wrong_key))
    azurite.ensure_container(container)

    failure = _failure(list(run_doctor(blob_repo, timeout=5)))

    assert f"{azurite.blob_endpoint} rejected the connection string" in failure.detail
    assert "wrong or expired" in failure.detail


def test_doctor_on_a_closed_port_fails_fast_and_names_the_endpoint(
    azurite: Emulator, blob_repo: Path
) -> None:
    closed = free_loopback_port()
    _configure(blob_repo, "local", connection_string=_connection_string(azurite, port=closed))

    started = time.monotonic()
    failure = _failure(list(run_doctor(blob_repo, timeout=5)))

    assert time.monotonic() - started < 5
    assert f"nothing answers at http://127.0.0.1:{closed}/underwrite" in failure.detail
    assert "make azurite" in failure.detail


def test_doctor_on_an_account_whose_host_does_not_resolve_names_the_account(
    blob_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # loopback_only makes the real account host unresolvable, as a mistyped name would be.
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "nosuchaccount")
    monkeypatch.setenv("AZURE_STORAGE_KEY", base64.b64encode(b"not a real key").decode())

    failure = _failure(list(run_doctor(blob_repo, timeout=2)))

    assert "host nosuchaccount.blob.core.windows.net does not resolve" in failure.detail
    assert "check the storage account name 'nosuchaccount'" in failure.detail


def test_doctor_without_any_credential_says_what_to_set(blob_repo: Path) -> None:
    failure = _failure(list(run_doctor(blob_repo, timeout=2)))

    assert failure.step == "credential"
    assert "no storage account is set" in failure.detail
    assert "dvc remote modify --local blob connection_string" in failure.detail
    assert "az login" in failure.detail


def test_doctor_with_only_an_account_name_fails_the_credential_chain_quickly(
    blob_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(blob_repo, "repo", account_name="underwrite")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no az, azd or pwsh login to find

    started = time.monotonic()
    failure = _failure(list(run_doctor(blob_repo, timeout=2)))

    assert time.monotonic() - started < 5
    assert failure.step == "sign-in"
    assert "no credential could sign in to account 'underwrite'" in failure.detail
    assert "azure/login with OIDC" in failure.detail


def test_doctor_on_an_unknown_remote_lists_the_known_ones(blob_repo: Path) -> None:
    failure = _failure(list(run_doctor(blob_repo, remote="nope", timeout=2)))

    assert failure.step == "remote"
    assert "no DVC remote 'nope' (remotes: blob)" in failure.detail


def test_doctor_command_prints_each_check_and_exits_by_outcome(
    azurite: Emulator, blob_repo: Path, container: str
) -> None:
    _configure(blob_repo, "local", connection_string=azurite.connection_string)
    app = typer.Typer()
    app.command()(doctor_command)
    arguments = ["--repo", str(blob_repo), "--timeout", "5"]

    missing = CliRunner().invoke(app, arguments)
    azurite.ensure_container(container)
    healthy = CliRunner().invoke(app, arguments)

    assert missing.exit_code == 1
    assert f"✗ container '{container}'\n  container '{container}' does not exist" in missing.output
    assert healthy.exit_code == 0, healthy.output
    assert healthy.output.count("✓ ") == 6
    assert healthy.output.endswith("remote is ready for dvc push and dvc pull\n")


def test_doctor_runs_as_a_real_process_on_a_remote_set_by_the_dvc_cli(
    azurite: Emulator, blob_repo: Path, container: str
) -> None:
    _dvc(
        blob_repo,
        "remote",
        "modify",
        "--local",
        "blob",
        "connection_string",
        azurite.connection_string,
    )
    azurite.ensure_container(container)
    command = [
        sys.executable,
        "-m",
        "underwrite.storage.doctor",
        "--repo",
        str(blob_repo),
        "--timeout",
        "5",
    ]

    result = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ deleted .underwrite-doctor/" in result.stdout
