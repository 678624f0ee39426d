"""The train workflow's job, run here against a real Azurite: what CI does on a pull request.

Machine A (the shared history) reproduced two models and pushes data and DVC's run cache.
A pull request then goes back to the first model's params without running `dvc repro`:
the CI runner (a fresh clone) pulls, reproduces, pushes and reports, exactly the steps of
.github/workflows/train.yml, and trains nothing, because machine A already did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ci_support import BlobService, PipelineRepo, dvc, git, run
from repo_support import isolated_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
METRICS = "reports/evaluate/metrics.json"


def test_make_pull_and_push_are_the_run_cache_commands_this_test_runs() -> None:
    makefile = (ROOT / "Makefile").read_text()

    assert "dvc pull --run-cache" in makefile.split("\npull:")[1].split("\n\n")[0]
    assert "dvc push --run-cache" in makefile.split("\npush:")[1].split("\n\n")[0]
    assert "dvc repro" in makefile.split("\nrepro:")[1].split("\n\n")[0]


def _point_at(repo: Path, env: dict[str, str], container: str) -> None:
    dvc(repo, env, "remote", "modify", "--local", "blob", "url", f"azure://{container}")


def test_train_job_restores_what_another_machine_ran_and_flags_the_stale_lock(
    copy_repo: PipelineRepo, blob_service: BlobService, tmp_path: Path
) -> None:
    container = f"ci-train-{uuid.uuid4().hex[:12]}"
    blob_service.ensure_container(container)
    credentials = {"AZURE_STORAGE_CONNECTION_STRING": blob_service.connection_string}
    machine_a = copy_repo.env | credentials
    _point_at(copy_repo.root, machine_a, container)
    # as the train job pushed after each of machine A's runs: the run cache and every output
    dvc(copy_repo.root, machine_a, "push", "--run-cache", "--all-commits")

    runner = tmp_path / "runner"
    run(["git", "clone", "-q", str(copy_repo.root), str(runner)], tmp_path, copy_repo.env)
    env = isolated_env(runner, tmp_path / "runner-home") | credentials
    params = git(runner, env, "show", f"{copy_repo.trained}:params.yaml")
    (runner / "params.yaml").write_text(params + "\n")
    git(
        runner,
        env,
        "commit",
        "-q",
        "-m",
        "back to the first model; dvc.lock not updated",
        "params.yaml",
    )
    _point_at(runner, env, container)

    # the job's steps: make pull, dvc repro --pull | tee, make push, underwrite report
    dvc(runner, env, "pull", "--run-cache")
    log = tmp_path / "repro.log"
    log.write_text(dvc(runner, env, "repro", "--pull"))
    dvc(runner, env, "push", "--run-cache")
    out = tmp_path / "pr"
    done = subprocess.run(
        [sys.executable, "-m", "underwrite.cli", "report", "--base", copy_repo.changed,
         "--out", str(out), "--repro-log", str(log), "--plots-url", "https://ci.invalid/run",
         "--check-lock"],
        cwd=runner, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    comment = (out / "comment.md").read_text()

    assert "Running stage 'train'" not in log.read_text()  # nothing trained on the runner
    assert "| train | reused: restored from the run cache |" in comment
    # evaluate is restored too unless DVC cannot run-cache it (a plain `cache: false` output)
    evaluate = "ran" if "Running stage 'evaluate'" in log.read_text() else "reused: restored"
    assert f"| evaluate | {evaluate}" in comment
    assert json.loads((runner / METRICS).read_text()) == json.loads(
        git(runner, env, "show", f"{copy_repo.trained}:{METRICS}")
    )
    assert done.returncode == 1  # the pull request's dvc.lock is not what CI reproduced
    assert "output `models/model.joblib` of stage 'train'" in comment
    assert "[the report's artifact](https://ci.invalid/run)" in comment
    assert any(name.startswith("runs/") for name in blob_service.blob_names(container))
