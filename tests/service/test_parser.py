"""The one request parser: every class of bad input is a 4xx naming the problem."""

from __future__ import annotations

import json
import select
import socket
import time

import httpx
import pytest

from underwrite.serving.config import ServingConfig
from underwrite.serving.contract import application_model, batch_type, golden_applications
from underwrite.serving.parser import Refusal, RequestParser

GOOD = golden_applications()[0]
JSON = "application/json"
SLOW_HEADER_BOUND = 30  # seconds: the header timeout (10 s) plus slack on a busy machine


@pytest.fixture(scope="module")
def parsers() -> dict[str, RequestParser]:
    application = application_model(False)
    return {
        "single": RequestParser(application, 1 << 20),
        "batch": RequestParser(batch_type(application, 500), 1 << 20),
    }


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


def _refusal(parser: RequestParser, body: bytes, content_type: str | None = JSON) -> Refusal:
    with pytest.raises(Refusal) as caught:
        parser.parse(body, content_type)
    return caught.value


@pytest.mark.parametrize("route", ["single", "batch"])
@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        (None, 415),
        ("text/plain", 415),
        ("multipart/form-data", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/json; charset=latin-1", 415),
    ],
)
def test_content_type_other_than_json_is_415_on_both_routes(parsers, route, content_type, status):
    body = _body(GOOD if route == "single" else [GOOD])
    refusal = _refusal(parsers[route], body, content_type)
    assert refusal.status == status and "application/json" in refusal.error


@pytest.mark.parametrize("route", ["single", "batch"])
def test_json_with_a_utf8_charset_is_accepted(parsers, route):
    body = _body(GOOD if route == "single" else [GOOD])
    assert parsers[route].parse(body, "Application/JSON; charset=UTF-8")


@pytest.mark.parametrize("route", ["single", "batch"])
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"loanamt": \x00 1}', "NUL byte"),
        (b'{"loanamt": "\xff"}', "invalid UTF-8"),
        (b"[" * 1000 + b"]" * 1000, "nested deeper"),
        (b"[" * 100_000, "nested deeper"),
        (b'{"a": {"b": {"c": 1}}}', "nested deeper"),
        (b'{"loanamt": 1, "loanamt": 2}', "'loanamt': sent twice"),
        (b"[{", "Invalid JSON"),
        (b"", "Invalid JSON"),
    ],
)
def test_malformed_bodies_are_400_naming_the_problem(parsers, route, body, words):
    refusal = _refusal(parsers[route], body)
    assert refusal.status == 400 and words in refusal.error


@pytest.mark.parametrize("flag", [True, False])
def test_true_and_false_are_not_0_and_1(parsers, flag):
    flags = [k for k, v in GOOD.items() if v in (0, 1) and not isinstance(v, float)]
    field = flags[0]
    for parser, body in (
        (parsers["single"], {**GOOD, field: flag}),
        (parsers["batch"], [GOOD, {**GOOD, field: flag}]),
    ):
        refusal = _refusal(parser, _body(body))
        assert refusal.status == 400
        assert f"field {field!r}" in refusal.error and "0 or 1" in refusal.error


def test_body_over_the_limit_is_413():
    parser = RequestParser(application_model(False), 100)
    refusal = _refusal(parser, _body(GOOD))
    assert refusal.status == 413 and "UNDERWRITE_MAX_BODY_BYTES" in refusal.error


def test_field_errors_name_field_and_row_without_the_values_sent(parsers):
    secret = 987654321.5
    refusal = _refusal(parsers["batch"], _body([GOOD, {**GOOD, "appinc": secret, "occ": 7}]))
    assert refusal.status == 400
    assert {(f["row"], f["field"]) for f in refusal.fields} == {(1, "appinc"), (1, "occ")}
    assert "row 1 field 'occ'" in refusal.error
    assert str(secret) not in json.dumps(refusal.body())


def test_a_valid_request_parses_to_the_request_model(parsers):
    single = parsers["single"].parse(_body(GOOD), JSON)
    batch = parsers["batch"].parse(_body([GOOD, GOOD]), JSON)
    assert single.loanamt == GOOD["loanamt"] and len(batch) == 2


def sweep_requests(rows: int) -> list[dict]:
    """Random valid applications (every range, category, "unknown" code and null) as sent."""
    import numpy as np

    from underwrite.schema import BY_NAME, Kind
    from underwrite.serving.equality import random_applications

    frame = random_applications(rows, seed=11, include_protected=True)
    return [
        {
            name: None
            if np.isnan(value)
            else (value if BY_NAME[name].kind is Kind.NUMERIC else int(value))
            for name, value in row.items()
        }
        for row in frame.to_dict("records")
    ]


