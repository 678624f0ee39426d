"""Shared fixtures: a real Azurite on loopback, a fresh DVC repo, and a loopback-only guard."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The service's fixtures: a private BentoML store, a tiny model, a real `bentoml serve`.
from bentoml_support import (  # noqa: F401
    bentoml_home,
    model_tag,
    served,
    service_app,
    service_module,
    tiny_repo,
)
from repo_support import TrainedTemplate, train_template

from underwrite.storage.emulator import AZURITE, Emulator, free_loopback_port, is_loopback


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smoke", "smoke suite (tests/smoke) against a running service")
    group.addoption("--smoke-url", default=None, help="service URL; default: serve a test model")
    group.addoption("--smoke-model", default=None, help="model.joblib the service serves")
    group.addoption("--smoke-p95-ms", type=float, default=500.0, help="latency budget, p95 ms")


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> TrainedTemplate:
    """The suite's one `dvc repro` from scratch (integration, CI and drift tests copy it)."""
    return train_template(tmp_path_factory.mktemp("trained") / "repo")


@pytest.fixture(autouse=True, scope="session")
def _no_dvc_analytics() -> Iterator[None]:
    """dvc would report usage over the network; tests stay on this machine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_NO_ANALYTICS", "1")
        yield


@pytest.fixture(scope="session")
def azurite(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Emulator]:
    """A real Azurite blob service on a free loopback port with a throwaway location.

    Use .connection_string, .port, .blob_endpoint and .ensure_container(name).
    """
    emulator = Emulator(
        port=free_loopback_port(),
        location=tmp_path_factory.mktemp("azurite"),
        executable=request.config.rootpath / AZURITE,
    )
    emulator.start(timeout=30)
    yield emulator
    emulator.stop(timeout=10)


@pytest.fixture
def dvc_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new git + DVC repository, blind to this machine's global and system DVC config."""
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "dvc-global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "dvc-system"))
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, timeout=30)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True, timeout=60)
    return repo


def _loopback(host: Any) -> bool:
    return host is None or is_loopback(str(host).split("%")[0])


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any name lookup or connection beyond loopback fail in this process."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests stay on loopback, not {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise ConnectionRefusedError(f"tests stay on loopback, not {address[0]}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
