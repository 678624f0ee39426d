"""Inference-log JSON Lines bytes as a typed Arrow table, with errors that name the line.

Parsing is the slow part of reading a log. polars' NDJSON reader is about twice as fast
as pyarrow's per core on these records (docs/benchmarks.md), so it parses first; anything
it refuses (or a timestamp Arrow cannot convert) goes to pyarrow's reader, which accepts
what the reader always accepted, and only what both refuse is a bad log, located line by
line with the standard library for the message.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from underwrite.inference_log import (
    APPROVED,
    META_FIELDS,
    MODEL_MD5,
    MODEL_VERSION,
    OPTIONAL_FIELDS,
    PROBABILITY,
    REQUEST_ID,
    SYNTHETIC,
    TIMESTAMP,
    input_fields,
)
from underwrite.schema import BY_NAME

STRINGS = (REQUEST_ID, MODEL_VERSION, MODEL_MD5)
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")


class LogError(ValueError):
    """The inference log cannot be read; the message names the file, the line and the fix."""


def required_fields() -> list[str]:
    """Fields every record must carry: the metadata and every non-nullable input."""
    meta = [f for f in META_FIELDS if f not in OPTIONAL_FIELDS]
    return [*meta, *(f for f in input_fields() if not BY_NAME[f].nullable)]


def arrow_schema(approved: pa.DataType | None = None) -> pa.Schema:
    """The typed columns read from each record; other fields are ignored."""
    fields = [pa.field(name, pa.string()) for name in STRINGS]
    fields.append(pa.field(TIMESTAMP, TIMESTAMP_TYPE))
    fields.append(pa.field(PROBABILITY, pa.float64()))
    fields.append(pa.field(APPROVED, approved or pa.bool_()))
    fields.append(pa.field(SYNTHETIC, pa.bool_()))  # null in records written before it
    fields.extend(pa.field(name, pa.float64()) for name in input_fields())
    return pa.schema(fields)


def parse_jsonl(data: bytes, path: str, lines_before: int) -> pa.Table:
    """JSON Lines bytes as a typed table; a bad record raises LogError naming its line.

    ``approved`` comes out as float64 (1.0/0.0), whether the log wrote booleans or numbers.
    """
    first = _first_record(data, path, lines_before)
    missing = [f for f in required_fields() if f not in first]
    if missing:
        raise LogError(
            f"{path}, line {lines_before + 1}: not an inference log record of this schema: "
            f"missing {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}"
        )
    boolean = isinstance(first.get(APPROVED), bool)
    target = arrow_schema(pa.float64())
    try:
        return _with_polars(data, boolean).cast(target)
    except (pl.exceptions.PolarsError, pa.ArrowInvalid):
        pass  # the reader's old rules (and messages) decide
    options = pj.ParseOptions(
        explicit_schema=arrow_schema(pa.bool_() if boolean else pa.float64()),
        unexpected_field_behavior="ignore",
    )
    try:
        table = pj.read_json(pa.BufferReader(data), parse_options=options)
    except pa.ArrowInvalid as err:
        raise LogError(_locate(data, path, lines_before, str(err))) from None
    return table.cast(target)


def _with_polars(data: bytes, boolean: bool) -> pa.Table:
    """The records' columns in the schema's order; the timestamp still ISO 8601 text."""
    kinds = {pa.string(): pl.String, pa.float64(): pl.Float64, pa.bool_(): pl.Boolean}
    schema = {
        f.name: pl.String if f.name == TIMESTAMP else kinds[f.type]
        for f in arrow_schema(pa.bool_() if boolean else pa.float64())
    }
    frame = pl.read_ndjson(data, schema=schema)
    # Arrow's ISO 8601 parser converts offsets to UTC in C++ (polars' is ~10x slower here)
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest())


def _first_record(data: bytes, path: str, lines_before: int) -> dict:
    start, number = 0, lines_before + 1
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        line = data[start:end]
        if line.strip():
            return _loads(line, path, number)
        start, number = end + 1, number + 1
    raise LogError(f"{path}: no records")


def _loads(line: bytes, path: str, number: int) -> dict:
    try:
        record = json.loads(line)
    except ValueError as err:
        raise LogError(f"{path}, line {number}: not valid JSON ({err})") from None
    if not isinstance(record, dict):
        raise LogError(f"{path}, line {number}: a record must be a JSON object")
    return record


def _locate(data: bytes, path: str, lines_before: int, arrow_message: str) -> str:
    """The first line that breaks the contract, and why (Arrow's message has no line)."""
    numbers = set(input_fields()) | {PROBABILITY}
    for number, line in enumerate(data.splitlines(), start=lines_before + 1):
        if not line.strip():
            continue
        record = _loads(line, path, number)
        for name in numbers:
            value = record.get(name)
            if value is not None and (isinstance(value, bool | str) or not _is_number(value)):
                return f"{path}, line {number}: field {name!r} is {value!r}; it must be a number"
        if not isinstance(record.get(SYNTHETIC, False), bool | None):
            return (
                f"{path}, line {number}: field {SYNTHETIC!r} is {record[SYNTHETIC]!r}; it must "
                "be true or false"
            )
        try:
            datetime.fromisoformat(str(record.get(TIMESTAMP)))
        except ValueError:
            return (
                f"{path}, line {number}: timestamp {record.get(TIMESTAMP)!r} is not ISO 8601 "
                "(e.g. 2026-01-31T12:00:00+00:00)"
            )
    return f"{path}: cannot be read as an inference log ({arrow_message})"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)
