"""The BentoML service: the trained Pipeline behind a typed, documented HTTP API.

It serves the Pipeline's compiled form (``serving.compiled``), checked equal to the Pipeline
before the worker reports ready, and gives every denial its principal reasons.

``bentoml serve`` (from the repository root, or from a bento) starts it. The model comes
from the BentoML store, declared at class level so ``bentoml build`` packs it; the request
model is derived from the schema; the decision threshold travels with the model; every
served prediction goes to the inference log. Settings come from the environment
(``ServingConfig``), so the same bento runs locally, on staging and in production.
"""

from __future__ import annotations

import os

from underwrite.serving.config import THREAD_VARIABLES, ServingConfig

# One math-library thread per worker: set before numpy, scipy or scikit-learn start their
# thread pools (bentofile.yaml sets the same for containers; __init__ re-applies it).
for _variable in THREAD_VARIABLES:
    os.environ.setdefault(_variable, "1")

import ctypes  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from operator import attrgetter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import bentoml  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
from bentoml.exceptions import ServiceUnavailable  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from underwrite import inference_log  # noqa: E402
from underwrite.schema import feature_columns, names  # noqa: E402
from underwrite.serving.batching import Batcher  # noqa: E402
from underwrite.serving.contract import (  # noqa: E402
    ModelVersion,
    Prediction,
    application_model,
    batch_type,
    to_frame,
)
from underwrite.serving.equality import (  # noqa: E402
    PredictorMismatch,
    readiness_frame,
    require_additive,
    require_equal,
)
from underwrite.serving.log_writer import InferenceLogWriter  # noqa: E402
from underwrite.serving.middleware import (  # noqa: E402
    SYNTHETIC_REQUEST,
    BodySizeLimit,
    ParsedRoutes,
    Responder,
    install_accept_sharing,
    install_header_timeout,
)
from underwrite.serving.middleware import install as install_request_timeout  # noqa: E402
from underwrite.serving.openapi import OpenAPIDocument, document, golden_examples  # noqa: E402
from underwrite.serving.parser import RequestParser  # noqa: E402
from underwrite.serving.reasons import Explainer  # noqa: E402
from underwrite.serving.store import load_golden, load_pipeline, load_predictor  # noqa: E402

log = logging.getLogger(__name__)

GOLDEN_TOLERANCE = 1e-9


def _stored_model(tag: str) -> bentoml.Model:
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound as err:
        raise LookupError(
            f"model {tag} is not in the BentoML store: import it with `underwrite import-model` "
            "(or `make serve`), or set UNDERWRITE_MODEL_TAG to a stored model"
        ) from err


CONFIG = ServingConfig.from_env()
STORED = _stored_model(CONFIG.model_tag)
INCLUDE_PROTECTED: bool = STORED.info.metadata["include_protected"]
Application = application_model(INCLUDE_PROTECTED)
Applications = batch_type(Application, CONFIG.max_batch)
RESPONDER = Responder()  # the ready instance's ``respond``, for ParsedRoutes


