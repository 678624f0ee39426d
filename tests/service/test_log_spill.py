"""The log writer's bounded buffer: storage down sheds to the spill folder, then catches up.

Storage is made unavailable for real: a plain file stands where the log folder should be,
so every append fails until the file is removed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from underwrite import inference_log
from underwrite.serving.log_writer import InferenceLogWriter


def records(n: int, start: int = 0) -> list[dict]:
    return [{"request_id": f"r{i}", "probability": 0.5} for i in range(start, start + n)]


def stored_ids(folder: Path) -> list[str]:
    return [
        json.loads(line)["request_id"]
        for path in inference_log.log_files(folder)
        for line in path.read_text().splitlines()
    ]


def spilled(folder: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in folder.glob("*.jsonl*"))


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def storage_down(log: Path) -> None:
    log.write_text("not a folder: storage is down")


def test_storage_down_spills_to_disk_and_sends_everything_on_recovery(tmp_path: Path):
    log, spill = tmp_path / "log", tmp_path / "spill"
    storage_down(log)
    writer = InferenceLogWriter(str(log), flush_seconds=0.02, max_records=100, spill=spill)
    for i in range(50):
        writer.write(records(20, 20 * i))
    assert wait_for(lambda: spilled(spill) == 1000)
    assert writer.buffered <= writer.max_records
    log.unlink()  # storage is back
    writer.write(records(1, 1000))
    assert wait_for(lambda: len(stored_ids(log)) == 1001)
    writer.close()
    assert sorted(stored_ids(log)) == sorted(f"r{i}" for i in range(1001))
    assert spilled(spill) == 0


def test_full_buffer_sheds_to_disk_without_waiting_for_the_sink(tmp_path: Path):
    log, spill = tmp_path / "log", tmp_path / "spill"
    writer = InferenceLogWriter(str(log), flush_seconds=0.02, max_records=10, spill=spill)
    gate = threading.Event()
    real = writer.sink.append
    writer.sink.append = lambda lines: (gate.wait(30), real(lines))  # a sink that hangs
    started = time.perf_counter()
    for i in range(100):
        writer.write(records(1, i))
    assert time.perf_counter() - started < 1.0
    assert writer.buffered <= 10 and spilled(spill) >= 90
    gate.set()
    writer.close()
    assert sorted(stored_ids(log)) == sorted(f"r{i}" for i in range(100))


def test_close_with_storage_down_keeps_the_records_in_the_spill(tmp_path: Path):
    log, spill = tmp_path / "log", tmp_path / "spill"
    storage_down(log)
    writer = InferenceLogWriter(str(log), flush_seconds=5, retry_seconds=0.01, spill=spill)
    writer.write(records(7))
    writer.close()
    assert spilled(spill) == 7


def test_spill_of_a_dead_process_is_sent_on_by_the_next_writer(tmp_path: Path):
    log, spill = tmp_path / "log", tmp_path / "spill"
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    spill.mkdir()
    orphan = spill / f"{socket.gethostname()}-{int(ended.stdout)}.jsonl"
    orphan.write_text("".join(json.dumps(r) + "\n" for r in records(5)))
    writer = InferenceLogWriter(str(log), flush_seconds=0.02, spill=spill)
    assert wait_for(lambda: len(stored_ids(log)) == 5)
    writer.close()
    assert not orphan.exists() and spilled(spill) == 0
