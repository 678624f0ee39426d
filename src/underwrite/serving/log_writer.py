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

import logging
import os
import queue
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from underwrite.io import AZURE_SCHEME, azure_storage_options
from underwrite.paths import INFERENCE_LOG_SPILL

log = logging.getLogger(__name__)

LINE = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY  # one JSON line per record

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
    """A background thread that appends queued records; ``write`` never waits for the sink.

    Memory is bounded: at most ``max_records`` records wait in memory. Records the sink
    refuses (storage down), and records written while the buffer is full, go to the local
    spill folder (JSON Lines, one file per process) instead; every successful flush then
    sends the spilled records on, oldest first, and deletes their files. A spill file left
    by a process that has died (same host) is sent on by the next writer that starts.
    """

    def __init__(
        self,
        location: str,
        flush_seconds: float = 1.0,
        retry_seconds: float = 2.0,
        max_records: int = 50_000,
        spill: Path | None = None,
    ):
        self.location = location
        self.sink = sink_for(location)
        self.flush_seconds = flush_seconds
        self.retry_seconds = retry_seconds
        self.max_records = max_records
        self.spill = Spill(spill or default_spill(location))
        self.buffered = 0  # records in the queue or in the thread's hands
        self.lock = threading.Lock()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self.thread.start()

    def write(self, records: list[dict]) -> None:
        with self.lock:
            if self.buffered + len(records) > self.max_records:
                self.spill.add(_lines(records), reason="the in-memory buffer is full")
                return
            self.buffered += len(records)
        self.queue.put(records)

    def close(self, timeout: float = 30.0) -> None:
        """Store everything written so far (or spill it), then stop the thread."""
        self.queue.put(_STOP)
        self.thread.join(timeout)
        if self.thread.is_alive():
            log.error("inference log %s: records still unwritten after %ss", self.location, timeout)

    def _run(self) -> None:
        self.spill.adopt_orphans()
        pending: list[str] = []
        stopping = False
        while not stopping:
            deadline = time.monotonic() + self.flush_seconds
            stopping = self._collect(pending, deadline)
            stored = self._store(pending, final=stopping) if pending else True
            if stored and self.spill.waiting():
                self._store_spilled(final=stopping)
            with self.lock:
                self.buffered -= len(pending)
            pending = []

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
            pending.extend(_lines(item))

    def _store(self, lines: list[str], final: bool) -> bool:
        """Append the lines; spill them if the sink fails (retried from the spill)."""
        if self._append(lines, attempts=3 if final else 1):
            return True
        self.spill.add(lines, reason="the sink failed")
        return False

    def _store_spilled(self, final: bool) -> None:
        for path in self.spill.claim():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            if not self._append(lines, attempts=3 if final else 1):
                return  # the file stays claimed, first in line for the next round
            path.unlink()
            log.info("inference log %s: %d spilled records sent on", self.location, len(lines))

    def _append(self, lines: list[str], attempts: int) -> bool:
        for attempt in range(attempts):
            try:
                self.sink.append(lines)
                return True
            except Exception as err:
                log.warning(
                    "inference log %s: %d records not written yet (%s: %s)",
                    self.location,
                    len(lines),
                    type(err).__name__,
                    err,
                )
                if attempt + 1 < attempts:
                    time.sleep(self.retry_seconds)
        return False


def _lines(records: list[dict]) -> list[str]:
    # orjson: 0.8 ms per 500 records against pydantic-core's 1.8 and json.dumps's ~9 (which
    # took a third of a busy worker's time). A record holds no NaN (requests refuse it; null
    # is None); were one there, orjson writes it as null, so every line stays strict JSON.
    return [orjson.dumps(r, option=LINE).decode() for r in records]


def default_spill(location: str) -> Path:
    """``<folder>-spill`` beside a local log; ``paths.INFERENCE_LOG_SPILL`` for azure://."""
    if location.startswith(AZURE_SCHEME):
        return Path(INFERENCE_LOG_SPILL)
    return Path(location.rstrip("/") + "-spill")


class Spill:
    """Local JSON Lines files of records not yet stored: ``<host>-<pid>.jsonl`` per process.

    A file being sent on is renamed to ``*.sending`` first, so ``add`` (which appends to the
    process's own file) never writes into a file that is being read and deleted.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.host = socket.gethostname()
        self.own = folder / f"{self.host}-{os.getpid()}{SPILL_SUFFIX}"
        self.lock = threading.Lock()
        self.warned = 0.0

    def add(self, lines: list[str], reason: str) -> None:
        try:
            with self.lock:
                self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                with self.own.open("a", encoding="utf-8") as out:
                    out.writelines(lines)
                    out.flush()
                    os.fsync(out.fileno())
        except OSError as err:
            log.error("inference log: %d records lost: cannot spill to %s (%s)", len(lines),
                      self.folder, err)  # fmt: skip
            return
        if time.monotonic() - self.warned > 60:  # one line a minute, not one per request
            self.warned = time.monotonic()
            log.warning("inference log: %s; spilling records to %s", reason, self.folder)

    def waiting(self) -> bool:
        return self.own.exists() or any(self.folder.glob(f"*{SENDING_SUFFIX}"))

    def claim(self) -> list[Path]:
        """This process's spill files (and adopted ones), renamed for sending, oldest first."""
        with self.lock:
            if self.own.exists():
                self.own.rename(self.own.with_name(f"{time.time_ns()}-{self.own.name}.sending"))
        mine = f"-{self.own.name}{SENDING_SUFFIX}"
        return sorted(p for p in self.folder.glob(f"*{SENDING_SUFFIX}") if p.name.endswith(mine))

    def adopt_orphans(self) -> None:
        """Take over the spill files of dead processes on this host, to send them on."""
        for path in self.folder.glob(f"*{SPILL_SUFFIX}*"):
            owner = path.name.split(SPILL_SUFFIX)[0]  # [<ns>-]<host>-<pid>
            pid = owner.rsplit("-", 1)[-1]
            if not (owner.endswith(f"{self.host}-{pid}") and pid.isdigit()):
                continue
            if int(pid) != os.getpid() and not _alive(int(pid)):
                path.rename(path.with_name(f"{time.time_ns()}-{self.own.name}.sending"))
                log.info("inference log: sending on %s, spilled by a process that ended", path)


SPILL_SUFFIX = ".jsonl"
SENDING_SUFFIX = ".sending"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
