"""Example requests from the real data: one application the model approves, one it denies.

`underwrite examples` writes them to examples/ (approved.json, denied.json, batch.json); the
README's curl lines and the OpenAPI document use them, so a newcomer's first request is a
real application, not 47 fields typed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from underwrite.schema import LABEL, feature_columns, names

BATCH_SIZE = 5


def request_body(row: pd.Series, columns: list[str]) -> dict[str, Any]:
    """One held-out row as the service's request: raw fields, null for missing, ints as ints."""
    body: dict[str, Any] = {}
    for name in columns:
        value = row[name]
        if pd.isna(value):
            body[name] = None
        elif float(value).is_integer():
            body[name] = int(value)
        else:
            body[name] = round(float(value), 6)
    return body


def pick(frame: pd.DataFrame, probabilities: np.ndarray, threshold: float) -> dict[str, Any]:
    """The clearest approval and the clearest denial that the historical decision agrees with.

    The decision margin keeps the examples stable when a retrained model moves a little.
    """
    approved_rows = np.flatnonzero((probabilities >= threshold) & (frame[LABEL].to_numpy() == 1))
    denied_rows = np.flatnonzero((probabilities < threshold) & (frame[LABEL].to_numpy() == 0))
    if not len(approved_rows) or not len(denied_rows):
        raise ValueError("the held-out data has no agreed approval or denial to show")
    columns = names(feature_columns(include_protected=True))
    approved = approved_rows[np.argsort(-probabilities[approved_rows], kind="stable")][0]
    median_denial = denied_rows[np.argsort(probabilities[denied_rows], kind="stable")]
    denied = median_denial[len(median_denial) // 2]  # a typical denial, not the most extreme
    rng = np.random.default_rng(0)
    batch = rng.choice(len(frame), size=min(BATCH_SIZE, len(frame)), replace=False)
    return {
        "approved": request_body(frame.iloc[approved], columns),
        "denied": request_body(frame.iloc[denied], columns),
        "batch": [request_body(frame.iloc[i], columns) for i in sorted(batch)],
    }


def write_examples(out: Path, examples: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in examples.items():
        path = out / f"{name}.json"
        path.write_text(json.dumps(body, indent=1) + "\n")
        written.append(path)
    return written


def load_example(folder: Path, name: str) -> Any:
    return json.loads((folder / f"{name}.json").read_text())
