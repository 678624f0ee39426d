"""A real git + DVC copy of the project with a short history, shared by the CI tests.

The history: a scaffold commit (no dvc.lock, no metrics: what a first pull request sees
as its base), then `dvc repro` with params.yaml as it is (commit `trained`), then
`dvc repro` with a faster logistic regression (commit `changed`). Building it runs the
real pipeline once and train + evaluate once more; tests that change anything work on a
copy (`copy_repo`), never on this one and never on the project's own data/ or reports/.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from repo_support import TrainedTemplate, isolated_env, set_params

TIMEOUT = 600
CHANGED_PARAMS = {"train.estimator": "logistic_regression", "train.logistic_regression.C": 0.5}


@dataclass(frozen=True)
class PipelineRepo:
    """The copy and its commits: scaffold (no metrics), trained, changed (= HEAD)."""

    root: Path
    env: dict[str, str]
    scaffold: str
    trained: str
    changed: str
    repro_log: Path  # what `dvc repro` printed for the `changed` commit


def run(command: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> str:
    """Run COMMAND in CWD; its stdout and stderr together, or a failure that shows them."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    output = done.stdout + done.stderr
    if check and done.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` exited {done.returncode} in {cwd}:\n{output}")
    return output


def dvc(repo: Path, env: dict[str, str], *args: str, check: bool = True) -> str:
    return run([sys.executable, "-m", "dvc", *args], repo, env, check)


def git(repo: Path, env: dict[str, str], *args: str) -> str:
    return run(["git", *args], repo, env).strip()


def commit_all(repo: Path, env: dict[str, str], message: str) -> str:
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", message)
    return git(repo, env, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def pipeline_repo(
    trained_template: TrainedTemplate, tmp_path_factory: pytest.TempPathFactory
) -> PipelineRepo:
    """The shared copy with its three commits; tests must not change it (use copy_repo).

    The scaffold and trained commits are the session's trained template's, copied."""
    scratch = tmp_path_factory.mktemp("pipeline")
    root = trained_template.copy(scratch / "repo")
    env = isolated_env(root, scratch)
    scaffold, trained = trained_template.scaffold, trained_template.trained
    set_params(root / "params.yaml", CHANGED_PARAMS)
    log = scratch / "repro.log"
    log.write_text(dvc(root, env, "repro"))
    changed = commit_all(root, env, "logistic regression")
    return PipelineRepo(root, env, scaffold, trained, changed, log)


@pytest.fixture
def copy_repo(pipeline_repo: PipelineRepo, tmp_path: Path) -> PipelineRepo:
    """A private copy of the shared repository (git history, DVC cache, outputs)."""
    root = tmp_path / "repo"
    shutil.copytree(pipeline_repo.root, root, symlinks=True)
    return replace(pipeline_repo, root=root, env=isolated_env(root, tmp_path))


@pytest.fixture(scope="session")
def report_env(pipeline_repo: PipelineRepo) -> Iterator[None]:
    """The dvc that `underwrite report` runs in-process sees the copy's isolated config."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DVC_GLOBAL_CONFIG_DIR", "DVC_SYSTEM_CONFIG_DIR", "DVC_SITE_CACHE_DIR"):
            patch.setenv(name, pipeline_repo.env[name])
        yield


@dataclass(frozen=True)
class BlobService:
    """An Azure Blob endpoint for DVC remotes: a connection string and its containers."""

    connection_string: str

    def ensure_container(self, name: str) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient.from_connection_string(self.connection_string)
        with contextlib.suppress(ResourceExistsError):
            client.create_container(name)

    def blob_names(self, container: str) -> list[str]:
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient.from_connection_string(self.connection_string)
        return [blob.name for blob in client.get_container_client(container).list_blobs()]


@pytest.fixture(scope="session")
def blob_service(request: pytest.FixtureRequest) -> BlobService:
    """CI's Azurite container when ci.yml says where it is, else the shared `azurite`.

    .github/workflows/ci.yml runs Azurite from Microsoft's image with an account
    `underwrite` whose key it makes for the run, and exports AZURITE_BLOB_PORT and
    AZURITE_ACCOUNT_KEY; on a laptop the `azurite` fixture starts one from node_modules.
    """
    port, key = os.environ.get("AZURITE_BLOB_PORT"), os.environ.get("AZURITE_ACCOUNT_KEY")
    if not (port and key):
        return BlobService(request.getfixturevalue("azurite").connection_string)
    return BlobService(
        f"DefaultEndpointsProtocol=http;AccountName=underwrite;AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/underwrite;"
    )
