"""A time window of the inference log as Arrow batches, from a local folder or azure://.

JSON parsing is the slow part of reading a log (roughly 40k records/s per core), so each
log file is converted once, in chunks, to Parquet parts in a local cache; a later check
parses only what was appended since. Reads take only the needed columns and skip the
parts outside the window (Parquet statistics on the timestamp). A final line without its
newline is left for the next read: the service may be writing it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from underwrite.inference_log import (
    APPROVED,
    META_FIELDS,
    MODEL_MD5,
    MODEL_VERSION,
    PROBABILITY,
    REQUEST_ID,
    TIMESTAMP,
    input_fields,
)
from underwrite.io import AZURE_SCHEME, azure_storage_options
from underwrite.schema import BY_NAME

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 << 20
BATCH_ROWS = 65_536
DAY_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})")
STRINGS = (REQUEST_ID, MODEL_VERSION, MODEL_MD5)


class LogError(ValueError):
    """The inference log cannot be read; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class LogFile:
    path: str
    size: int
    day: datetime | None  # from a name that starts with YYYY-MM-DD (the service's naming)


def required_fields() -> list[str]:
    """Fields every record must carry: the metadata and every non-nullable input."""
    return [*META_FIELDS, *(f for f in input_fields() if not BY_NAME[f].nullable)]


def arrow_schema(approved: pa.DataType | None = None) -> pa.Schema:
    """The typed columns read from each record; other fields are ignored."""
    fields = [pa.field(name, pa.string()) for name in STRINGS]
    fields.append(pa.field(TIMESTAMP, pa.timestamp("us", tz="UTC")))
    fields.append(pa.field(PROBABILITY, pa.float64()))
    fields.append(pa.field(APPROVED, approved or pa.bool_()))
    fields.extend(pa.field(name, pa.float64()) for name in input_fields())
    return pa.schema(fields)


def filesystem(source: str) -> tuple[Any, str]:
    """An fsspec filesystem and the root path inside it, for a folder or an azure:// URL."""
    if source.startswith(AZURE_SCHEME):
        import adlfs

        return adlfs.AzureBlobFileSystem(**azure_storage_options()), source.removeprefix(
            AZURE_SCHEME
        ).rstrip("/")
    from fsspec.implementations.local import LocalFileSystem

    root = Path(source)
    if not root.is_dir():
        raise LogError(f"inference log {source!r}: no such folder")
    return LocalFileSystem(), str(root.resolve())


def list_files(fs: Any, root: str) -> list[LogFile]:
    """Every *.jsonl file under root (recursively), oldest name first."""
    try:
        found = fs.find(root, detail=True)
    except FileNotFoundError as err:
        raise LogError(f"inference log {root!r}: not found") from err
    files = []
    for path, info in sorted(found.items()):
        if path.endswith(".jsonl"):
            match = DAY_PREFIX.match(Path(path).name)
            day = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC) if match else None
            files.append(LogFile(path, int(info["size"]), day))
    return files


def may_hold(file: LogFile, start: datetime, end: datetime) -> bool:
    """Whether a file can hold records in [start, end): its day (a day's slack each side)."""
    if file.day is None:
        return True
    return file.day - timedelta(days=1) < end and file.day + timedelta(days=2) > start


def read_window(
    source: str, start: datetime, end: datetime, columns: list[str], cache: Path
) -> Iterator[pa.RecordBatch]:
    """Records with start <= timestamp < end, as batches holding only ``columns``.

    One row group at a time, so memory stays near one part whatever the window's size;
    row groups whose timestamps lie outside the window are skipped unread.
    """
    fs, root = filesystem(source)
    files = [f for f in list_files(fs, root) if may_hold(f, start, end)]
    parts = [part for file in files for part in cached_parts(fs, file, cache)]
    wanted = list(dict.fromkeys([*columns, TIMESTAMP]))
    low = pa.scalar(start, pa.timestamp("us", tz="UTC"))
    high = pa.scalar(end, pa.timestamp("us", tz="UTC"))
    for part in parts:
        parquet = pq.ParquetFile(part)
        for group in range(parquet.num_row_groups):
            if not _overlaps(parquet.metadata.row_group(group), start, end):
                continue
            table = parquet.read_row_group(group, columns=wanted)
            stamps = table.column(TIMESTAMP)
            inside = pc.and_(pc.greater_equal(stamps, low), pc.less(stamps, high))
            window = table.filter(inside).select(columns).combine_chunks()
            yield from window.to_batches(max_chunksize=BATCH_ROWS)


