"""train.yml's job, step by step, on a machine shaped like a GitHub-hosted runner.

Nothing of the test harness helps the workflow here: the job starts from a fresh clone with
a plain PATH (no venv, no `uv run`), runs its own `make setup`, and every later step finds
tools only where the workflow itself put them (GITHUB_PATH, GITHUB_ENV). The storage
account is Azurite, reached through the workflow's connection-string secret. Two paths: a
same-repository pull request (pulls production data, reproduces, pushes only to the
pull-request cache, comments) and a fork's (no secrets, no remote, no comment).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from ci_support import BlobService, PipelineRepo, commit_all, dvc, git
from repo_support import set_params
from runner_support import STAND_INS, Runner, tool_path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / ".github" / "workflows" / "train.yml"
PR_NUMBER = 7
REPOSITORY = "owner/underwrite"
# The line of the setup step that puts the project's Python first on PATH for later steps.
VENV_ON_PATH = 'echo "$GITHUB_WORKSPACE/.venv/bin" >> "$GITHUB_PATH"'


def pull_request_repo(repo: PipelineRepo, container: str, blob: BlobService) -> tuple[str, str]:
    """Main (repo.changed) pushed to production as train.yml's push run does, then a pull
    request that changes the model's C and commits the dvc.lock its author reproduced
    without pushing; returns the base (main's head) and the pull request's commit."""
    dvc(repo.root, repo.env, "remote", "modify", "blob", "url", f"azure://{container}")
    base = commit_all(repo.root, repo.env, "the production container of this test")
    blob.ensure_container(container)
    credentials = {"AZURE_STORAGE_CONNECTION_STRING": blob.connection_string}
    dvc(repo.root, repo.env | credentials, "push", "--run-cache")
    set_params(repo.root / "params.yaml", {"train.logistic_regression.C": 0.25})
    dvc(repo.root, repo.env, "repro")
    return base, commit_all(repo.root, repo.env, "a weaker regularisation")


def runner_for(
    tmp_path: Path,
    origin: Path,
    head: str,
    base: str,
    head_repository: str,
    secrets: dict[str, str],
    variables: dict[str, str],
    workflow_text: str | None = None,
    job: str = "train",
    needs: dict | None = None,
) -> Runner:
    workflow = yaml.safe_load(workflow_text or TRAIN.read_text())
    github = {
        "event_name": "pull_request",
        "repository": REPOSITORY,
        "sha": head,
        "ref": f"refs/pull/{PR_NUMBER}/merge",
        "run_id": 4242,
        "server_url": "https://github.invalid",
        "token": "ghs_not_a_real_token",
        "event": {
            "pull_request": {
                "number": PR_NUMBER,
                "base": {"sha": base},
                "head": {"repo": {"full_name": head_repository}},
            }
        },
    }
    contexts = {"github": github, "vars": variables, "secrets": secrets, "inputs": {}}
    runner = Runner(
        root=tmp_path / f"runner-{job}",
        workflow=workflow,
        job_name=job,
        contexts=contexts | {"needs": needs or {}},
        origin=origin,
        stand_ins=STAND_INS,
        artifacts=tmp_path / "artifacts",
    )
    runner.path_file.append(tool_path(runner.root))
    return runner


def test_train_job_runs_on_a_hosted_runner_for_a_same_repository_pull_request(
    copy_repo: PipelineRepo, blob_service: BlobService, tmp_path: Path
) -> None:
    production = f"prod-{uuid.uuid4().hex[:12]}"
    pr_cache = f"pr-{uuid.uuid4().hex[:12]}"
    base, head = pull_request_repo(copy_repo, production, blob_service)
    blob_service.ensure_container(pr_cache)
    production_before = sorted(blob_service.blob_names(production))
    context = {
        "secrets": {"AZURE_STORAGE_CONNECTION_STRING": blob_service.connection_string},
        "variables": {"AZURE_STORAGE_ACCOUNT": "underwrite", "DVC_PR_CONTAINER": pr_cache},
    }
    train = runner_for(tmp_path, copy_repo.root, head, base, REPOSITORY, **context)

    train.run_steps()
    needs = {"train": {"result": train.result, "outputs": train.outputs()}}
    comment = runner_for(
        tmp_path, copy_repo.root, head, base, REPOSITORY, **context,
        job="comment", needs=needs,
    )  # fmt: skip
    assert comment.should_run()
    comment.run_steps()

    failures = {
        s.name: s.log[-3000:] for s in train.steps + comment.steps if s.conclusion == "failure"
    }
    assert failures == {}
    repro_log = (train.workspace / "reports/pr/repro.log").read_text()
    assert "Running stage 'train'" in repro_log  # a stage really ran, with the runner's PATH
    assert "Running stage 'ingest'" not in repro_log  # restored from production's run cache
    assert sorted(blob_service.blob_names(production)) == production_before
    assert any(name.startswith("runs/") for name in blob_service.blob_names(pr_cache))
    assert "## Model report" in train.summary.read_text()
    calls = (comment.root / "cml-calls.txt").read_text()
    assert f"--target pr/{PR_NUMBER}" in calls and "--no-publish" in calls
    assert "## Model report" in calls
    # the plots inline, from the branch the comment job pushed to the repository
    branch = f"report-assets/pr-{PR_NUMBER}"
    files = git(copy_repo.root, copy_repo.env, "ls-tree", "-r", "--name-only", branch).split()
    sha = git(copy_repo.root, copy_repo.env, "rev-parse", branch)
    assert "4242/roc.png" in files
    assert f"https://github.invalid/{REPOSITORY}/blob/{sha}/4242/roc.png?raw=true" in calls
    assert "](plots/" not in calls


def test_train_job_runs_on_a_hosted_runner_for_a_forks_pull_request(
    copy_repo: PipelineRepo, tmp_path: Path
) -> None:
    set_params(copy_repo.root / "params.yaml", {"train.logistic_regression.C": 0.25})
    dvc(copy_repo.root, copy_repo.env, "repro")
    head = commit_all(copy_repo.root, copy_repo.env, "a fork's weaker regularisation")
    runner = runner_for(
        tmp_path,
        copy_repo.root,
        head,
        copy_repo.changed,
        "fork/underwrite",
        secrets={},  # GitHub gives a fork's run no secrets
        variables={"AZURE_STORAGE_ACCOUNT": "underwrite"},
    )

    runner.run_steps()
    needs = {"train": {"result": runner.result, "outputs": runner.outputs()}}
    comment = runner_for(
        tmp_path, copy_repo.root, head, copy_repo.changed, "fork/underwrite", secrets={},
        variables={}, job="comment", needs=needs,
    )  # fmt: skip

    failures = {s.name: s.log[-3000:] for s in runner.steps if s.conclusion == "failure"}
    assert failures == {}
    assert "Running stage 'ingest'" in (runner.workspace / "reports/pr/repro.log").read_text()
    assert "## Model report" in runner.summary.read_text()
    assert (runner.artifacts / "pr-report" / "comment.md").exists()
    assert not comment.should_run()  # comment.yml posts a fork's report instead


def test_runner_stand_in_catches_a_pipeline_that_needs_the_venv_on_path(
    copy_repo: PipelineRepo, tmp_path: Path
) -> None:
    """The workflow without its GITHUB_PATH line: stages find no project `python`."""
    workflow_text = TRAIN.read_text()
    assert VENV_ON_PATH in workflow_text
    runner = runner_for(
        tmp_path,
        copy_repo.root,
        copy_repo.changed,
        copy_repo.trained,
        "fork/underwrite",
        secrets={},
        variables={},
        workflow_text=workflow_text.replace(VENV_ON_PATH, "true"),
    )

    runner.run_steps(stop_after="repro")

    assert runner.step("setup").outcome == "success", runner.step("setup").log[-3000:]
    repro = runner.step("repro")
    assert repro.outcome == "failure"
    assert "python: not found" in repro.log or "No module named" in repro.log
