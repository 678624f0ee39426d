"""Principal reasons for a denial, from per-feature TreeSHAP contributions.

For an application the model would deny, the features that pushed its probability of
approval down the most (at most four, as the adverse-action model forms list), each with
the applicant's value, a sentence built from the schema's description and unit, and how the
value compares with what approved applicants in the training data typically have (recorded
at import in the model store's metadata). Only FEATURE columns can be a reason: a protected
attribute or an excluded column never is, even for a model trained on it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from underwrite.schema import BY_NAME, LABEL, Column, Kind, Role

log = logging.getLogger(__name__)

MAX_REASONS = 4
MAX_REMEMBERED = 100_000  # (field, value) sentences kept per worker, a few MiB at most
HIGHER, LOWER, DIFFERENT, UNKNOWN = "higher", "lower", "different", "unknown"


def typical_values(train: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, float]]:
    """What approved training applications typically have, per FEATURE column: the median
    of a number, the most common value of a flag or code and its share ("unknown" codes
    and nulls left out)."""
    approved = train[train[LABEL] == 1]
    typical = {}
    for name in columns:
        column = BY_NAME[name]
        values = approved[name].astype("float64")
        values = values[~values.isin(column.sentinels)].dropna()
        if column.role is not Role.FEATURE or values.empty:
            continue
        if column.kind is Kind.NUMERIC:
            typical[name] = {"median": float(values.median())}
        else:
            counts = values.value_counts(normalize=True)
            typical[name] = {"mode": float(counts.index[0]), "share": float(counts.iloc[0])}
    return typical


class Explainer:
    """Reasons for rows of raw fields (``columns``), from a predictor with ``contributions``."""

    def __init__(self, predictor: Any, typical: dict[str, dict[str, float]]):
        self.predictor = predictor
        self.columns: list[str] = list(predictor.columns)
        self.typical = typical
        self.may_be_reason = np.array([BY_NAME[c].role is Role.FEATURE for c in self.columns])
        # what a reason says about each field besides the applicant's value, built once
        self.fixed = [
            (BY_NAME[c], _label(BY_NAME[c]), _compared(BY_NAME[c], typical.get(c, {})))
            for c in self.columns
        ]
        self._words: dict[tuple[int, float], tuple[str, str]] = {}
        self.exact = hasattr(predictor, "contributions")
        if not self.exact:
            log.warning(
                "no TreeSHAP for this predictor: reasons compare each field with approved "
                "applicants' typical value instead"
            )

    def reasons(self, X: np.ndarray, denied: np.ndarray) -> list[list[dict]]:
        """For each row: [] if approved, else its reasons, most important first."""
        out: list[list[dict]] = [[] for _ in range(len(X))]
        rows = np.flatnonzero(denied)
        if len(rows) == 0:
            return out
        explain = self.predictor.contributions if self.exact else self._against_typical
        contributions = explain(X[rows])
        contributions[:, ~self.may_be_reason] = 0.0
        ranked = np.argsort(contributions, axis=1, kind="stable")[:, :MAX_REASONS]
        pushed = np.take_along_axis(contributions, ranked, axis=1).tolist()
        values = np.take_along_axis(X[rows], ranked, axis=1).tolist()
        for row, fields, phis, sent in zip(rows, ranked.tolist(), pushed, values, strict=True):
            found = zip(fields, sent, phis, strict=True)
            out[row] = [self._reason(f, v, phi) for f, v, phi in found if phi < 0]
        return out

    def _against_typical(self, X: np.ndarray) -> np.ndarray:
        """A reference-point method for models without TreeSHAP: per field, the log-odds of
        approval minus those with the field set to approved applicants' typical value."""
        fields = [i for i, c in enumerate(self.columns) if c in self.typical]
        if not fields:  # nothing recorded to compare with: no reason rather than a wrong one
            return np.zeros(X.shape)
        reference = np.array([_typical_value(self.typical[self.columns[i]]) for i in fields])
        moved = np.repeat(X, len(fields), axis=0)
        rows = np.arange(len(moved))
        moved[rows, np.tile(fields, len(X))] = np.tile(reference, len(X))
        now = _log_odds(self.predictor.predict_proba(X))
        typical = _log_odds(self.predictor.predict_proba(moved)).reshape(len(X), len(fields))
        out = np.zeros(X.shape)
        out[:, fields] = now[:, None] - typical
        return out

    def _reason(self, index: int, value: float, contribution: float) -> dict:
        direction, sentence = self._words.get((index, value)) or self._say(index, value)
        return {
            "feature": self.columns[index],
            "value": None if value != value else value,  # NaN != NaN
            "direction": direction,
            "contribution": round(contribution, 6),
            "sentence": sentence,
        }

    def _say(self, index: int, value: float) -> tuple[str, str]:
        """The direction and sentence of a reason on field ``index`` with this value,
        remembered: flags and codes take a few values, and amounts repeat too."""
        column, label, compared = self.fixed[index]
        known = None if value != value or value in column.sentinels else value
        said = (
            _direction(known, self.typical.get(column.name, {})),
            f"{label}: {_say(column, known)}{compared}",
        )
        if len(self._words) >= MAX_REMEMBERED:
            self._words.clear()
        if value == value:  # NaN is never equal to itself, so never found again
            self._words[(index, value)] = said
        return said


def _typical_value(typical: dict[str, float]) -> float:
    return typical["median"] if "median" in typical else typical["mode"]


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _direction(value: float | None, typical: dict[str, float]) -> str:
    if value is None:
        return UNKNOWN
    if "median" in typical:
        if value == typical["median"]:
            return DIFFERENT
        return HIGHER if value > typical["median"] else LOWER
    return DIFFERENT


def sentence(column: Column, value: float | None, typical: dict[str, float]) -> str:
    """E.g. "Other obligations: 48 percent of total income; approved applicants' median:
    33 percent of total income." """
    return f"{_label(column)}: {_say(column, value)}{_compared(column, typical)}"


def _label(column: Column) -> str:
    return column.description[:1].upper() + column.description[1:]


def _compared(column: Column, typical: dict[str, float]) -> str:
    if "median" in typical:
        return f"; approved applicants' median: {_say(column, typical['median'])}."
    if "mode" in typical:
        share = f"{typical['share']:.0%}"
        return f"; {share} of approved applicants: {_say(column, typical['mode'])}."
    return "."


def _say(column: Column, value: float | None) -> str:
    if value is None:
        return "not known"
    if column.kind is Kind.BINARY:
        return "yes" if value == 1 else "no"
    if column.kind is Kind.CATEGORICAL:
        return f"{value:g}"
    digits = 0 if abs(value) >= 100 or value == int(value) else 2
    number = f"{value:,.{digits}f}"
    number = number.rstrip("0").rstrip(".") if digits else number
    return f"{number} {column.unit}".rstrip()
