"""How many answered requests lose their inference-log record when the server is SIGKILLed
under load.

    uv run python benchmarks/log_loss.py [--seconds 10] [--concurrency 32] [--runs 3]

Serves models/model.joblib (imported into a scratch BENTOML_HOME under benchmarks/.work/)
with `bentoml serve` (2 workers, a local log folder), loads /predict from CONCURRENCY
threads, then kills the whole process group with SIGKILL while the load runs: no shutdown
hook, no flush. Every request id answered with 200 is then looked for in the log files and
the spill folder. Prints one markdown row per run; docs/serving.md quotes them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "log-loss"
BIN = Path(sys.executable).parent
SERVICE = "underwrite.serving.service:LoanApproval"


def import_model(home: Path) -> str:
    from underwrite.serving.store import import_model as store_import

    os.environ["BENTOML_HOME"] = str(home)
    return str(store_import(ROOT / "models" / "model.joblib", ROOT))


def serve(tag: str, run: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "UNDERWRITE_MODEL_TAG": tag,
        "UNDERWRITE_WORKERS": "2",
        "UNDERWRITE_INFERENCE_LOG": str(run / "log"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    command = [str(BIN / "bentoml"), "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)]
    with (run / "server.log").open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    raise TimeoutError(f"not ready: see {run / 'server.log'}")


def load(url: str, application: dict, stop: threading.Event, answered: list[str]) -> None:
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                answer = client.post(f"{url}/predict", json=application)
            except httpx.HTTPError:
                return  # the server is gone
            if answer.status_code == 200:
                answered.append(answer.json()["request_id"])


def logged(run: Path) -> set[str]:
    ids: set[str] = set()
    for folder in (run / "log", run / "log-spill"):
        for path in folder.glob("*.jsonl*"):
            for line in path.read_text().splitlines():
                with contextlib.suppress(json.JSONDecodeError, KeyError):  # cut short by the kill
                    ids.add(json.loads(line)["request_id"])
    return ids


def one_run(tag: str, index: int, seconds: float, concurrency: int) -> dict:
    from underwrite.serving.contract import golden_applications
    from underwrite.storage.emulator import free_loopback_port

    run = WORK / f"run-{index}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    port = free_loopback_port()
    server = serve(tag, run, port)
    stop, answered = threading.Event(), []
    threads = [
        threading.Thread(
            target=load, args=(f"http://127.0.0.1:{port}", golden_applications()[0], stop, answered)
        )
        for _ in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    os.killpg(server.pid, signal.SIGKILL)  # mid-load: no shutdown hook runs
    server.wait(30)
    stop.set()
    for thread in threads:
        thread.join(30)
    found = logged(run)
    lost = [i for i in answered if i not in found]
    return {"answered": len(answered), "lost": len(lost), "rate": len(answered) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tag = import_model(WORK / "bentoml")
    print("| run | answered | requests/s | records lost | share lost |")
    print("| --- | --- | --- | --- | --- |")
    for index in range(1, args.runs + 1):
        result = one_run(tag, index, args.seconds, args.concurrency)
        share = result["lost"] / max(result["answered"], 1)
        print(f"| {index} | {result['answered']} | {result['rate']:.0f} | {result['lost']} "
              f"| {share:.1%} |")  # fmt: skip


if __name__ == "__main__":
    main()
