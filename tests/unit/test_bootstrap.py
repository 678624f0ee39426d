"""The evaluation's statistics and bootstrap intervals, checked against scikit-learn,
fairlearn, and what a percentile bootstrap must do (stratify, reproduce, cover, pair)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn import metrics

from underwrite.fairness import gaps, group_table, impact_ratios
from underwrite.judgement import statistics as st
from underwrite.judgement.bootstrap import POWER, Difference, draws, interval, judge, paired
from underwrite.judgement.cells import collapse, observed, resample_counts
from underwrite.params import BootstrapParams

FAST = BootstrapParams(resamples=400, seed=3, confidence=0.95)


def holdout(rows: int = 400, seed: int = 0, decimals: int | None = None):
    """Labels, an informative score, and race/sex groups with an unknown share."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["white", "black", "hispanic", "unknown"], rows, p=[0.7, 0.15, 0.1, 0.05])
    y = (rng.random(rows) < np.where(race == "white", 0.9, 0.7)).astype(int)
    score = np.clip(0.35 * y + rng.beta(4, 2, rows) * 0.65, 0, 1)
    if decimals is not None:
        score = np.round(score, decimals)  # ties in the scores
    groups = pd.DataFrame({"race": race, "sex": rng.choice(["male", "female"], rows)})
    return y, score, groups


def sklearn_quality(y, score, threshold=0.5) -> dict[str, float]:
    approved = (score >= threshold).astype(int)
    return {
        "roc_auc": metrics.roc_auc_score(y, score),
        "pr_auc": metrics.average_precision_score(y, score),
        "brier": metrics.brier_score_loss(y, score),
        "log_loss": metrics.log_loss(y, score),
        "accuracy": metrics.accuracy_score(y, approved),
        "balanced_accuracy": metrics.balanced_accuracy_score(y, approved),
        "f1": metrics.f1_score(y, approved),
        "tpr": metrics.recall_score(y, approved),
        "fpr": 1 - metrics.recall_score(y, approved, pos_label=0),
    }


@pytest.mark.parametrize("decimals", [None, 1], ids=["distinct-scores", "tied-scores"])
def test_quality_at_observed_counts_equals_scikit_learn(decimals):
    y, score, groups = holdout(decimals=decimals)
    cells = collapse(y, [score], 0.5, groups)

    result = st.quality(observed(cells), cells)

    expected = sklearn_quality(y, score)
    assert set(result) == set(expected) == set(st.QUALITY)
    for name, value in expected.items():
        assert result[name][0] == pytest.approx(value, abs=1e-12), name


def test_group_statistics_at_observed_counts_equal_fairlearn():
    y, score, groups = holdout()
    approved = (score >= 0.5).astype(int)
    cells = collapse(y, [score], 0.5, groups)
    weights = observed(cells)

    rates = st.group_rates(weights, cells, "race")
    table = group_table(pd.Series(y), approved, groups["race"])

    assert sorted(rates) == sorted(table.index) == ["black", "hispanic", "white"]
    for group, row in table.iterrows():
        for name in st.GROUP_RATES:
            assert rates[group][name][0] == pytest.approx(float(row[name]), abs=1e-12)
    for name, value in gaps(table).items():
        assert st.gaps(rates)[name][0] == pytest.approx(value, abs=1e-12)
    reference = st.reference_group(rates, None)
    assert reference == table["approval_rate"].idxmax()
    ratios = st.impact_ratios(rates, reference)
    for group, value in impact_ratios(table, reference).items():
        assert ratios[group][0] == pytest.approx(value, abs=1e-12)


def test_resamples_keep_each_label_count_and_let_group_sizes_vary():
    y, score, groups = holdout()
    cells = collapse(y, [score], 0.5, groups)

    counts = np.vstack(list(resample_counts(cells, 300, seed=1)))

    assert counts.shape == (300, len(cells.count))
    assert np.all(counts.sum(axis=1) == len(y))
    assert np.all(counts @ cells.label == y.sum())
    black = st.group_rates(counts, cells, "race")["black"]["applications"]
    assert black.std() > 0


