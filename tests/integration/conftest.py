"""Fixtures of the integration tests: copies of the repository after one `dvc repro`.

The helpers they use (RepoCopy, run_group, ...) live in integration_support.py, so test modules
import them by a name no other folder's conftest shares.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from integration_support import RepoCopy, copy_repository
from repo_support import TrainedTemplate


@pytest.fixture(scope="session")
def reproduced_template(
    trained_template: TrainedTemplate, tmp_path_factory: pytest.TempPathFactory
) -> RepoCopy:
    """The repository after one `dvc repro` from scratch, committed; copy it, never change it."""
    dest = trained_template.copy(tmp_path_factory.mktemp("template") / "repo")
    return RepoCopy(dest, dest.parent / "home")


@pytest.fixture
def reproduced_repo(reproduced_template: RepoCopy, tmp_path: Path) -> RepoCopy:
    """A private copy of the reproduced template, free to change."""
    return reproduced_template.copy(tmp_path / "repo")


@pytest.fixture
def scratch_repo(tmp_path: Path) -> RepoCopy:
    """A copy of the repository on which the pipeline has never run."""
    return copy_repository(tmp_path / "repo", scratch=True)