def checked_in_order(parser: RequestParser, body: bytes):
    from underwrite.serving.parser import check_shape, decode, load_json

    value = load_json(decode(body))
    check_shape(value)
    return parser.adapter.validate_python(value)


def test_plainly_valid_bodies_parse_as_the_checks_in_order_parse_them(parsers):
    requests = sweep_requests(300)
    bodies = {
        "batch": [_body(requests), json.dumps(requests, indent=2).encode()],
        "single": [_body(r) for r in requests[:50]],
    }
    for route, route_bodies in bodies.items():
        for body in route_bodies:
            plain = parsers[route].plainly_valid(body)
            assert plain is not None
            assert plain == checked_in_order(parsers[route], body)
            assert parsers[route].parse(body, JSON) == plain


@pytest.mark.parametrize(
    "body",
    [
        _body({**GOOD, "occ": 2})[:-1] + b', "occ": 3}',  # a key twice, both values valid
        _body({**GOOD, "married": True}),  # pydantic alone takes true for 1
        _body({**GOOD, "married": False}),
        _body(GOOD).replace(b'"occ"', '"occ\u00e9"'.encode()),
        _body(GOOD).replace(b"{", "{\u00e9".encode(), 1) + "é".encode(),
    ],
    ids=["duplicate_key", "true", "false", "escaped_key", "not_ascii"],
)
def test_plainly_valid_leaves_every_doubtful_body_to_the_checks(parsers, body):
    assert parsers["single"].plainly_valid(body) is None
    assert parsers["batch"].plainly_valid(b"[" + body + b"]") is None
    with pytest.raises(Refusal):
        parsers["single"].parse(body, JSON)


# --- the same refusals from a real `bentoml serve`, on both routes -------------------------

SERVED_BAD = [
    ("nul_byte", b'{"loanamt": \x00 1}', JSON, 400, "NUL byte"),
    ("invalid_utf8", b'{"loanamt": "\xff\xfe"}', JSON, 400, "invalid UTF-8"),
    ("nested_1000_deep", b"[" * 1000 + b"]" * 1000, JSON, 400, "nested deeper"),
    ("duplicate_key", b'{"loanamt": 1, "loanamt": 2}', JSON, 400, "sent twice"),
    ("text_plain", _body(GOOD), "text/plain", 415, "application/json"),
    ("no_content_type", _body(GOOD), None, 415, "application/json"),
    ("multipart_without_boundary", b"--x--", "multipart/form-data", 415, "application/json"),
]


@pytest.mark.integration
@pytest.mark.parametrize("route", ["/predict", "/predict_batch"])
@pytest.mark.parametrize(
    ("name", "body", "content_type", "status", "words"), SERVED_BAD, ids=[b[0] for b in SERVED_BAD]
)
def test_served_bad_input_class_is_a_4xx_on_both_routes(
    served, route, name, body, content_type, status, words
):
    headers = {"content-type": content_type} if content_type else {}
    answer = httpx.post(f"{served.url}{route}", content=body, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


@pytest.mark.integration
@pytest.mark.parametrize("route", ["/predict", "/predict_batch"])
def test_served_true_for_a_flag_is_refused_naming_the_field(served, route):
    bad = {**GOOD, "married": True}
    answer = httpx.post(f"{served.url}{route}", json=bad if route == "/predict" else [bad])
    assert answer.status_code == 400 and "'married'" in answer.json()["error"]


@pytest.mark.integration
def test_served_refusal_logs_one_line_without_the_values_sent(served):
    marker = 123456789.25
    before = served.output.read_text()
    answer = httpx.post(f"{served.url}/predict", json={**GOOD, "appinc": marker}, timeout=30)
    assert answer.status_code == 400
    time.sleep(1)  # the server's output is written by another process
    new = served.output.read_text()[len(before) :]
    assert str(marker) not in new and "Traceback" not in new
    assert len([line for line in new.splitlines() if "refused POST /predict" in line]) == 1


@pytest.mark.integration
def test_served_connection_sending_headers_slowly_is_closed(served):
    """One header byte a second never completes the headers: the server hangs up."""
    port = int(served.url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        closed = False
        while not closed and time.monotonic() - started < SLOW_HEADER_BOUND:
            try:
                client.sendall(b"X")
                readable, _, _ = select.select([client], [], [], 1.0)
                closed = bool(readable) and client.recv(1024) == b""
            except (ConnectionResetError, BrokenPipeError):
                closed = True
    elapsed = time.monotonic() - started
    assert closed, f"still open after {elapsed:.0f}s"
    assert ServingConfig().header_timeout_seconds <= elapsed < SLOW_HEADER_BOUND
