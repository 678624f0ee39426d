"""The HTTP contract of the service: request and response models, derived from the schema.

Every field of a request is a column of ``schema.COLUMNS``: its name, description, unit,
range, categories, "unknown" codes and nullability come from there and are not written
again here, so the OpenAPI document, the validation of a request and the validation of
training data cannot disagree. Nothing here transforms a value: the model's own Pipeline
receives the raw fields.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
)

from underwrite.schema import Column, Kind, Role, feature_columns

# A request is strict: "5" is not a number, an unknown field is an error, NaN is refused.
REQUEST_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _numeric_with_sentinels(column: Column) -> Any:
    """A number in the column's range, or one of its "unknown" codes (kept raw for the model)."""
    low, high, codes = column.minimum, column.maximum, column.sentinels
    rule = f"must be between {low:g} and {high:g} {column.unit}".rstrip()
    rule += ", or " + " or ".join(f"{s:.10g}" for s in codes) + " for unknown"

    def check(value: float) -> float:
        if not (low <= value <= high or value in codes):
            raise ValueError(rule)
        return value

    json_schema = {
        "anyOf": [
            {"type": "number", "minimum": low, "maximum": high},
            *({"const": s, "description": "unknown"} for s in codes),
        ]
    }
    return Annotated[float, AfterValidator(check), WithJsonSchema(json_schema)]


def _value_type(column: Column) -> Any:
    if column.kind is Kind.NUMERIC and column.sentinels:
        return _numeric_with_sentinels(column)
    if column.kind is Kind.NUMERIC:
        return Annotated[float, Field(ge=column.minimum, le=column.maximum)]
    allowed = tuple(column.allowed_values) + tuple(int(s) for s in column.sentinels)
    return Literal[allowed]  # type: ignore[valid-type]


def describe(column: Column) -> str:
    """The column's documentation as one sentence for the OpenAPI document."""
    parts = [column.description]
    if column.unit:
        parts.append(f"in {column.unit}")
    if column.sentinels:
        parts.append("unknown: " + ", ".join(f"{s:.10g}" for s in column.sentinels))
    if column.nullable:
        parts.append("null when not recorded")
    return "; ".join(parts)


def _field(column: Column, used_by_model: bool) -> tuple[Any, Any]:
    value = _value_type(column)
    if column.nullable:
        value = value | None
    extra = {"unit": column.unit} if column.unit else None
    if used_by_model:
        return value, Field(description=describe(column), json_schema_extra=extra)
    note = "; not used by this model, recorded for fairness monitoring"
    return value | None, Field(None, description=describe(column) + note, json_schema_extra=extra)


@cache
def application_model(include_protected: bool) -> type[BaseModel]:
    """The request for one application: every field a model may use.

    Features are required (a nullable one must be sent as null). Protected attributes are
    required when the model was trained on them, and otherwise optional: they are never
    used for the decision then, only written to the inference log for fairness monitoring.
    """
    fields = {
        c.name: _field(c, used_by_model=c.role is Role.FEATURE or include_protected)
        for c in feature_columns(include_protected=True)
    }
    return create_model(
        "Application",
        __config__=REQUEST_CONFIG,
        __doc__="One mortgage application, raw fields as in the HMDA data.",
        __module__=__name__,
        **fields,
    )


def batch_type(application: type[BaseModel], max_items: int) -> Any:
    """A non-empty list of applications, at most ``max_items`` long."""
    return Annotated[list[application], Field(min_length=1, max_length=max_items)]


class ModelVersion(BaseModel):
    """Which model answered: the one the registry and the inference log name."""

    tag: str = Field(description="BentoML model tag (name:version)")
    md5: str = Field(description="md5 of models/model.joblib, as recorded in dvc.lock")
    bento: str = Field(description="bento tag that served the request, when run from a bento")


class Reason(BaseModel):
    """One principal reason for a denial: a feature that lowered the approval probability."""

    feature: str = Field(description="the application field (a FEATURE column of the schema)")
    value: float | None = Field(description="the applicant's value as sent; null when not sent")
    direction: Literal["higher", "lower", "different", "unknown"] = Field(
        description="the value against approved applicants' typical one: higher or lower than "
        "their median (numbers), different from their most common value (flags, codes), or "
        "unknown (null or an unknown code)"
    )
    contribution: float = Field(
        lt=0,
        description="effect on the log-odds of approval (negative): TreeSHAP for tree models; "
        "for a model served as its Pipeline, the change from setting the field to approved "
        "applicants' typical value",
    )
    sentence: str = Field(description="the reason in plain language, from the schema")


class Prediction(BaseModel):
    probability: float = Field(ge=0, le=1, description="predicted probability of approval")
    approved: bool = Field(description="the decision: probability at least the threshold")
    threshold: float = Field(description="decision threshold (evaluate.threshold in params.yaml)")
    model: ModelVersion
    request_id: str = Field(description="id of this prediction in the inference log")
    reasons: list[Reason] = Field(
        default_factory=list,
        max_length=4,
        description="for a denial, its principal reasons, most important first (at most "
        "four; never a protected or excluded attribute); empty when approved",
        examples=[
            [
                {
                    "feature": "gdlin",
                    "value": 0.0,
                    "direction": "different",
                    "contribution": -3.240746,
                    "sentence": "Credit history meets guidelines: no; 98% of approved "
                    "applicants: yes.",
                },
                {
                    "feature": "other",
                    "value": 39.0,
                    "direction": "higher",
                    "contribution": -0.671868,
                    "sentence": "Other financing: 39 thousands of dollars; approved "
                    "applicants' median: 0 thousands of dollars.",
                },
            ]
        ],
    )


def to_frame(applications: list[BaseModel], columns: list[str]) -> pd.DataFrame:
    """Raw fields as the Pipeline was trained on them: float64 columns, null as NaN."""
    # one float64 array (None becomes NaN), not a dict per row: a tenth of the time
    rows = [[getattr(a, c) for c in columns] for a in applications]
    return pd.DataFrame(np.array(rows, dtype="float64"), columns=columns)


def golden_applications() -> list[dict[str, float | int | None]]:
    """Valid applications spanning the schema: each range's ends and middle, every category,
    every "unknown" code and every null. Readiness and the smoke suite predict these."""
    columns = feature_columns(include_protected=True)
    fractions = (0.5, 0.0, 1.0, 0.1, 0.02)
    rows = [{c.name: _pick(c, f, i) for c in columns} for i, f in enumerate(fractions)]
    rows.append({c.name: c.sentinels[0] if c.sentinels else _pick(c, 0.5, 0) for c in columns})
    rows.append({c.name: None if c.nullable else _pick(c, 0.25, 1) for c in columns})
    return rows


def _pick(column: Column, fraction: float, index: int) -> float | int:
    if column.kind is Kind.NUMERIC:
        return round(column.minimum + fraction * (column.maximum - column.minimum), 3)
    return column.allowed_values[index % len(column.allowed_values)]
