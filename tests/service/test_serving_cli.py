"""`underwrite import-model` and `underwrite serve` (their import step and its errors)."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from underwrite.cli import app


def test_import_model_prints_the_stored_tag(model_tag: str, tiny_repo: Path):
    result = CliRunner().invoke(app, ["import-model", "--repo", str(tiny_repo)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == model_tag


def test_import_model_without_a_pipeline_run_names_what_to_do(bentoml_home, tmp_path: Path):
    result = CliRunner().invoke(app, ["import-model", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert "model.joblib: no such file; run `dvc repro` or `dvc pull`" in result.output


def test_serve_refuses_a_model_dvc_lock_does_not_record(bentoml_home, tiny_repo, tmp_path):
    repo = Path(shutil.copytree(tiny_repo, tmp_path / "repo"))
    (repo / "models" / "model.joblib").write_bytes(b"something else")
    result = CliRunner().invoke(app, ["serve", "--repo", str(repo), "--port", "1"])
    assert result.exit_code == 1
    assert "is not the version dvc.lock records" in result.output
    assert "serving" not in result.output
