"""The request timeout that replaces BentoML's: same answers, nothing kept after a request."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import weakref

import pytest
from bentoml._internal.server.http import traffic

from underwrite.serving.middleware import RequestTimeout

# Stands for what OpenTelemetry's middleware puts in a request's context before the timeout
# middleware runs: the request's span, and everything the span references.
REQUEST_SPAN: contextvars.ContextVar[object] = contextvars.ContextVar("request_span")


class Span:
    """Something a finished request should no longer keep in memory."""


def scope() -> dict:
    return {"type": "http", "method": "POST", "path": "/predict", "headers": []}


async def receive() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


async def answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


async def silent(scope, receive, send) -> None:
    await asyncio.sleep(3600)


async def failing(scope, receive, send) -> None:
    raise RuntimeError("the app failed before answering")


async def serve(middleware, sent: list[dict]) -> None:
    async def send(message: dict) -> None:
        sent.append(message)

    # a guard against hanging for the whole timeout, not a speed target
    await asyncio.wait_for(middleware(scope(), receive, send), timeout=30)


async def span_outlives_its_request(middleware_class) -> bool:
    """Serve one request whose context holds a span; is the span still in memory afterwards,
    while the event loop (and any timer it holds) is still running?"""
    span = Span()
    token = REQUEST_SPAN.set(span)
    try:
        await serve(middleware_class(answer, timeout=3600), [])
    finally:
        REQUEST_SPAN.reset(token)
    reference = weakref.ref(span)
    del span
    await asyncio.sleep(0)
    gc.collect()
    return reference() is not None


def test_request_timeout_keeps_nothing_of_a_finished_request():
    assert asyncio.run(span_outlives_its_request(RequestTimeout)) is False


def bentoml_timeout() -> type:
    """BentoML's own middleware, whether or not the service has replaced it yet."""
    return RequestTimeout.replaces or traffic.TimeoutMiddleware


def test_bentoml_timeout_keeps_a_finished_request_until_its_timeout():
    # Why RequestTimeout is installed: when this starts failing, BentoML has fixed it and
    # underwrite.serving.middleware can go.
    assert asyncio.run(span_outlives_its_request(bentoml_timeout())) is True


def test_request_timeout_passes_the_answer_through():
    sent: list[dict] = []

    asyncio.run(serve(RequestTimeout(answer, timeout=5), sent))

    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200 and sent[1]["body"] == b'{"ok": true}'


def test_request_timeout_answers_504_when_no_answer_starts_in_time():
    sent: list[dict] = []

    asyncio.run(serve(RequestTimeout(silent, timeout=0.05), sent))

    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"]) == {
        "error": "Not able to process the request in 0.05 seconds"
    }


def test_request_timeout_raises_the_app_error_without_waiting_out_the_timeout():
    with pytest.raises(RuntimeError, match="failed before answering"):
        asyncio.run(serve(RequestTimeout(failing, timeout=3600), []))


def test_service_app_uses_request_timeout(service_module):
    app = service_module.LoanApproval.to_asgi()

    stack = {middleware.cls for middleware in app.user_middleware}
    assert RequestTimeout in stack
    assert bentoml_timeout() not in stack
