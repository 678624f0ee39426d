"""A time window of the inference log as Arrow batches, from a local folder or azure://.

JSON parsing is the slow part of reading a log (about 150k records/s per core, Parquet
writing included), so each log file is converted once, in chunks, to Parquet parts in a
local cache; a later check parses only what was appended since. Files are converted one
thread per core, and a file's records are read while later files are still converted.
Reads take only the needed columns and skip the parts outside the window (Parquet
statistics on the timestamp). A final line without its newline is left for the next read:
the service may be writing it. Synthetic records (requests that carried the synthetic-traffic
header: smoke suites, load tests, the simulator over HTTP) are left out unless asked for, so
neither a drift window nor the retraining labels ever see them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from underwrite.drift.logparse import TIMESTAMP_TYPE, LogError, parse_jsonl
from underwrite.inference_log import REQUEST_ID, SYNTHETIC, TIMESTAMP
from underwrite.io import AZURE_SCHEME, azure_storage_options

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

CHUNK_BYTES = 16 << 20  # per converting thread: bounds memory (larger chunks parse no faster)
CONVERTERS = os.cpu_count() or 1  # files converted at once
BATCH_ROWS = 65_536
DAY_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})")
CACHE_FORMAT = 2  # parts written by an older reader (without the synthetic flag) are redone


@dataclass(frozen=True)
class LogFile:
    path: str
    size: int
    day: datetime | None  # from a name that starts with YYYY-MM-DD (the service's naming)


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
    source: str,
    start: datetime,
    end: datetime,
    columns: list[str],
    cache: Path,
    synthetic: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Records with start <= timestamp < end, as batches holding only ``columns``.

    One row group at a time, so memory stays near one part whatever the window's size;
    row groups whose timestamps lie outside the window are skipped unread. A file's
    batches come as soon as it is converted, while later files are still being parsed.
    Synthetic records are left out unless ``synthetic`` is true.
    """
    fs, root = filesystem(source)
    files = [f for f in list_files(fs, root) if may_hold(f, start, end)]
    wanted = list(dict.fromkeys([*columns, TIMESTAMP, SYNTHETIC]))
    for parts in converted(fs, files, cache):
        for part in parts:
            parquet = pq.ParquetFile(part)
            for group in range(parquet.num_row_groups):
                where = _where(parquet.metadata.row_group(group), start, end)
                if where is not Overlap.NONE:
                    table = parquet.read_row_group(group, columns=wanted)
                    if where is Overlap.PART:
                        table = table.filter(_inside(table.column(TIMESTAMP), start, end))
                    if not synthetic:
                        table = table.filter(real_traffic(table.column(SYNTHETIC)))
                    yield from table.select(columns).to_batches(max_chunksize=BATCH_ROWS)