def _overlaps(group: pq.RowGroupMetaData, start: datetime, end: datetime) -> bool:
    for index in range(group.num_columns):
        column = group.column(index)
        if column.path_in_schema == TIMESTAMP:
            stats = column.statistics
            if stats is None or not stats.has_min_max:
                return True
            low, high = (_utc(v) for v in (stats.min, stats.max))
            return low < end and high >= start
    return True


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def latest_timestamp(source: str, cache: Path) -> datetime | None:
    """The newest record's timestamp (from Parquet statistics), or None for an empty log."""
    fs, root = filesystem(source)
    newest = None
    for file in list_files(fs, root):
        for part in cached_parts(fs, file, cache):
            value = pc.max(pq.read_table(part, columns=[TIMESTAMP]).column(0)).as_py()
            if value is not None:
                newest = value if newest is None else max(newest, value)
    return newest


def count_records(source: str, cache: Path) -> int:
    fs, root = filesystem(source)
    return sum(
        pq.ParquetFile(p).metadata.num_rows
        for f in list_files(fs, root)
        for p in cached_parts(fs, f, cache)
    )


def cached_parts(fs: Any, file: LogFile, cache: Path) -> list[Path]:
    """The file's Parquet parts, converting what was appended since the last read."""
    folder = cache / hashlib.sha1(file.path.encode()).hexdigest()[:20]
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    head = _head_digest(fs, file)
    if manifest is None or manifest["head"] != head or manifest["bytes"] > file.size:
        manifest = {"path": file.path, "head": head, "bytes": 0, "lines": 0, "parts": []}
        for old in folder.glob("part-*.parquet"):
            old.unlink()
    if manifest["bytes"] < file.size:
        folder.mkdir(parents=True, exist_ok=True)
        _convert_tail(fs, file, folder, manifest)
        manifest_path.write_text(json.dumps(manifest))
    return [folder / name for name in manifest["parts"]]


def _head_digest(fs: Any, file: LogFile) -> str:
    """Identifies the file's content: a rotated file reusing a name starts differently."""
    with fs.open(file.path, "rb") as handle:
        return hashlib.sha1(handle.read(4096)).hexdigest()


def _convert_tail(fs: Any, file: LogFile, folder: Path, manifest: dict) -> None:
    with fs.open(file.path, "rb") as handle:
        handle.seek(manifest["bytes"])
        while manifest["bytes"] < file.size:
            data = handle.read(min(CHUNK_BYTES, file.size - manifest["bytes"]))
            end = data.rfind(b"\n") + 1
            last = manifest["bytes"] + len(data) >= file.size
            if end == 0 and not last:  # one line longer than a chunk
                raise LogError(f"{file.path}: a line longer than {CHUNK_BYTES} bytes")
            if last and end < len(data) and not _complete(data[end:]):
                data = data[:end]  # an unfinished last line: read it next time
            else:
                data = data if last else data[:end]
            if not data:
                return
            if data.strip():  # blank lines hold no records
                table = parse_jsonl(data, file.path, manifest["lines"])
                name = f"part-{len(manifest['parts']):05d}.parquet"
                pq.write_table(table, folder / name, compression="zstd")
                log.debug("converted %d records of %s", table.num_rows, file.path)
                manifest["parts"].append(name)
            manifest["bytes"] += len(data)
            manifest["lines"] += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            handle.seek(manifest["bytes"])


def _complete(tail: bytes) -> bool:
    try:
        return isinstance(json.loads(tail), dict)
    except ValueError:
        return False


def parse_jsonl(data: bytes, path: str, lines_before: int) -> pa.Table:
    """JSON Lines bytes as a typed table; a bad record raises LogError naming its line."""
    first = _first_record(data, path, lines_before)
    missing = [f for f in required_fields() if f not in first]
    if missing:
        raise LogError(
            f"{path}, line {lines_before + 1}: not an inference log record of this schema: "
            f"missing {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}"
        )
    approved = pa.bool_() if isinstance(first.get(APPROVED), bool) else pa.float64()
    options = pj.ParseOptions(
        explicit_schema=arrow_schema(approved), unexpected_field_behavior="ignore"
    )
    try:
        table = pj.read_json(pa.BufferReader(data), parse_options=options)
    except pa.ArrowInvalid as err:
        raise LogError(_locate(data, path, lines_before, str(err))) from None
    return table.set_column(
        table.schema.get_field_index(APPROVED),
        APPROVED,
        table.column(APPROVED).cast(pa.float64()),
    )


def _first_record(data: bytes, path: str, lines_before: int) -> dict:
    for number, line in enumerate(data.splitlines(), start=lines_before + 1):
        if line.strip():
            record = _loads(line, path, number)
            return record
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
