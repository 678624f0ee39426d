"""The frontier's arithmetic: dvc overrides, the paired bootstrap and the LDA verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underwrite.fairness import gaps, group_table
from underwrite.lda import frontier, override
from underwrite.params import LdaParams
from underwrite.schema import protected_groups


class Fixed:
    """A model whose scores are given: the frontier only calls predict_proba."""

    def __init__(self, scores: np.ndarray):
        self.scores = scores

    def predict_proba(self, X) -> np.ndarray:
        return np.column_stack([1 - self.scores, self.scores])


@pytest.mark.parametrize(
    ("value", "argument"),
    [
        (["netw", "liq"], "features.drop=[netw,liq]"),
        ("logistic_regression", "features.drop=logistic_regression"),
        (True, "features.drop=true"),
        (2, "features.drop=2"),
    ],
)
def test_override_writes_the_dvc_set_param_grammar(value, argument):
    assert override("features.drop", value) == argument


@pytest.fixture(scope="module")
def test_split(frame_factory) -> pd.DataFrame:
    return frame_factory(rows=600, seed=5)


def scores_for(test: pd.DataFrame, race_penalty: float, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = test["approve"].to_numpy() * 0.4 + rng.normal(0.4, noise, len(test))
    return np.clip(signal - race_penalty * (test["white"].to_numpy() == 0), 0.001, 0.999)


def test_frontier_intervals_are_the_evaluations_and_seeded(test_split):
    params = LdaParams(alternatives={"baseline": {}}, bootstrap={"resamples": 200, "seed": 1})
    models = {"baseline": Fixed(scores_for(test_split, 0.2, 0.2, 0))}

    first = frontier(test_split, models, params, threshold=0.5)["baseline"]
    again = frontier(test_split, models, params, threshold=0.5)["baseline"]
    proba = models["baseline"].scores
    race = protected_groups(test_split)["race"]
    whole = gaps(group_table(test_split["approve"], (proba >= 0.5).astype(int), race))

    assert first == again
    low, high = first["approval_rate_gap_interval"]
    assert first["approval_rate_gap"] == pytest.approx(whole["approval_rate_gap"], abs=1e-6)
    assert low <= first["approval_rate_gap"] <= high
    assert first["roc_auc_change_interval"] == [0.0, 0.0]  # the baseline against itself


def test_frontier_marks_an_equally_accurate_fairer_model_as_lda(test_split):
    params = LdaParams(
        alternatives={"baseline": {}, "fairer": {"x": 1}, "worse": {"x": 2}},
        bootstrap={"resamples": 200, "seed": 0},
    )
    models = {
        "baseline": Fixed(scores_for(test_split, 0.3, 0.1, 0)),
        "fairer": Fixed(scores_for(test_split, 0.0, 0.1, 0)),
        "worse": Fixed(scores_for(test_split, 0.0, 2.0, 0)),
    }

    rows = frontier(test_split, models, params, threshold=0.5)

    assert rows["fairer"]["less_discriminatory_alternative"] is True
    assert rows["worse"]["not_worse"] is False
    assert rows["worse"]["less_discriminatory_alternative"] is False
    assert rows["baseline"]["less_discriminatory_alternative"] is False
    assert rows["fairer"]["approval_rate_gap"] < rows["baseline"]["approval_rate_gap"]


def test_frontier_gives_each_groups_ratio_to_white_applicants(test_split):
    params = LdaParams(alternatives={"baseline": {}}, bootstrap={"resamples": 50, "seed": 0})
    proba = scores_for(test_split, 0.3, 0.1, 0)
    row = frontier(test_split, {"baseline": Fixed(proba)}, params, threshold=0.5)["baseline"]
    rates = group_table(
        test_split["approve"], (proba >= 0.5).astype(int), protected_groups(test_split)["race"]
    )["approval_rate"]
    assert row["air_white"] == 1.0
    assert row["air_black"] == pytest.approx(rates["black"] / rates["white"], abs=1e-6)
