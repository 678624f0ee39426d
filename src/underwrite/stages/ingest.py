"""Stage ingest: copy the data source into data/raw as Parquet, unchanged."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from underwrite.io import read_source, write_table
from underwrite.params import load_params
from underwrite.stages import run_stage

log = logging.getLogger(__name__)


def ingest(source: str, out: Path) -> None:
    frame = read_source(source)
    write_table(frame, out)
    log.info("ingested %d rows x %d columns from %s into %s", *frame.shape, source, out)


def main(
    out: Path = typer.Option(..., help="Parquet file to write"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    ingest(load_params(params).data.source, out)


if __name__ == "__main__":
    run_stage(main)
