"""The inference-log writer: never blocks the caller, loses nothing, closes cleanly."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from underwrite import inference_log
from underwrite.serving.log_writer import InferenceLogWriter


def records(n: int, start: int = 0) -> list[dict]:
    return [{"request_id": f"r{i}", "probability": i / 1000} for i in range(start, start + n)]


def stored_local(folder: Path) -> list[dict]:
    return [json.loads(line) for f in inference_log.log_files(folder) for line in f.open()]


def test_every_record_written_from_many_threads_is_stored_after_close(tmp_path: Path):
    writer = InferenceLogWriter(str(tmp_path), flush_seconds=0.05)
    threads = [
        threading.Thread(
            target=lambda k=k: [writer.write(records(5, 1000 * k + 5 * j)) for j in range(40)]
        )
        for k in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    ids = [r["request_id"] for r in stored_local(tmp_path)]
    assert len(ids) == 8 * 40 * 5 == len(set(ids))


def test_write_returns_without_waiting_for_a_slow_sink(tmp_path: Path):
    writer = InferenceLogWriter(str(tmp_path), flush_seconds=0.01)
    slow = writer.sink.append
    writer.sink.append = lambda lines: (time.sleep(0.5), slow(lines))
    start = time.perf_counter()
    for i in range(100):
        writer.write(records(1, i))
    assert time.perf_counter() - start < 0.25
    writer.close()
    assert len(stored_local(tmp_path)) == 100


def test_a_failing_sink_is_retried_until_it_recovers(tmp_path: Path):
    writer = InferenceLogWriter(str(tmp_path), flush_seconds=0.01, retry_seconds=0.01)
    real, failures = writer.sink.append, []

    def flaky(lines):
        if len(failures) < 2:
            failures.append(len(lines))
            raise OSError("disk briefly unavailable")
        real(lines)

    writer.sink.append = flaky
    writer.write(records(3))
    writer.close()
    assert failures and len(stored_local(tmp_path)) == 3


def test_records_are_flat_json_lines_in_jsonl_files_named_by_day_host_and_process(tmp_path):
    writer = InferenceLogWriter(str(tmp_path))
    writer.write(records(2))
    writer.close()
    (path,) = inference_log.log_files(tmp_path)
    day, _host, pid = path.stem[:10], path.stem[11:].rsplit("-", 1)[0], path.stem.rsplit("-", 1)[1]
    assert day == time.strftime("%Y-%m-%d", time.gmtime()) and pid.isdigit()
    assert [json.loads(line) for line in path.read_text().splitlines()] == records(2)


@pytest.mark.integration
def test_azure_location_stores_every_record_as_blobs(azurite, monkeypatch: pytest.MonkeyPatch):
    container_name = f"inference-{uuid.uuid4().hex[:12]}"  # the Azurite is shared by the session
    azurite.ensure_container(container_name)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    writer = InferenceLogWriter(f"azure://{container_name}/prod", flush_seconds=0.05)
    for i in range(10):
        writer.write(records(7, 7 * i))
    writer.close()
    container = azurite.service_client().get_container_client(container_name)
    blobs = [b.name for b in container.list_blobs(name_starts_with="prod/")]
    assert blobs and all(name.endswith(".jsonl") for name in blobs)
    lines = [
        json.loads(line)
        for name in blobs
        for line in container.download_blob(name).readall().decode().splitlines()
    ]
    assert sorted(r["request_id"] for r in lines) == sorted(f"r{i}" for i in range(70))
