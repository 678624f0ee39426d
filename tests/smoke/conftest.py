"""The smoke suite's target: --smoke-url, or a local `bentoml serve` of a test model.

The expected probabilities always come from the model the target serves: loaded from the
BentoML store by the tag the service reports, or from --smoke-model (a model.joblib).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import pandas as pd
import pytest

from underwrite.inference_log import SYNTHETIC_HEADER, SYNTHETIC_HEADER_VALUE, input_fields
from underwrite.serving import compiled
from underwrite.serving.auth import client_headers
from underwrite.serving.contract import golden_applications


@dataclass(frozen=True)
class Target:
    url: str
    max_batch: int
    golden: list[dict]
    expected: list[float]  # the offline Pipeline.predict_proba of ``golden``
    # credentials (UNDERWRITE_API_TOKEN or UNDERWRITE_API_KEY) and the synthetic-traffic mark
    headers: dict[str, str]
    # the model compiles, so every denial's reasons come from TreeSHAP, which always finds
    # one (a model served as its Pipeline compares fields with typical values: maybe none)
    reasons_exact: bool


def smoke_headers() -> dict[str, str]:
    """What every smoke request sends: credentials when given, and the synthetic mark so
    drift monitoring leaves these requests out."""
    return {**client_headers(), SYNTHETIC_HEADER: SYNTHETIC_HEADER_VALUE}


@pytest.fixture(scope="session")
def smoke_url(request: pytest.FixtureRequest) -> str:
    url = request.config.getoption("--smoke-url")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("served").url


def _served_pipeline(url: str, golden: list[dict]):
    """The Pipeline the service says it serves (its tag), from the local BentoML store."""
    import bentoml

    from underwrite.serving.store import load_pipeline

    answer = httpx.post(f"{url}/predict", json=golden[0], headers=smoke_headers(), timeout=60)
    answer.raise_for_status()
    tag = answer.json()["model"]["tag"]
    try:
        return load_pipeline(bentoml.models.get(tag))
    except bentoml.exceptions.NotFound:
        pytest.fail(
            f"the service serves {tag}, which is not in this BentoML store: pass --smoke-model"
        )


@pytest.fixture(scope="session")
def target(smoke_url: str, request: pytest.FixtureRequest) -> Target:
    golden = golden_applications()
    model_path = request.config.getoption("--smoke-model")
    pipeline = joblib.load(Path(model_path)) if model_path else _served_pipeline(smoke_url, golden)
    frame = pd.DataFrame.from_records(golden, columns=input_fields()).astype("float64")
    spec = httpx.get(f"{smoke_url}/docs.json", headers=smoke_headers(), timeout=30).json()
    batch = spec["paths"]["/predict_batch"]["post"]["requestBody"]["content"]["application/json"]
    return Target(
        url=smoke_url,
        max_batch=batch["schema"]["maxItems"],
        golden=golden,
        expected=pipeline.predict_proba(frame)[:, 1].tolist(),
        headers=smoke_headers(),
        reasons_exact=isinstance(
            compiled.build(pipeline, input_fields(), ""), compiled.CompiledPredictor
        ),
    )
