"""The registry on a real git repository: GTO tags, stages, lineage, what each version committed.

The repository here is tiny (dvc.yaml, dvc.lock and metrics.json written directly) because
the registry only reads git; the release tests run it on a real pipeline's output.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from repo_support import GIT_IDENTITY, VENV_BIN

from underwrite.release import ReleaseError, gating
from underwrite.release.registry import Registry

GOOD = {"roc_auc": 0.88, "pr_auc": 0.97, "brier": 0.07, "fairness": {
    "race": {"approval_rate_gap": 0.2, "tpr_gap": 0.1},
    "sex": {"approval_rate_gap": 0.02, "tpr_gap": 0.01},
}}  # fmt: skip
POLICY = {"gate": {"alpha": 0.05}}  # the rest: the declared defaults


def git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo.parent), **GIT_IDENTITY}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def commit_model(repo: Path, md5: str, metrics: dict, params: dict | None = None) -> str:
    """Commit what the pipeline leaves in git: dvc.yaml, dvc.lock (the model's md5), metrics,
    and PARAMS as params.yaml when given."""
    if params is not None:
        (repo / "params.yaml").write_text(yaml.safe_dump(params))
    validate = {"cmd": "x", "metrics": [{"reports/validation.json": {"cache": False}}]}
    evaluate = {"cmd": "x", "deps": ["models/model.joblib"], "metrics": ["reports/metrics.json"]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({
        "stages": {"validate": validate, "evaluate": evaluate},
        "artifacts": {"loan-approval": {"path": "models/model.joblib", "type": "model"}},
    }))  # fmt: skip
    (repo / "dvc.lock").write_text(yaml.safe_dump({
        "schema": "2.0",
        "stages": {"train": {"cmd": "x", "outs": [{"path": "models/model.joblib", "md5": md5}]}},
    }))  # fmt: skip
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "reports/metrics.json").write_text(json.dumps(metrics))
    git(repo, "add", "-A")
    git(repo, "-c", "commit.gpgsign=false", "commit", "-q", "-m", f"model {md5}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "registry"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def gto_show(repo: Path) -> dict:
    done = subprocess.run(
        [str(VENV_BIN / "gto"), "show", "--json"], cwd=repo, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)["loan-approval"]


def test_register_and_assign_write_gto_tags(repo: Path) -> None:
    first = commit_model(repo, "a" * 32, GOOD)
    registry = Registry(repo)
    version = registry.register(first)
    registry.assign(version.version, "staging")
    assert version.version == "v0.0.1"
    assert set(git(repo, "tag").split()) == {"loan-approval@v0.0.1", "loan-approval#staging#1"}
    assert gto_show(repo)["stage"] == {"staging": "v0.0.1"}
    assert registry.in_stage("staging") == version
    assert registry.in_stage("prod") is None


def test_stage_resolves_to_the_newest_assignment_like_gto_show(repo: Path) -> None:
    registry = Registry(repo)
    v1 = registry.register(commit_model(repo, "a" * 32, GOOD))
    v2 = registry.register(commit_model(repo, "b" * 32, GOOD))
    for version in (v1.version, v2.version, v1.version):  # no pause: the registry spaces them
        registry.assign(version, "prod")
    assert registry.in_stage("prod") == v1
    assert gto_show(repo)["stage"]["prod"] == "v0.0.1"
    assert [a.version for a in registry.assignments("prod")] == ["v0.0.1", "v0.0.2", "v0.0.1"]


def test_prod_lineage_steps_back_on_each_rollback(repo: Path) -> None:
    registry = Registry(repo)
    versions = [registry.register(commit_model(repo, c * 32, GOOD)).version for c in "abc"]
    for version in versions:
        registry.assign(version, "prod")
    assert registry.prod_lineage() == ["v0.0.1", "v0.0.2", "v0.0.3"]
    registry.assign("v0.0.2", "prod", message="rollback: v0.0.3 -> v0.0.2")
    assert registry.prod_lineage() == ["v0.0.1", "v0.0.2"]
    registry.assign("v0.0.1", "prod", message="rollback: v0.0.2 -> v0.0.1")
    assert registry.prod_lineage() == ["v0.0.1"]
    registry.assign("v0.0.3", "prod")  # a promotion after rollbacks starts a new step
    assert registry.prod_lineage() == ["v0.0.1", "v0.0.3"]


def test_what_a_version_committed_is_read_at_its_commit(repo: Path) -> None:
    registry = Registry(repo)
    old = registry.register(commit_model(repo, "a" * 32, GOOD))
    commit_model(repo, "b" * 32, GOOD | {"roc_auc": 0.5})
    assert registry.model_md5(old.commit) == "a" * 32
    assert registry.metrics(old.commit)["roc_auc"] == 0.88
    assert registry.artifact_path(old.commit) == "models/model.joblib"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r, c: r.get("v9.9.9"), r"no registered version 'v9.9.9' \(registered: v0.0.1\)"),
        (lambda r, c: r.assign("v9.9.9", "prod"), "no registered version 'v9.9.9'"),
        (lambda r, c: r.assign("v0.0.1", "production"), "unknown stage 'production'"),
        (lambda r, c: r.in_stage("dev"), "unknown stage 'dev'"),
        (lambda r, c: r.register(c), "already registered in this commit with version 'v0.0.1'"),
        (lambda r, c: r.read_at(c, "nope.json"), "has no nope.json in git"),
    ],
)
def test_bad_registry_requests_are_refused_and_change_no_tag(repo: Path, call, message) -> None:
    registry = Registry(repo)
    commit = commit_model(repo, "a" * 32, GOOD)
    registry.register(commit)
    before = git(repo, "tag")
    with pytest.raises(ReleaseError, match=message):
        call(registry, commit)
    assert git(repo, "tag") == before


def test_commit_without_the_model_in_dvc_lock_is_refused(repo: Path) -> None:
    commit = commit_model(repo, "a" * 32, GOOD)
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    git(repo, "commit", "-qam", "lock without the model")
    with pytest.raises(ReleaseError, match=r"records no models/model\.joblib: run `dvc repro`"):
        Registry(repo).model_md5(git(repo, "rev-parse", "HEAD"))
    assert Registry(repo).model_md5(commit) == "a" * 32


def test_gate_judges_by_the_policy_of_the_version_in_prod_not_the_candidates(
    repo: Path,
) -> None:
    registry = Registry(repo)
    prod = registry.register(commit_model(repo, "a" * 32, GOOD, POLICY))
    registry.assign(prod.version, "prod")
    loose = {"gate": {"margins": {"roc_auc": 1.0}, "fairness": {}}}
    candidate = registry.register(commit_model(repo, "b" * 32, GOOD, loose))
    commit_model(repo, "c" * 32, GOOD, POLICY)  # trained later, never registered
    decision = gating.decide(repo, registry, candidate)
    assert decision.production == prod
    assert "gate policy changed: gate.margins.roc_auc 0.02 -> 1.0 (ignored)" in (
        decision.policy_changes
    )
    assert "gate policy changed: gate.margins.brier 0.01 -> (absent) (ignored)" in (
        decision.policy_changes
    )
    # this tiny repository has no model files in DVC: the gate cannot judge, so it refuses
    assert any("neither in the DVC cache nor on the remote" in r for r in decision.reasons)
    assert not decision.allowed
    assert decision.summary().endswith(decision.policy_changes[-1])


def test_gate_with_nothing_in_prod_takes_the_policy_from_main(repo: Path) -> None:
    commit_model(repo, "a" * 32, GOOD, POLICY)
    git(repo, "checkout", "-q", "-b", "candidate")
    registry = Registry(repo, base_branch="candidate")  # releases may come from this branch
    loose = {"gate": {**POLICY["gate"], "alpha": 0.5}}
    candidate = registry.register(commit_model(repo, "b" * 32, GOOD, loose))
    decision = gating.decide(repo, registry, candidate)
    assert decision.production is None
    assert decision.policy_changes == ["gate policy changed: gate.alpha 0.05 -> 0.5 (ignored)"]


def test_registered_version_carries_the_model_card_in_its_tag(repo: Path) -> None:
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "reports/model_card.md").write_text(
        "# Model card\n\n**Intended use.** Research.\n\n- model md5: `abc`\n"
    )
    commit = commit_model(repo, "c" * 32, GOOD)
    Registry(repo).register(commit)
    message = git(repo, "tag", "-l", "--format=%(contents)", "loan-approval@v0.0.1")
    assert "model card: reports/model_card.md" in message
    assert "**Intended use.** Research." in message and "- model md5: `abc`" in message