def real_traffic(flags: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A mask of the records people sent: not flagged synthetic (null counts as real)."""
    return pc.invert(pc.fill_null(flags, False))


def without_synthetic(records: pd.DataFrame) -> pd.DataFrame:
    """Log records (e.g. ``inference_log.read_local``) without the synthetic ones.

    For any reader of the log that does not go through ``read_window`` (which leaves them
    out already): the retraining labels are joined only to records people sent.
    """
    if SYNTHETIC not in records:
        return records
    return records[~records[SYNTHETIC].fillna(False).astype(bool)]


class Overlap(Enum):
    NONE = "none"
    PART = "part"
    ALL = "all"


def _inside(stamps: pa.ChunkedArray, start: datetime, end: datetime) -> pa.ChunkedArray:
    low, high = (pa.scalar(t, TIMESTAMP_TYPE) for t in (start, end))
    return pc.and_(pc.greater_equal(stamps, low), pc.less(stamps, high))


def _where(group: pq.RowGroupMetaData, start: datetime, end: datetime) -> Overlap:
    """Where a row group's timestamps lie against [start, end), from its statistics."""
    for index in range(group.num_columns):
        column = group.column(index)
        if column.path_in_schema == TIMESTAMP:
            stats = column.statistics
            if stats is None or not stats.has_min_max or stats.null_count != 0:
                return Overlap.PART
            low, high = (_utc(v) for v in (stats.min, stats.max))
            if low >= end or high < start:
                return Overlap.NONE
            return Overlap.ALL if low >= start and high < end else Overlap.PART
    return Overlap.PART


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def latest_timestamp(source: str, cache: Path) -> datetime | None:
    """The newest record's timestamp (from Parquet statistics), or None for an empty log."""
    fs, root = filesystem(source)
    newest = None
    for part in all_parts(fs, list_files(fs, root), cache):
        value = pc.max(pq.read_table(part, columns=[TIMESTAMP]).column(0)).as_py()
        if value is not None:
            newest = value if newest is None else max(newest, value)
    return newest


def count_records(source: str, cache: Path) -> int:
    fs, root = filesystem(source)
    return sum(
        pq.ParquetFile(p).metadata.num_rows for p in all_parts(fs, list_files(fs, root), cache)
    )


def all_parts(fs: Any, files: list[LogFile], cache: Path) -> list[Path]:
    """Every file's Parquet parts, in file order (converting what is new)."""
    return [part for parts in converted(fs, files, cache) for part in parts]


def converted(fs: Any, files: list[LogFile], cache: Path) -> Iterator[list[Path]]:
    """Each file's Parquet parts in file order, as soon as that file is converted.

    The parsers and the Parquet writer release the GIL, so files are converted by one
    thread per core; a bad file raises its LogError when its turn comes.
    """
    workers = min(len(files), CONVERTERS)
    if workers <= 1:
        yield from (cached_parts(fs, file, cache) for file in files)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="log-convert") as pool:
        yield from pool.map(lambda file: cached_parts(fs, file, cache), files)


def cached_parts(fs: Any, file: LogFile, cache: Path) -> list[Path]:
    """The file's Parquet parts, converting what was appended since the last read."""
    folder = cache / hashlib.sha1(file.path.encode()).hexdigest()[:20]
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    head = _head_digest(fs, file)
    if (
        manifest is None
        or manifest.get("format") != CACHE_FORMAT
        or manifest["head"] != head
        or manifest["bytes"] > file.size
    ):
        manifest = {"path": file.path, "head": head, "bytes": 0, "lines": 0, "parts": []}
        manifest["format"] = CACHE_FORMAT
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
            size = min(CHUNK_BYTES, file.size - manifest["bytes"])
            data = _whole_lines(handle.read(size), file, manifest["bytes"])
            if not data:
                return
            if not data.isspace():  # blank lines hold no records
                table = parse_jsonl(data, file.path, manifest["lines"])
                name = f"part-{len(manifest['parts']):05d}.parquet"
                # request ids are unique: a dictionary for them is wasted work
                dictionary = [c for c in table.column_names if c != REQUEST_ID]
                pq.write_table(table, folder / name, compression="zstd", use_dictionary=dictionary)
                log.debug("converted %d records of %s", table.num_rows, file.path)
                manifest["parts"].append(name)
            manifest["bytes"] += len(data)
            manifest["lines"] += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            handle.seek(manifest["bytes"])


def _whole_lines(data: bytes, file: LogFile, offset: int) -> bytes:
    """The chunk up to its last newline; a final line without one only if it is complete."""
    end = data.rfind(b"\n") + 1
    last = offset + len(data) >= file.size
    if end == 0 and not last:  # one line longer than a chunk
        raise LogError(f"{file.path}: a line longer than {CHUNK_BYTES} bytes")
    if end == len(data):
        return data
    if last and _complete(data[end:]):
        return data
    return data[:end]  # an unfinished last line: read it next time


def _complete(tail: bytes) -> bool:
    try:
        return isinstance(json.loads(tail), dict)
    except ValueError:
        return False


def parse_end(value: str, source: str, cache: Path) -> datetime:
    """now, latest (the newest record in the log) or an ISO 8601 time (UTC if no zone)."""
    if value == "now":
        return datetime.now(UTC)
    if value == "latest":
        newest = latest_timestamp(source, cache)
        if newest is None:
            return datetime.now(UTC)
        return newest + (datetime.resolution * 1)
    try:
        end = datetime.fromisoformat(value)
    except ValueError:
        raise LogError(f"--end {value!r}: use now, latest or an ISO 8601 time") from None
    return end if end.tzinfo else end.replace(tzinfo=UTC)
