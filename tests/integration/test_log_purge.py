"""`underwrite log purge --older-than DAYS`: retention for the inference log, local and Azure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from underwrite.cli import app

TODAY = datetime.now(UTC).date()


def _name(days_ago: int, host: str = "pod-1-42") -> str:
    return f"{(TODAY - timedelta(days=days_ago)).isoformat()}-{host}.jsonl"


AGES = [0, 29, 30, 31, 400]  # days ago; with --older-than 30, the last two go


def _purge(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["log", "purge", *args], env=env)


def test_local_purge_deletes_only_files_older_than_the_retention(tmp_path: Path):
    for days in AGES:
        (tmp_path / _name(days)).write_text('{"request_id": "r"}\n')
    (tmp_path / "notes.jsonl").write_text("{}\n")
    result = _purge("--older-than", "30", "--location", str(tmp_path))
    assert result.exit_code == 0, result.output
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*(_name(d) for d in (0, 29, 30)), "notes.jsonl"])
    assert "deleted 2 files, kept 3" in result.output and "left alone" in result.output


def test_dry_run_deletes_nothing(tmp_path: Path):
    for days in AGES:
        (tmp_path / _name(days)).write_text("{}\n")
    result = _purge("--older-than", "30", "--location", str(tmp_path), "--dry-run")
    assert result.exit_code == 0 and "would delete 2 files" in result.output
    assert len(list(tmp_path.iterdir())) == len(AGES)


def test_retention_under_one_day_is_refused(tmp_path: Path):
    result = _purge("--older-than", "0", "--location", str(tmp_path))
    assert result.exit_code != 0 and "at least 1 day" in result.output


@pytest.mark.integration
def test_azure_purge_deletes_old_blobs_under_the_prefix_only(azurite):
    container_name = f"purge-{uuid.uuid4().hex[:12]}"
    container = azurite.ensure_container(container_name)
    for days in AGES:
        container.upload_blob(f"prod/{_name(days)}", b"{}\n")
    container.upload_blob(f"other/{_name(400)}", b"{}\n")  # another prefix: not ours
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    result = _purge("--older-than", "30", "--location", f"azure://{container_name}/prod", env=env)
    assert result.exit_code == 0, result.output
    left = sorted(b.name for b in container.list_blobs())
    assert left == sorted([*(f"prod/{_name(d)}" for d in (0, 29, 30)), f"other/{_name(400)}"])
