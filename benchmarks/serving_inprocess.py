"""The service's own cost per call, in-process on one core: no sockets, no load generator.

    .venv/bin/python benchmarks/serving_inprocess.py [--repeat 300] [--profile single|batch]

Imports models/model.joblib into the scratch store benchmarks/serving.py uses, then times
in CPU time of the process (all its threads; the best of five rounds): the model call
(compiled predictor) for 1 and 500 rows and reasons for those rows, one thread; whole
requests through the service's ASGI app (``LoanApproval.to_asgi()``: every middleware, the
strict parser, batching, the answer and the inference log, written by its thread),
``/predict`` with one application and ``/predict_batch`` with 500, driven directly as ASGI
calls, one at a time and 16 at once; and the stages of a 500-application request. The
bodies are those of benchmarks/serving.py: the first golden application the model denies,
and the seven golden applications repeated (the script prints the share of them denied).
``--profile`` prints cProfile's top functions (main thread only) for one of the request
kinds instead; for every thread, run the loop under ``py-spy record``. Nothing here
asserts a time; results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "serving"
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"


ROUNDS = 5  # each time is the best round's: the machine is shared, its noise only adds
# CPU time of this process (all its threads), not wall time: on a shared machine it counts
# what a call costs, not how long other processes held the cores meanwhile.
clock = time.process_time


def timed(call, repeat: int) -> float:
    """CPU milliseconds per call, after one call to warm up: the best of ROUNDS rounds."""
    call()
    best = float("inf")
    for _ in range(ROUNDS):
        start = clock()
        for _ in range(max(1, repeat // ROUNDS)):
            call()
        best = min(best, (clock() - start) / max(1, repeat // ROUNDS))
    return best * 1000


class ASGIClient:
    """Drives an ASGI app directly: its lifespan, then POST requests, answers collected."""

    def __init__(self, app):
        self.app = app
        self.state: dict = {}

    async def start(self) -> None:
        self._shutdown = asyncio.Event()
        started = asyncio.Event()
        messages = [{"type": "lifespan.startup"}]

        async def receive() -> dict:
            if messages:
                return messages.pop()
            await self._shutdown.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: dict) -> None:
            if message["type"].startswith("lifespan.startup"):
                if message["type"].endswith("failed"):
                    sys.exit(f"the service did not start: {message.get('message')}")
                started.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._lifespan = asyncio.ensure_future(self.app(scope, receive, send))
        await started.wait()

    async def stop(self) -> None:
        self._shutdown.set()
        await self._lifespan

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 3000),
            "state": dict(self.state),
        }
        sent = False
        answer: dict = {"status": 0, "body": []}

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"].append(message.get("body", b""))

        await self.app(scope, receive, send)
        return answer["status"], b"".join(answer["body"])


async def requests_ms(client: ASGIClient, path: str, body: bytes, repeat: int, together: int):
    """CPU milliseconds per request, ``together`` requests in flight at a time."""

    async def one() -> None:
        status, answer = await client.post(path, body)
        if status != 200:
            sys.exit(f"{path}: {status} {answer[:300]!r}")

    await one()
    waves = max(1, repeat // together // ROUNDS)
    best = float("inf")
    for _ in range(ROUNDS):
        start = clock()
        for _ in range(waves):
            await asyncio.gather(*(one() for _ in range(together)))
        best = min(best, (clock() - start) / (waves * together))
    return best * 1000


def model_rows(service_module, stored, golden: list[dict]) -> str:
    import numpy as np

    from underwrite.schema import feature_columns, names
    from underwrite.serving.reasons import Explainer
    from underwrite.serving.store import load_pipeline, load_predictor

    columns = names(feature_columns(stored.info.metadata["include_protected"]))
    predictor = load_predictor(stored, load_pipeline(stored), columns)
    explainer = Explainer(predictor, stored.info.metadata.get("typical", {}))
    threshold = stored.info.metadata["threshold"]
    lines = ["| what | rows | CPU ms per call | rows per CPU s |", "| --- | --- | --- | --- |"]
    for rows, repeat in ((1, 2000), (500, 100)):
        X = np.array([[a[c] for c in columns] for a in (golden * 500)[:rows]], dtype="float64")
        X[np.equal(X, None)] = np.nan
        denied = predictor.predict_proba(X) < threshold
        lines.append(f"| ({denied.mean():.0%} of these rows denied) | {rows} | | |")
        cells = {
            "model call (compiled predictor)": lambda X=X: predictor.predict_proba(X),
            "reasons, denials only": lambda X=X, d=denied: explainer.reasons(X, d),
            "reasons, every row": lambda X=X: explainer.reasons(X, np.ones(len(X), bool)),
        }
        for what, call in cells.items():
            ms = timed(call, repeat // (10 if "reasons" in what else 1))
            lines.append(f"| {what} | {rows} | {ms:.3f} | {rows / ms * 1000:,.0f} |")
    return "\n".join(lines)


def stage_rows(service_module, body: bytes) -> str:
    """CPU milliseconds of each stage of one request, on a service instance of its own."""
    from pydantic_core import to_json

    from underwrite.serving.log_writer import _lines

    service = service_module.LoanApproval()
    try:
        parser = service_module.RequestParser(service_module.Applications, len(body))
        applications = parser.parse(body, "application/json")
        answers = asyncio.run(service.answer(applications, "0", single=False))
        records = [
            service._record(a, p, "now", False) for a, p in zip(applications, answers, strict=True)
        ]
        stages = {
            "parse and validate the body": lambda: parser.parse(body, "application/json"),
            "model call and reasons (the batcher's thread)": lambda: service._predict(applications),
            "inference log records": lambda: [
                service._record(a, p, "now", False)
                for a, p in zip(applications, answers, strict=True)
            ],
            "answer JSON": lambda: to_json(answers),
            "log lines (the log writer's thread)": lambda: _lines(records),
        }
        lines = ["| stage | CPU ms |", "| --- | --- |"]
        lines += [f"| {what} | {timed(call, 50):.3f} |" for what, call in stages.items()]
    finally:
        service.shutdown()
    return "\n".join(lines)


async def request_rows(app, bodies: dict[str, tuple[str, bytes, int]], repeat: int) -> str:
    client = ASGIClient(app)
    await client.start()
    lines = [
        "| request | in flight | CPU ms per request | rows per CPU s |",
        "| --- | --- | --- | --- |",
    ]
    try:
        for name, (path, body, rows) in bodies.items():
            for together in (1, 16):
                n = repeat if rows == 1 else max(16 * ROUNDS, repeat // 4)
                ms = await requests_ms(client, path, body, n, together)
                lines.append(f"| {name} | {together} | {ms:.3f} | {rows / ms * 1000:,.0f} |")
    finally:
        await client.stop()
    return "\n".join(lines)


async def profile(app, path: str, body: bytes, repeat: int) -> None:
    client = ASGIClient(app)
    await client.start()
    try:
        await requests_ms(client, path, body, 2, 1)
        profiler = cProfile.Profile()
        profiler.enable()
        await requests_ms(client, path, body, repeat, 16)
        profiler.disable()
    finally:
        await client.stop()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="one-application requests")
    parser.add_argument("--profile", choices=["single", "batch"])
    parser.add_argument(
        "--bentoml-home",
        type=Path,
        default=WORK / "bentoml",
        help="the scratch store (another one to time an older src/ through PYTHONPATH)",
    )
    args = parser.parse_args()
    home = args.bentoml_home
    os.environ.update(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="True")
    sys.path.insert(0, str(HERE))
    from serving import import_model

    tag = import_model(home)
    os.environ["UNDERWRITE_MODEL_TAG"] = tag
    os.environ["UNDERWRITE_INFERENCE_LOG"] = tempfile.mkdtemp(prefix="inference-")
    import bentoml

    from underwrite.serving import service as service_module
    from underwrite.serving.contract import golden_applications

    golden = golden_applications()
    stored = bentoml.models.get(tag)
    recorded = json.loads(Path(stored.path_of("golden.json")).read_text())["probabilities"]
    denied = [p < stored.info.metadata["threshold"] for p in recorded]
    single = golden[denied.index(True) if any(denied) else 0]  # a denial: reasons computed
    bodies = {
        "/predict, 1 application": ("/predict", json.dumps(single).encode(), 1),
        "/predict_batch, 500 applications": (
            "/predict_batch",
            json.dumps((golden * 500)[:500]).encode(),
            500,
        ),
    }
    print(f"{platform.node()}: {os.cpu_count()} cores, load {os.getloadavg()}, model {tag}")
    print("command: .venv/bin/python benchmarks/serving_inprocess.py " + " ".join(sys.argv[1:]))
    app = service_module.LoanApproval.to_asgi()
    if args.profile:
        path, body, _ = list(bodies.values())[0 if args.profile == "single" else 1]
        asyncio.run(profile(app, path, body, args.repeat if args.profile == "single" else 32))
        return
    print()
    print(model_rows(service_module, stored, golden))
    print()
    print(asyncio.run(request_rows(app, bodies, args.repeat)))
    print()
    print(stage_rows(service_module, bodies["/predict_batch, 500 applications"][1]))
    print(f"\nload {os.getloadavg()} at the end")


if __name__ == "__main__":
    main()
