"""Versions only from commits on the base branch: a branch's commit is never registered or
assigned, however it was tagged; once merged it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_registry import GOOD, commit_model, git

from underwrite.release import ReleaseError
from underwrite.release.registry import Registry


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "registry"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit_model(path, "a" * 32, GOOD)
    return path


def test_commit_on_a_branch_is_refused_naming_the_base_branch(repo: Path):
    git(repo, "checkout", "-q", "-b", "feature")
    branch_commit = commit_model(repo, "b" * 32, GOOD)
    with pytest.raises(ReleaseError, match=r"is not on main: .* merge its pull request first"):
        Registry(repo).register(branch_commit)
    assert Registry(repo).versions() == []


def test_commit_merged_into_main_is_registered(repo: Path):
    git(repo, "checkout", "-q", "-b", "feature")
    branch_commit = commit_model(repo, "b" * 32, GOOD)
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "feature")
    assert Registry(repo).register(branch_commit).commit == branch_commit


def test_version_tagged_off_main_by_hand_cannot_be_assigned(repo: Path):
    registry = Registry(repo)
    registry.register(git(repo, "rev-parse", "HEAD"))
    git(repo, "checkout", "-q", "-b", "feature")
    branch_commit = commit_model(repo, "c" * 32, GOOD)
    git(repo, "tag", "-a", "loan-approval@v0.0.2", "-m", "by hand", branch_commit)
    with pytest.raises(ReleaseError, match="is not on main"):
        registry.assign("v0.0.2", "staging")


def test_base_branch_is_configurable(repo: Path):
    git(repo, "branch", "-m", "main", "trunk")
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(ReleaseError, match="UNDERWRITE_BASE_BRANCH"):
        Registry(repo).register(head)
    assert Registry(repo, base_branch="trunk").register(head).commit == head
