"""The Pipeline: it fits, predicts probabilities, pickles; and it behaves as lending should."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from underwrite.io import read_source
from underwrite.model import ColumnMajor, SentinelsToMissing, build_pipeline, fit_kwargs
from underwrite.params import PACKAGED_SOURCE, MitigationParams, TrainParams
from underwrite.schema import COLUMNS, LABEL, Kind, feature_columns, names, protected_groups

# fairlearn's own use of pandas, not ours
pytestmark = pytest.mark.filterwarnings("ignore:::fairlearn")

SMALL = {"hist_gradient_boosting": {"max_iter": 20}, "logistic_regression": {"max_iter": 200}}
MITIGATED = MitigationParams(method="exponentiated_gradient", max_iter=5)
TRAIN_PARAMS = {
    "logistic_regression": TrainParams(estimator="logistic_regression", **SMALL),
    "hist_gradient_boosting": TrainParams(estimator="hist_gradient_boosting", **SMALL),
    "logistic_regression+exponentiated_gradient": TrainParams(
        estimator="logistic_regression", mitigation=MITIGATED, **SMALL
    ),
    "hist_gradient_boosting+exponentiated_gradient": TrainParams(
        estimator="hist_gradient_boosting", mitigation=MITIGATED, **SMALL
    ),
}


def fit(frame: pd.DataFrame, params: TrainParams, include_protected: bool = False) -> Pipeline:
    pipeline = build_pipeline(params, include_protected)
    kwargs = fit_kwargs(params, protected_groups(frame))
    return pipeline.fit(frame.drop(columns=[LABEL]), frame[LABEL].astype(int), **kwargs)


def test_sentinels_to_missing_turns_sentinels_into_nan():
    frame = pd.DataFrame({"term": [360.0, 999999.375, 180.0], "review": [1.0, 2.0, 999.0]})
    original = frame.copy()

    out = SentinelsToMissing({"term": (999999.375,), "review": (999,)}).fit_transform(frame)

    assert out["term"].isna().tolist() == [False, True, False]
    assert out["review"].isna().tolist() == [False, False, True]
    assert out.loc[0, "term"] == 360.0 and out.loc[1, "review"] == 2.0
    pd.testing.assert_frame_equal(frame, original)  # the caller's frame is untouched


@pytest.fixture(scope="module")
def small_frame(frame_factory) -> pd.DataFrame:
    return frame_factory(rows=200, seed=1)


@pytest.fixture(scope="module")
def fitted(small_frame) -> dict[str, Pipeline]:
    """Each configuration fitted once on the small frame (fitting is the slow part)."""
    return {name: fit(small_frame, params) for name, params in TRAIN_PARAMS.items()}


@pytest.mark.parametrize("name", TRAIN_PARAMS)
def test_build_pipeline_fits_and_predicts_probabilities(fitted, small_frame, name):
    pipeline = fitted[name]

    proba = pipeline.predict_proba(small_frame.drop(columns=[LABEL]))

    assert proba.shape == (len(small_frame), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(pipeline.predict(small_frame.drop(columns=[LABEL]))) <= {0, 1}


@pytest.mark.parametrize("name", TRAIN_PARAMS)
def test_fitted_pipeline_pickles_to_identical_predictions(fitted, small_frame, name):
    pipeline = fitted[name]
    applications = small_frame.drop(columns=[LABEL])

    restored = pickle.loads(pickle.dumps(pipeline))

    assert b"__main__" not in pickle.dumps(pipeline)  # classes load from the package
    np.testing.assert_array_equal(
        restored.predict_proba(applications), pipeline.predict_proba(applications)
    )


def test_pipeline_ignores_columns_it_does_not_use(fitted, small_frame):
    pipeline = fitted["logistic_regression"]
    applications = small_frame.drop(columns=[LABEL])
    leaked = applications.assign(action=3.0, reject=1.0, typur=0.0, inson=0.0, review=0.0)

    np.testing.assert_array_equal(
        pipeline.predict_proba(leaked), pipeline.predict_proba(applications)
    )


# Behaviour, on a model trained as the pipeline trains it, on a sample of the real data.


@pytest.fixture(scope="module")
def applications() -> pd.DataFrame:
    raw = read_source(PACKAGED_SOURCE)
    return raw[[c.name for c in COLUMNS]].astype(float).sample(1200, random_state=0)


@pytest.fixture(scope="module")
def model(applications) -> Pipeline:
    return fit(applications, TrainParams())


@pytest.fixture(scope="module")
def model_with_protected(applications) -> Pipeline:
    return fit(applications, TrainParams(), include_protected=True)


@pytest.fixture(scope="module")
def median_applicant(applications) -> pd.DataFrame:
    """The median of every numeric field and the most common value of every code."""
    row = applications.drop(columns=[LABEL]).median()
    codes = names(COLUMNS, Kind.BINARY) + names(COLUMNS, Kind.CATEGORICAL)
    for column in set(codes) - {LABEL}:
        row[column] = applications[column].mode()[0]
    return row.to_frame().T


def vary(applicant: pd.DataFrame, changes: dict[str, np.ndarray]) -> pd.DataFrame:
    """One copy of the applicant per step, with the given columns set to each step's value."""
    steps = len(next(iter(changes.values())))
    rows = pd.concat([applicant] * steps, ignore_index=True)
    return rows.assign(**changes)


