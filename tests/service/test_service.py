"""The service in-process: called as a class, and over HTTP through ``to_asgi()``."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import bentoml
import pytest
from bentoml_support import assert_principal_reasons, bad_requests, real_applications
from starlette.testclient import TestClient

from underwrite import inference_log
from underwrite.schema import feature_columns, names
from underwrite.serving.contract import golden_applications
from underwrite.serving.store import load_pipeline


@pytest.fixture
def log_folder(service_module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Instances made in this test write their inference log here."""
    folder = tmp_path / "inference"
    config = dataclasses.replace(service_module.CONFIG, inference_log=str(folder))
    monkeypatch.setattr(service_module, "CONFIG", config)
    return folder


@pytest.fixture
def instance(service_module, log_folder: Path):
    service = service_module.LoanApproval()
    yield service
    service.shutdown()


@pytest.fixture(scope="module")
def asgi_app(service_app):
    return service_app


@pytest.fixture
def client(asgi_app, log_folder: Path):
    with TestClient(asgi_app) as http:
        yield http


def offline(model_tag: str, applications: list[dict]) -> list[float]:
    """What the stored Pipeline itself says, without the service."""
    import pandas as pd

    columns = names(feature_columns(include_protected=False))
    frame = pd.DataFrame.from_records(applications, columns=columns).astype("float64")
    return load_pipeline(bentoml.models.get(model_tag)).predict_proba(frame)[:, 1].tolist()


def test_class_predicts_what_the_pipeline_predicts(instance, service_module, model_tag):
    golden = golden_applications()
    applications = [service_module.Application(**row) for row in golden]
    single = asyncio.run(instance.predict(applications[0]))
    batch = asyncio.run(instance.predict_batch(applications))
    expected = offline(model_tag, golden)
    assert single.probability == pytest.approx(expected[0], abs=1e-12)
    assert [p.probability for p in batch] == pytest.approx(expected, abs=1e-12)
    assert [p.approved for p in batch] == [p >= instance.threshold for p in expected]
    assert single.model.tag == model_tag
    assert single.model.md5 == bentoml.models.get(model_tag).info.labels["model_md5"]


def test_class_is_ready_only_when_golden_predictions_reproduce(instance):
    assert instance.__is_ready__() is True
    golden = {"applications": golden_applications()}
    right = asyncio.run(instance.predict_batch(instance_applications(instance, golden)))
    off_by_a_little = [p.probability + 1e-6 for p in right]
    assert instance._golden_check({**golden, "probabilities": off_by_a_little}) is False
    instance.ready = instance._golden_check({**golden, "probabilities": off_by_a_little})
    with pytest.raises(bentoml.exceptions.ServiceUnavailable, match="failed its golden check"):
        asyncio.run(instance.predict(instance_applications(instance, golden)[0]))


def test_class_leaves_the_loaded_model_out_of_garbage_collections(instance):
    # a full collection scans only what is not frozen: the Pipeline and everything loaded
    # before it are frozen once the instance is ready (docs/benchmarks.md: GC pauses)
    assert gc.is_tracked(instance.pipeline)
    assert not any(o is instance.pipeline for o in gc.get_objects())


def instance_applications(instance, golden: dict) -> list:
    import underwrite.serving.service as service

    return [service.Application(**row) for row in golden["applications"]]


def test_class_logs_every_prediction_as_one_flat_record(instance, log_folder: Path):
    golden = golden_applications()
    predictions = asyncio.run(
        instance.predict_batch(instance_applications(instance, {"applications": golden}))
    )
    instance.shutdown()
    records = inference_log.read_local(log_folder)
    assert len(records) == len(golden)
    expected_fields = [*inference_log.input_fields(), *inference_log.META_FIELDS, "reasons"]
    assert list(records.columns) == expected_fields
    assert records[inference_log.REQUEST_ID].tolist() == [p.request_id for p in predictions]
    stored = [json.loads(line) for f in inference_log.log_files(log_folder) for line in f.open()]
    assert [r[inference_log.PROBABILITY] for r in stored] == [p.probability for p in predictions]
    assert records["loanamt"].tolist() == [row["loanamt"] for row in golden]
    assert all(r[inference_log.TIMESTAMP].endswith("+00:00") for r in stored)