def test_resamples_are_reproducible_from_the_seed():
    y, score, groups = holdout()
    cells = collapse(y, [score], 0.5, groups)

    first = np.vstack(list(resample_counts(cells, 50, seed=7)))
    again = np.vstack(list(resample_counts(cells, 50, seed=7)))
    other = np.vstack(list(resample_counts(cells, 50, seed=8)))

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_collapse_merges_twins_and_keeps_every_row():
    y, score, groups = holdout(rows=50)
    twice = pd.concat([groups, groups], ignore_index=True)

    cells = collapse(np.r_[y, y], [np.r_[score, score]], 0.5, twice)

    assert cells.rows == 100
    assert np.all(cells.count == 2)


def test_collapse_rounds_scores_beyond_the_cell_limit_and_says_so():
    y, score, groups = holdout(rows=300)

    cells = collapse(y, [score], 0.5, groups, max_cells=100)

    assert cells.score_decimals is not None
    assert cells.rows == 300
    assert judge(y, score, 0.5, groups, FAST).method.endswith("intervals")
    assert (cells.approved[0] @ cells.count) == (score >= 0.5).sum()  # decided before rounding


def test_collapse_refuses_scores_for_other_rows():
    y, score, groups = holdout(rows=50)

    with pytest.raises(ValueError, match="same rows"):
        collapse(y, [score[:-1]], 0.5, groups)


def test_judge_names_the_method_and_brackets_every_value():
    y, score, groups = holdout()

    judgement = judge(y, score, 0.5, groups, FAST)

    assert "percentile bootstrap, stratified by label" in judgement.method
    assert "400 resamples, seed 3, 95%" in judgement.method
    assert {"roc_auc", "race.tpr_gap", "race.adverse_impact_ratio"} <= set(judgement.estimates)
    assert "race.groups.black.false_positive_rate" in judgement.estimates
    for name in ("roc_auc", "brier", "race.groups.black.approval_rate", "sex.fpr_gap"):
        estimate = judgement.estimates[name]
        assert estimate.ci_low <= estimate.value <= estimate.ci_high, name
        assert estimate.ci_low < estimate.ci_high, name


def test_intervals_narrow_as_the_holdout_grows():
    def width(rows: int) -> float:
        y, score, groups = holdout(rows=rows)
        estimate = judge(y, score, 0.5, groups, FAST).estimates["roc_auc"]
        return estimate.ci_high - estimate.ci_low

    ratio = width(4800) / width(300)

    assert 0.15 < ratio < 0.4  # 16 times the rows: about a quarter of the width


def test_intervals_cover_the_true_accuracy_about_as_often_as_stated():
    # 120 holdouts from one population whose accuracy is known exactly
    true_accuracy, covered = 0.8, 0
    params = BootstrapParams(resamples=300, seed=0, confidence=0.9)
    for seed in range(120):
        rng = np.random.default_rng(seed)
        y = (rng.random(300) < 0.75).astype(int)
        correct = rng.random(300) < true_accuracy
        score = np.where(correct, y, 1 - y).astype(float)
        cells = collapse(y, [score], 0.5, pd.DataFrame({"sex": ["male"] * 300}))
        low, high = interval(
            draws(cells, lambda w, c=cells: st.quality(w, c), params)["accuracy"], 0.9
        )
        covered += low <= true_accuracy <= high

    assert 0.8 <= covered / 120 <= 0.97


def test_declared_reference_group_must_exist():
    y, score, groups = holdout()

    with pytest.raises(ValueError, match="reference group 'asian' is not in the data"):
        judge(y, score, 0.5, groups, FAST, declared={"race": "asian"})


def test_declared_reference_group_is_the_denominator():
    y, score, groups = holdout()

    judgement = judge(y, score, 0.5, groups, FAST, declared={"race": "black"})

    assert judgement.references["race"] == "black"
    assert judgement.estimates["race.groups.black.adverse_impact_ratio"].value == 1.0


