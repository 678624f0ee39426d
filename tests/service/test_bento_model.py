"""Importing the trained Pipeline into the BentoML store, with labels naming its origin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import bentoml
import pytest
import yaml

from underwrite.io import file_md5
from underwrite.serving.store import (
    GOLDEN_FILE,
    MODEL_FILE,
    ModelImportError,
    import_model,
    load_golden,
    load_pipeline,
)

MODEL = Path("models/model.joblib")


def lock_md5(repo: Path, path: str) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(
        out["md5"]
        for stage in lock["stages"].values()
        for out in stage["outs"]
        if out["path"] == path
    )


@pytest.fixture
def repo_copy(tiny_repo: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_repo, tmp_path / "repo"))


def test_labels_tie_the_model_to_commit_model_and_data_versions(model_tag: str, tiny_repo: Path):
    labels = bentoml.models.get(model_tag).info.labels
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tiny_repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert labels["git_commit"] == head
    assert labels["git_dirty"] == "false"
    assert labels["model_md5"] == lock_md5(tiny_repo, "models/model.joblib")
    assert labels["data_md5"] == lock_md5(tiny_repo, "data/raw/applications.parquet")
    assert labels["dvc_artifact"] == "loan-approval"


def test_metadata_carries_metrics_and_the_decision_threshold(model_tag: str, tiny_repo: Path):
    metadata = bentoml.models.get(model_tag).info.metadata
    metrics = json.loads((tiny_repo / "reports/evaluate/metrics.json").read_text())
    threshold = yaml.safe_load((tiny_repo / "params.yaml").read_text())["evaluate"]["threshold"]
    assert metadata["metrics"] == metrics
    assert metadata["threshold"] == threshold
    assert metadata["include_protected"] is False


def test_stored_model_is_byte_identical_to_the_dvc_output(model_tag: str, tiny_repo: Path):
    stored = bentoml.models.get(model_tag)
    assert file_md5(Path(stored.path_of(MODEL_FILE))) == file_md5(tiny_repo / MODEL)
    golden = load_golden(stored)
    assert Path(stored.path_of(GOLDEN_FILE)).is_file()
    assert len(golden["applications"]) == len(golden["probabilities"]) > 0
    assert hasattr(load_pipeline(stored), "predict_proba")


def test_importing_the_same_model_again_returns_the_same_tag(model_tag: str, tiny_repo: Path):
    before = len(bentoml.models.list("loan-approval"))
    assert str(import_model(MODEL, tiny_repo)) == model_tag
    assert len(bentoml.models.list("loan-approval")) == before


def test_a_new_threshold_makes_a_new_model_version(model_tag: str, repo_copy: Path):
    params = yaml.safe_load((repo_copy / "params.yaml").read_text())
    params["evaluate"]["threshold"] = 0.7
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(params))
    tag = import_model(MODEL, repo_copy)
    assert str(tag) != model_tag
    stored = bentoml.models.get(tag)
    assert stored.info.metadata["threshold"] == 0.7
    assert stored.info.labels["git_dirty"] == "true"


def test_a_model_file_that_dvc_lock_does_not_record_is_refused(bentoml_home, repo_copy: Path):
    (repo_copy / MODEL).write_bytes(b"not the trained model")
    with pytest.raises(ModelImportError, match=r"is not the version dvc\.lock records"):
        import_model(MODEL, repo_copy)


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("dvc.lock", "dvc.lock: no such file; run `dvc repro` first"),
        ("reports/evaluate/metrics.json", "metrics.json: no such file"),
        ("models/model.joblib", "model.joblib: no such file; run `dvc repro` or `dvc pull`"),
    ],
)
def test_missing_inputs_are_named(bentoml_home, repo_copy: Path, remove: str, message: str):
    (repo_copy / remove).unlink()
    with pytest.raises(ModelImportError, match=message):
        import_model(MODEL, repo_copy)


def test_a_model_outside_the_repository_is_refused(bentoml_home, repo_copy: Path, tmp_path):
    outside = tmp_path / "elsewhere.joblib"
    shutil.copyfile(repo_copy / MODEL, outside)
    with pytest.raises(ModelImportError, match="is not inside the repository"):
        import_model(outside, repo_copy)
