"""The committed examples are what their names say for the model the repository trains."""

from __future__ import annotations

import joblib
import pandas as pd
import pytest

from underwrite.params import load_params
from underwrite.schema import feature_columns, names
from underwrite.serving.examples import load_example

pytestmark = pytest.mark.integration


def test_examples_are_approved_and_denied_by_the_trained_model(reproduced_template) -> None:
    root = reproduced_template.path
    pipeline = joblib.load(root / "models" / "model.joblib")
    threshold = load_params(root / "params.yaml").evaluate.threshold
    columns = names(feature_columns(include_protected=True))
    for name, approved in (("approved", True), ("denied", False)):
        row = pd.DataFrame([load_example(root / "examples", name)], columns=columns)
        probability = pipeline.predict_proba(row.astype("float64"))[0, 1]
        assert bool(probability >= threshold) is approved, (
            f"examples/{name}.json scores {probability:.3f} against the threshold {threshold}: "
            "run `underwrite examples` after retraining"
        )
