"""`python -m underwrite.watchlist`: help changes nothing, a bad command line exits 2 naming
the problem, before anything is trained or written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from underwrite.console import ExitCode
from underwrite.watchlist.commands import app

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with the project's schema, params.yaml and a (stand-in) training split."""
    schema = tmp_path / "src/underwrite/schema.py"
    schema.parent.mkdir(parents=True)
    schema.write_text((REPO_ROOT / "src/underwrite/schema.py").read_text())
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    (tmp_path / "train.parquet").write_bytes(b"")
    (tmp_path / "test.parquet").write_bytes(b"")
    return tmp_path


def invoke(project: Path, *args: str):
    common = ["--project", str(project), "--params", str(project / "params.yaml"),
              "--train", str(project / "train.parquet")]  # fmt: skip
    return CliRunner().invoke(app, [*args, *common])


def test_module_help_exits_0_and_writes_nothing(tmp_path: Path):
    for args in (["--help"], ["generate", "--help"], ["check", "--help"]):
        done = subprocess.run([sys.executable, "-m", "underwrite.watchlist", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Usage: python -m underwrite.watchlist" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_module_without_a_command_shows_help_and_writes_nothing(tmp_path: Path):
    done = CliRunner().invoke(app, [])
    assert done.exit_code == ExitCode.USAGE and "generate" in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--margin", "0.6"], "Invalid value for '--margin'"),
        (["check", "--margin", "-0.1"], "Invalid value for '--margin'"),
        (["generate", "--regenerate"], "No such option: --regenerate"),
        (["refresh"], "No such command 'refresh'"),
    ],
)
def test_bad_command_line_exits_2_naming_the_problem(project: Path, args, message):
    done = invoke(project, *args)
    assert done.exit_code == ExitCode.USAGE
    assert message in done.output


@pytest.mark.parametrize("command", ["generate", "check"])
def test_missing_training_split_exits_2_naming_how_to_make_it(project: Path, command: str):
    (project / "train.parquet").unlink()
    test = ["--test", str(project / "test.parquet")] if command == "generate" else []
    done = invoke(project, command, *test)
    assert done.exit_code == ExitCode.USAGE
    assert f"{project / 'train.parquet'}: no such file; `dvc repro prepare`" in done.output


def test_project_without_a_schema_exits_2(project: Path, tmp_path: Path):
    done = CliRunner().invoke(app, ["check", "--project", str(tmp_path / "elsewhere")])
    assert done.exit_code == ExitCode.USAGE
    assert "no src/underwrite/schema.py there" in done.output


def test_out_that_is_a_file_exits_2_and_writes_nothing(project: Path):
    out = project / "cases.json"
    out.write_text("{}")
    done = invoke(project, "generate", "--out", str(out), "--test", str(project / "test.parquet"))
    assert done.exit_code == ExitCode.USAGE and "is a file; give a folder" in done.output
    assert out.read_text() == "{}"


def test_check_without_the_case_file_exits_2_naming_generate(project: Path):
    done = invoke(project, "check", "--folder", str(project / "watchlist"))
    assert done.exit_code == ExitCode.USAGE
    assert "python -m underwrite.watchlist generate" in done.output


def test_params_with_a_typo_exits_2_naming_the_key(project: Path):
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("threshold:", "treshold:"))
    done = invoke(project, "check")
    assert done.exit_code == ExitCode.USAGE and "treshold" in done.output