def test_one_math_library_thread_per_worker(model_tag: str):
    """A fresh interpreter (no *_NUM_THREADS set) that imports the service and predicts in a
    worker thread, as BentoML does, uses one OpenMP and one BLAS thread."""
    script = (
        "import threading, underwrite.serving.service as s\n"
        "from threadpoolctl import threadpool_info\n"
        "from sklearn.utils._openmp_helpers import _openmp_effective_n_threads\n"
        "svc = s.LoanApproval(); out = {}\n"
        "t = threading.Thread(target=lambda: out.update(omp=_openmp_effective_n_threads()))\n"
        "t.start(); t.join(); svc.shutdown()\n"
        "print(out['omp'], sorted({p['num_threads'] for p in threadpool_info()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["1", "[1]"]


def test_http_predict_and_batch_answer_with_version_and_request_id(client, model_tag):
    golden = golden_applications()
    one = client.post("/predict", json=golden[0])
    assert one.status_code == 200, one.text
    body = one.json()
    assert set(body) == {"probability", "approved", "threshold", "model", "request_id", "reasons"}
    assert body["request_id"] == one.headers["x-bentoml-request-id"]
    assert body["model"]["tag"] == model_tag
    many = client.post("/predict_batch", json=golden)
    assert many.status_code == 200, many.text
    expected = offline(model_tag, golden)
    assert [p["probability"] for p in many.json()] == pytest.approx(expected, abs=1e-12)


def test_http_health_readiness_and_openapi(client):
    """(/metrics needs the Prometheus directory `bentoml serve` sets up: see test_served.)"""
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    spec = client.get("/docs.json").json()
    assert {"/predict", "/predict_batch", "/readyz", "/livez", "/metrics"} <= set(spec["paths"])
    fields = spec["components"]["schemas"]["Application"]["properties"]
    assert fields["loanamt"]["unit"] == "thousands of dollars"


@pytest.mark.parametrize(
    "bad", bad_requests(max_batch=500, max_body_bytes=1 << 20), ids=lambda b: b.name
)
def test_http_bad_input_gets_a_4xx_naming_field_and_rule(client, bad):
    response = client.post(
        bad.route, content=bad.body, headers={"content-type": "application/json"}
    )
    assert response.status_code == bad.status, response.text
    assert bad.field in response.text and bad.rule in response.text
    assert client.post("/predict", json=golden_applications()[0]).status_code == 200


def test_http_chunked_body_over_the_limit_gets_413(client):
    def chunks():
        for _ in range(2 * 1024):
            yield b" " * 1024

    response = client.post(
        "/predict_batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "over the limit" in response.json()["error"]


def test_http_inference_log_holds_every_accepted_prediction(asgi_app, log_folder: Path):
    golden = golden_applications()
    with TestClient(asgi_app) as http:
        for row in golden:
            assert http.post("/predict", json=row).status_code == 200
        assert http.post("/predict_batch", json=golden).status_code == 200
        assert http.post("/predict", json={"loanamt": 1}).status_code == 400
    records = inference_log.read_local(log_folder)
    assert len(records) == 2 * len(golden)
    assert records[inference_log.REQUEST_ID].is_unique
    assert json.loads(records.iloc[0].to_json())["model_md5"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("UNDERWRITE_MAX_BATCH", "lots"),
        ("UNDERWRITE_WORKERS", "0"),
        ("UNDERWRITE_MAX_BODY_BYTES", "-1"),
    ],
)
def test_a_bad_setting_is_named(service_module, variable: str, value: str):
    with pytest.raises(ValueError, match=f"{variable}='{value}': must be a whole number"):
        service_module.ServingConfig.from_env({variable: value})


def test_settings_come_from_the_environment(service_module):
    config = service_module.ServingConfig.from_env(
        {"UNDERWRITE_WORKERS": "3", "UNDERWRITE_INFERENCE_LOG": "azure://logs/prod"}
    )
    assert (config.workers, config.inference_log, config.max_batch) == (3, "azure://logs/prod", 500)


def test_a_model_missing_from_the_store_is_named(model_tag: str):
    env = dict(os.environ, UNDERWRITE_MODEL_TAG="loan-approval:doesnotexist")
    done = subprocess.run(
        [sys.executable, "-c", "import underwrite.serving.service"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "model loan-approval:doesnotexist is not in the BentoML store" in done.stderr


def test_http_example_requests_from_the_readme_get_200(client) -> None:
    from bentoml_support import REPO_ROOT

    from underwrite.serving.examples import load_example

    examples = REPO_ROOT / "examples"
    for name in ("approved", "denied"):
        answer = client.post("/predict", json=load_example(examples, name))
        assert answer.status_code == 200, answer.text
    batch = load_example(examples, "batch")
    answer = client.post("/predict_batch", json=batch)
    assert answer.status_code == 200 and len(answer.json()) == len(batch)


@pytest.fixture
def denied_and_approved(tiny_repo: Path, model_tag: str) -> tuple[dict, dict]:
    applications = real_applications(tiny_repo)
    probabilities = offline(model_tag, applications)
    threshold = bentoml.models.get(model_tag).info.metadata["threshold"]
    denied = next(a for a, p in zip(applications, probabilities, strict=True) if p < threshold)
    approved = next(a for a, p in zip(applications, probabilities, strict=True) if p >= threshold)
    return denied, approved


def test_http_a_denied_real_application_gets_its_reasons_an_approved_one_none(
    client, denied_and_approved, log_folder: Path
):
    denied, approved = denied_and_approved
    for application, is_denied in ((denied, True), (approved, False)):
        body = client.post("/predict", json=application).json()
        assert body["approved"] is not is_denied
        if is_denied:
            assert_principal_reasons(body["reasons"])
        else:
            assert body["reasons"] == []
    batch = client.post("/predict_batch", json=[denied, approved]).json()
    assert_principal_reasons(batch[0]["reasons"])
    assert batch[1]["reasons"] == []
    client.__exit__(None, None, None)  # shut down: the log writer drains its queue
    records = inference_log.read_local(log_folder)
    logged = records[inference_log.REASONS].tolist()
    assert logged[0] == [r["feature"] for r in batch[0]["reasons"]] and logged[1] == []
    assert logged[2] == logged[0] and logged[3] == []


def test_openapi_documents_the_reasons_with_an_example(client):
    spec = client.get("/docs.json").json()
    prediction = spec["components"]["schemas"]["Prediction"]["properties"]["reasons"]
    assert prediction["maxItems"] == 4 and prediction["examples"][0][0]["feature"] == "gdlin"
    reason = spec["components"]["schemas"]["Reason"]["properties"]
    assert {"feature", "value", "direction", "contribution", "sentence"} <= set(reason)


def test_drift_reads_a_log_with_reasons(instance, log_folder: Path, denied_and_approved):
    from underwrite.drift.logparse import parse_jsonl

    applications = [instance_applications(instance, {"applications": list(denied_and_approved)})]
    predictions = asyncio.run(instance.predict_batch(applications[0]))
    instance.shutdown()
    (path,) = inference_log.log_files(log_folder)
    assert json.loads(path.read_text().splitlines()[0])["reasons"]
    table = parse_jsonl(path.read_bytes(), str(path), 0)
    assert table.num_rows == 2 and "reasons" not in table.column_names
    assert table["probability"].to_pylist() == [p.probability for p in predictions]