@pytest.mark.parametrize(
    "columns", [["appinc"], ["atotinc"], ["appinc", "atotinc"]], ids=["appinc", "atotinc", "both"]
)
def test_higher_income_never_lowers_approval_for_median_applicant(
    model, applications, median_applicant, columns
):
    quantiles = np.linspace(0.5, 0.99, 12)
    richer = {c: applications[c].quantile(quantiles).to_numpy() for c in columns}

    approval = model.predict_proba(vary(median_applicant, richer))[:, 1]

    by_quantile = dict(zip(quantiles.round(2), approval.round(4), strict=True))
    assert np.all(np.diff(approval) >= 0), by_quantile


@pytest.mark.parametrize(
    ("column", "best_to_worst"),
    [("cons", [1, 2, 3, 4, 5, 6]), ("mortg", [1, 2, 3, 4]), ("pubrec", [0, 1])],
)
def test_worse_credit_history_never_raises_approval_for_median_applicant(
    model, median_applicant, column, best_to_worst
):
    worse = {column: np.asarray(best_to_worst, dtype=float)}

    approval = model.predict_proba(vary(median_applicant, worse))[:, 1]

    assert np.all(np.diff(approval) <= 0), dict(zip(best_to_worst, approval.round(4), strict=True))


def as_race(frame: pd.DataFrame, race: str) -> pd.DataFrame:
    flags = {"white": 0.0, "black": 0.0, "hispan": 0.0, race: 1.0}
    return frame.assign(**flags)


@pytest.mark.parametrize("race", ["black", "hispan"])
def test_flipping_race_changes_nothing_without_protected_features(model, applications, race):
    people = applications.drop(columns=[LABEL])

    as_white = model.predict_proba(as_race(people, "white"))
    flipped = model.predict_proba(as_race(people, race).assign(male=1 - people["male"]))

    np.testing.assert_array_equal(flipped, as_white)


def test_include_protected_lets_race_reach_the_model(model_with_protected, applications):
    people = applications.drop(columns=[LABEL])
    inputs = model_with_protected.named_steps["preprocess"].get_feature_names_out()

    as_white = model_with_protected.predict_proba(as_race(people, "white"))[:, 1]
    as_black = model_with_protected.predict_proba(as_race(people, "black"))[:, 1]

    assert {"binary__white", "binary__black", "binary__hispan", "binary__male"} <= set(inputs)
    assert np.abs(as_white - as_black).max() > 0


def test_model_uses_every_feature_and_no_other_column(model):
    inputs = model.named_steps["preprocess"].get_feature_names_out()
    used = {name.split("__", 1)[1].removeprefix("missingindicator_") for name in inputs}
    used = {name.rsplit("_", 1)[0] if name not in names(COLUMNS) else name for name in used}

    assert used == set(names(feature_columns()))


@pytest.mark.parametrize(
    ("name", "missing_kept"),
    [("hist_gradient_boosting", True), ("logistic_regression", False)],
)
def test_trees_get_missing_values_as_nan_and_the_linear_model_gets_them_imputed(
    fitted, small_frame, name: str, missing_kept: bool
):
    rows = small_frame.drop(columns=[LABEL]).head(2).copy()
    rows.loc[rows.index[0], "term"] = next(c for c in COLUMNS if c.name == "term").sentinels[0]

    inputs = fitted[name].named_steps["preprocess"].transform(rows)

    assert bool(inputs.filter(like="term").isna().to_numpy().any()) is missing_kept


def test_column_major_keeps_names_index_and_values_in_one_column_major_array():
    rows = np.array([[1.0, 3.0], [2.0, 4.0], [np.nan, 5.0]])  # row-major, as hstack makes it
    frame = pd.DataFrame(rows, columns=["a", "b"], index=[7, 8, 9], copy=False)
    assert not frame.to_numpy().flags["F_CONTIGUOUS"]

    out = ColumnMajor().fit_transform(frame)

    pd.testing.assert_frame_equal(out, frame)
    assert out.to_numpy().flags["F_CONTIGUOUS"]
    assert list(ColumnMajor().fit(frame).get_feature_names_out()) == ["a", "b"]


@pytest.mark.parametrize(
    "name",
    ["logistic_regression+exponentiated_gradient", "hist_gradient_boosting+exponentiated_gradient"],
)
def test_mitigated_probability_is_the_members_probabilities_mixed_by_their_weights(
    fitted, small_frame, name
):
    pipeline = fitted[name]
    applications = small_frame.drop(columns=[LABEL])
    encoded = pipeline[:-1].transform(applications)
    mitigator = pipeline[-1].mitigator_

    expected = sum(
        weight * mitigator.predictors_[index].predict_proba(encoded)[:, 1]
        for index, weight in mitigator.weights_.items()
    )
    votes = mitigator._pmf_predict(encoded)[:, 1]  # fairlearn's mixture of hard votes

    proba = pipeline.predict_proba(applications)[:, 1]
    np.testing.assert_allclose(proba, expected)
    assert len(np.unique(proba)) > len(np.unique(votes))  # a score that ranks