@bentoml.service(
    name="loan_approval",
    workers=CONFIG.workers,
    traffic={"timeout": 30},
    envs=[{"name": name, "value": "1"} for name in THREAD_VARIABLES],
)
class LoanApproval:
    """Approval probability and decision for mortgage applications."""

    model = bentoml.models.BentoModel(STORED.tag)

    def __init__(self) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # BLAS libraries loaded before this module saw the variables
        _keep_freed_memory()
        stored = self.model
        self.pipeline = load_pipeline(stored)
        self.threshold: float = stored.info.metadata["threshold"]
        self.include_protected: bool = stored.info.metadata["include_protected"]
        self.columns = names(feature_columns(self.include_protected))
        self.predictor = load_predictor(stored, self.pipeline, self.columns)
        self.explainer = Explainer(self.predictor, stored.info.metadata.get("typical", {}))
        self.version = ModelVersion(
            tag=str(stored.tag), md5=stored.info.labels["model_md5"], bento=_bento_tag()
        )
        self.batcher = Batcher(self._predict, CONFIG.max_model_batch, CONFIG.max_latency_ms)
        self.inference_log = InferenceLogWriter(
            CONFIG.inference_log,
            max_records=CONFIG.log_buffer_records,
            spill=Path(CONFIG.log_spill) if CONFIG.log_spill else None,
        )
        self.not_ready = "the model failed its golden check at start: see the log"
        self.ready = self._equality_check() and self._golden_check(load_golden(stored))
        if self.ready:
            RESPONDER.take(self.respond, LoanApproval.name)
        _freeze_heap()

    def _golden_check(self, golden: dict[str, list]) -> bool:
        """Ready only if this process reproduces the probabilities recorded at import."""
        frame = to_frame([Application(**a) for a in golden["applications"]], self.columns)
        served = self.predictor.predict_proba(frame[self.predictor.columns].to_numpy())
        worst = float(np.max(np.abs(served - np.asarray(golden["probabilities"]))))
        if worst > GOLDEN_TOLERANCE:
            log.error("golden predictions differ from import time by %.3g: not ready", worst)
            return False
        log.info("model %s loaded; golden predictions match", self.version.tag)
        return True

    def _equality_check(self) -> bool:
        """Ready only if the served predictor answers what the Pipeline answers."""
        frame = readiness_frame(self.include_protected)
        what = "the golden applications and the random sweep"
        try:
            require_equal(self.predictor, self.pipeline, frame, self.threshold, what)
            require_additive(self.predictor, frame, what)
        except PredictorMismatch as err:
            self.not_ready = f"refusing to serve: {err}"
            log.error("%s", self.not_ready)
            return False
        log.info("served predictor: %s, equal to the Pipeline", type(self.predictor).__name__)
        return True

    def __is_ready__(self) -> bool:
        return self.ready

    @bentoml.api(route="/predict")
    async def predict(self, application: Application, /) -> Prediction:  # type: ignore[valid-type]
        """Approval probability and decision for one application."""
        answers = await self.answer([application], _request_id(), single=True)
        return Prediction.model_validate(answers[0])

    @bentoml.api(route="/predict_batch")
    async def predict_batch(self, applications: Applications, /) -> list[Prediction]:  # type: ignore[valid-type]
        """Approval probabilities and decisions for a list of applications, in order."""
        answers = await self.answer(applications, _request_id(), single=False)
        return [Prediction.model_validate(answer) for answer in answers]

    async def respond(self, route: str, request: Any) -> tuple[str, bytes]:
        """The request id and JSON answer to a request ``ParsedRoutes`` has parsed: what the
        route above answers, without BentoML parsing the body a second time and building
        its response from models (docs/serving.md, "The fast path")."""
        request_id = _request_id()
        if route == "/predict":
            return request_id, _json((await self.answer([request], request_id, True))[0])
        return request_id, _json(await self.answer(request, request_id, False))

    async def answer(self, applications: list, request_id: str, single: bool) -> list[dict]:
        """Each application's prediction (``Prediction``'s fields), in order, logged."""
        if not self.ready:
            raise ServiceUnavailable(self.not_ready)
        answers = await self.batcher(applications)
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        model = self.version.model_dump()
        predictions = [
            {
                "probability": p,
                "approved": p >= self.threshold,
                "threshold": self.threshold,
                "model": model,
                "request_id": request_id if single else f"{request_id}-{i}",
                "reasons": reasons,
            }
            for i, (p, reasons) in enumerate(answers)
        ]
        synthetic = SYNTHETIC_REQUEST.get()
        self.inference_log.write(
            [
                self._record(a, p, now, synthetic)
                for a, p in zip(applications, predictions, strict=True)
            ]
        )
        return predictions

    def _predict(self, applications: list[BaseModel]) -> list[tuple[float, list[dict]]]:
        """Probability of approval and, for a denial, its reasons (runs in a thread)."""
        fields = attrgetter(*self.predictor.columns)
        X = np.array([fields(a) for a in applications], dtype="float64")
        probabilities = self.predictor.predict_proba(X)
        reasons = self.explainer.reasons(X, probabilities < self.threshold)
        return list(zip(probabilities.tolist(), reasons, strict=True))

    def _record(self, application: BaseModel, prediction: dict, now: str, synthetic: bool) -> dict:
        return inference_log.record(
            vars(application),  # the fields as validated (model_dump: 20 times the time)
            request_id=prediction["request_id"],
            timestamp=now,
            model_version=self.version.bento or self.version.tag,
            model_md5=self.version.md5,
            probability=prediction["probability"],
            approved=prediction["approved"],
            synthetic=synthetic,
            reasons=[reason["feature"] for reason in prediction["reasons"]],
        )

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        """Stop batching, then store every record still queued for the inference log."""
        RESPONDER.leave(self.respond)
        self.batcher.close()
        self.inference_log.close()


