"""The service's OpenAPI document: BentoML's, declared as 3.1 and completed.

BentoML writes ``"openapi": "3.0.2"`` over schemas that use JSON Schema 2020-12 keywords
(``const``, ``anyOf`` with ``{"type": "null"}``, ``examples`` lists), which OpenAPI 3.1
defines and 3.0 does not; the schemas are right, so the version is what changes. The
document also gains what BentoML leaves out: every status a prediction route can answer
(with the error body), example requests and answers, and the security schemes when
authentication is on (and only then, so a fuzzer run locally sees a consistent contract).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from underwrite.serving.middleware import ASGIApp, Receive, Scope, Send

OPENAPI_VERSION = "3.1.0"
DOCUMENT_PATH = "/docs.json"
PREDICTION_ROUTES = ("/predict", "/predict_batch")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong and how to fix it"},
        "fields": {
            "type": "array",
            "description": "each refused field; row is its index in a batch",
            "items": {
                "type": "object",
                "required": ["field"],
                "properties": {
                    "field": {"type": "string"},
                    "row": {"type": "integer", "minimum": 0},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

REFUSALS = {
    "400": "the body is not a valid request: malformed or non-UTF-8 JSON, a NUL byte, nested "
    "too deeply, a repeated key, true/false for a number, or a field out of its contract "
    "(each named in `fields`)",
    "413": "the body is over UNDERWRITE_MAX_BODY_BYTES",
    "415": "the content type is not application/json",
    "503": "the model failed its start-up check, or a request waited too long for its batch",
    "504": "no answer within the request timeout",
}
AUTH_REFUSALS = {
    "401": "no valid credentials (a bearer token or an API key)",
    "403": "the token lacks the service's app role",
    "429": "over this caller's rate limit; retry after the Retry-After header's seconds",
}


def document(
    spec: dict[str, Any],
    examples: list[tuple[str, dict, dict]],
    schemes: dict[str, Any],
) -> dict[str, Any]:
    """BentoML's SPEC as OpenAPI 3.1 with statuses, EXAMPLES (name, request, answer), SCHEMES."""
    doc = copy.deepcopy(spec)
    doc["openapi"] = OPENAPI_VERSION
    doc.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    refusals = {**REFUSALS, **(AUTH_REFUSALS if schemes else {})}
    for route in PREDICTION_ROUTES:
        operation = doc["paths"][route]["post"]
        operation["requestBody"]["required"] = True  # an empty body is refused (415 or 400)
        _complete_statuses(operation, refusals)
        _add_examples(operation, examples, batch=route.endswith("batch"))
        if schemes:
            operation["security"] = [{name: []} for name in schemes]
    if schemes:
        doc["components"]["securitySchemes"] = schemes
    # BentoML inlines the single route's request and drops the null from optional fields'
    # ``anyOf``; the component it also emits is pydantic's own, and right.
    single = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    single["schema"] = {"$ref": "#/components/schemas/Application"}
    return doc


def _complete_statuses(operation: dict, refusals: dict[str, str]) -> None:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    # BentoML keys statuses by int; JSON keys are strings, and 200 must survive the merge
    responses = {str(k): v for k, v in operation.get("responses", {}).items()}
    operation["responses"] = responses
    for status in [s for s in responses if s not in ("200", *refusals)]:
        del responses[status]  # BentoML's 404/500 placeholders: neither is an answer we give
    for status, description in refusals.items():
        responses[status] = {"description": description, "content": copy.deepcopy(error)}


def _add_examples(operation: dict, examples: list[tuple[str, dict, dict]], batch: bool) -> None:
    if not examples:
        return
    request = operation["requestBody"]["content"]["application/json"]
    answer = operation["responses"]["200"]["content"]["application/json"]
    if batch:
        request["examples"] = {"batch": {"value": [e[1] for e in examples]}}
        answer["examples"] = {"batch": {"value": [e[2] for e in examples]}}
        return
    request["examples"] = {name: {"value": value} for name, value, _ in examples}
    answer["examples"] = {name: {"value": value} for name, _, value in examples}


def golden_examples(
    golden: dict[str, list], threshold: float, model: dict[str, str]
) -> list[tuple[str, dict, dict]]:
    """One approved and one denied golden application, with the answers the model gives."""
    examples: dict[str, tuple[str, dict, dict]] = {}
    for i, (application, p) in enumerate(
        zip(golden["applications"], golden["probabilities"], strict=True)
    ):
        name = "approved" if p >= threshold else "denied"
        answer = {
            "probability": p,
            "approved": p >= threshold,
            "threshold": threshold,
            "model": model,
            "request_id": f"{i:016x}",
        }
        examples.setdefault(name, (name, application, answer))
    return list(examples.values())


class OpenAPIDocument:
    """ASGI: answers GET /docs.json with ``build()``'s document, built once."""

    def __init__(self, app: ASGIApp, build: Callable[[], dict[str, Any]]):
        self.app = app
        self.build = build
        self.body: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != DOCUMENT_PATH:
            await self.app(scope, receive, send)
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if self.body is None:
            self.body = json.dumps(self.build()).encode()
        await Response(self.body, media_type="application/json")(scope, receive, send)
