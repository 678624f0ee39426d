"""The smoke suite (pytest, tests/smoke) run against a served URL, as a person would run it."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from underwrite.release import ReleaseError
from underwrite.release.deploy import STATE_DIR, tail

log = logging.getLogger(__name__)

NO_TESTS_COLLECTED = 5


@dataclass(frozen=True)
class SmokeResult:
    passed: bool
    summary: str
    output: Path


def run_smoke(
    repo: Path, suite: str, url: str, model: Path, timeout: float, env_name: str
) -> SmokeResult:
    """`pytest SUITE --smoke-url URL --smoke-model MODEL` from the repository root.

    MODEL is the served version's model file: the suite checks that the served probabilities
    are the offline Pipeline's. The output goes to .release/smoke-<env>.log.
    """
    if not (Path(repo) / suite).exists():
        raise ReleaseError(f"smoke suite {suite} not found in {repo} (UNDERWRITE_SMOKE_SUITE)")
    output = Path(repo) / STATE_DIR / f"smoke-{env_name}.log"
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        suite,
        "--smoke-url",
        url,
        "--smoke-model",
        str(model),
    ]
    command += ["-q", "--no-header", "-p", "no:cacheprovider"]
    log.info("%s: running the smoke suite against %s (output: %s)", env_name, url, output)
    try:
        with output.open("w") as sink:
            code = subprocess.run(
                command, cwd=repo, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
    except subprocess.TimeoutExpired:
        return SmokeResult(
            False, f"timed out after {timeout:.0f} s (UNDERWRITE_SMOKE_TIMEOUT)", output
        )
    summary = tail(output, 1)
    if code == NO_TESTS_COLLECTED:
        summary = f"ran no test ({summary})"
    log.info("%s: smoke suite %s: %s", env_name, "passed" if code == 0 else "failed", summary)
    return SmokeResult(code == 0, summary, output)
