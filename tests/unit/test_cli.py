"""The `underwrite` command as a user types it: schema and check-params."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from underwrite.cli import app
from underwrite.schema import COLUMNS

runner = CliRunner()


def test_schema_prints_every_column_and_its_role():
    result = runner.invoke(app, ["schema"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| column")
    rows = {line.split("|")[1].strip(): line for line in lines[2:]}
    assert list(rows) == [c.name for c in COLUMNS]
    assert "| label " in rows["approve"]
    assert "| leaked " in rows["action"]
    assert "| protected " in rows["black"]


def test_check_params_accepts_a_good_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  estimator: logistic_regression\n")

    result = runner.invoke(app, ["check-params", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{path}: ok"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("train:\n  estimater: logistic_regression\n", "train.estimater: Extra inputs"),
        ("prepare:\n  test_size: half\n", "prepare.test_size: Input should be a valid number"),
        ("data:\n  source: own.csv\n", "data.watch must equal data.source"),
        ("train: [\n", "not valid YAML"),
    ],
)
def test_check_params_rejects_a_bad_file_naming_the_key(tmp_path, text, named):
    path = tmp_path / "params.yaml"
    path.write_text(text)

    result = runner.invoke(app, ["check-params", str(path)])

    assert result.exit_code == 1
    assert result.stderr.startswith(f"ERROR: {path}: ")
    assert named in result.stderr
    assert result.stdout == ""
    assert isinstance(result.exception, SystemExit)  # handled, not a crash


def test_check_params_missing_file_says_so(tmp_path):
    result = runner.invoke(app, ["check-params", str(tmp_path / "params.yaml")])

    assert result.exit_code == 1
    assert "params.yaml: no such file" in result.stderr