def test_paired_difference_of_a_model_with_itself_is_exactly_zero():
    y, score, groups = holdout()

    result = paired(y, score, score, 0.5, groups, FAST)

    for name in ("roc_auc", "log_loss", "race.approval_rate_gap"):
        difference = result.differences[name]
        assert (difference.difference, difference.ci_low, difference.ci_high) == (0, 0, 0)


def test_paired_difference_is_candidate_minus_production_on_the_same_rows():
    y, score, groups = holdout()
    rng = np.random.default_rng(5)
    production = np.clip(score + rng.normal(0, 0.1, len(y)), 0, 1)

    result = paired(y, score, production, 0.5, groups, FAST)

    auc = result.differences["roc_auc"]
    expected = metrics.roc_auc_score(y, score) - metrics.roc_auc_score(y, production)
    assert auc.difference == pytest.approx(expected, abs=1e-12)
    assert auc.candidate == pytest.approx(metrics.roc_auc_score(y, score), abs=1e-12)
    assert auc.ci_low <= auc.difference <= auc.ci_high
    assert "race.groups.black.applications" not in result.differences
    assert result.method.startswith("paired percentile bootstrap")


def test_paired_interval_is_narrower_than_comparing_two_separate_intervals():
    y, score, groups = holdout(rows=600)
    rng = np.random.default_rng(2)
    production = np.clip(score + rng.normal(0, 0.03, len(y)), 0, 1)

    difference = paired(y, score, production, 0.5, groups, FAST).differences["roc_auc"]
    alone = [judge(y, s, 0.5, groups, FAST).estimates["roc_auc"] for s in (score, production)]

    paired_width = difference.ci_high - difference.ci_low
    unpaired_width = np.hypot(*[e.ci_high - e.ci_low for e in alone])
    assert paired_width < unpaired_width / 2


def test_minimum_detectable_difference_follows_the_spread_of_the_difference():
    y, score, groups = holdout(rows=600)
    production = np.clip(score + np.random.default_rng(4).normal(0, 0.05, len(y)), 0, 1)

    difference = paired(y, score, production, 0.5, groups, FAST).differences["brier"]

    z = norm.ppf(0.975) + norm.ppf(POWER)
    half_width = (difference.ci_high - difference.ci_low) / 2
    # a normal-shaped difference: its interval's half-width is about 1.96 sd
    assert difference.minimum_detectable == pytest.approx(z * half_width / 1.96, rel=0.15)


@pytest.mark.parametrize(
    ("interval_", "higher_is_better", "expected"),
    [
        ((0.01, 0.03), True, "better"),
        ((0.01, 0.03), False, "worse"),
        ((-0.03, -0.01), True, "worse"),
        ((-0.03, -0.01), False, "better"),
        ((-0.01, 0.02), True, "no detectable difference"),
        ((0.0, 0.0), False, "no detectable difference"),
    ],
)
def test_difference_is_judged_only_when_its_interval_excludes_zero(
    interval_, higher_is_better, expected
):
    difference = Difference(0.5, 0.5, sum(interval_) / 2, *interval_, minimum_detectable=0.01)

    assert difference.judged(higher_is_better) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("roc_auc", 1),
        ("log_loss", -1),
        ("fpr", -1),
        ("race.approval_rate_gap", -1),
        ("sex.adverse_impact_ratio", 1),
        ("race.groups.black.approval_rate", None),
        ("race.groups.black.adverse_impact_ratio", None),
    ],
)
def test_direction_says_which_way_is_better(name, expected):
    assert st.direction(name) == expected


def test_every_paired_statistic_outside_the_groups_has_a_direction():
    y, score, groups = holdout()

    result = paired(y, score, score, 0.5, groups, FAST)

    assert all(st.direction(n) is not None for n in result.differences if ".groups." not in n)


def test_collapse_rounds_coarser_when_two_models_still_make_too_many_cells():
    y, score, groups = holdout(rows=3000)
    other = np.clip(score + np.random.default_rng(9).normal(0, 0.01, len(y)), 0, 1)

    cells = collapse(y, [score, other], 0.5, groups, max_cells=2000)

    assert cells.score_decimals == 2
    assert cells.rows == 3000
