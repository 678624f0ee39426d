"""Synthetic traffic (smoke suites, load tests, the simulator over HTTP) stays out of drift.

The service records the request header X-Underwrite-Synthetic: 1 as the log field
``synthetic``; drift windows and the records the retraining labels are joined to leave
those records out, and records written before the field existed count as real.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drift_support import END, World, run_cli

from underwrite.console import ExitCode
from underwrite.drift.logreader import read_window, without_synthetic
from underwrite.drift.simulate import log_records, request_ids, timestamps, write_log
from underwrite.inference_log import (
    REQUEST_ID,
    SYNTHETIC,
    SYNTHETIC_HEADER,
    is_synthetic,
    read_local,
)


def write_records(frame: pd.DataFrame, folder: Path, *, synthetic: bool | None, seed: int):
    """FRAME as log records flagged ``synthetic`` (None: written without the field)."""
    rng = np.random.default_rng(seed)
    stamps = timestamps(len(frame), END - timedelta(minutes=1), 6.0, rng)
    records = log_records(frame, stamps, "test:1", "0" * 32, request_ids(len(frame), rng))
    if synthetic is None:
        records = records.drop(columns=[SYNTHETIC])
    else:
        records[SYNTHETIC] = synthetic
    write_log(records, folder, f"test-{seed}")
    return records


@pytest.fixture
def mixed_log(world: World, tmp_path: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """A log of real unshifted traffic and synthetic traffic with a new category."""
    folder = tmp_path / "log"
    real = write_records(world.window("none", 1), folder, synthetic=False, seed=1)
    fake = write_records(world.window("new_category", 2), folder, synthetic=True, seed=2)
    return folder, real, fake


def drift_result(folder: Path, profile: Path, out: Path) -> tuple[int, dict]:
    done = run_cli(
        "drift", "--log", str(folder), "--profile", str(profile), "--out", str(out),
        "--end", END.isoformat(), "--cache", str(out / "cache"),
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads((out / "result.json").read_text())


def test_synthetic_records_are_left_out_of_the_drift_window(mixed_log, profile_path, tmp_path):
    folder, real, _ = mixed_log
    status, result = drift_result(folder, profile_path, tmp_path / "out")
    assert status == 0, result["message"]
    assert result["windows"][0]["rows"] == len(real)


def test_the_same_records_unflagged_do_drift(world, profile_path, tmp_path):
    # the control: without the flag the new category in the second half is an alarm
    folder = tmp_path / "log"
    write_records(world.window("none", 1), folder, synthetic=False, seed=1)
    write_records(world.window("new_category", 2), folder, synthetic=False, seed=2)
    status, result = drift_result(folder, profile_path, tmp_path / "out")
    assert (
        status == ExitCode.DRIFT
        and result["windows"][0]["rows"] == 2 * world.params.drift.window_rows
    )


def test_records_without_the_flag_are_real_traffic(world, profile_path, tmp_path):
    folder = tmp_path / "log"
    older = write_records(world.window("none", 3), folder, synthetic=None, seed=3)
    assert SYNTHETIC not in json.loads(next(folder.glob("*.jsonl")).read_text().splitlines()[0])
    status, result = drift_result(folder, profile_path, tmp_path / "out")
    assert status == 0 and result["windows"][0]["rows"] == len(older)


def test_the_records_retraining_labels_join_are_real_traffic_only(mixed_log, tmp_path):
    folder, real, fake = mixed_log
    since, until = END - timedelta(days=30), END
    batches = read_window(str(folder), since, until, [REQUEST_ID], tmp_path / "cache")
    ids = set(pd.concat([b.to_pandas() for b in batches])[REQUEST_ID])
    assert ids == set(real[REQUEST_ID])
    everything = read_window(str(folder), since, until, [REQUEST_ID], tmp_path / "c2", True)
    assert sum(b.num_rows for b in everything) == len(real) + len(fake)
    # readers that do not go through read_window filter with without_synthetic
    kept = without_synthetic(read_local(folder))
    assert set(kept[REQUEST_ID]) == set(real[REQUEST_ID])


def test_a_cache_written_before_the_flag_is_converted_again(mixed_log, tmp_path):
    folder, real, _ = mixed_log
    cache = tmp_path / "cache"
    list(read_window(str(folder), END - timedelta(days=30), END, [REQUEST_ID], cache))
    for manifest in cache.glob("*/manifest.json"):  # as an older reader left it
        old = json.loads(manifest.read_text())
        del old["format"]
        manifest.write_text(json.dumps(old))
        for part in manifest.parent.glob("part-*.parquet"):
            table = pd.read_parquet(part).drop(columns=[SYNTHETIC])
            table.to_parquet(part)
    rows = read_window(str(folder), END - timedelta(days=30), END, [REQUEST_ID], cache)
    assert sum(b.num_rows for b in rows) == len(real)


def test_a_flag_that_is_not_a_boolean_is_named(world, profile_path, tmp_path):
    folder = tmp_path / "log"
    write_records(world.window("none", 4), folder, synthetic=False, seed=4)
    path = next(folder.glob("*.jsonl"))
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record[SYNTHETIC] = "yes"
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    done = run_cli(
        "drift", "--log", str(folder), "--profile", str(profile_path), "--out",
        str(tmp_path / "out"), "--end", END.isoformat(), "--cache", str(tmp_path / "cache"),
    )  # fmt: skip
    assert done.returncode == 1  # bad input (underwrite.console)
    assert "line 3: field 'synthetic' is 'yes'; it must be true or false" in done.stderr


@pytest.mark.parametrize(
    ("value", "synthetic"), [("1", True), (" 1 ", True), (None, False), ("0", False), ("", False)]
)
def test_only_the_header_value_1_marks_a_request_synthetic(value, synthetic):
    assert SYNTHETIC_HEADER == "X-Underwrite-Synthetic"
    assert is_synthetic(value) is synthetic
