"""The fixed evaluation holdout: an application's side is a function of the application alone.

The data has no application key, so an application's identity is its raw input columns:
every schema column except the label and the columns recorded after the decision (role
``leaked``), in name order, as float64 (missing values as one NaN, -0.0 as 0.0). The side
is decided by blake2b over the salt (the seed) and those bytes: the first 8 bytes of the
digest, read as a fraction of 2**64, below ``test_size`` put the application in the holdout.

So adding or removing other rows never moves a row, and exact twins (equal input columns,
whatever their labels) always land on the same side: a replay of a held-out application
stays held out, and no version trains on a row another version is judged on.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from underwrite.schema import COLUMNS, Role

NOT_IDENTITY = frozenset({Role.LABEL, Role.LEAKED})
SCALE = float(2**64)


def identity_columns() -> list[str]:
    """The columns that make up an application's identity, in the order they are hashed."""
    return sorted(c.name for c in COLUMNS if c.role not in NOT_IDENTITY)


def identity_bytes(frame: pd.DataFrame) -> np.ndarray:
    """Each row's identity columns as one canonical block of bytes (numpy void per row)."""
    columns = identity_columns()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"cannot assign a holdout side without the identity columns {missing}; "
            "pass the applications with every input column of the schema"
        )
    values = frame[columns].to_numpy(dtype="float64", na_value=np.nan)
    values = np.where(np.isnan(values), np.nan, values + 0.0)  # one NaN, -0.0 -> 0.0
    rows = np.ascontiguousarray(values.astype("<f8"))
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def position(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Each row's place in [0, 1): a salted hash of its identity."""
    salt = seed.to_bytes(8, "little", signed=True)
    positions = np.empty(len(frame))
    for i, row in enumerate(identity_bytes(frame)):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8, salt=salt).digest()
        positions[i] = int.from_bytes(digest, "little") / SCALE
    return positions


def in_holdout(frame: pd.DataFrame, test_size: float, seed: int) -> np.ndarray:
    """Whether each application belongs to the evaluation holdout."""
    return position(frame, seed) < test_size
