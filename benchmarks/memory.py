"""Peak memory of the served model under batch load: the budget behind deploy/'s limits.

    uv run python benchmarks/memory.py [--workers 1 2] [--concurrency 256] [--seconds 12]
                                       [--cap 128] [--body-bytes 1048000] [--azurite]

Serves models/model.joblib (imported into a scratch BENTOML_HOME under benchmarks/.work/) with
`bentoml serve underwrite.serving.service:LoanApproval` at each worker count (UNDERWRITE_WORKERS, as
the manifests set it from the CPU limit), samples the resident memory (RSS) of the server's
process tree every 0.1 s while idle, then while `--concurrency` clients send 500-row
`/predict_batch` requests back to back for `--seconds` (loopback only, bounded; `--cap` sets
BentoML's max_concurrency per worker as deploy/ does, beyond which requests get 429;
`--azurite` writes the inference log to azure:// on a private Azurite, as the pods do), and prints a
markdown table: peak RSS of the parent (BentoML's arbiter), of each worker, and of the whole
tree at one instant (what a container's memory limit sees, without page cache). Nothing here
asserts a size; results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from serving import BIN, HERE, ROOT, THREAD_VARIABLES, System, free_port, import_model, start, stop

MIB = 1 << 20
BATCH_ROWS = 500  # the service's UNDERWRITE_MAX_BATCH


@dataclass
class Peaks:
    """Highest RSS seen per process (by role) and of the whole tree at one sample."""

    parent: int = 0
    workers: dict[int, int] = field(default_factory=dict)
    tree: int = 0

    def sample(self, root: psutil.Process) -> None:
        try:
            children = root.children(recursive=True)
            parent = root.memory_info().rss
        except psutil.NoSuchProcess:
            return
        total = parent
        self.parent = max(self.parent, parent)
        for child in children:
            try:
                rss = child.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            total += rss
            self.workers[child.pid] = max(self.workers.get(child.pid, 0), rss)
        self.tree = max(self.tree, total)

    def row(self, label: str, workers: int) -> str:
        per_worker = sorted(self.workers.values(), reverse=True)[:workers]
        others = sorted(self.workers.values(), reverse=True)[workers:]
        shown = " / ".join(f"{rss / MIB:,.0f}" for rss in per_worker)
        rest = f" (+{sum(others) / MIB:,.0f} other)" if others else ""
        parent, tree = f"{self.parent / MIB:,.0f}", f"{self.tree / MIB:,.0f}"
        return f"| {workers} | {label} | {parent} | {shown}{rest} | {tree} |"


def watch(root: psutil.Process, peaks: Peaks, stop_event: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not stop_event.is_set():
            peaks.sample(root)
            time.sleep(0.1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


async def drive(url: str, body: bytes, concurrency: int, seconds: float) -> Counter:
    """Closed loop: each client sends the next batch as soon as its answer arrives."""
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one_client() -> None:
            while time.monotonic() < deadline:
                try:
                    answer = await client.post(url, content=body, headers=headers)
                    statuses[answer.status_code] += 1
                except httpx.TransportError as error:
                    statuses[type(error).__name__] += 1

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return statuses


def measure_peaks(root: psutil.Process, action) -> tuple[Peaks, object]:
    peaks, stop_event = Peaks(), threading.Event()
    thread = watch(root, peaks, stop_event)
    try:
        result = action()
    finally:
        stop_event.set()
        thread.join()
    return peaks, result


def padded(body: bytes, size: int) -> bytes:
    """The batch with trailing whitespace up to `size` bytes: the largest body a client may send."""
    if size and size < len(body):
        sys.exit(f"--body-bytes {size}: the batch alone is {len(body):,} bytes")
    return body + b" " * (size - len(body)) if size else body


def golden_batch() -> bytes:
    golden = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import json; from underwrite.serving.contract import golden_applications;"
                " print(json.dumps(golden_applications()))",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
    )
    (HERE / ".work" / "memory" / "single.json").write_text(json.dumps(golden[0]))
    return json.dumps((golden * BATCH_ROWS)[:BATCH_ROWS]).encode()


def concurrency_cap(per_worker: int, workers: int) -> dict[str, str]:
    """BentoML's max_concurrency for the service, as the manifests set it (0: no cap)."""
    if not per_worker:
        return {}
    traffic = {"traffic": {"max_concurrency": per_worker * workers}}
    return {"BENTOML_CONFIG_OVERRIDES": json.dumps({"services": {"loan_approval": traffic}})}


