"""BentoML's request timeout, without keeping every finished request alive for the timeout.

BentoML 1.4's ``TimeoutMiddleware`` (``traffic={"timeout": ...}``) calls
``loop.call_later(timeout, ...)`` for every request and never cancels the timer. The timer
holds the request's context, and through it the request's OpenTelemetry span and what that
references, for the whole timeout after the answer has gone: at 300 requests/s and a 30 s
timeout, about 9,000 finished requests per worker. Python's full garbage collections scan
them all; they took 90 to 190 ms each, several times a minute, and made the p99 latency
(docs/benchmarks.md). ``RequestTimeout`` behaves like BentoML's middleware (504 when no
answer has started within the timeout) but cancels its timer when the request ends, runs
it outside the request's context, and stops waiting as soon as the app fails before
answering (BentoML's waits out the timeout).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestTimeout:
    """504 when the app has not started its answer within ``timeout`` seconds."""

    replaces: type | None = None  # BentoML's middleware, once install() has run

    def __init__(self, app: ASGIApp, timeout: float):
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        answering = loop.create_future()
        # an empty context: a timer (even cancelled, until asyncio drops it) keeps its context
        timer = loop.call_later(self.timeout, _expire, answering, context=contextvars.Context())

        async def send_and_mark(message: Message) -> None:
            _settle(answering)
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, send_and_mark))
        task.add_done_callback(lambda _: _settle(answering))
        try:
            await answering
        except TimeoutError:
            if task.cancel():
                error = f"Not able to process the request in {self.timeout} seconds"
                await JSONResponse({"error": error}, status_code=504)(scope, receive, send)
                return
        finally:
            timer.cancel()
        await task


def _settle(answering: asyncio.Future) -> None:
    if not answering.done():
        answering.set_result(None)


def _expire(answering: asyncio.Future) -> None:
    if not answering.done():
        answering.set_exception(TimeoutError())


def install() -> None:
    """Make BentoML's HTTP server use ``RequestTimeout`` for ``traffic={"timeout": ...}``.

    BentoML imports ``TimeoutMiddleware`` from this module when it builds a service's app,
    so replacing the name here (before the app is built) is enough.
    """
    from bentoml._internal.server.http import traffic

    if traffic.TimeoutMiddleware is not RequestTimeout:
        RequestTimeout.replaces = traffic.TimeoutMiddleware
        traffic.TimeoutMiddleware = RequestTimeout  # type: ignore[misc]
