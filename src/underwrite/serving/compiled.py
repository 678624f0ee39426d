"""The serving form of a fitted Pipeline: its steps as NumPy array operations.

The Pipeline (models/model.joblib, versioned by DVC) stays the artefact of record; this is
derived from it, step by step, without knowing any column: the sentinel codes, which
columns pass through and which are one-hot encoded, with which categories, are read from
the fitted steps. One row costs a few dozen microseconds instead of the Pipeline's ~7 ms
of per-call validation and pandas bookkeeping (docs/benchmarks.md).

A Pipeline with a step this module does not know (a linear model's imputers and scaler, a
fairness-mitigated classifier) is served as it is, by ``PipelinePredictor``, with the
reason logged. Either way ``check_equal`` compares the served form with the Pipeline
before anything is served (docs/serving.md: equality as a contract).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from underwrite.model import ColumnMajor, SentinelsToMissing
from underwrite.serving.trees import (
    CompileError,
    Forest,
    Into,
    compile_hist_gradient_boosting,
)

log = logging.getLogger(__name__)

COMPILER_VERSION = 3  # a cached compiled form from another version is compiled again


class Predictor(Protocol):
    columns: list[str]  # the raw fields each row holds, in this order

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Encoding:
    """Raw fields -> model inputs: output k is input ``source[k]``, or, where ``one_hot[k]``,
    1.0 if that input equals ``category[k]`` (NaN equal to NaN) and 0.0 otherwise."""

    source: np.ndarray
    one_hot: np.ndarray
    category: np.ndarray
    names: list[str]  # the Pipeline's own names for its model inputs

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = X[:, self.source]
        hot = out[:, self.one_hot]
        category = self.category[self.one_hot]
        equal = (hot == category) | (np.isnan(hot) & np.isnan(category))
        out[:, self.one_hot] = equal
        return out


@dataclass(frozen=True)
class CompiledPredictor:
    """Sentinels to NaN, the column encoding, then the trees: all array operations."""

    columns: list[str]
    sentinel_columns: np.ndarray  # indices into columns
    sentinel_codes: np.ndarray  # per sentinel column, its codes padded with NaN
    encoding: Encoding
    forest: Forest
    by_field: Into  # sums the trees' per-input contributions into raw fields
    source_md5: str
    version: int = COMPILER_VERSION

    def model_inputs(self, X: np.ndarray) -> np.ndarray:
        """Raw fields (rows x columns, float64, NaN for null) -> the classifier's inputs."""
        X = np.array(X, dtype=np.float64)  # a copy: sentinels are replaced in place
        if len(self.sentinel_columns):
            values = X[:, self.sentinel_columns]
            unknown = (values[:, :, None] == self.sentinel_codes[None]).any(axis=2)
            X[:, self.sentinel_columns] = np.where(unknown, np.nan, values)
        return self.encoding(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of approval of each row."""
        return self.forest.predict_proba(self.model_inputs(X))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP per raw field (rows x columns), one-hot inputs summed back to their field."""
        return self.forest.contributions(self.model_inputs(X), self.by_field)


@dataclass(frozen=True)
class PipelinePredictor:
    """The Pipeline itself, for what does not compile; no per-feature contributions."""

    columns: list[str]
    pipeline: Pipeline
    reason: str

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(X, columns=self.columns)
        return self.pipeline.predict_proba(frame)[:, 1]


def build(pipeline: Pipeline, columns: list[str], source_md5: str) -> Predictor:
    """The compiled form of ``pipeline`` for rows of ``columns``, or the Pipeline itself
    (with the reason logged) when one of its steps does not compile."""
    try:
        return compile_pipeline(pipeline, columns, source_md5)
    except CompileError as err:
        log.warning("serving the scikit-learn Pipeline as it is: %s", err)
        return PipelinePredictor(columns, pipeline, str(err))


def compile_pipeline(pipeline: Pipeline, columns: list[str], source_md5: str) -> CompiledPredictor:
    """Raises CompileError naming the first step that has no array form."""
    *transforms, (_, classifier) = _flatten(pipeline)
    if not isinstance(classifier, HistGradientBoostingClassifier):
        raise CompileError(f"classifier {type(classifier).__name__}: no compiled form")
    sentinels: dict[str, tuple[float, ...]] = {}
    encoding = None
    for name, step in transforms:
        if isinstance(step, SentinelsToMissing) and encoding is None:
            sentinels.update(step.sentinels)
        elif isinstance(step, ColumnTransformer) and encoding is None:
            encoding = _encoding(step, columns)
        elif not isinstance(step, ColumnMajor):
            raise CompileError(f"step {name!r} ({type(step).__name__}): no compiled form")
    if encoding is None:
        raise CompileError("the Pipeline has no ColumnTransformer: no compiled form")
    expected = list(getattr(classifier, "feature_names_in_", encoding.names))
    if encoding.names != expected:
        raise CompileError(
            f"the compiled encoding gives {encoding.names[:5]}..., the classifier was fitted on "
            f"{expected[:5]}...: a step between them changes the columns"
        )
    used = {c: codes for c, codes in sentinels.items() if c in columns}
    width = max((len(codes) for codes in used.values()), default=0)
    forest = compile_hist_gradient_boosting(classifier)
    return CompiledPredictor(
        columns=list(columns),
        sentinel_columns=np.array([columns.index(c) for c in used], dtype=np.int64),
        sentinel_codes=np.array(
            [list(codes) + [np.nan] * (width - len(codes)) for codes in used.values()],
            dtype=np.float64,
        ).reshape(len(used), width),
        encoding=encoding,
        forest=forest,
        by_field=forest.into(encoding.source, len(columns)),
        source_md5=source_md5,
    )


def _flatten(pipeline: Pipeline) -> list[tuple[str, object]]:
    steps = []
    for name, step in pipeline.steps:
        steps.extend(_flatten(step) if isinstance(step, Pipeline) else [(name, step)])
    return steps


def _encoding(transformer: ColumnTransformer, columns: list[str]) -> Encoding:
    source: list[int] = []
    category: list[float] = []
    for name, part, selected in transformer.transformers_:
        if part == "drop" or len(selected) == 0:
            continue
        fields = [_column_name(transformer, c) for c in selected]
        missing = [f for f in fields if f not in columns]
        if missing:
            raise CompileError(f"part {name!r} reads {missing}, which a request does not hold")
        if _passthrough(part):
            source += [columns.index(f) for f in fields]
            category += [np.nan] * len(fields)
        elif _plain_one_hot(part):
            for field, categories in zip(fields, part.categories_, strict=True):
                source += [columns.index(field)] * len(categories)
                category += [float(c) for c in categories]
        else:
            raise CompileError(f"part {name!r} ({type(part).__name__}): no compiled form")
    one_hot = np.zeros(len(source), bool)
    start = 0
    for _, part, selected in transformer.transformers_:
        width = _width(part, selected)
        one_hot[start : start + width] = not _passthrough(part)
        start += width
    return Encoding(
        np.array(source, np.int64),
        one_hot,
        np.array(category, np.float64),
        list(transformer.get_feature_names_out()),
    )


def _width(part, selected) -> int:
    if part == "drop" or len(selected) == 0:
        return 0
    if _passthrough(part):
        return len(selected)
    return sum(len(c) for c in part.categories_)


def _column_name(transformer: ColumnTransformer, selected) -> str:
    if isinstance(selected, str):
        return selected
    return str(transformer.feature_names_in_[selected])


def _passthrough(part) -> bool:
    """ "passthrough" as given, or as a fitted ColumnTransformer holds it (an identity
    FunctionTransformer)."""
    if isinstance(part, str):
        return part == "passthrough"
    return isinstance(part, FunctionTransformer) and part.func is None


def _plain_one_hot(part) -> bool:
    """A one-hot encoder whose output is exactly one indicator per category seen in training."""
    return (
        isinstance(part, OneHotEncoder)
        and part.drop_idx_ is None
        and not getattr(part, "_infrequent_enabled", False)
        and part.handle_unknown == "ignore"
    )
