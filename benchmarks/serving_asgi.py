"""Baseline: the smallest ASGI app that does the service's job (uvicorn + Starlette).

Validates with the same request model, predicts with the same Pipeline, one call per
request; math libraries pinned to one thread. Run with `uvicorn serving_asgi:app`.

With ASGI_CONSTANT=1 it only parses the JSON body (stdlib json) and answers a constant:
the most this machine's HTTP stack can serve, whatever the model.
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import json  # noqa: E402

import bentoml  # noqa: E402
import joblib  # noqa: E402
import pandas as pd  # noqa: E402
from pydantic import TypeAdapter, ValidationError  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from underwrite.inference_log import input_fields  # noqa: E402
from underwrite.serving.contract import application_model  # noqa: E402

CONSTANT = os.environ.get("ASGI_CONSTANT") == "1"
MODEL = bentoml.models.get(os.environ["UNDERWRITE_MODEL_TAG"])
PIPELINE = None if CONSTANT else joblib.load(MODEL.path_of("model.joblib"))
Application = application_model(MODEL.info.metadata["include_protected"])
ONE = TypeAdapter(Application)
MANY = TypeAdapter(list[Application])


def probabilities(applications: list) -> list[float]:
    rows = [a.model_dump() for a in applications]
    frame = pd.DataFrame.from_records(rows, columns=input_fields()).astype("float64")
    return PIPELINE.predict_proba(frame)[:, 1].tolist()


async def predict(request: Request) -> JSONResponse:
    try:
        application = ONE.validate_json(await request.body())
    except ValidationError as err:
        return JSONResponse({"detail": err.errors(include_url=False)}, status_code=400)
    (p,) = await run_in_threadpool(probabilities, [application])
    return JSONResponse({"probability": p})


async def predict_batch(request: Request) -> JSONResponse:
    try:
        applications = MANY.validate_json(await request.body())
    except ValidationError as err:
        return JSONResponse({"detail": err.errors(include_url=False)}, status_code=400)
    result = await run_in_threadpool(probabilities, applications)
    return JSONResponse([{"probability": p} for p in result])


async def constant(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    if isinstance(body, list):
        return JSONResponse([{"probability": 0.5}] * len(body))
    return JSONResponse({"probability": 0.5})


app = Starlette(
    routes=[
        Route("/predict", constant if CONSTANT else predict, methods=["POST"]),
        Route("/predict_batch", constant if CONSTANT else predict_batch, methods=["POST"]),
    ]
)
