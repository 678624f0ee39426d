"""Stage train: fit the Pipeline from params on the training split and save it."""

from __future__ import annotations

import logging
from pathlib import Path

import joblib
import pandas as pd
import typer
from sklearn.pipeline import Pipeline

from underwrite.io import read_table
from underwrite.model import build_pipeline, fit_kwargs
from underwrite.params import Params, load_params
from underwrite.schema import LABEL, protected_groups
from underwrite.stages import StageError, run_stage

log = logging.getLogger(__name__)


def train(frame: pd.DataFrame, params: Params) -> Pipeline:
    try:
        pipeline = build_pipeline(params.train, params.features)
    except ValueError as err:  # features.drop names a column the model does not use
        raise StageError(str(err)) from None
    features = frame.drop(columns=[LABEL])
    pipeline.fit(
        features, frame[LABEL].astype(int), **fit_kwargs(params.train, protected_groups(frame))
    )
    return pipeline


def main(
    data: Path = typer.Option(..., help="train.parquet written by prepare"),
    out: Path = typer.Option(..., help="where to save the fitted Pipeline (joblib)"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    settings = load_params(params)
    pipeline = train(read_table(data), settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, out)
    log.info("trained %s; saved to %s", settings.train.estimator, out)


if __name__ == "__main__":
    run_stage(main)
