"""The inference log: one flat JSON record per served prediction, in JSON Lines files.

The service appends to it; drift monitoring and the retraining loop read it. Flat records
(the application's raw fields at the top level, beside the prediction) let pyarrow read a
window of millions of rows as columns without building Python objects.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path

import pandas as pd

from underwrite.schema import Role, feature_columns, names

# Fields every record carries besides the application's raw fields.
REQUEST_ID = "request_id"
TIMESTAMP = "timestamp"  # ISO 8601, UTC
MODEL_VERSION = "model_version"  # the bento tag (or model tag) that answered
MODEL_MD5 = "model_md5"  # md5 of models/model.joblib, as in dvc.lock
PROBABILITY = "probability"  # predicted probability of approval
APPROVED = "approved"  # the decision at the threshold in params.yaml
# True when the request carried SYNTHETIC_HEADER: smoke suites, load tests, the simulator
# over HTTP. Drift windows and retraining labels leave such records out. A record without
# the field (written before it existed) is real traffic.
SYNTHETIC = "synthetic"
META_FIELDS = (REQUEST_ID, TIMESTAMP, MODEL_VERSION, MODEL_MD5, PROBABILITY, APPROVED, SYNTHETIC)
OPTIONAL_FIELDS = (SYNTHETIC,)  # a reader accepts records without them

# A request header, not a body field, so the request contract stays the same for everyone.
SYNTHETIC_HEADER = "X-Underwrite-Synthetic"
SYNTHETIC_HEADER_VALUE = "1"
# The principal reasons of a denial, as feature names, most important first ([] if
# approved). Optional: records written before it existed have none, and readers that do
# not know it (drift) ignore it.
REASONS = "reasons"

FILE_GLOB = "*.jsonl"


def input_fields() -> list[str]:
    """The application fields a record holds: every column a model may use."""
    return list(_input_fields())


@cache
def _input_fields() -> tuple[str, ...]:
    return tuple(names(feature_columns(include_protected=True)))


def is_synthetic(header_value: str | None) -> bool:
    """Whether a request's SYNTHETIC_HEADER value (None when absent) marks it synthetic."""
    return header_value is not None and header_value.strip() == SYNTHETIC_HEADER_VALUE


def log_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(FILE_GLOB))


def read_local(folder: Path) -> pd.DataFrame:
    """Every record under a local log folder, as one frame (small logs, tests, the loop)."""
    frames = [pd.read_json(path, lines=True) for path in log_files(folder)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def record(
    application: dict,
    *,
    request_id: str,
    timestamp: str,
    model_version: str,
    model_md5: str,
    probability: float,
    approved: bool,
    synthetic: bool = False,
    reasons: list[str] | None = None,
) -> dict:
    """One flat record: every input field (null when not sent), then the prediction.

    ``synthetic``: the request carried SYNTHETIC_HEADER (see ``is_synthetic``).
    """
    fields = _input_fields()
    if tuple(application) == fields:  # every field in order, as the service validates them
        flat = dict(application)
    else:
        flat = dict(zip(fields, map(application.get, fields), strict=True))
    flat.update(
        {
            REQUEST_ID: request_id,
            TIMESTAMP: timestamp,
            MODEL_VERSION: model_version,
            MODEL_MD5: model_md5,
            PROBABILITY: probability,
            APPROVED: approved,
            SYNTHETIC: synthetic,
            REASONS: reasons or [],
        }
    )
    return flat


class DataClass(StrEnum):
    """What a log field is, for data governance (docs/data-governance.md)."""

    PERSONAL = "personal"  # about an identifiable applicant: kept only for the retention period
    PROTECTED = "protected"  # a prohibited basis (race, ethnicity, sex): monitoring identity only
    MODEL_INPUT = "model input"  # what the default model decides on
    OPERATIONAL = "operational"  # about the request or the model, not the applicant


def classification() -> dict[str, frozenset[DataClass]]:
    """Every field of a record and its classes. Every applicant field is personal data; a
    protected attribute is also protected; a feature is also a model input; the decision
    (probability, approved) is personal data about the applicant."""
    classes: dict[str, frozenset[DataClass]] = {}
    for column in feature_columns(include_protected=True):
        kind = {Role.PROTECTED: DataClass.PROTECTED, Role.FEATURE: DataClass.MODEL_INPUT}
        extra = {kind[column.role]} if column.role in kind else set()
        classes[column.name] = frozenset({DataClass.PERSONAL, *extra})
    for name in (PROBABILITY, APPROVED, REASONS):
        classes[name] = frozenset({DataClass.PERSONAL})
    for name in (REQUEST_ID, TIMESTAMP, MODEL_VERSION, MODEL_MD5, SYNTHETIC):
        classes[name] = frozenset({DataClass.OPERATIONAL})
    return classes


def fields_of(data_class: DataClass) -> list[str]:
    """The record fields in DATA_CLASS, in record order."""
    return [name for name, classes in classification().items() if data_class in classes]
