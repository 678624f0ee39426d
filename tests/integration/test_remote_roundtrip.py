"""Versioning in blob storage, through a real Azurite: push, lose everything local, pull it back;
and a second machine that pulls the run cache has nothing left to run."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from integration_support import RepoCopy

    from underwrite.storage.emulator import Emulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pushed(
    reproduced_template: RepoCopy, azurite: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RepoCopy, str]:
    """A reproduced copy whose outputs and run cache are pushed to a new Azurite container."""
    container = f"dvc-{uuid.uuid4().hex[:12]}"
    azurite.ensure_container(container)
    repo = reproduced_template.copy(tmp_path_factory.mktemp("pushed") / "repo")
    repo.use_remote(azurite.connection_string, container)
    repo.dvc("push", "--run-cache")
    return repo, container


def blob_count(azurite: Emulator, container: str) -> int:
    return sum(1 for _ in azurite.service_client().get_container_client(container).list_blobs())


def run_cache_entries(repo: RepoCopy) -> set[str]:
    runs = repo.path / ".dvc" / "cache" / "runs"
    return {p.relative_to(runs).as_posix() for p in runs.rglob("*") if p.is_file()}


def test_pull_after_losing_cache_and_outputs_restores_every_locked_md5(
    pushed: tuple[RepoCopy, str], azurite: Emulator, tmp_path: Path
) -> None:
    repo = pushed[0].copy(tmp_path / "repo")
    assert blob_count(azurite, pushed[1]) > 0
    locked = repo.lock_md5s()
    cached = [path for path, by_dvc in repo.outputs().items() if by_dvc]
    assert cached, "dvc.yaml declares no output that dvc caches"

    shutil.rmtree(repo.path / ".dvc" / "cache")
    for path in cached:
        (repo.path / path).unlink()
    assert repo.md5s(cached) == dict.fromkeys(cached)

    repo.dvc("pull")

    assert repo.md5s(list(locked)) == locked


def test_fresh_clone_with_pulled_run_cache_runs_no_stage(
    pushed: tuple[RepoCopy, str], azurite: Emulator, tmp_path: Path
) -> None:
    first, container = pushed
    second = first.clone(tmp_path / "second-machine" / "repo")
    assert not (second.path / ".dvc" / "cache").exists()
    assert not (second.path / ".dvc" / "config.local").exists()
    second.use_remote(azurite.connection_string, container)

    second.dvc("pull", "--run-cache")
    repro = second.dvc("repro")

    assert repro.ran == [], repro
    assert run_cache_entries(second) == run_cache_entries(first) != set()
    locked = first.lock_md5s()
    assert second.lock_md5s() == locked
    assert second.md5s(list(locked)) == locked
