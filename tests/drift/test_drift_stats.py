"""Statistics of one window: defined results in every odd case, the alarm rule, the pieces."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from drift_support import World

from underwrite.drift.check import check_frame
from underwrite.drift.profile import Profile, build_profile, quantile_edges
from underwrite.drift.report import markdown, result_dict
from underwrite.drift.stats import chi_squared, divergences, holm
from underwrite.drift.window import WindowSummary
from underwrite.params import DriftParams


def test_holm_adjusts_like_the_textbook_step_down():
    # Holm (1979): sorted p times (m - rank), made monotone, capped at 1
    adjusted = holm([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjusted, [0.04, 0.09, 0.09, 0.5])
    assert holm([0.9, 0.8]).max() == 1.0
    assert len(holm([])) == 0


def test_divergences_are_zero_for_equal_counts_and_finite_for_an_empty_bucket():
    same = divergences(np.array([1000.0, 2000.0]), np.array([100.0, 200.0]))
    assert same == pytest.approx((0, 0), abs=1e-3)
    psi, js = divergences(np.array([100.0, 0.0]), np.array([50.0, 50.0]))
    assert math.isfinite(psi) and psi > 1
    assert 0 < js <= 1


def test_quantile_edges_fall_between_values_so_rounding_keeps_a_bin():
    values = np.array([1.0, 1.0, 2.0, 2.0, 3.2000000476837158, 3.2000000476837158, 5.0])
    edges = quantile_edges(values, bins=4)
    assert not np.isin(edges, values).any()
    rounded = np.round(values, 10)  # what a JSON log with 10 digits gives back
    assert (np.searchsorted(edges, values) == np.searchsorted(edges, rounded)).all()


def tiny(values: dict[str, list]) -> pd.DataFrame:
    return pd.DataFrame({k: np.asarray(v, dtype="float64") for k, v in values.items()})


PARAMS = DriftParams(min_rows=10)


def tiny_profile(reference: pd.DataFrame) -> Profile:
    return build_profile(reference, list(reference.columns), PARAMS)


@pytest.mark.parametrize(
    ("reference", "current", "feature", "drifted", "reason"),
    [
        # a category never seen in training
        ({"prop": [1, 2, 3] * 100}, {"prop": [1, 2, 3, 9] * 50}, "prop", True, "unseen"),
        # a column constant in training that stays constant
        ({"unem": [3.2] * 300}, {"unem": [3.2] * 200}, "unem", False, ""),
        # ... and one that stops being constant
        ({"unem": [3.2] * 300}, {"unem": [3.2, 9.0] * 100}, "unem", True, "outside"),
        # every value missing now
        ({"dep": [0, 1, 2] * 100}, {"dep": [None] * 200}, "dep", True, "missing share"),
        # every value missing in training too
        ({"dep": [None] * 300}, {"dep": [None] * 200}, "dep", False, ""),
        # a sentinel ("unknown") is missing, not a huge number
        ({"term": [360.0] * 300}, {"term": [999999.375] * 20 + [360.0] * 180}, "term", True,
         "missing share"),
    ],
)  # fmt: skip
def test_odd_columns_give_a_defined_result_never_nan(reference, current, feature, drifted, reason):
    profile = tiny_profile(tiny(reference))
    result = check_frame(profile, tiny(current), PARAMS)
    found = next(f for f in result.features if f.name == feature)
    assert found.drifted is drifted
    assert reason in " ".join(found.schema_drift)
    as_json = json.dumps(result_dict_of(result), allow_nan=False)  # raises on NaN/inf
    assert feature in as_json


def result_dict_of(window):
    from underwrite.drift.check import DriftResult, Verdict

    return result_dict(DriftResult([window], Verdict.NO_DRIFT, "test"))


def test_an_empty_window_cannot_tell_and_renders(world: World):
    result = check_frame(world.profile, world.window("none", 0).iloc[:0], world.params.drift)
    assert not result.enough and not result.drifted and result.rows == 0
    assert "0 rows" in markdown_of(result, world)


def markdown_of(window, world: World) -> str:
    from underwrite.drift.check import DriftResult, verdict

    outcome, message = verdict([window], world.params.drift)
    return markdown(DriftResult([window], outcome, message))


def test_streaming_in_batches_counts_exactly_like_one_batch(world: World):
    frame = world.window("income_inflation", seed=3)
    whole = WindowSummary(world.profile, 10_000)
    whole.add(frame)
    parts = WindowSummary(world.profile, 10_000)
    for rows in np.array_split(np.arange(len(frame)), 3):
        chunk = frame.iloc[rows]
        parts.add(chunk)
    for name in world.profile.features:
        np.testing.assert_array_equal(whole.features[name].counts, parts.features[name].counts)
        assert whole.features[name].missing == parts.features[name].missing
    assert np.sort(whole.sample("appinc")).tolist() == np.sort(parts.sample("appinc")).tolist()


@pytest.mark.parametrize("batches", [1, 3, 17])
def test_the_sample_holds_the_same_rows_however_the_window_is_batched(world: World, batches):
    frame = world.window("none", seed=5)
    one = WindowSummary(world.profile, sample_size=50)
    one.add(frame)
    split = WindowSummary(world.profile, sample_size=50)
    for rows in np.array_split(np.arange(len(frame)), batches):
        split.add(frame.iloc[rows])
    for name in ("appinc", "loanamt", "probability"):
        assert len(split.sample(name)) <= 50
        assert split.sample(name).tolist() == one.sample(name).tolist()
        assert split.sample(name).tolist() == sorted(split.sample(name).tolist())


def test_the_test_sample_is_bounded_but_counts_use_every_row(world: World):
    frame = pd.concat([world.window("none", seed=s) for s in range(5)], ignore_index=True)
    summary = WindowSummary(world.profile, sample_size=300)
    for rows in np.array_split(np.arange(len(frame)), 4):
        chunk = frame.iloc[rows]
        summary.add(chunk)
    assert len(summary.sample("loanamt")) <= 300
    assert summary.features["loanamt"].counts.sum() == frame["loanamt"].notna().sum()


def test_a_large_window_without_shift_still_does_not_alarm(world: World):
    # every held-out application once: the largest honest window of this data
    frame = world.scorer.score(world.pool.copy(), world.params.evaluate.threshold)
    result = world.check(frame)
    assert not result.drifted, [f.name for f in result.drifted_features]


def test_prediction_drift_names_the_approval_rate(world: World):
    frame = world.window("none", seed=1)
    frame["approved"] = 0.0  # the model suddenly approves nobody
    result = world.check(frame)
    assert result.prediction is not None and result.prediction.drifted
    assert "approval rate" in result.prediction.reasons[0]
    assert result.drifted


def test_report_ranks_the_shifted_feature_first_and_explains_it(world: World):
    result = world.check(world.window("new_category", seed=0))
    text = markdown_of(result, world)
    table = [line for line in text.splitlines() if line.startswith("| **")]
    assert table[0].startswith("| **prop**")
    assert "unseen in training (4)" in table[0]


def test_chi_squared_on_a_two_by_two_table_is_pearsons_without_yates():
    reference, current = np.array([800.0, 200.0]), np.array([70.0, 30.0])
    table = np.vstack([reference, current])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    pearson = float(((table - expected) ** 2 / expected).sum())  # no continuity correction
    statistic, p_value = chi_squared(reference, current)
    assert statistic == pytest.approx(pearson)
    assert p_value == pytest.approx(math.erfc(math.sqrt(pearson / 2)))  # chi2, 1 dof


def protected_shift(world: World, seed: int, shift: str = "none") -> pd.DataFrame:
    """A window where 40% of applicants are black (about 10% in training)."""
    frame = world.window(shift, seed)
    hit = np.random.default_rng(seed).random(len(frame)) < 0.4
    frame.loc[hit, ["black", "white", "hispan"]] = [1.0, 0.0, 0.0]
    return frame


def test_drift_in_a_protected_attribute_is_reported_but_not_an_alarm(world: World):
    from underwrite.drift.check import verdict

    result = world.check(protected_shift(world, seed=2))
    assert "black" in [f.name for f in result.protected_drift]
    assert not result.drifted, [f.name for f in result.drifted_features]
    outcome, message = verdict([result], world.params.drift)
    assert int(outcome) == 0
    assert "protected attributes drifted (reported, not an alarm): black" in message
    assert "do not on their own raise the alarm" in markdown_of(result, world)
    assert "black" in result_dict_of(result)["windows"][0]["protected_drift"]


def test_protected_drift_beside_a_real_shift_still_alarms_on_the_real_one(world: World):
    result = world.check(protected_shift(world, seed=3, shift="new_category"))
    assert result.drifted
    assert [f.name for f in result.drifted_features] == ["prop"]
    assert "black" in [f.name for f in result.protected_drift]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(12500.0, "12,500"), (1_000_000.0, "1,000,000"), (0.35, "0.35"), (42.0, "42"), (0.0, "0")],
)
def test_drift_plot_bin_edges_read_as_plain_numbers(value: float, shown: str) -> None:
    from underwrite.drift.report import plain_number

    assert plain_number(value) == shown
