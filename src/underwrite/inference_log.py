"""The inference log: one flat JSON record per served prediction, in JSON Lines files.

The service appends to it; drift monitoring and the retraining loop read it. Flat records
(the application's raw fields at the top level, beside the prediction) let pyarrow read a
window of millions of rows as columns without building Python objects.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from underwrite.schema import feature_columns, names

# Fields every record carries besides the application's raw fields.
REQUEST_ID = "request_id"
TIMESTAMP = "timestamp"  # ISO 8601, UTC
MODEL_VERSION = "model_version"  # the bento tag (or model tag) that answered
MODEL_MD5 = "model_md5"  # md5 of models/model.joblib, as in dvc.lock
PROBABILITY = "probability"  # predicted probability of approval
APPROVED = "approved"  # the decision at the threshold in params.yaml
META_FIELDS = (REQUEST_ID, TIMESTAMP, MODEL_VERSION, MODEL_MD5, PROBABILITY, APPROVED)
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
    reasons: list[str] | None = None,
) -> dict:
    """One flat record: every input field (null when not sent), then the prediction."""
    flat = {name: application.get(name) for name in _input_fields()}
    flat.update(
        {
            REQUEST_ID: request_id,
            TIMESTAMP: timestamp,
            MODEL_VERSION: model_version,
            MODEL_MD5: model_md5,
            PROBABILITY: probability,
            APPROVED: approved,
            REASONS: reasons or [],
        }
    )
    return flat
