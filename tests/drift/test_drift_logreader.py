"""Reading windows of the inference log: the Parquet cache, appends, windows, Azure."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from drift_support import END, World, run_cli

from underwrite.console import ExitCode
from underwrite.drift.logreader import LogError, count_records, read_window
from underwrite.inference_log import PROBABILITY, TIMESTAMP

WIDE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def rows_in(folder: Path, cache: Path, start=WIDE[0], end=WIDE[1]) -> int:
    batches = read_window(str(folder), start, end, [PROBABILITY, TIMESTAMP], cache)
    return sum(b.num_rows for b in batches)


def lines_of(world: World, write_frame_log, rows: int) -> list[str]:
    folder = write_frame_log(world.window("none", 0).iloc[:rows], folder="source")
    return [line for p in sorted(folder.glob("*.jsonl")) for line in p.read_text().splitlines()]


def test_appended_records_are_parsed_once_and_counted(world, write_frame_log, tmp_path):
    lines = lines_of(world, write_frame_log, 30)
    log = tmp_path / "log" / "2026-02-28-host-1.jsonl"
    log.parent.mkdir()
    log.write_text("\n".join(lines[:10]) + "\n")
    cache = tmp_path / "cache"
    assert rows_in(log.parent, cache) == 10
    with log.open("a") as out:
        out.write("\n".join(lines[10:]) + "\n")
    assert rows_in(log.parent, cache) == 30
    assert len(list(cache.rglob("part-*.parquet"))) == 2  # the first part was reused


def test_an_unfinished_last_line_waits_for_its_newline(world, write_frame_log, tmp_path):
    lines = lines_of(world, write_frame_log, 5)
    log = tmp_path / "log" / "2026-02-28-host-1.jsonl"
    log.parent.mkdir()
    log.write_text("\n".join(lines[:4]) + "\n" + lines[4][:40])  # the service mid-write
    cache = tmp_path / "cache"
    assert rows_in(log.parent, cache) == 4
    log.write_text("\n".join(lines[:5]) + "\n")
    assert rows_in(log.parent, cache) == 5


def test_a_rewritten_file_is_read_again(world, write_frame_log, tmp_path):
    lines = lines_of(world, write_frame_log, 20)
    log = tmp_path / "log" / "2026-02-28-host-1.jsonl"
    log.parent.mkdir()
    log.write_text("\n".join(lines) + "\n")
    cache = tmp_path / "cache"
    assert count_records(str(log.parent), cache) == 20
    log.write_text("\n".join(lines[5:8]) + "\n")  # rotated: same name, new content
    assert count_records(str(log.parent), cache) == 3


def test_only_records_inside_the_window_are_read(world, write_frame_log, tmp_path):
    folder = write_frame_log(world.window("none", 0), days=4)
    cache = tmp_path / "cache"
    everything = rows_in(folder, cache)
    last_two_days = rows_in(folder, cache, END - timedelta(days=2), END)
    assert everything == len(world.window("none", 0))
    assert 0.3 * everything < last_two_days < 0.7 * everything


def test_the_services_record_format_is_read(tmp_path):
    from underwrite.inference_log import input_fields, record

    application = {name: 1.0 for name in input_fields()} | {"dep": None}
    rows = [
        record(application, request_id=f"r{i}", timestamp="2026-02-28T10:00:00.123+00:00",
               model_version="loan-approval:abc", model_md5="0" * 32, probability=0.7,
               approved=True)
        for i in range(3)
    ]  # fmt: skip
    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "2026-02-28-host-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = ["dep", "loanamt", "approved", TIMESTAMP]
    table = pa.Table.from_batches(list(read_window(str(folder), *WIDE, columns, tmp_path / "c")))
    assert table.column("loanamt").to_pylist() == [1.0] * 3
    assert table.column("dep").null_count == 3
    assert table.column("approved").to_pylist() == [1.0] * 3


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(LogError, match="no such folder"):
        rows_in(tmp_path / "nowhere", tmp_path / "cache")


@pytest.mark.integration
def test_drift_reads_an_azure_log_in_azurite(
    azurite, world, write_frame_log, profile_path, tmp_path
):
    """The production path: the log as blobs under azure://container/prefix, as serving writes."""
    folder = write_frame_log(world.window("income_inflation", 0))
    name = f"drift-{uuid.uuid4().hex[:12]}"  # the Azurite is shared by the whole session
    container = azurite.ensure_container(name)
    for path in folder.glob("*.jsonl"):
        container.upload_blob(f"prod/log/{path.name}", path.read_bytes(), overwrite=True)
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    out = tmp_path / "out"
    done = run_cli(
        "drift", "--log", f"azure://{name}/prod/log", "--profile", str(profile_path),
        "--out", str(out), "--end", END.isoformat(), "--cache", str(tmp_path / "cache"),
        env={k: v for k, v in os.environ.items() if not k.startswith("AZURE_")} | env,
    )  # fmt: skip
    assert done.returncode == ExitCode.DRIFT, done.stdout + done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["windows"][0]["rows"] == len(world.window("income_inflation", 0))
    assert result["windows"][0]["drifted_features"][0] in {"appinc", "atotinc", "cototinc"}


def service_lines(rows: int, **changes) -> list[str]:
    """Records as the service writes them, with some fields changed."""
    from underwrite.inference_log import input_fields, record

    application = {name: 1.0 for name in input_fields()} | {"dep": None}
    lines = []
    for i in range(rows):
        flat = record(application, request_id=f"r{i}", timestamp="2026-02-28T10:00:00+00:00",
                      model_version="loan-approval:abc", model_md5="0" * 32, probability=0.7,
                      approved=True)  # fmt: skip
        lines.append(json.dumps(flat | changes))
    return lines


@pytest.mark.parametrize(
    ("changes", "column", "expected"),
    [
        # the fast parser refuses these; the reader still takes them as it always did
        ({"timestamp": "2026-02-28T10:00:00"}, TIMESTAMP, datetime(2026, 2, 28, 10, tzinfo=UTC)),
        ({"loanamt": float("nan")}, "loanamt", None),
        ({"approved": 1}, "approved", 1.0),
    ],
    ids=["timestamp without a zone is UTC", "NaN is missing", "approved as a number"],
)
def test_records_outside_the_fast_parsers_rules_are_still_read(tmp_path, changes, column, expected):
    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "2026-02-28-host-1.jsonl").write_text("\n".join(service_lines(3, **changes)) + "\n")
    columns = list(dict.fromkeys([column, TIMESTAMP]))
    batches = read_window(str(folder), *WIDE, columns, tmp_path / "cache")
    values = pa.Table.from_batches(list(batches)).column(column).to_pylist()
    if expected is None:
        assert all(v is None or v != v for v in values)  # null or NaN: not a number
    else:
        assert values == [expected] * 3


def test_a_bad_line_in_one_of_several_files_is_named_with_its_file(tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    good = service_lines(4)
    for day in range(1, 6):  # converted concurrently: the error must still name its file
        lines = [*good[:2], '{"request_id": "x", "loanamt'] if day == 4 else good
        (folder / f"2026-02-0{day}-host-1.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(LogError, match=r"2026-02-04-host-1\.jsonl, line 3: not valid JSON"):
        rows_in(folder, tmp_path / "cache")
