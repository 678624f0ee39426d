"""Schemathesis over a real `bentoml serve`: every generated request gets a documented answer.

The fuzzer reads the service's own /docs.json, generates valid and invalid requests for
every operation (a fixed seed and example budget, so a run is repeatable and bounded), and
runs all of its checks: no 5xx, every status and body as documented, invalid data refused,
valid data accepted. Afterwards the server still answers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from bentoml_support import REPO_ROOT, Server, start_server

from underwrite.serving.contract import golden_applications

pytestmark = pytest.mark.integration

SCHEMATHESIS = REPO_ROOT / ".venv" / "bin" / "schemathesis"
SEED = 20261129
MAX_EXAMPLES = 100  # per operation and phase: about a minute on two cores
RUN_TIMEOUT = 240


@pytest.fixture(scope="module")
def fuzzed(model_tag: str, tmp_path_factory: pytest.TempPathFactory):
    """A server of its own: the fuzzer's thousand odd requests leave the shared one alone."""
    server = start_server(model_tag, tmp_path_factory.mktemp("fuzzed"), workers=2)
    try:
        yield server
    finally:
        server.stop()


def test_schemathesis_all_checks_find_no_failure_and_the_server_survives(
    fuzzed: Server, tmp_path: Path
):
    served = fuzzed
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{served.url}/docs.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert httpx.get(f"{served.url}/readyz", timeout=10).status_code == 200
    answer = httpx.post(f"{served.url}/predict", json=golden_applications()[0], timeout=30)
    assert answer.status_code == 200, answer.text
