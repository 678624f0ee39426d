"""Stage commands as dvc runs them: `python -m underwrite.stages.<name>` in a folder with params.

Bad input ends with exit code 1 and one `ERROR: ...` naming the problem, never a traceback.
All commands start at once (each pays Python's import time), then each test reads its result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # starts a Python process per stage command

TIMEOUT = 180  # seconds per command; generous for a loaded 2-core machine


@dataclass(frozen=True)
class Case:
    stage: str
    params: str
    args: tuple[str, ...]
    files: tuple[str, ...] = ()  # inputs to create in the folder


# Each command costs a Python start-up with pandas (and, for validate, scikit-learn and
# pandera): only the cases that take different paths through the stage code run here; the
# variations of each error are covered in-process (test_params, test_io, test_validation).
CASES = {
    "unknown-param": Case("ingest", "train:\n  estimater: x\n", ("--out", "raw.parquet")),
    "missing-source": Case(
        "ingest", "data:\n  source: gone.csv\n  watch: gone.csv\n", ("--out", "raw.parquet")
    ),
    "unsupported-source": Case(
        "ingest", "data:\n  source: loans.json\n  watch: loans.json\n", ("--out", "raw.parquet")
    ),
    "bad-data": Case("validate", "", ("--raw", "bad.parquet", "--out", "report"), ("bad.parquet",)),
}


def make_inputs(folder: Path, files: tuple[str, ...], frame: pd.DataFrame) -> None:
    if "bad.parquet" in files:  # a missing column and two amounts below the minimum
        frame = frame.copy()
        frame.loc[[3, 8], "loanamt"] = -1.0
        frame.drop(columns=["cons"]).to_parquet(folder / "bad.parquet", index=False)


@dataclass(frozen=True)
class Run:
    folder: Path
    returncode: int
    stdout: str
    stderr: str


def run(folder: Path, case: Case, frame: pd.DataFrame) -> Run:
    folder.mkdir()
    (folder / "params.yaml").write_text(case.params)
    make_inputs(folder, case.files, frame)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", f"underwrite.stages.{case.stage}", *case.args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return Run(folder, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, frame_factory) -> dict[str, Run]:
    root, frame = tmp_path_factory.mktemp("stages"), frame_factory()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {n: pool.submit(run, root / n, case, frame) for n, case in CASES.items()}
        return {name: future.result() for name, future in futures.items()}


def error_of(result: Run) -> str:
    """The one error line a user sees; asserts the command failed cleanly."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, result.stderr
    return result.stderr[result.stderr.index("ERROR: ") :]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown-param", "ERROR: params.yaml: train.estimater: Extra inputs are not permitted"),
        ("missing-source", "ERROR: data.source 'gone.csv': no such file"),
        ("unsupported-source", "ERROR: data.source 'loans.json': unsupported format .json"),
    ],
)
def test_stage_bad_input_exits_1_with_one_error_naming_it(runs, case, message):
    result = runs[case]

    assert error_of(result).startswith(message)
    assert not (result.folder / "raw.parquet").exists()


def test_validate_bad_data_names_column_rule_and_rows_and_keeps_the_report(runs):
    result = runs["bad-data"]

    error = error_of(result)
    assert error.startswith("ERROR: bad.parquet failed validation (report: report/report.md):")
    assert "column 'cons' is missing" in error
    assert "column 'loanamt': must be between 1 and 10000" in error
    assert "row 3: -1.0, row 8: -1.0" in error
    report = (result.folder / "report" / "report.md").read_text()
    assert "**FAILED**" in report
    assert "column 'loanamt'" in report
