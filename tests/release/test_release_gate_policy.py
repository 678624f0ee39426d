"""`underwrite release promote` judges by the policy of the version in production.

A candidate that is clearly worse and whose commit loosens every gate key is refused by
production's policy, on both versions' model files from DVC scored on the same holdout
rows, and every loosened key is printed as ignored.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from release_support import ReleaseRepo
from repo_support import LOOSENED_GATE

from underwrite.release.registry import Registry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def value_at(repo: ReleaseRepo, commit: str, dotted: str) -> Any:
    node = yaml.safe_load(repo.git("show", f"{commit}:params.yaml"))
    for key in dotted.split("."):
        node = node[key]
    return node


def test_promote_refuses_a_worse_model_by_productions_policy_despite_its_own(
    release_repo: ReleaseRepo,
) -> None:
    repo = release_repo
    registry = Registry(repo.path)
    production = registry.register(repo.git("rev-parse", "HEAD"))
    registry.assign(production.version, "prod")
    repo.set_params(LOOSENED_GATE)
    candidate = registry.register(repo.commit_model("worse"))

    shown = repo.release("promote", candidate.version, expect=3).stderr

    assert f"refused (against production {production.version})" in shown
    assert "brier worse than production's by more than 0.01: " in shown
    for key, new in LOOSENED_GATE.items():
        old = value_at(repo, production.commit, key)
        assert f"gate policy changed: {key} {old} -> {new} (ignored)" in shown, key
    assert repo.stages() == {"prod": production.version}
