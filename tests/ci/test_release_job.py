"""The release workflow's jobs, run here against local processes instead of a cluster.

build -> stage (with the smoke suite) -> promote through the gate is `underwrite release all`
(tests/release covers each step and its failures); the gate job's step is run
exactly as release.yml writes it, before anything is in production and after.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ci_support import PipelineRepo, git, run, set_params

from underwrite.storage.emulator import free_loopback_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = "loan-approval"


def gate_step() -> str:
    """The run: script of the gate job's step in release.yml."""
    release = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    steps = release["jobs"]["gate"]["steps"]
    return next(s["run"] for s in steps if s.get("name", "").startswith("Quality gate"))


def run_gate_step(
    repo: PipelineRepo, summary: Path, version: str = "v0.0.1"
) -> subprocess.CompletedProcess[str]:
    env = repo.env | {
        "ARTIFACT": ARTIFACT,
        "VERSION": version,
        "RUN_URL": "https://ci.invalid/run/1",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", gate_step()],
        cwd=repo.root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture
def release_ready(copy_repo: PipelineRepo, tmp_path: Path):
    """The copy with free ports for local staging and prod, its own BentoML home, and the
    project's .venv where the workflow's `.venv/bin/...` commands expect it."""
    staging, prod = free_loopback_port(), free_loopback_port()
    # the workflow runs on a registration: the tag loan-approval@v0.0.1 of this commit
    gto = str(Path(sys.executable).parent / "gto")
    run([gto, "register", ARTIFACT, "HEAD", "--version", "v0.0.1"], copy_repo.root, copy_repo.env)
    (copy_repo.root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    copy_repo.env.update(
        {
            "BENTOML_HOME": str(tmp_path / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "True",
            "UNDERWRITE_STAGING_PORT": str(staging),
            "UNDERWRITE_PROD_PORT": str(prod),
        }
    )
    yield copy_repo
    underwrite = [
        sys.executable,
        "-m",
        "underwrite.cli",
        "release",
        "stop",
        "--repo",
        str(copy_repo.root),
    ]
    run(underwrite, copy_repo.root, copy_repo.env, check=False)


def test_release_job_builds_stages_smokes_and_promotes_through_the_gate(release_ready, tmp_path):
    repo = release_ready
    first = run_gate_step(repo, tmp_path / "first.md")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "has no metrics yet" in (tmp_path / "first.md").read_text()  # nothing in prod

    command = [sys.executable, "-m", "underwrite.cli", "release", "all", "--repo", str(repo.root)]
    done = subprocess.run(
        command, cwd=repo.root, env=repo.env, capture_output=True, text=True, timeout=1100
    )
    assert done.returncode == 0, done.stdout + done.stderr[-6000:]
    assert "released: production serves v0.0.1" in done.stdout
    tags = run(["git", "tag"], repo.root, repo.env).split()
    assert f"{ARTIFACT}@v0.0.1" in tags
    assert any(t.startswith(f"{ARTIFACT}#staging#") for t in tags)
    assert any(t.startswith(f"{ARTIFACT}#prod#") for t in tags)

    again = run_gate_step(repo, tmp_path / "again.md")
    summary = (tmp_path / "again.md").read_text()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "**Gate: ✅ this model would be promoted.**" in summary
    assert f"### Release gate for {ARTIFACT}@v0.0.1: ✅ passed" in summary
    assert "No parameter changed." in summary  # prod is this very version


def test_gate_step_refuses_by_productions_policy_and_ignores_the_candidates(
    release_ready, tmp_path
):
    repo = release_ready
    gto = str(Path(sys.executable).parent / "gto")
    # production: the same model, committed with a race approval-rate gap limit it exceeds
    set_params(repo.root / "params.yaml", {"gate.fairness.race.approval_rate_gap": 0.01})
    git(repo.root, repo.env, "commit", "-q", "-m", "production's strict limit", "params.yaml")
    run([gto, "register", ARTIFACT, "HEAD", "--version", "v0.0.2"], repo.root, repo.env)
    run([gto, "assign", ARTIFACT, "--version", "v0.0.2", "--stage", "prod"], repo.root, repo.env)
    # the candidate loosens the limit in its own tree: ignored
    set_params(repo.root / "params.yaml", {"gate.fairness.race.approval_rate_gap": 0.9})
    git(repo.root, repo.env, "commit", "-q", "-m", "the candidate's own limit", "params.yaml")
    run([gto, "register", ARTIFACT, "HEAD", "--version", "v0.0.3"], repo.root, repo.env)

    done = run_gate_step(repo, tmp_path / "summary.md", version="v0.0.3")

    assert done.returncode == 3, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "gate policy changed: gate.fairness.race.approval_rate_gap 0.01 -> 0.9 (ignored)" in (
        output + (tmp_path / "summary.md").read_text()
    )
    summary = (tmp_path / "summary.md").read_text()
    assert f"### Release gate for {ARTIFACT}@v0.0.3: ❌ failed (exit 3)" in summary
