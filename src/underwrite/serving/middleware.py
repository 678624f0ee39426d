"""ASGI middleware in front of the service: a body size limit, a request timeout, the one
request parser for both prediction routes (``ParsedRoutes``), and a timeout for slow
request headers (``install_header_timeout``, in uvicorn's protocol).

BodySizeLimit: An ASGI middleware that answers 413 to a request body over a size limit.

BentoML reads whatever body it is sent; this refuses an oversized one before any of it is
parsed. A declared Content-Length is checked up front; a chunked body is read up to the
limit and replayed to the app, or refused as soon as it goes over.

RequestTimeout: BentoML's request timeout, without keeping every finished request alive
for the timeout.

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
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from underwrite.inference_log import SYNTHETIC_HEADER, is_synthetic
from underwrite.serving.parser import Refusal, RequestParser

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(send, declared)
                return
            await self.app(scope, receive, send)
            return
        body, size = await self._read_chunked(receive)
        if body is None:
            await self._refuse(send, size)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_chunked(self, receive: Receive) -> tuple[bytes | None, int]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), size
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return None, size
            if not message.get("more_body", False):
                return b"".join(chunks), size

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps(
            {
                "error": f"request body: {size} bytes is over the limit of {self.max_bytes} bytes "
                "(UNDERWRITE_MAX_BODY_BYTES); send fewer applications per request"
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body once, then the client's own messages (a later disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


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


# Whether the request being served carries SYNTHETIC_HEADER (set by ParsedRoutes).
SYNTHETIC_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "synthetic_request", default=False
)


class Responder:
    """The service instance that answers parsed requests in ``ParsedRoutes``: the one that
    is ready in this process (set once it is, cleared at its shutdown). Without one,
    BentoML's routes answer, as they do for the service called as a class."""

    def __init__(self) -> None:
        self.respond: Callable[[str, Any], Awaitable[tuple[str, bytes]]] | None = None
        self.server = b""  # the Server header BentoML's routes send

    def take(self, respond: Callable[[str, Any], Awaitable[tuple[str, bytes]]], name: str) -> None:
        self.respond = respond
        self.server = f"BentoML Service/{name}".encode()

    def leave(self, respond: Callable) -> None:
        if self.respond == respond:
            self.respond = None


class ParsedRoutes:
    """Runs ``RequestParser`` on every POST to the routes it knows; refuses, or answers.

    The body is read here (``BodySizeLimit`` outside has bounded it) and parsed once with
    the route's limits. A valid request goes to the ready service's ``respond`` through
    ``responder``; without one it is replayed unchanged to BentoML's route. A refusal is
    one log line naming the route, status and fields, never the values sent.
    """

    def __init__(
        self,
        app: ASGIApp,
        parsers: Mapping[str, RequestParser],
        responder: Responder | None = None,
    ):
        self.app = app
        self.parsers = parsers
        self.responder = responder or Responder()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parser = self.parsers.get(scope.get("path", "")) if scope["type"] == "http" else None
        if parser is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        try:
            request = parser.parse(body, header(scope, b"content-type"))
        except Refusal as refusal:
            fields = ",".join(sorted({f["field"][:40] for f in refusal.fields}))
            log.warning("refused POST %s: %d %s", scope["path"], refusal.status, fields or "-")
            await JSONResponse(refusal.body(), status_code=refusal.status)(scope, receive, send)
            return
        SYNTHETIC_REQUEST.set(is_synthetic(header(scope, SYNTHETIC_HEADER.lower().encode())))
        if self.responder.respond is None:
            await self.app(scope, _replay(body, receive), send)
            return
        await _answer(self.responder, scope["path"], request, send)


UNEXPECTED = "An unexpected error has occurred, please check the server log."


