"""The reference profile: what drift monitoring knows about the training split.

Per monitored feature: its missing share, the training range, a histogram (quantile bins
for numeric features, one bin per category otherwise) and, for numeric features, a seeded
sample of values for the two-sample tests. Per model: the score histogram and sample and
the approval rate on the training split. Written by the ``profile`` stage as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from underwrite.params import DriftParams
from underwrite.schema import BY_NAME, Column, Kind

FORMAT = 1


class ProfileError(ValueError):
    """The reference profile is missing or unreadable; the message says how to rebuild it."""


@dataclass(frozen=True)
class FeatureProfile:
    name: str
    kind: str  # numeric, binary or categorical (schema.Kind)
    rows: int
    missing: int  # null or a sentinel ("unknown") value
    edges: list[float] = field(default_factory=list)  # numeric: inner bin edges
    categories: list[float] = field(default_factory=list)  # binary/categorical: seen values
    counts: list[int] = field(default_factory=list)  # per bin or per category
    minimum: float | None = None
    maximum: float | None = None
    std: float = 0.0
    sample: list[float] = field(default_factory=list)  # numeric: sorted sample of values

    @property
    def numeric(self) -> bool:
        return self.kind == Kind.NUMERIC


@dataclass(frozen=True)
class PredictionProfile:
    rows: int
    approval_rate: float
    threshold: float
    edges: list[float]
    counts: list[int]
    std: float
    sample: list[float]


@dataclass(frozen=True)
class Profile:
    features: dict[str, FeatureProfile]
    prediction: PredictionProfile | None
    model_md5: str = ""
    format: int = FORMAT

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)) + "\n")

    @classmethod
    def load(cls, path: Path) -> Profile:
        try:
            raw = json.loads(path.read_text())
            features = {k: FeatureProfile(**v) for k, v in raw["features"].items()}
            prediction = PredictionProfile(**raw["prediction"]) if raw["prediction"] else None
        except FileNotFoundError:
            raise ProfileError(
                f"reference profile {path}: no such file; run `dvc repro profile` "
                "(or `dvc pull profile`)"
            ) from None
        except (ValueError, KeyError, TypeError) as err:
            raise ProfileError(
                f"reference profile {path}: unreadable ({err}); rebuild it"
            ) from None
        if raw.get("format") != FORMAT:
            raise ProfileError(
                f"reference profile {path}: format {raw.get('format')}, not {FORMAT}"
            )
        return cls(features, prediction, raw.get("model_md5", ""))


def valid_values(column: Column, values: np.ndarray) -> np.ndarray:
    """The known values of a column: nulls and the schema's "unknown" sentinels removed."""
    values = np.asarray(values, dtype="float64")
    known = ~np.isnan(values)
    if column.sentinels:
        known &= ~np.isin(values, column.sentinels)
    return values[known]


def bin_index(edges: list[float] | np.ndarray, values: np.ndarray) -> np.ndarray:
    """Bin of each value: 0 below the first inner edge, len(edges) at or above the last."""
    return np.searchsorted(np.asarray(edges, dtype="float64"), values, side="right")


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference's quantiles, placed midway to the next distinct value.

    Many features are discrete (counts, percentages, float32 codes), so quantiles fall on
    data values; an edge between two values keeps a value and its JSON round trip (or a
    float32 copy) in the same bin.
    """
    distinct = np.unique(values)
    quantiles = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    above = np.searchsorted(distinct, quantiles, side="right")
    inside = above < len(distinct)
    return np.unique((quantiles[inside] + distinct[above[inside]]) / 2)


def _sample(values: np.ndarray, size: int, rng: np.random.Generator) -> list[float]:
    if len(values) > size:
        values = rng.choice(values, size=size, replace=False)
    return np.sort(values).tolist()


def feature_profile(
    column: Column, values: np.ndarray, params: DriftParams, rng: np.random.Generator
) -> FeatureProfile:
    known = valid_values(column, values)
    common = {"name": column.name, "kind": str(column.kind), "rows": len(values)}
    common["missing"] = len(values) - len(known)
    if column.kind is not Kind.NUMERIC:
        categories, counts = np.unique(known, return_counts=True)
        return FeatureProfile(**common, categories=categories.tolist(), counts=counts.tolist())
    if not len(known):
        return FeatureProfile(**common, counts=[0])
    edges = quantile_edges(known, params.bins)
    counts = np.bincount(bin_index(edges, known), minlength=len(edges) + 1)
    return FeatureProfile(
        **common,
        edges=edges.tolist(),
        counts=counts.tolist(),
        minimum=float(known.min()),
        maximum=float(known.max()),
        std=float(known.std()),
        sample=_sample(known, params.reference_sample, rng),
    )


def prediction_profile(
    probabilities: np.ndarray, threshold: float, params: DriftParams, rng: np.random.Generator
) -> PredictionProfile:
    edges = quantile_edges(np.asarray(probabilities, dtype="float64"), params.bins)
    return PredictionProfile(
        rows=len(probabilities),
        approval_rate=float(np.mean(probabilities >= threshold)),
        threshold=threshold,
        edges=edges.tolist(),
        counts=np.bincount(bin_index(edges, probabilities), minlength=len(edges) + 1).tolist(),
        std=float(np.std(probabilities)),
        sample=_sample(np.asarray(probabilities, dtype="float64"), params.reference_sample, rng),
    )


def build_profile(
    frame: pd.DataFrame,
    features: list[str],
    params: DriftParams,
    probabilities: np.ndarray | None = None,
    threshold: float = 0.5,
    model_md5: str = "",
) -> Profile:
    """Summarise the training split's ``features`` (and the model's scores on it)."""
    rng = np.random.default_rng(params.seed)
    profiles = {
        name: feature_profile(BY_NAME[name], frame[name].to_numpy(), params, rng)
        for name in features
    }
    prediction = None
    if probabilities is not None:
        prediction = prediction_profile(probabilities, threshold, params, rng)
    return Profile(profiles, prediction, model_md5)
