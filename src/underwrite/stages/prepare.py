"""Stage prepare: keep the schema's columns as numbers, then a stratified, seeded split."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from sklearn.model_selection import train_test_split

from underwrite.io import read_table, write_table
from underwrite.params import PrepareParams, load_params
from underwrite.schema import COLUMNS, LABEL
from underwrite.stages import run_stage

log = logging.getLogger(__name__)


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """The schema's columns, in schema order, as float64 (validate has vouched for them).

    Sentinels stay as they are: the model's own first step reads them as unknown, so
    serving treats them exactly like training does.
    """
    return raw[[c.name for c in COLUMNS]].astype("float64").reset_index(drop=True)


def split(frame: pd.DataFrame, params: PrepareParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified, seeded train and test parts, each in the input's row order."""
    train, test = train_test_split(
        np.arange(len(frame)),
        test_size=params.test_size,
        random_state=params.seed,
        stratify=frame[LABEL],
    )
    # the same rows as splitting the frame itself, taken once in order: shuffling a million
    # rows and sorting them back costs two random-access copies of every column
    return frame.take(np.sort(train)).sort_index(), frame.take(np.sort(test)).sort_index()


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
