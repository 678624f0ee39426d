"""The reference profile's prediction side: out-of-fold scores, as the stage writes them."""

from __future__ import annotations

import os
import subprocess
import sys

import joblib
import numpy as np
from drift_support import REPO_ROOT, World
from sklearn.model_selection import StratifiedKFold

from underwrite.drift.profile import Profile
from underwrite.io import file_md5
from underwrite.model import build_pipeline
from underwrite.schema import LABEL
from underwrite.stages.profile import FOLDS, held_out_scores, scored_rows


def test_reference_scores_come_from_a_pipeline_that_did_not_see_the_row(world: World):
    params, train = world.params, world.train
    scores = held_out_scores(train, params)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=params.train.seed)
    fitted_on, scored = next(folds.split(train, train[LABEL]))
    pipeline = build_pipeline(params.train, params.features.include_protected)
    part = train.iloc[fitted_on]
    pipeline.fit(part.drop(columns=[LABEL]), part[LABEL].astype(int))
    alone = pipeline.predict_proba(train.iloc[scored].drop(columns=[LABEL]))[:, 1]
    np.testing.assert_allclose(scores[scored], alone)
    in_sample = world.model.predict_proba(train.drop(columns=[LABEL]))[:, 1]
    assert not np.allclose(scores, in_sample)


def test_profile_stage_writes_the_out_of_fold_reference(world: World, tmp_path):
    train, model = tmp_path / "train.parquet", tmp_path / "model.joblib"
    world.train.to_parquet(train)
    joblib.dump(world.model, model)
    out = tmp_path / "profile.json"
    stage = subprocess.run(
        [
            sys.executable,
            "-m",
            "underwrite.stages.profile",
            "--train",
            str(train),
            "--model",
            str(model),
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip  (as dvc.yaml runs it; params.yaml from the repository)
    assert stage.returncode == 0, stage.stderr
    profile = Profile.load(out)
    threshold = world.params.evaluate.threshold
    expected = held_out_scores(world.train, world.params)
    assert profile.prediction.approval_rate == np.mean(expected >= threshold)
    assert profile.prediction.rows == len(world.train)
    assert profile.model_md5 == file_md5(model)


def test_reference_scores_a_seeded_sample_of_a_large_training_split(world: World):
    drift = world.params.drift
    assert scored_rows(world.train, drift) is world.train  # the real split: every row
    smaller = drift.model_copy(update={"score_rows": 1_000})
    sample = scored_rows(world.train, smaller)
    assert len(sample) == 1_000 < len(world.train)
    assert sample.index.equals(scored_rows(world.train, smaller).index)  # seeded
    assert set(sample.index) <= set(world.train.index)