def _json(answer: Any) -> bytes:
    """An answer as JSON: orjson (numpy scalars as numbers), a third of pydantic-core's time."""
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


def _openapi_document() -> dict:
    """BentoML's document as OpenAPI 3.1, with statuses, examples and security schemes."""
    from underwrite.serving.auth import security_schemes

    metadata = STORED.info.metadata
    model = {"tag": str(STORED.tag), "md5": STORED.info.labels["model_md5"], "bento": ""}
    examples = golden_examples(load_golden(STORED), metadata["threshold"], model)
    return document(LoanApproval.openapi_spec.asdict(), examples, security_schemes(CONFIG.auth))


# Outermost first: who is calling, how big the body is, then the one parser for both routes.
if CONFIG.auth.enabled:
    from underwrite.serving.auth import Authentication

    LoanApproval.add_asgi_middleware(Authentication, config=CONFIG.auth)
LoanApproval.add_asgi_middleware(BodySizeLimit, max_bytes=CONFIG.max_body_bytes)
LoanApproval.add_asgi_middleware(OpenAPIDocument, build=_openapi_document)
LoanApproval.add_asgi_middleware(
    ParsedRoutes,
    parsers={
        "/predict": RequestParser(Application, CONFIG.max_body_bytes),
        "/predict_batch": RequestParser(Applications, CONFIG.max_body_bytes),
    },
    responder=RESPONDER,
)
# traffic["timeout"] without BentoML's timer that keeps each request alive for 30 s
install_request_timeout()
install_header_timeout(CONFIG.header_timeout_seconds)
if CONFIG.workers != 1:  # one worker has no one to share its connections with
    install_accept_sharing(pause_per_connection=0.001, max_pause=0.01)


def _freeze_heap() -> None:
    """Leave what is loaded now (libraries, model) out of every later garbage collection.

    Serving allocates fast (pandas, scikit-learn), so full collections come several times a
    minute; each scanned the ~170,000 objects loaded at start and paused the worker for
    90 to 140 ms, the p99 latency at concurrency 16 (docs/benchmarks.md). Frozen, they are
    never scanned again: a full collection then takes 2 to 5 ms.
    """
    gc.collect()
    gc.freeze()


def _keep_freed_memory() -> None:
    """Keep freed memory in the heap instead of giving it back to the kernel at once.

    By default glibc serves a block over 128 KiB with fresh pages from the kernel and
    returns them when freed; a batch's arrays are megabytes (500 rows x 1,000 tree-table
    entries), so every call faulted its pages in again, and on a busy machine that doubled
    the reasons' time for 500 rows (docs/benchmarks.md). Blocks up to 32 MiB now come from
    the heap, which keeps up to 128 MiB free before trimming: a worker's resident memory
    stays near its high-water mark. Only glibc has ``mallopt``; elsewhere nothing changes.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    libc.mallopt(M_TRIM_THRESHOLD, 128 << 20)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def _request_id() -> str:
    """BentoML's id of the current request (its X-BentoML-Request-ID header), or a new one."""
    from bentoml._internal.context import trace_context

    span = trace_context.request_id
    return format(span, "016x") if span is not None else uuid.uuid4().hex[:16]


def _bento_tag() -> str:
    from bentoml._internal.context import server_context

    version = server_context.bento_version
    if not version or version == "not available":
        return ""
    return f"{server_context.bento_name}:{version}"
