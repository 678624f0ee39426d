"""Smoke suite: is the service at --smoke-url healthy, right, strict and fast enough?

`pytest tests/smoke --smoke-url http://host:port [--smoke-model models/model.joblib]`
runs it against any deployment; without --smoke-url it serves a test model locally.
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from bentoml_support import bad_requests

pytestmark = pytest.mark.integration

BAD_CLASSES = [b.name for b in bad_requests(max_batch=1, max_body_bytes=1)]
MAX_BODY_BYTES = 1 << 20  # the service's default UNDERWRITE_MAX_BODY_BYTES


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/metrics", "/docs.json"])
def test_health_readiness_metrics_and_openapi_answer(target, path):
    assert httpx.get(f"{target.url}{path}", headers=target.headers, timeout=30).status_code == 200


def test_golden_applications_get_the_offline_probabilities(target):
    batch = httpx.post(
        f"{target.url}/predict_batch", json=target.golden, headers=target.headers, timeout=60
    )
    assert batch.status_code == 200, batch.text
    assert [p["probability"] for p in batch.json()] == pytest.approx(target.expected, abs=1e-9)
    for application, expected in zip(target.golden, target.expected, strict=True):
        single = httpx.post(
            f"{target.url}/predict", json=application, headers=target.headers, timeout=60
        )
        assert single.status_code == 200, single.text
        assert single.json()["probability"] == pytest.approx(expected, abs=1e-9)
        assert single.json()["approved"] == (expected >= single.json()["threshold"])


@pytest.mark.parametrize("name", BAD_CLASSES)
def test_bad_input_answers_4xx_naming_field_and_rule(target, name):
    bad = {b.name: b for b in bad_requests(target.max_batch, MAX_BODY_BYTES)}[name]
    bad.assert_refused_by(target.url, target.headers)
    assert httpx.get(f"{target.url}/readyz", timeout=30).status_code == 200


def test_latency_is_within_budget(target, request: pytest.FixtureRequest):
    budget_ms = request.config.getoption("--smoke-p95-ms")
    timings = []
    with httpx.Client(timeout=60, headers=target.headers) as client:
        for i in range(40):
            start = time.perf_counter()
            response = client.post(
                f"{target.url}/predict", json=target.golden[i % len(target.golden)]
            )
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
    p95 = float(np.percentile(timings, 95))
    assert p95 <= budget_ms, f"p95 latency {p95:.0f} ms is over the budget of {budget_ms:.0f} ms"


def test_denials_carry_their_principal_reasons_and_approvals_none(target):
    from underwrite.schema import BY_NAME, Role

    applications = [*target.golden, riskiest(target.golden[0])]
    answers = httpx.post(
        f"{target.url}/predict_batch", json=applications, headers=target.headers, timeout=60
    ).json()
    denied = [a for a in answers if not a["approved"]]
    assert denied, "not even the riskiest application is denied: the reasons cannot be checked"
    for answer in answers:
        reasons = answer["reasons"]
        if answer["approved"]:
            assert reasons == []
            continue
        assert (1 if target.reasons_exact else 0) <= len(reasons) <= 4, reasons
        assert all(BY_NAME[r["feature"]].role is Role.FEATURE for r in reasons), reasons
        assert all(r["contribution"] < 0 and r["sentence"] for r in reasons), reasons


def riskiest(application: dict) -> dict:
    """APPLICATION with every monotone risk factor at its worst end (schema ranges): a denial
    under any model that respects the schema's directions, whatever model is deployed."""
    from underwrite.schema import Kind, feature_columns

    worst = dict(application)
    for column in feature_columns():
        if not column.monotone:
            continue
        if column.kind is Kind.NUMERIC:
            low, high = column.minimum, column.maximum
        else:
            low, high = min(column.allowed_values), max(column.allowed_values)
        worst[column.name] = high if column.monotone < 0 else low
    return worst