@contextlib.contextmanager
def inference_log(azurite: bool, home: Path) -> Iterator[dict[str, str]]:
    """A local folder, or a container on a private Azurite (what the pods write: azure://)."""
    if not azurite:
        yield {"UNDERWRITE_INFERENCE_LOG": str(home / "inference")}
        return
    from underwrite.storage.emulator import Emulator, free_loopback_port

    emulator = Emulator(port=free_loopback_port(), location=HERE / ".work" / "memory" / "azurite")
    emulator.start()
    try:
        emulator.ensure_container("inference-log")
        yield {
            "UNDERWRITE_INFERENCE_LOG": "azure://inference-log/memory-benchmark",
            "AZURE_STORAGE_CONNECTION_STRING": emulator.connection_string,
        }
    finally:
        emulator.stop()


def run(workers: int, tag: str, home: Path, body: bytes, log: dict[str, str], args) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(concurrency_cap(args.cap, workers))
    env.update(log)
    env.update(
        BENTOML_HOME=str(home),
        BENTOML_DO_NOT_TRACK="true",
        UNDERWRITE_MODEL_TAG=tag,
        UNDERWRITE_WORKERS=str(workers),
    )
    command = [str(BIN / "bentoml"), "serve", "--host", "127.0.0.1", "--port", "{port}"]
    system = System(
        f"{workers} workers", [*command, "underwrite.serving.service:LoanApproval"], env
    )
    port = free_port()
    process = start(system, port, HERE / ".work" / "memory" / f"serve-{workers}.log")
    try:
        root = psutil.Process(process.pid)
        idle, _ = measure_peaks(root, lambda: time.sleep(3))
        url = f"http://127.0.0.1:{port}/predict_batch"
        loaded, statuses = measure_peaks(
            root, lambda: asyncio.run(drive(url, body, args.concurrency, args.seconds))
        )
        after, _ = measure_peaks(root, lambda: time.sleep(3))
    finally:
        stop(process)
    counted = sorted(statuses.items(), key=str)
    answers = ", ".join(f"{count} x {status}" for status, count in counted)
    return [
        idle.row("idle", workers),
        loaded.row(f"{args.concurrency} clients x {args.seconds} s: {answers}", workers),
        after.row("3 s after the load", workers),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=256, help="clients, each one batch")
    parser.add_argument("--seconds", type=float, default=12, help="load per worker count")
    parser.add_argument(
        "--body-bytes",
        type=int,
        default=0,
        help="pad each batch with whitespace to this size (the limit is 1048576)",
    )
    parser.add_argument(
        "--azurite",
        action="store_true",
        help="write the inference log to azure:// on a private Azurite, as the pods do",
    )
    parser.add_argument(
        "--cap", type=int, default=0, help="concurrent requests per worker (0: BentoML's none)"
    )
    args = parser.parse_args()
    work = HERE / ".work" / "memory"
    work.mkdir(parents=True, exist_ok=True)
    home = work / "bentoml"
    tag = import_model(home)
    body = padded(golden_batch(), args.body_bytes)
    memory = psutil.virtual_memory().total / MIB
    print(f"{platform.node()}: {os.cpu_count()} cores, {memory:,.0f} MiB")
    print(f"load {os.getloadavg()}, model {tag}, {BATCH_ROWS}-row batches of {len(body):,} bytes")
    print(f"concurrent requests per worker: {args.cap or 'no cap'}")
    print(f"inference log: {'azure:// on Azurite' if args.azurite else 'a local folder'}\n")
    print("| workers | phase | parent MiB | worker MiB (peak each) | tree MiB (peak sum) |")
    print("| --- | --- | --- | --- | --- |")
    with inference_log(args.azurite, home) as log:
        for workers in args.workers:
            for line in run(workers, tag, home, body, log, args):
                print(line, flush=True)
    print(f"\nload {os.getloadavg()} at the end; repository {ROOT}")


if __name__ == "__main__":
    main()
