"""The one request parser for /predict and /predict_batch: every body passes here first.

BentoML parses each route's body its own way (the batch route with the standard library's
JSON parser), and some inputs made it answer 500: a NUL byte, invalid UTF-8, nesting a
thousand levels deep, ``multipart/form-data`` without a boundary. This parser runs in
front of both routes with the same limits, in this order, and refuses with a 4xx naming
the problem and the fix:

1. the content type must be ``application/json`` (charset utf-8 if given): else 415;
2. the body is at most ``max_body_bytes``: else 413 (``BodySizeLimit`` refuses a declared
   larger body before reading it);
3. the body is UTF-8 without NUL bytes: else 400;
4. the JSON is well formed, nested at most ``MAX_DEPTH`` levels, and no object repeats a
   key: else 400;
5. no value is ``true`` or ``false`` (every field is a number; a 0/1 flag is 0 or 1): else 400;
6. the request model (derived from the schema) accepts it: else 400 naming each field.

A body that passes is handed on unchanged, so BentoML's own parsing cannot fail on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

JSON_TYPE = "application/json"
# A batch is a list of objects of numbers: three levels; anything deeper is not a request.
MAX_DEPTH = 3
MAX_ERRORS = 10  # field errors named in one answer


@dataclass(frozen=True)
class Refusal(Exception):
    """A request refused before the model: the HTTP status and what to fix."""

    status: int
    error: str
    fields: tuple[dict, ...] = ()

    def body(self) -> dict:
        answer: dict[str, Any] = {"error": self.error}
        if self.fields:
            answer["fields"] = list(self.fields)
        return answer


class RequestParser:
    """Checks one route's body against its request type (an application, or a batch)."""

    def __init__(self, request_type: Any, max_body_bytes: int):
        self.adapter = TypeAdapter(request_type)
        self.max_body_bytes = max_body_bytes

    def parse(self, body: bytes, content_type: str | None) -> Any:
        """The validated request, or ``Refusal``."""
        check_content_type(content_type)
        if len(body) > self.max_body_bytes:
            raise Refusal(
                413,
                f"request body: {len(body)} bytes is over the limit of {self.max_body_bytes} "
                "bytes (UNDERWRITE_MAX_BODY_BYTES); send fewer applications per request",
            )
        plain = self.plainly_valid(body)
        if plain is not None:
            return plain
        value = load_json(decode(body))
        check_shape(value)
        try:
            return self.adapter.validate_python(value)
        except ValidationError as err:
            raise refusal_from(err) from None

    def plainly_valid(self, body: bytes) -> Any:
        """The validated request when the checks above would all pass, else None.

        Pydantic reads the JSON itself (a tenth of the time of the checks one by one,
        which run in Python), and what it accepts passes every check, but for three it
        does not make: an ASCII body has no invalid UTF-8 or NUL byte; no ``true`` or
        ``false`` (pydantic takes true for 1); and no key twice (pydantic keeps the last):
        in a valid request every ':' separates a field from its value, so the body has
        as many as the fields pydantic saw. When in doubt, None: the checks then run in
        order and name the problem.
        """
        if not body.isascii() or b"true" in body or b"false" in body:
            return None
        try:
            value = self.adapter.validate_json(body)
        except ValidationError:
            return None
        rows = value if isinstance(value, list) else [value]
        if body.count(b":") != sum(len(row.model_fields_set) for row in rows):
            return None
        return value


def check_content_type(content_type: str | None) -> None:
    media, _, parameters = (content_type or "").partition(";")
    charset = parameters.strip().lower().removeprefix("charset=").strip('"')
    if media.strip().lower() != JSON_TYPE or (parameters.strip() and charset != "utf-8"):
        raise Refusal(
            415,
            f"content type {content_type or '(none)'!r} is not accepted: send the applications "
            f"as JSON with the header 'Content-Type: {JSON_TYPE}'",
        )


def decode(body: bytes) -> str:
    if b"\x00" in body:
        raise Refusal(400, f"request body: NUL byte at offset {body.index(0)}; send UTF-8 JSON")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Refusal(
            400, f"request body: invalid UTF-8 at byte {err.start}; send UTF-8 encoded JSON"
        ) from None


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise Refusal(
                400, f"field {key!r}: sent twice in one object; send each field once", _at(key)
            )
        seen[key] = value
    return seen


def load_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as err:
        raise Refusal(
            400, f"Invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None


def check_shape(value: Any, depth: int = 1, field: str = "") -> None:
    """At most ``MAX_DEPTH`` levels, and no booleans (the contract has none)."""
    if depth > MAX_DEPTH:
        raise _too_deep()
    if isinstance(value, bool):
        name = field or "request body"
        raise Refusal(
            400,
            f"field {name!r}: {str(value).lower()} is not a number; send a number "
            "(a yes/no flag is 0 or 1)",
            _at(name),
        )
    if isinstance(value, dict):
        for key, child in value.items():
            check_shape(child, depth + 1, key)
    elif isinstance(value, list):
        for child in value:
            check_shape(child, depth + 1, field)


def _too_deep() -> Refusal:
    return Refusal(
        400,
        f"request body: nested deeper than {MAX_DEPTH} levels; send one application object "
        "to /predict or a list of them to /predict_batch",
    )


def _at(field: str, message: str = "", row: int | None = None) -> tuple[dict, ...]:
    where: dict[str, Any] = {"field": field}
    if row is not None:
        where["row"] = row
    if message:
        where["message"] = message
    return (where,)


def refusal_from(err: ValidationError) -> Refusal:
    """Pydantic's errors as one 400 naming each field (and row, in a batch); no input values."""
    fields: list[dict] = []
    for problem in err.errors(include_url=False, include_input=False)[:MAX_ERRORS]:
        location = list(problem["loc"])
        row = location.pop(0) if location and isinstance(location[0], int) else None
        # the first name is the field; later parts name pydantic's union members
        field = next((part for part in location if isinstance(part, str)), "")
        message = OBJECT_EXPECTED if problem["type"] == "model_type" else problem["msg"]
        fields.extend(_at(field, message, row))
    summary = "; ".join(_describe(f) for f in fields)
    return Refusal(400, summary, tuple(fields))


OBJECT_EXPECTED = "Input should be an object: one application's fields by name"


def _describe(where: dict) -> str:
    row = f"row {where['row']} " if "row" in where else ""
    field = f"field {where['field']!r}" if where["field"] else "request body"
    return f"{row}{field}: {where['message']}"
