"""`underwrite drift` and `underwrite simulate` as a user runs them: exit status and message."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from drift_support import END, REPO_ROOT, LogWriter, World, run_cli
from PIL import Image
from typer.testing import CliRunner

from underwrite.cli import app
from underwrite.console import ExitCode


def drift(log: Path, profile: Path, out: Path, *extra: str):
    args = ["drift", "--log", str(log), "--profile", str(profile), "--out", str(out)]
    args += ["--end", END.isoformat(), "--cache", str(out / "cache"), *extra]
    return CliRunner().invoke(app, args)


def good_record_line(world: World, tmp_path: Path, write_frame_log: LogWriter) -> str:
    folder = write_frame_log(world.window("none", 0).iloc[:1], folder="one")
    return next(folder.glob("*.jsonl")).read_text().splitlines()[0]


def write_lines(folder: Path, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2026-02-28-test.jsonl").write_text("\n".join(lines) + "\n")
    return folder


ERROR, DRIFT, CANNOT_TELL = ExitCode.ERROR, ExitCode.DRIFT, ExitCode.CANNOT_TELL

BAD_LOGS = {
    # case: (how to break a good record line, exit status, what the message says)
    "empty log": (lambda line: [], CANNOT_TELL, "0 rows; at least 200"),
    "other schema": (lambda line: ['{"id": 1, "score": 0.5}'] * 300, ERROR, "missing request_id"),
    "corrupt line": (lambda line: [line] * 5 + ['{"request_id": "x", "loanamt'] + [line] * 300,
                     ERROR, "line 6: not valid JSON"),
    "text in a number": (lambda line: [line] * 3 + [_set(line, "appinc", "a lot")] + [line] * 300,
                         ERROR, "line 4: field 'appinc' is 'a lot'; it must be a number"),
    "bad timestamp": (lambda line: [_set(line, "timestamp", "yesterday")] * 300, ERROR,
                      "timestamp 'yesterday' is not ISO 8601"),
    "too few rows": (lambda line: [line] * 50, CANNOT_TELL, "50 rows; at least 200"),
}  # fmt: skip


def _set(line: str, field: str, value) -> str:
    record = json.loads(line)
    record[field] = value
    return json.dumps(record)


@pytest.mark.parametrize("case", list(BAD_LOGS))
def test_bad_log_gives_a_clear_message_and_exit_status_never_a_traceback(
    case, world, profile_path, tmp_path, write_frame_log
):
    breaker, status, message = BAD_LOGS[case]
    line = good_record_line(world, tmp_path, write_frame_log)
    folder = write_lines(tmp_path / "bad", breaker(line))
    result = drift(folder, profile_path, tmp_path / "out")
    assert result.exit_code == status, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--log", "does/not/exist"], "no such folder"),
        (["--profile", "missing/profile.json"], "dvc repro profile"),
        (["--end", "soon"], "--end 'soon': use now, latest or an ISO 8601 time"),
    ],
)
def test_bad_arguments_exit_3_naming_the_problem(args, message, profile_path, tmp_path):
    folder = write_lines(tmp_path / "log", [])
    base = {"--log": str(folder), "--profile": str(profile_path), "--end": END.isoformat()}
    base |= dict(zip(args[::2], args[1::2], strict=True))
    flat = [x for pair in base.items() for x in pair]
    result = CliRunner().invoke(app, ["drift", *flat, "--out", str(tmp_path / "out")])
    assert result.exit_code == ERROR, result.output
    assert message in result.output


def test_shifted_log_exits_4_with_report_json_and_plots(
    world, profile_path, tmp_path, write_frame_log
):
    folder = write_frame_log(world.window("new_category", 0))
    out = tmp_path / "out"
    done = run_cli(
        "drift", "--log", str(folder), "--profile", str(profile_path), "--out", str(out),
        "--end", "latest", "--cache", str(tmp_path / "cache"),
    )  # fmt: skip
    assert done.returncode == DRIFT, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["verdict"] == "drift" and result["exit_status"] == DRIFT
    assert result["windows"][0]["drifted_features"][0] == "prop"
    report = (out / "report.md").read_text()
    assert "| **prop** |" in report and "![prop: reference vs current](plots/prop.png)" in report
    with Image.open(out / "plots" / "prop.png") as image:
        assert image.width > 300 and image.height > 200


def test_unshifted_log_exits_0(world, profile_path, tmp_path, write_frame_log):
    result = drift(write_frame_log(world.window("none", 5)), profile_path, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output


def params_with(tmp_path: Path, **drift) -> Path:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["drift"].update(drift)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.parametrize(
    ("older", "status", "message"),
    [("none", 0, "not in all 2 consecutive windows"), ("missing_surge", DRIFT, "drift: ")],
)
def test_persistence_alarms_only_when_every_window_drifts(
    older, status, message, world, profile_path, tmp_path, write_frame_log
):
    day = timedelta(hours=24)
    write_frame_log(world.window(older, 1), days=0.9, seed=1, end=END - day)
    folder = write_frame_log(world.window("missing_surge", 2), days=0.9, seed=2, end=END)
    params = params_with(tmp_path, window_hours=24, persistence=2)
    result = drift(folder, profile_path, tmp_path / "out", "--params", str(params))
    assert result.exit_code == status, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shift", "earthquake", "--to-log", "x"], "unknown shift 'earthquake'"),
        (["--shift", "none"], "give exactly one of --to-log FOLDER or --url URL"),
        (["--to-log", "x", "--url", "http://127.0.0.1:9"], "give exactly one"),
        (["--to-log", "x", "--data", "missing.parquet"], "missing.parquet: no such file"),
    ],
)
def test_simulate_bad_arguments_exit_3(args, message, tmp_path):
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == ERROR, result.output
    assert message in result.output
