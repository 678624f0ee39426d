"""A corrupt DVC cache file is found by `underwrite doctor --cache`, and the model check's
message gives a fix that works (`dvc checkout` would restore the same corrupt bytes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from underwrite.cli import app
from underwrite.io import file_md5
from underwrite.storage.cache import cache_file, repair_advice

pytestmark = pytest.mark.integration


def _dvc(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=True, timeout=120,
                   capture_output=True)  # fmt: skip


@pytest.fixture
def tracked(dvc_repo: Path) -> tuple[Path, str]:
    """A repository with models/model.joblib tracked by DVC; the file's md5."""
    model = dvc_repo / "models" / "model.joblib"
    model.parent.mkdir()
    model.write_bytes(b"model bytes " * 1000)
    (dvc_repo / "notes.txt").write_text("an intact neighbour\n")
    _dvc(dvc_repo, "add", "models/model.joblib", "notes.txt")
    return dvc_repo, file_md5(model)


def _corrupt(path: Path) -> None:
    path.chmod(0o644)  # DVC leaves cache files read-only
    path.write_bytes(path.read_bytes()[:-1] + b"!")


def _doctor(repo: Path):
    return CliRunner().invoke(app, ["doctor", "--cache", "--repo", str(repo)])


def test_doctor_cache_names_the_corrupt_file_and_exits_1(tracked):
    repo, md5 = tracked
    _corrupt(cache_file(repo, md5))
    result = _doctor(repo)
    assert result.exit_code == 1
    assert f"{md5[:2]}/{md5[2:]}" in result.output and "1 intact, 1 corrupt" in result.output
    assert "dvc pull --force" in result.output


def test_doctor_cache_passes_an_intact_cache(tracked):
    result = _doctor(tracked[0])
    assert result.exit_code == 0 and "2 intact, 0 corrupt" in result.output


def test_advice_for_a_corrupt_cache_is_to_delete_and_pull_not_checkout(tracked):
    repo, md5 = tracked
    cached = cache_file(repo, md5)
    _corrupt(cached)
    (repo / "models" / "model.joblib").unlink()
    _dvc(repo, "checkout", "--force", "models/model.joblib")  # what the old advice said
    assert file_md5(repo / "models" / "model.joblib") != md5  # the same corrupt bytes
    advice = repair_advice(repo, md5, "models/model.joblib")
    assert str(cached) in advice and "dvc pull --force models/model.joblib" in advice


def test_advice_for_an_edited_workspace_file_is_checkout(tracked):
    repo, md5 = tracked
    assert "dvc checkout --force models/model.joblib" in repair_advice(
        repo, md5, "models/model.joblib"
    )
