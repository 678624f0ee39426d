"""Stage prepare: keep the schema's columns as numbers, then the fixed train/holdout split."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import typer

from underwrite.io import read_table, write_table
from underwrite.judgement.holdout import in_holdout
from underwrite.params import PrepareParams, load_params
from underwrite.schema import COLUMNS
from underwrite.stages import run_stage

log = logging.getLogger(__name__)


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """The schema's columns, in schema order, as float64 (validate has vouched for them).

    Sentinels stay as they are: the model's own first step reads them as unknown, so
    serving treats them exactly like training does.
    """
    return raw[[c.name for c in COLUMNS]].astype("float64").reset_index(drop=True)


def split(frame: pd.DataFrame, params: PrepareParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and holdout parts, each in the input's row order.

    A row's side depends on its own input columns only (underwrite.judgement.holdout), so
    new data never moves an existing row and exact twins share a side.
    """
    holdout = in_holdout(frame, params.test_size, params.seed)
    return frame[~holdout], frame[holdout]


def main(
    raw: Path = typer.Option(..., help="Parquet file written by ingest"),
    out: Path = typer.Option(..., help="folder for train.parquet and test.parquet"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    train, test = split(clean(read_table(raw)), load_params(params).prepare)
    write_table(train, out / "train.parquet")
    write_table(test, out / "test.parquet")
    log.info(
        "split %d rows into %d train and %d test", len(train) + len(test), len(train), len(test)
    )


if __name__ == "__main__":
    run_stage(main)