async def _answer(responder: Responder, route: str, request: Any, send: Send) -> None:
    """The responder's JSON, or an error answered as BentoML's routes answer it."""
    from bentoml.exceptions import BentoMLException

    headers = [(b"server", responder.server), (b"content-type", b"application/json")]
    try:
        request_id, body = await responder.respond(route, request)
        status = 200
        headers.append((b"x-bentoml-request-id", request_id.encode()))
    except BentoMLException as err:  # e.g. 503 when the model is overloaded
        log.exception("POST %s failed", route)
        status = err.error_code.value
        body = json.dumps({"error": UNEXPECTED if status >= 500 else str(err)}).encode()
    except Exception:
        log.exception("POST %s failed", route)
        status, body = 500, json.dumps({"error": UNEXPECTED}).encode()
    headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header, or None (latin-1, as HTTP defines it)."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def install_header_timeout(seconds: float) -> None:
    """Close a connection whose request headers are not complete within ``seconds``.

    An ASGI middleware only sees a request once its headers are in, so this guard sits in
    uvicorn's HTTP protocol (which BentoML runs): a timer starts when a connection opens
    and again when an answer has gone out on a kept-alive connection; if no new request
    has begun when it fires, the connection is closed. uvicorn's own ``timeout_keep_alive``
    does not cover this: any byte received cancels it, so one header byte every few seconds
    held a connection open for ever.
    """
    for protocol in _uvicorn_protocols():
        protocol.underwrite_header_timeout = seconds
        if getattr(protocol, "underwrite_guarded", False):
            continue
        protocol.underwrite_guarded = True
        _call_after(protocol, "connection_made", _arm_header_timer)
        _call_after(protocol, "on_response_complete", _arm_header_timer)
        _call_after(protocol, "connection_lost", _cancel_header_timer)


def install_accept_sharing(pause_per_connection: float, max_pause: float) -> None:
    """Workers sharing one listening socket share the connections.

    BentoML's workers all wait on one listening socket, and asyncio accepts every pending
    connection each time the socket wakes a worker: the first to wake took all the
    connections a client opened at once (wrk's 4 or 16, a load balancer's pool) while the
    other idled (py-spy: 91% of a 500-row batch load in one worker; docs/benchmarks.md).
    Here a worker accepts one connection, then stops listening for a moment that grows
    with the connections it already holds, so the others, waiting on the same socket,
    take the next ones. Pending connections wait in the kernel's backlog meanwhile.
    asyncio's own event loop only (BentoML's workers run it).
    """
    from asyncio import selector_events

    loop_class = selector_events.BaseSelectorEventLoop
    if getattr(loop_class, "underwrite_accept_sharing", None) is not None:
        loop_class.underwrite_accept_sharing = (pause_per_connection, max_pause)
        return
    loop_class.underwrite_accept_sharing = (pause_per_connection, max_pause)
    accept = loop_class._accept_connection

    def accept_and_pause(self, protocol_factory, sock, sslcontext=None, server=None, *more):
        accept(self, protocol_factory, sock, sslcontext, server, 1, *more[1:])
        per_connection, longest = loop_class.underwrite_accept_sharing
        # the one just accepted attaches to the server a moment later: count it already
        held = getattr(server, "_active_count", 0) + 1
        if per_connection <= 0:
            return
        fd = sock.fileno()
        self._remove_reader(fd)

        def listen_again() -> None:
            if not self.is_closed() and sock.fileno() == fd and server.is_serving():
                self._add_reader(
                    fd, self._accept_connection, protocol_factory, sock, sslcontext, server, *more
                )

        self.call_later(min(longest, per_connection * held), listen_again)

    loop_class._accept_connection = accept_and_pause


def _uvicorn_protocols() -> list[type]:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    protocols: list[type] = [H11Protocol]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional; uvicorn then uses h11
        return protocols
    return [*protocols, HttpToolsProtocol]


def _call_after(protocol: type, name: str, extra: Callable[[Any], None]) -> None:
    original = getattr(protocol, name)

    def wrapped(self: Any, *args: Any) -> None:
        original(self, *args)
        extra(self)

    setattr(protocol, name, wrapped)


def _arm_header_timer(protocol: Any) -> None:
    _cancel_header_timer(protocol)
    protocol.underwrite_header_timer = protocol.loop.call_later(
        protocol.underwrite_header_timeout, _close_if_no_request, protocol, protocol.cycle
    )


def _cancel_header_timer(protocol: Any) -> None:
    timer = getattr(protocol, "underwrite_header_timer", None)
    if timer is not None:
        timer.cancel()
        protocol.underwrite_header_timer = None


def _close_if_no_request(protocol: Any, cycle_when_armed: Any) -> None:
    if protocol.cycle is cycle_when_armed and not protocol.transport.is_closing():
        log.info("closed a connection whose request headers took over the header timeout")
        protocol.transport.close()
