"""Monotone risk factors: on real held-out applications, moving one constrained field in its
bad direction never raises the approval probability (and the good direction never lowers it).

The models are trained as the pipeline trains them (params.yaml's train section, the
prepare split) on the packaged HMDA data, and each constrained field is swept over its
training values on every held-out application.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from underwrite.inference_log import input_fields
from underwrite.io import read_source
from underwrite.model import SignConstrainedLogisticRegression, build_pipeline
from underwrite.params import PACKAGED_SOURCE, load_params
from underwrite.schema import COLUMNS, LABEL, Column, Kind, Role, feature_columns, model_columns
from underwrite.stages.prepare import clean, split

PARAMS = load_params()
CONSTRAINED = [c for c in model_columns(include_protected=False) if c.monotone]
STEPS = 12  # values per sweep: the training quantiles of a numeric field, or every code


@pytest.fixture(scope="module")
def splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    return split(clean(read_source(PACKAGED_SOURCE)), PARAMS.prepare)


def trained(train: pd.DataFrame, estimator: str) -> Pipeline:
    params = PARAMS.train.model_copy(update={"estimator": estimator})
    pipeline = build_pipeline(params, PARAMS.features)
    return pipeline.fit(train.drop(columns=[LABEL]), train[LABEL].astype(int))


@pytest.fixture(scope="module", params=["hist_gradient_boosting", "logistic_regression"])
def model(request, splits) -> Pipeline:
    return trained(splits[0], request.param)


def sweep_values(column: Column, train: pd.DataFrame) -> np.ndarray:
    """The field's values in increasing order: its codes, or quantiles of its known values."""
    if column.kind is not Kind.NUMERIC:
        return np.asarray(column.allowed_values, dtype=float)
    known = train[column.name][~train[column.name].isin(column.sentinels)].dropna()
    return np.unique(known.quantile(np.linspace(0, 1, STEPS)).to_numpy())


def approval_along(model: Pipeline, people: pd.DataFrame, column: str, values) -> np.ndarray:
    """Approval probability, one row per application, one column per value of COLUMN."""
    swept = pd.concat([people.assign(**{column: v}) for v in values], ignore_index=True)
    proba = model.predict_proba(swept)[:, 1]
    return proba.reshape(len(values), len(people)).T


@pytest.mark.parametrize("column", CONSTRAINED, ids=lambda c: c.name)
def test_constrained_field_never_moves_approval_the_wrong_way(model, splits, column):
    train, test = splits
    values = sweep_values(column, train)
    people = test.drop(columns=[LABEL])

    steps = np.diff(approval_along(model, people, column.name, values), axis=1)

    wrong = column.monotone * steps < -1e-12
    assert len(values) >= 2
    assert not wrong.any(), (
        f"{column.name}: {wrong.any(axis=1).sum()} of {len(people)} held-out applications "
        f"move against direction {column.monotone:+d}, by up to {np.abs(steps[wrong]).max():.4f}"
    )


def test_linear_coefficients_keep_the_schema_signs(splits):
    pipeline = trained(splits[0], "logistic_regression")
    inputs = pipeline.named_steps["preprocess"].get_feature_names_out()
    coef = dict(zip(inputs, pipeline.named_steps["classifier"].coef_[0], strict=True))

    signs = {c.name: np.sign(coef[f"ordered__{c.name}"]) for c in CONSTRAINED}

    assert all(signs[c.name] in (0, c.monotone) for c in CONSTRAINED), signs
    assert any(signs[c.name] == c.monotone for c in CONSTRAINED)  # not all pinned at zero


def test_sign_constrained_regression_holds_a_sign_the_data_would_flip():
    rng = np.random.default_rng(0)
    income = rng.normal(size=1000)
    twin = 0.8 * income + 0.6 * rng.normal(size=1000)  # correlated, as appinc and atotinc
    y = (2 * income - twin + rng.normal(scale=0.5, size=1000) > 0).astype(int)
    X = pd.DataFrame({"income": income, "twin": twin})

    free = SignConstrainedLogisticRegression().fit(X, y)
    held = SignConstrainedLogisticRegression({"income": 1, "twin": 1}).fit(X, y)

    assert free.coef_[0][1] < 0  # unconstrained, the twin takes a negative weight
    assert held.coef_[0][1] == 0 and held.coef_[0][0] > 0
    assert np.allclose(held.predict_proba(X).sum(axis=1), 1)


@pytest.mark.parametrize(
    "column", [c for c in feature_columns(include_protected=True) if c.role is not Role.FEATURE],
    ids=lambda c: c.name,
)  # fmt: skip
def test_policy_excluded_field_never_changes_a_held_out_probability(model, splits, column):
    people = splits[1].drop(columns=[LABEL])
    before = model.predict_proba(people)[:, 1]

    for value in {*column.allowed_values, *column.sentinels} or {0.0, 7.0}:
        after = model.predict_proba(people.assign(**{column.name: value}))[:, 1]
        np.testing.assert_array_equal(after, before, err_msg=f"{column.name} = {value}")


def test_inference_log_records_every_policy_excluded_field():
    recorded = set(input_fields())
    excluded = {c.name for c in COLUMNS if c.role in (Role.PROTECTED, Role.EXCLUDED)}
    assert excluded <= recorded
