"""Baseline: the BentoML service a first version would be, with BentoML's defaults.

The same model and request model as underwrite.serving.service, but one worker, math libraries left
at their default thread counts, a synchronous API, one Pipeline call per request.
"""

from __future__ import annotations

import os

import bentoml
import joblib
import pandas as pd

from underwrite.inference_log import input_fields
from underwrite.serving.contract import application_model

Application = application_model(include_protected=False)


@bentoml.service(name="untuned")
class Untuned:
    model = bentoml.models.BentoModel(os.environ["UNDERWRITE_MODEL_TAG"])

    def __init__(self) -> None:
        self.pipeline = joblib.load(self.model.path_of("model.joblib"))

    @bentoml.api(route="/predict")
    def predict(self, application: Application, /) -> dict:  # type: ignore[valid-type]
        return self._predict([application])[0]

    @bentoml.api(route="/predict_batch")
    def predict_batch(self, applications: list[Application], /) -> list[dict]:  # type: ignore[valid-type]
        return self._predict(applications)

    def _predict(self, applications: list) -> list[dict]:
        rows = [a.model_dump() for a in applications]
        frame = pd.DataFrame.from_records(rows, columns=input_fields()).astype("float64")
        return [{"probability": p} for p in self.pipeline.predict_proba(frame)[:, 1].tolist()]
