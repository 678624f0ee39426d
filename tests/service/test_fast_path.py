"""The fast path: ParsedRoutes answers a parsed request through the ready service's respond."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from bentoml.exceptions import ServiceUnavailable
from pydantic import TypeAdapter
from starlette.testclient import TestClient

from underwrite.serving.contract import (
    Prediction,
    application_model,
    batch_type,
    golden_applications,
)
from underwrite.serving.middleware import ParsedRoutes, Responder
from underwrite.serving.parser import RequestParser

GOLDEN = golden_applications()
PARSERS = {
    "/predict": RequestParser(application_model(False), 1 << 20),
    "/predict_batch": RequestParser(batch_type(application_model(False), 500), 1 << 20),
}


class Route:
    """The app behind the middleware (BentoML's routes in the service): records what it got."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        self.bodies.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'"from the route"'})


def post(middleware, path: str, body: bytes) -> tuple[int, dict, bytes]:
    sent: list[dict] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", b"application/json")],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(middleware(scope, receive, send), timeout=30))
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_without_a_ready_service_the_route_answers_the_body_unchanged():
    route = Route()
    body = json.dumps(GOLDEN[0]).encode()
    status, _, answer = post(ParsedRoutes(route, PARSERS, Responder()), "/predict", body)
    assert (status, answer) == (200, b'"from the route"')
    assert route.bodies == [body]


@pytest.mark.parametrize("path", ["/predict", "/predict_batch"])
def test_a_ready_service_answers_the_parsed_request_instead_of_the_route(path):
    got = []

    async def respond(route: str, request) -> tuple[str, bytes]:
        got.append((route, request))
        return "00ab", b'{"answer": 1}'

    responder = Responder()
    responder.take(respond, "loan_approval")
    route = Route()
    sent = GOLDEN[0] if path == "/predict" else GOLDEN[:3]
    status, headers, answer = post(
        ParsedRoutes(route, PARSERS, responder), path, json.dumps(sent).encode()
    )
    assert (status, answer, route.bodies) == (200, b'{"answer": 1}', [])
    assert headers["x-bentoml-request-id"] == "00ab"
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(answer))
    assert headers["server"] == "BentoML Service/loan_approval"
    assert got == [(path, PARSERS[path].parse(json.dumps(sent).encode(), "application/json"))]


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (ServiceUnavailable("the model is overloaded"), 503, "An unexpected error"),
        (ValueError("a bug"), 500, "An unexpected error"),
    ],
)
def test_a_failing_respond_answers_as_bentomls_routes_do(error, status, message):
    async def respond(route: str, request) -> tuple[str, bytes]:
        raise error

    responder = Responder()
    responder.take(respond, "loan_approval")
    got = post(
        ParsedRoutes(Route(), PARSERS, responder), "/predict", json.dumps(GOLDEN[0]).encode()
    )
    assert got[0] == status and message in json.loads(got[2])["error"]


def test_a_refused_request_never_reaches_respond():
    async def respond(route: str, request) -> tuple[str, bytes]:
        raise AssertionError("a refused request was answered")

    responder = Responder()
    responder.take(respond, "loan_approval")
    body = json.dumps({**GOLDEN[0], "loanamt": -1}).encode()
    status, _, answer = post(ParsedRoutes(Route(), PARSERS, responder), "/predict", body)
    assert status == 400 and "loanamt" in json.loads(answer)["error"]


def test_a_service_leaving_clears_only_its_own_respond():
    async def first(route, request): ...

    async def second(route, request): ...

    responder = Responder()
    responder.take(first, "a")
    responder.take(second, "a")
    responder.leave(first)
    assert responder.respond == second
    responder.leave(second)
    assert responder.respond is None


def test_http_answers_are_the_class_answers_in_the_response_model(service_module, service_app):
    """Through ``to_asgi()`` the ready instance answers on the fast path; what it sends is
    what the class API returns (request ids aside) and parses as the documented model."""
    import asyncio as aio

    with TestClient(service_app) as http:
        assert service_module.RESPONDER.respond is not None
        instance = service_module.RESPONDER.respond.__self__
        one = http.post("/predict", json=GOLDEN[0])
        many = http.post("/predict_batch", json=GOLDEN)
        applications = [service_module.Application(**row) for row in GOLDEN]
        by_class = aio.run(instance.predict_batch(applications))
    assert service_module.RESPONDER.respond is None
    assert one.status_code == 200 and many.status_code == 200
    sent = TypeAdapter(list[Prediction]).validate_json(many.content)
    Prediction.model_validate_json(one.content)
    drop = {"request_id"}
    assert [p.model_dump(exclude=drop) for p in sent] == [
        p.model_dump(exclude=drop) for p in by_class
    ]
    assert one.json()["reasons"] == many.json()[0]["reasons"]
    assert [p.request_id for p in sent] == [
        f"{many.headers['x-bentoml-request-id']}-{i}" for i in range(len(GOLDEN))
    ]


def test_accept_sharing_takes_one_connection_then_pauses_and_accepts_them_all():
    """Four connections opened at once are all accepted, one at a time with a pause
    between (which lets another worker on the same socket take the next one)."""
    import socket
    import time
    from asyncio import selector_events

    from underwrite.serving.middleware import install_accept_sharing

    loop_class = selector_events.BaseSelectorEventLoop
    before = getattr(loop_class, "underwrite_accept_sharing", None)
    install_accept_sharing(pause_per_connection=0.02, max_pause=0.05)

    async def serve_four() -> list[float]:
        accepted: list[float] = []

        async def handle(reader, writer) -> None:
            accepted.append(time.monotonic())
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
        while len(accepted) < 4:
            await asyncio.sleep(0.005)
        server.close()
        await server.wait_closed()
        for client in clients:
            client.close()
        return accepted

    try:
        accepted = asyncio.run(asyncio.wait_for(serve_four(), timeout=30))
    finally:
        loop_class.underwrite_accept_sharing = before or (0.0, 0.0)
    gaps = [later - earlier for earlier, later in itertools.pairwise(accepted)]
    assert len(accepted) == 4 and all(gap >= 0.015 for gap in gaps), gaps
