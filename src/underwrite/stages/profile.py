"""Stage profile: summarise the training split (and the model's scores on it) for drift.

The profile is a DVC output of the same run that trained the model, so the reference that
drift monitoring compares the inference log with always matches the model being served.
"""

from __future__ import annotations

import logging
from pathlib import Path

import joblib
import typer

from underwrite.drift.profile import build_profile
from underwrite.inference_log import input_fields
from underwrite.io import file_md5, read_table
from underwrite.params import load_params
from underwrite.schema import LABEL
from underwrite.stages import run_stage

log = logging.getLogger(__name__)


def main(
    train: Path = typer.Option(..., help="train.parquet written by prepare"),
    model: Path = typer.Option(..., help="the fitted Pipeline written by train"),
    out: Path = typer.Option(..., help="the reference profile (JSON) to write"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    settings = load_params(params)
    frame = read_table(train)
    pipeline = joblib.load(model)  # unpickling imports underwrite.model
    probabilities = pipeline.predict_proba(frame.drop(columns=[LABEL]))[:, 1]
    profile = build_profile(
        frame,
        input_fields(),
        settings.drift,
        probabilities,
        settings.evaluate.threshold,
        file_md5(model),
    )
    profile.save(out)
    log.info("profiled %d rows x %d features into %s", len(frame), len(profile.features), out)


if __name__ == "__main__":
    run_stage(main)
