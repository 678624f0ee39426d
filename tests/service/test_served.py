"""A real `bentoml serve` on loopback: the contract, bad input, metrics, the inference log."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bentoml
import httpx
import pytest
from bentoml_support import (
    Server,
    assert_principal_reasons,
    bad_requests,
    real_applications,
    start_server,
)

from underwrite import inference_log
from underwrite.serving.contract import golden_applications
from underwrite.serving.store import load_golden

pytestmark = pytest.mark.integration

_REQUESTS = re.compile(r"^bentoml_service_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


def request_total(url: str, endpoint: str, code: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(m["value"])
        for m in _REQUESTS.finditer(text)
        if f'endpoint="{endpoint}"' in m["labels"] and f'http_response_code="{code}"' in m["labels"]
    )


def post_fresh(url: str, route: str, body: object) -> int:
    """One request on its own connection, so the kernel may hand it to either worker."""
    with httpx.Client(timeout=60) as client:
        return client.post(f"{url}{route}", json=body).status_code


def test_served_probabilities_are_the_ones_recorded_at_import(served: Server, model_tag: str):
    golden = load_golden(bentoml.models.get(model_tag))
    response = httpx.post(f"{served.url}/predict_batch", json=golden["applications"], timeout=60)
    assert response.status_code == 200, response.text
    served_probabilities = [p["probability"] for p in response.json()]
    assert served_probabilities == pytest.approx(golden["probabilities"], abs=1e-9)
    assert {p["model"]["tag"] for p in response.json()} == {model_tag}


def test_served_readiness_health_and_openapi(served: Server):
    for path in ("/readyz", "/livez", "/healthz", "/metrics", "/docs.json"):
        assert httpx.get(f"{served.url}{path}", timeout=10).status_code == 200, path
    spec = httpx.get(f"{served.url}/docs.json", timeout=10).json()
    batch = spec["paths"]["/predict_batch"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["maxItems"] == 500


@pytest.mark.parametrize(
    "bad", bad_requests(max_batch=500, max_body_bytes=1 << 20), ids=lambda b: b.name
)
def test_served_bad_input_gets_a_4xx_and_the_server_keeps_serving(served: Server, bad):
    bad.assert_refused_by(served.url)
    assert post_fresh(served.url, "/predict", golden_applications()[0]) == 200


def test_request_counters_add_up_across_two_workers(served: Server):
    before = request_total(served.url, "/predict", "200")
    application = golden_applications()[0]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: post_fresh(served.url, "/predict", application), range(80)))
    assert codes == [200] * 80
    assert request_total(served.url, "/predict", "200") == before + 80
    served_by = {
        path.stem.rsplit("-", 1)[-1] for path in inference_log.log_files(served.inference_log)
    }
    assert len(served_by) == 2, "both workers should have answered some of the 80 requests"


def test_after_n_accepted_requests_and_sigterm_the_log_holds_n_records(model_tag, tmp_path: Path):
    server = start_server(model_tag, tmp_path, workers=2)
    golden = golden_applications()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            singles = list(
                pool.map(lambda i: post_fresh(server.url, "/predict", golden[i % 7]), range(60))
            )
            batches = list(
                pool.map(lambda _: post_fresh(server.url, "/predict_batch", golden), range(5))
            )
        refused = post_fresh(server.url, "/predict", {"loanamt": 1})
    finally:
        exit_code = server.stop()
    assert singles == [200] * 60 and batches == [200] * 5 and refused == 400
    assert exit_code == 0, server.output.read_text()[-3000:]
    lines = [line for f in inference_log.log_files(server.inference_log) for line in f.open()]
    assert len(lines) == 60 + 5 * len(golden)
    records = [json.loads(line) for line in lines]
    assert len({r[inference_log.REQUEST_ID] for r in records}) == len(records)
    assert {r[inference_log.MODEL_VERSION] for r in records} == {model_tag}


def test_served_denial_gets_reasons_in_both_routes_and_the_log(model_tag, tiny_repo, tmp_path):
    import joblib
    import pandas as pd

    applications = real_applications(tiny_repo)[:60]
    pipeline = joblib.load(tiny_repo / "models" / "model.joblib")
    frame = pd.DataFrame.from_records(applications).astype("float64")
    probabilities = pipeline.predict_proba(frame)[:, 1]
    denied = [a for a, p in zip(applications, probabilities, strict=True) if p < 0.5]
    server = start_server(model_tag, tmp_path, workers=1)
    try:
        one = httpx.post(f"{server.url}/predict", json=denied[0], timeout=60).json()
        many = httpx.post(f"{server.url}/predict_batch", json=applications, timeout=60).json()
    finally:
        assert server.stop() == 0
    assert_principal_reasons(one["reasons"])
    for answer in many:
        if answer["approved"]:
            assert answer["reasons"] == []
        else:
            assert_principal_reasons(answer["reasons"])
    logged = inference_log.read_local(server.inference_log)[inference_log.REASONS].tolist()
    assert logged == [[r["feature"] for r in a["reasons"]] for a in [one, *many]]
