"""The whole rollout on real parts: bentoml build, bentoml serve on free loopback ports, the
smoke suite as a subprocess, GTO tags in a git repository, models trained by the pipeline.

Each step is checked the way a person would: the registry (`git tag`, `gto show`), what the
server on the environment's port answers, and what the command printed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import bentoml
import httpx
import pytest
from release_support import ReleaseRepo

from underwrite.release import deploy
from underwrite.release.registry import Registry
from underwrite.serving.contract import golden_applications

pytestmark = pytest.mark.integration


def served(env_url: str) -> tuple[str, str]:
    """(model md5, bento) that answers a golden application at the URL."""
    response = httpx.post(f"{env_url}/predict", json=golden_applications()[0], timeout=30)
    assert response.status_code == 200, response.text
    model = response.json()["model"]
    return model["md5"], model["bento"]


def running(repo: ReleaseRepo, env: str) -> deploy.Deployment:
    found = deploy.load(repo.path, env)
    assert found is not None, f"{env} is not running"
    return found


def lock_md5(repo: ReleaseRepo, commit: str) -> str:
    return Registry(repo.path).model_md5(commit)


def packed_model_md5(bento_tag: str) -> tuple[str, str]:
    """(tag, md5 of the model file) of the one model a built bento references."""
    (model,) = bentoml.get(bento_tag).info.all_models
    path = Path(bentoml.models.get(model.tag).path_of("model.joblib"))
    return str(model.tag), hashlib.md5(path.read_bytes()).hexdigest()


def test_stage_smoke_promote_rollback_cycle_moves_the_registry_and_production(
    release_repo: ReleaseRepo,
) -> None:
    repo = release_repo
    first = repo.git("rev-parse", "HEAD")

    # build, twice from the same version: the same model inside, byte for byte
    built = [repo.release("build").stdout, repo.release("build", "v0.0.1").stdout]
    assert repo.tags() == {"loan-approval@v0.0.1"}
    bentos = [line.split()[1] for line in built]
    assert bentos[0] != bentos[1]
    assert packed_model_md5(bentos[0]) == packed_model_md5(bentos[1])
    assert packed_model_md5(bentos[0])[1] == lock_md5(repo, first)

    # stage: served, smoke-tested, then (only then) assigned to staging
    repo.release("stage")
    assert repo.tags() == {"loan-approval@v0.0.1", "loan-approval#staging#1"}
    assert repo.stages() == {"staging": "v0.0.1"}
    assert running(repo, "staging").smoke == "passed"
    assert served(running(repo, "staging").url)[0] == lock_md5(repo, first)

    # promote: nothing was in production, so the gate judges fairness only
    shown = repo.release("promote")
    assert "production serves v0.0.1" in shown.stdout
    assert repo.stages() == {"staging": "v0.0.1", "prod": "v0.0.1"}
    assert "loan-approval#prod#2" in repo.tags()
    prod_url = running(repo, "prod").url
    assert served(prod_url)[0] == lock_md5(repo, first)

    # a better model: `release all` registers, builds, stages and promotes it
    second = repo.commit_model("better")
    repo.release("all")
    assert repo.stages() == {"staging": "v0.0.2", "prod": "v0.0.2"}
    assert {
        "loan-approval@v0.0.2",
        "loan-approval#staging#3",
        "loan-approval#prod#4",
    } <= repo.tags()
    assert served(prod_url)[0] == lock_md5(repo, second)

    # rollback: production serves v0.0.1 again and the registry says so
    repo.release("rollback")
    assert repo.stages()["prod"] == "v0.0.1"
    assert "loan-approval#prod#5" in repo.tags()
    assert repo.git("tag", "-l", "--format=%(contents)", "loan-approval#prod#5").startswith(
        "rollback: v0.0.2 -> v0.0.1"
    )
    assert served(prod_url)[0] == lock_md5(repo, first)
    status = repo.release("status").stdout
    assert "production lineage: v0.0.1\n" in status
    assert f"prod: v0.0.1 at {prod_url}" in status

    # nothing older to go back to: refused, and production stays
    before = (repo.tags(), running(repo, "prod").pid)
    refused = repo.release("rollback", expect=1)
    assert "production's lineage has nothing before v0.0.1 to roll back to" in refused.stderr
    assert (repo.tags(), running(repo, "prod").pid) == before


def test_worse_or_less_fair_model_is_refused_and_production_stays(
    release_repo: ReleaseRepo,
) -> None:
    repo = release_repo
    first = repo.git("rev-parse", "HEAD")
    repo.release("all")
    prod = running(repo, "prod")

    def refused(version: str, *reasons: str) -> None:
        tags, stages = repo.tags(), repo.stages()
        shown = repo.release("promote", version, expect=3).stderr
        assert f"promotion of {version} refused (against production v0.0.1)" in shown
        assert all(re.search(reason, shown) for reason in reasons), shown
        assert (repo.tags(), repo.stages()) == (tags, stages)
        assert running(repo, "prod") == prod
        assert served(prod.url)[0] == lock_md5(repo, first)

    # worse: it serves and passes the smoke suite in staging; the gate alone says no
    repo.commit_model("worse")
    repo.release("stage")
    assert repo.stages() == {"staging": "v0.0.2", "prod": "v0.0.1"}
    refused("v0.0.2", r"brier worse than production's by more than 0\.01: 0\.\d{4} \[0\.\d{4}, ")

    # reweighted (class_weight balanced): every reason is printed, each with its interval
    unfair = Registry(repo.path).register(repo.commit_model("unfair")).version
    refused(
        unfair,
        r"calibration_in_the_large worse than production's by more than 0\.02: 0\.\d{4} \[",
        rf"{unfair} is not in staging \(the registry has v0\.0\.2 there\)",
    )


def test_staged_version_that_fails_the_smoke_suite_is_not_promoted(
    release_repo: ReleaseRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = release_repo
    suite = repo.path / "tests" / "failing_smoke"
    suite.mkdir(parents=True)
    (suite / "test_expects_another_model.py").write_text(
        "import httpx\n\n\n"
        "def test_served_model_is_another(request):\n"
        "    url = request.config.getoption('--smoke-url')\n"
        "    answer = httpx.get(url + '/readyz', timeout=10)\n"
        "    assert answer.status_code == 503, 'a smoke test that fails against a good server'\n"
    )
    repo.commit("a smoke suite that fails")
    monkeypatch.setenv("UNDERWRITE_SMOKE_SUITE", "tests/failing_smoke")
    monkeypatch.setenv("UNDERWRITE_READINESS_TIMEOUT", "1")  # no time to get ready

    late = repo.release("stage", expect=1)
    assert "/readyz did not answer 200 within 1 s (UNDERWRITE_READINESS_TIMEOUT)" in late.stderr
    assert deploy.load(repo.path, "staging") is None
    assert repo.tags() == {"loan-approval@v0.0.1"}

    monkeypatch.setenv("UNDERWRITE_READINESS_TIMEOUT", "180")
    failed = repo.release("stage", expect=1)
    assert "the smoke suite failed against staging v0.0.1 (1 failed" in failed.stderr
    assert "the registry is unchanged" in failed.stderr
    assert repo.tags() == {"loan-approval@v0.0.1"}
    assert running(repo, "staging").smoke == "failed"

    refused = repo.release("promote", "v0.0.1", expect=3)
    assert "v0.0.1 is not in staging (the registry has nothing there)" in refused.stderr
    assert deploy.load(repo.path, "prod") is None
    assert repo.tags() == {"loan-approval@v0.0.1"}
