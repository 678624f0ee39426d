"""Load the served model with locust or wrk, beside baselines, and print the results as markdown.

    uv run --group bench python benchmarks/serving.py [--seconds 20] [--concurrency 1 16 64]

Serves models/model.joblib (imported into a scratch BENTOML_HOME under benchmarks/.work/) as:
this service (`bentoml serve underwrite.serving.service:LoanApproval`, 2 workers: the compiled
predictor, reasons for denials); the same service as of ``--baseline-ref`` (by default the
last commit that served the scikit-learn Pipeline itself); an untuned BentoML service of the
same model (benchmarks/serving_untuned.py: BentoML's defaults); a minimal uvicorn + Starlette
app (benchmarks/serving_asgi.py) at 1 and 2 workers; and the same app answering a constant
after parsing the JSON body (the HTTP ceiling of the machine). Each is loaded (closed loop,
no think time) at each concurrency, with single applications (/predict) and batches
(/predict_batch), on loopback only, for a bounded time; the services also with batches of
``--big-batch`` applications at concurrency ``--big-batch-concurrency``. After each system's
load, the resident memory of its processes. Then the settings ladder: what each of the
service's settings adds, at concurrency 16. First, the model call itself, in-process: the
Pipeline against the compiled predictor, with and without reasons. Nothing here asserts a
time; results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
BIN = Path(sys.executable).parent
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
BASELINE_REF = "b6d650b"  # the last commit whose service called the Pipeline itself


@dataclass(frozen=True)
class System:
    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path = ROOT


@dataclass(frozen=True)
class Result:
    system: str
    route: str
    concurrency: int
    requests: int
    failures: int
    rps: float
    p50: float
    p99: float
    rows_per_request: int

    def row(self) -> str:
        rows = f"{self.rps * self.rows_per_request:,.0f}" if self.rows_per_request > 1 else ""
        return (
            f"| {self.system} | {self.route} | {self.concurrency} | {self.rps:,.1f} | "
            f"{self.p50:,.0f} | {self.p99:,.0f} | {self.failures} of {self.requests} | {rows} |"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def import_model(home: Path) -> str:
    env = dict(os.environ, BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="True")
    done = subprocess.run(
        [str(BIN / "underwrite"), "import-model"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        sys.exit(f"cannot import models/model.joblib: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def start(system: System, port: int, log: Path) -> subprocess.Popen:
    command = [part.replace("{port}", str(port)) for part in system.command]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=system.cwd,
            env=system.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 240
    body = json.loads((log.parent / "single.json").read_text())
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{system.name} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.post(f"http://127.0.0.1:{port}/predict", json=body, timeout=5).is_success:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop(process)
    sys.exit(f"{system.name} did not answer within 240 s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def locust(url: str, route: str, body: Path, users: int, seconds: int, out: Path) -> dict:
    prefix = out / f"locust-{route.strip('/')}-{users}"
    env = dict(os.environ, BENCH_ROUTE=route, BENCH_BODY=str(body))
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / "serving_locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "-H",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "10",
    ]
    subprocess.run(command, env=env, capture_output=True, timeout=seconds + 120, check=False)
    with open(f"{prefix}_stats.csv") as stats:
        return next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")


def wrk(url: str, route: str, body: Path, users: int, seconds: int, out: Path) -> dict:
    """The same closed loop from wrk (C, one thread): far less of the 2 cores than locust."""
    command = ["wrk", "-t", "1", "-c", str(users), "-d", f"{seconds}s", "--timeout", "30s"]
    command += ["-s", str(HERE / "serving_wrk.lua"), url + route]
    env = dict(os.environ, BENCH_BODY=str(body))
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    (out / f"wrk-{route.strip('/')}-{users}.txt").write_text(done.stdout)
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "Request Count": stats["requests"],
        "Failure Count": stats["errors"],
        "Requests/s": str(stats["requests"] / stats["seconds"]),
        "50%": str(stats["p50"]),
        "99%": str(stats["p99"]),
    }


LOAD_GENERATORS = {"locust": locust, "wrk": wrk}


def number(value: str) -> float:
    """A locust statistic; N/A (no request completed in the run) is NaN."""
    return float("nan") if value == "N/A" else float(value)


def resident_mib(root: int) -> list[float]:
    """Resident memory (MiB) of a process and all its descendants, largest first."""
    parent, rss = {}, {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        pid = int(status.parent.name)
        parent[pid] = int(fields["PPid"])
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
    family, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parent.items() if ppid in family} - family
        family |= more
        grew = bool(more)
    return sorted((rss[pid] for pid in family if pid in rss), reverse=True)


def measure(system: System, cells: list[tuple[str, Path, int, int]], args, work: Path) -> list:
    """Load each (route, body, rows per request, concurrency) cell; then the memory."""
    port = free_port()
    process = start(system, port, work / f"{system.name.replace(' ', '_')}.log")
    results = []
    try:
        for route, body, rows, users in cells:
            load = LOAD_GENERATORS[args.load_generator]
            stats = load(f"http://127.0.0.1:{port}", route, body, users, args.seconds, work)
            results.append(
                Result(
                    system.name,
                    route if rows == 1 else f"{route} ({rows})",
                    users,
                    int(stats["Request Count"]),
                    int(stats["Failure Count"]),
                    number(stats["Requests/s"]),
                    number(stats["50%"]),
                    number(stats["99%"]),
                    rows,
                )
            )
            print(results[-1].row(), flush=True)
        memory = ", ".join(f"{mib:,.0f}" for mib in resident_mib(process.pid))
        MEMORY.append(f"| {system.name} | {memory} |")
    finally:
        stop(process)
    return results


MEMORY: list[str] = []


def model_call(tag: str, home: Path) -> list[str]:
    """Milliseconds per model call by rows, one thread: the Pipeline (from a frame, as the
    service built it), the compiled predictor (from an array), and reasons for every row."""
    script = (
        "import time, json, bentoml, joblib, numpy as np, pandas as pd\n"
        "from threadpoolctl import threadpool_limits\n"
        "from underwrite.serving.store import load_pipeline, load_predictor\n"
        "from underwrite.serving.reasons import Explainer\n"
        "threadpool_limits(1)\n"
        f"m = bentoml.models.get({tag!r}); p = load_pipeline(m)\n"
        "from underwrite.schema import feature_columns, names\n"
        "cols = names(feature_columns(m.info.metadata['include_protected']))\n"
        "c = load_predictor(m, p, cols); e = Explainer(c, m.info.metadata.get('typical', {}))\n"
        "rows = json.load(open(m.path_of('golden.json')))['applications']\n"
        "def timed(f, n):\n"
        "    f(); t = time.perf_counter()\n"
        "    for _ in range(n): f()\n"
        "    return (time.perf_counter() - t) / n * 1000\n"
        "for n in (1, 16, 64, 256, 500):\n"
        "    f = pd.DataFrame.from_records((rows * 80)[:n], columns=cols).astype(float)\n"
        "    X = f.to_numpy(); every = np.ones(n, bool)\n"
        "    a = timed(lambda: p.predict_proba(f), 30)\n"
        "    b = timed(lambda: c.predict_proba(X), 300)\n"
        "    r = timed(lambda: e.reasons(X, every), 30)\n"
        "    print(n, a, b, r)\n"
    )
    env = dict(os.environ, BENTOML_HOME=str(home), OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900
    )
    if out.returncode != 0:
        sys.exit(f"model call timing failed:\n{out.stderr[-3000:]}")
    return [
        f"| {n} | {float(a):.3f} | {float(b):.3f} | {float(r):.3f} | {float(a) / float(b):,.0f}x |"
        for n, a, b, r in (line.split() for line in out.stdout.splitlines())
    ]


def baseline_source(ref: str, work: Path) -> Path:
    """src/ of the repository at REF, extracted under the work folder."""
    target = work / f"baseline-{ref}"
    if not (target / "src").is_dir():
        archive = subprocess.run(
            ["git", "archive", ref, "src"], cwd=ROOT, capture_output=True, check=True, timeout=120
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target / "src"


def systems(tag: str, home: Path, baseline: Path) -> dict[str, System]:
    base = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    base.update(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="True", UNDERWRITE_MODEL_TAG=tag)
    tuned = dict(base, UNDERWRITE_WORKERS="2", UNDERWRITE_INFERENCE_LOG=str(home / "inference"))
    before = dict(tuned, PYTHONPATH=str(baseline))
    constant = dict(base, ASGI_CONSTANT="1")
    bento = [str(BIN / "bentoml"), "serve", "--host", "127.0.0.1", "--port", "{port}"]
    uvicorn = [str(BIN / "uvicorn"), "serving_asgi:app", "--host", "127.0.0.1", "--port", "{port}"]
    service = "underwrite.serving.service:LoanApproval"
    return {
        "tuned": System("this service", [*bento, service], tuned),
        "before": System(
            f"this service at {baseline.parent.name}", [*bento, service], before, baseline.parent
        ),
        "constant1": System("Starlette constant 1w", [*uvicorn, "--workers", "1"], constant, HERE),
        "constant2": System("Starlette constant 2w", [*uvicorn, "--workers", "2"], constant, HERE),
        "untuned": System("BentoML untuned", [*bento, "serving_untuned:Untuned"], base, HERE),
        "asgi1": System("uvicorn+Starlette 1w", [*uvicorn, "--workers", "1"], base, HERE),
        "asgi2": System("uvicorn+Starlette 2w", [*uvicorn, "--workers", "2"], base, HERE),
        # the settings ladder: this service with its settings switched off, one at a time
        "ladder0": System(
            "service: 1 worker, 2 math threads, no batching",
            [*bento, "underwrite.serving.service:LoanApproval"],
            dict(
                tuned, UNDERWRITE_WORKERS="1", OMP_NUM_THREADS="2", UNDERWRITE_MAX_MODEL_BATCH="1"
            ),
        ),
        "ladder1": System(
            "service: 1 worker, 1 math thread, no batching",
            [*bento, "underwrite.serving.service:LoanApproval"],
            dict(tuned, UNDERWRITE_WORKERS="1", UNDERWRITE_MAX_MODEL_BATCH="1"),
        ),
        "ladder2": System(
            "service: 2 workers, 1 math thread, no batching",
            [*bento, "underwrite.serving.service:LoanApproval"],
            dict(tuned, UNDERWRITE_MAX_MODEL_BATCH="1"),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="per load run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--batch-size", type=int, default=50, help="applications per batch")
    parser.add_argument("--big-batch", type=int, default=500, help="applications per big batch")
    parser.add_argument("--big-batch-concurrency", type=int, default=4)
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the 'before'")
    parser.add_argument("--only", nargs="+", help="systems to run (default: all)")
    parser.add_argument(
        "--load-generator",
        choices=sorted(LOAD_GENERATORS),
        default="locust",
        help="wrk (Debian package `wrk`) leaves more of the cores to the server",
    )
    parser.add_argument(
        "--model-tag",
        help="a model already in the --bentoml-home store, instead of models/model.joblib",
    )
    parser.add_argument("--bentoml-home", type=Path, help="the store --model-tag is in")
    args = parser.parse_args()
    if bool(args.model_tag) != bool(args.bentoml_home):
        parser.error("--model-tag and --bentoml-home go together")
    work = HERE / ".work" / "serving"
    work.mkdir(parents=True, exist_ok=True)
    home = args.bentoml_home or work / "bentoml"
    tag = args.model_tag or import_model(home)
    golden, denied = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, bentoml; from underwrite.serving.contract import golden_applications;"
                f" m = bentoml.models.get({tag!r}); t = m.info.metadata['threshold'];"
                " p = json.load(open(m.path_of('golden.json')))['probabilities'];"
                " print(json.dumps([golden_applications(), [q < t for q in p]]))",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env=dict(os.environ, BENTOML_HOME=str(home)),
        ).stdout
    )
    # /predict sends a golden application the model denies, so each request computes reasons
    (work / "single.json").write_text(json.dumps(golden[denied.index(True) if any(denied) else 0]))
    (work / "batch.json").write_text(json.dumps((golden * args.batch_size)[: args.batch_size]))
    big = (golden * args.big_batch)[: args.big_batch]
    (work / "big.json").write_text(json.dumps(big))
    routes = [
        ("/predict", work / "single.json", 1),
        ("/predict_batch", work / "batch.json", args.batch_size),
    ]
    cells = [(*route, users) for route in routes for users in args.concurrency]
    big_cell = ("/predict_batch", work / "big.json", args.big_batch, args.big_batch_concurrency)
    print(f"{platform.node()}: {os.cpu_count()} cores, load {os.getloadavg()}, model {tag}\n")
    print(
        "| rows | Pipeline ms | compiled ms | reasons ms (every row) | speed-up |\n"
        "| --- | --- | --- | --- | --- |\n" + "\n".join(model_call(tag, home))
    )
    print("\n| system | route | concurrency | req/s | p50 ms | p99 ms | errors | rows/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    chosen = systems(tag, home, baseline_source(args.baseline_ref, work))
    for key in args.only or list(chosen):
        if key.startswith("ladder"):
            measure(chosen[key], [(*routes[0], 16)], args, work)
        elif key in ("tuned", "before", "constant1", "constant2"):
            measure(chosen[key], [*cells, big_cell], args, work)
        else:
            measure(chosen[key], cells, args, work)
    print("\n| system | resident MiB per process, after its load |\n| --- | --- |")
    print("\n".join(MEMORY))
    print(f"\nload {os.getloadavg()} at the end")


if __name__ == "__main__":
    main()
