"""The frontier's arithmetic: dvc overrides, the paired bootstrap and the LDA verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underwrite.fairness import gaps, group_table
from underwrite.lda import disparity, frontier, interval, override, paired_bootstrap
from underwrite.params import LdaParams


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


def test_paired_bootstrap_is_seeded_and_its_gap_matches_the_fairness_module(test_split):
    y = test_split["approve"].to_numpy().astype(int)
    race = np.where(
        test_split["white"] == 1, "white", np.where(test_split["black"] == 1, "black", "hispanic")
    )
    proba = scores_for(test_split, 0.2, 0.2, 0)

    first = paired_bootstrap(y, {"a": proba}, race, 0.5, resamples=30, seed=1)
    again = paired_bootstrap(y, {"a": proba}, race, 0.5, resamples=30, seed=1)
    whole = gaps(group_table(pd.Series(y), (proba >= 0.5).astype(int), pd.Series(race)))

    np.testing.assert_array_equal(first["a"]["roc_auc"], again["a"]["roc_auc"])
    low, high = interval(first["a"]["approval_rate_gap"], 0.95)
    assert low <= whole["approval_rate_gap"] <= high


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


def test_disparity_gives_each_groups_ratio_to_white_applicants():
    y = np.array([1, 1, 1, 1, 1, 1])
    approved = np.array([1, 1, 1, 0, 1, 0])
    race = pd.Series(["white", "white", "black", "black", "hispanic", "hispanic"])

    result = disparity(y, approved, race)

    assert result["air_black"] == 0.5 and result["air_white"] == 1.0
    assert result["approval_rate_gap"] == 0.5
