"""Equality as a contract: the served predictor answers what the Pipeline answers.

Checked when a model is imported into the store (on the holdout, the golden applications
and a seeded sweep of random valid applications) and again by every worker before it
reports ready (golden and sweep: a bento holds no data). A served probability may differ
from the Pipeline's by at most ``TOLERANCE``, and no decision at the threshold may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from underwrite.schema import Column, Kind, feature_columns, names
from underwrite.serving.contract import golden_applications

TOLERANCE = 1e-6
ADDITIVE_TOLERANCE = 1e-9  # log-odds; float rounding is ~1e-13 on the real model
SWEEP_ROWS = 2000
SWEEP_SEED = 20261129


class PredictorMismatch(RuntimeError):
    """The served predictor and the Pipeline disagree: the message says where."""


@dataclass(frozen=True)
class Equality:
    """How far the served predictor is from the Pipeline on a set of applications."""

    rows: int
    max_delta: float
    decisions_differ: int
    worst: dict  # the application with the largest difference

    @property
    def holds(self) -> bool:
        return self.max_delta <= TOLERANCE and self.decisions_differ == 0

    def summary(self) -> dict:
        return {
            "rows": self.rows,
            "max_delta": self.max_delta,
            "decisions_differ": self.decisions_differ,
        }

    def message(self, what: str) -> str:
        return (
            f"the served predictor differs from the scikit-learn Pipeline on {what}: "
            f"largest |delta p| {self.max_delta:.3g} (allowed {TOLERANCE:g}), "
            f"{self.decisions_differ} of {self.rows} decisions differ; worst application: "
            f"{self.worst}. Re-import the model (`underwrite import-model`) to compile it "
            "again; if it persists, serve the Pipeline and report the model."
        )


def compare(predictor, pipeline, frame: pd.DataFrame, threshold: float) -> Equality:
    """The predictor against ``pipeline.predict_proba`` on the rows of ``frame``."""
    expected = pipeline.predict_proba(frame)[:, 1]
    served = np.asarray(predictor.predict_proba(frame[predictor.columns].to_numpy("float64")))
    delta = np.abs(served - expected)
    delta = np.where(np.isnan(delta), np.inf, delta)
    worst = int(np.argmax(delta))
    return Equality(
        rows=len(frame),
        max_delta=float(delta[worst]),
        decisions_differ=int(np.sum((served >= threshold) != (expected >= threshold))),
        worst={k: _plain(v) for k, v in frame.iloc[worst].items()},
    )


def require_equal(
    predictor, pipeline, frame: pd.DataFrame, threshold: float, what: str
) -> Equality:
    """``compare``, raising PredictorMismatch when equality does not hold."""
    result = compare(predictor, pipeline, frame, threshold)
    if not result.holds:
        raise PredictorMismatch(result.message(what))
    return result


def require_additive(predictor, frame: pd.DataFrame, what: str) -> None:
    """The predictor's contributions (its reasons) add up to each row's log-odds minus the
    average, as TreeSHAP's do; PredictorMismatch otherwise. A predictor without
    contributions passes: its reasons come from the probabilities checked above."""
    if not hasattr(predictor, "contributions"):
        return
    X = frame[predictor.columns].to_numpy("float64")
    score = predictor.forest.raw(predictor.model_inputs(X))  # what require_equal checked
    explained = predictor.contributions(X).sum(axis=1) + predictor.forest.expected_value()
    gap = np.abs(explained - score)
    if not gap.max() <= ADDITIVE_TOLERANCE:
        raise PredictorMismatch(
            f"the served predictor's contributions on {what} do not add up to its log-odds "
            f"(largest gap {gap.max():.3g}, allowed {ADDITIVE_TOLERANCE:g}): its reasons would "
            "be wrong. Re-import the model (`underwrite import-model`) to compile it again."
        )


def readiness_frame(include_protected: bool) -> pd.DataFrame:
    """The golden applications and the seeded random sweep, as the service's columns."""
    columns = names(feature_columns(include_protected))
    golden = pd.DataFrame.from_records(golden_applications(), columns=columns)
    sweep = random_applications(SWEEP_ROWS, SWEEP_SEED, include_protected)
    return pd.concat([golden, sweep], ignore_index=True).astype("float64")


def random_applications(rows: int, seed: int, include_protected: bool) -> pd.DataFrame:
    """Valid random applications derived from the schema: every range, category, "unknown"
    code and null the request model accepts."""
    rng = np.random.default_rng(seed)
    columns = feature_columns(include_protected)
    return pd.DataFrame({c.name: _random_values(c, rows, rng) for c in columns})


def _random_values(column: Column, rows: int, rng: np.random.Generator) -> np.ndarray:
    if column.kind is Kind.NUMERIC:
        low, high = column.minimum, column.maximum
        spread = rng.random(rows) ** rng.choice([1.0, 4.0, 12.0], rows)  # many small values too
        values = np.round(low + spread * (high - low), 3)
    else:
        values = rng.choice(np.asarray(column.allowed_values, dtype="float64"), rows)
    special = rng.random(rows)
    if column.sentinels:
        codes = rng.choice(np.asarray(column.sentinels, dtype="float64"), rows)
        values = np.where(special < 0.1, codes, values)
    if column.nullable:
        values = np.where(special > 0.9, np.nan, values)
    return values.astype("float64")


def _plain(value) -> float | None:
    return None if pd.isna(value) else float(value)
