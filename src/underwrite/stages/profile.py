"""Stage profile: summarise the training split (and held-out scores on it) for drift.

The profile is a DVC output of the same run that trained the model, so the reference that
drift monitoring compares the inference log with always matches the model being served.

The prediction reference is out-of-fold: each training row is scored by a copy of the
Pipeline (built from the same params) that did not see it, as the log's applications are
scored by a model that never saw them. Scores of a model on its own training rows can be
more confident than on new applications, which would bias the reference the approval rate
and the score distribution are compared with. Above ``drift.score_rows`` training rows a
seeded sample of that many is scored (its folds' models are fitted on 4/5 of the sample):
the reference keeps only ``drift.reference_sample`` scores.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from underwrite.drift.profile import build_profile
from underwrite.inference_log import input_fields
from underwrite.io import file_md5, read_table
from underwrite.params import DriftParams, Params, load_params
from underwrite.schema import LABEL, protected_groups
from underwrite.stages import run_stage

log = logging.getLogger(__name__)

FOLDS = 5


def held_out_scores(frame: pd.DataFrame, params: Params, folds: int = FOLDS) -> np.ndarray:
    """Each training row's approval probability from a Pipeline fitted without it.

    Stratified, shuffled ``folds``-fold cross-validation seeded with ``train.seed``; every
    fold fits a fresh Pipeline from params (the sensitive group too, under a mitigation).
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from underwrite.model import build_pipeline, fit_kwargs

    pipeline = build_pipeline(params.train, params.features.include_protected)
    labels = frame[LABEL].astype(int)
    splits = StratifiedKFold(folds, shuffle=True, random_state=params.train.seed)
    scores = cross_val_predict(
        pipeline,
        frame.drop(columns=[LABEL]),
        labels,
        cv=splits,
        method="predict_proba",
        params=fit_kwargs(params.train, protected_groups(frame)),
    )
    return scores[:, 1]


def scored_rows(frame: pd.DataFrame, drift: DriftParams) -> pd.DataFrame:
    """The training rows the prediction reference scores: all, or a seeded sample."""
    if len(frame) <= drift.score_rows:
        return frame
    return frame.sample(n=drift.score_rows, random_state=drift.seed)


def main(
    train: Path = typer.Option(..., help="train.parquet written by prepare"),
    model: Path = typer.Option(..., help="the fitted Pipeline written by train (its md5)"),
    out: Path = typer.Option(..., help="the reference profile (JSON) to write"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    settings = load_params(params)
    frame = read_table(train)
    profile = build_profile(
        frame,
        input_fields(),
        settings.drift,
        held_out_scores(scored_rows(frame, settings.drift), settings),
        settings.evaluate.threshold,
        file_md5(model),
    )
    profile.save(out)
    log.info("profiled %d rows x %d features into %s", len(frame), len(profile.features), out)


if __name__ == "__main__":
    run_stage(main)
