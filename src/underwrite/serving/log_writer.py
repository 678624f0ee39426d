"""Appends inference-log records without blocking the request path and without losing any.

The service hands records to ``InferenceLogWriter.write``, which only puts them on a
queue; one background thread turns them into JSON Lines and appends them, locally to one
file per process and day, or to Azure Blob storage as one new blob per flush (blobs are
immutable: appending in place would need append blobs and a lock between processes).
``close`` drains the queue and flushes, so after a clean shutdown every accepted record is
stored. Files are named ``<day>-<host>-<pid>[-<seq>].jsonl`` so that workers, replicas and
restarts never write to the same file.

Why not ``bentoml.monitor``: it formats and writes each record synchronously inside the
request (a file write per prediction on the request path), writes only to local files
(or OTLP), names its files ``data.<worker>.log`` beside a schema file, and stamps a naive
local-time timestamp and the tracing span as request id. None of that fits the flat,
UTC-stamped ``*.jsonl`` contract in ``inference_log`` that drift monitoring reads.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from underwrite.io import AZURE_SCHEME, azure_storage_options

log = logging.getLogger(__name__)

_STOP = object()


class LocalSink:
    """Appends to ``<folder>/<day>-<host>-<pid>.jsonl``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.stem = f"{socket.gethostname()}-{os.getpid()}"

    def append(self, lines: list[str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with (self.folder / f"{day}-{self.stem}.jsonl").open("a", encoding="utf-8") as out:
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())


class BlobSink:
    """Writes each flush as a new blob under ``azure://<container>/<prefix>``."""

    def __init__(self, url: str):
        import adlfs

        self.fs = adlfs.AzureBlobFileSystem(**azure_storage_options())
        self.prefix = url.removeprefix(AZURE_SCHEME).rstrip("/")
        self.stem = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        self.sequence = 0

    def append(self, lines: list[str]) -> None:
        self.sequence += 1
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        path = f"{self.prefix}/{day}-{self.stem}-{self.sequence:06d}.jsonl"
        self.fs.pipe_file(path, "".join(lines).encode("utf-8"))


def sink_for(location: str) -> LocalSink | BlobSink:
    """A local folder, or azure://<container>/<prefix> (credentials as for the DVC remote)."""
    if location.startswith(AZURE_SCHEME):
        return BlobSink(location)
    return LocalSink(Path(location))


class InferenceLogWriter:
    """A background thread that appends queued records; ``write`` never waits for I/O."""

    def __init__(self, location: str, flush_seconds: float = 1.0, retry_seconds: float = 2.0):
        self.location = location
        self.sink = sink_for(location)
        self.flush_seconds = flush_seconds
        self.retry_seconds = retry_seconds
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self.thread.start()

    def write(self, records: list[dict]) -> None:
        self.queue.put(records)

    def close(self, timeout: float = 30.0) -> None:
        """Store everything written so far, then stop the thread."""
        self.queue.put(_STOP)
        self.thread.join(timeout)
        if self.thread.is_alive():
            log.error("inference log %s: records still unwritten after %ss", self.location, timeout)

    def _run(self) -> None:
        pending: list[str] = []
        stopping = False
        while not stopping:
            deadline = time.monotonic() + self.flush_seconds
            stopping = self._collect(pending, deadline)
            if pending:
                pending = self._store(pending, final=stopping)

    def _collect(self, pending: list[str], deadline: float) -> bool:
        """Move records from the queue to ``pending`` until the deadline; True on close."""
        while True:
            wait = deadline - time.monotonic()
            try:
                item = self.queue.get(timeout=max(wait, 0)) if wait > 0 else self.queue.get_nowait()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            pending.extend(json.dumps(r, allow_nan=False) + "\n" for r in item)

    def _store(self, lines: list[str], final: bool) -> list[str]:
        """Append the lines; keep them for the next round if the sink fails (retried)."""
        attempts = 3 if final else 1
        for attempt in range(attempts):
            try:
                self.sink.append(lines)
                return []
            except Exception:
                log.exception(
                    "inference log %s: %d records not written yet", self.location, len(lines)
                )
                if attempt + 1 < attempts:
                    time.sleep(self.retry_seconds)
        if final:
            log.error("inference log %s: %d records lost at shutdown", self.location, len(lines))
        return lines
