"""Tiny in-memory application frames built from the schema, so unit tests never read data/."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from underwrite.schema import COLUMNS, LABEL, RACE_COLUMNS, Column, Kind

RACES = tuple(RACE_COLUMNS)  # white, black, hispan: exactly one is 1 per applicant


def _values(column: Column, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Valid values for one column, drawn independently of the label."""
    if column.kind is Kind.BINARY:
        return rng.integers(0, 2, rows).astype(float)
    if column.kind is Kind.CATEGORICAL:
        return rng.choice(np.asarray(column.categories, dtype=float), rows)
    low, high = column.minimum, column.maximum
    high = min(high, low + 100)  # stay well inside the range, like real amounts do
    return np.round(rng.uniform(low, high, rows), 2)


def make_frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """A frame that passes validation: every schema column, valid values, no leakage."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c.name: _values(c, rows, rng) for c in COLUMNS})
    race = rng.choice(len(RACES), rows, p=[0.6, 0.25, 0.15])
    for position, column in enumerate(RACES):
        frame[column] = (race == position).astype(float)
    frame[LABEL] = (rng.random(rows) < 0.75).astype(float)
    frame["reject"] = 1 - frame[LABEL]
    return frame


@pytest.fixture(scope="session")
def frame_factory() -> Callable[..., pd.DataFrame]:
    """make_frame, for module-scoped fixtures (test modules cannot import conftest safely)."""
    return make_frame


@pytest.fixture
def clean_frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One OpenMP/BLAS thread: on a shared 2-core machine, more threads fight and fit 10x slower."""
    with threadpool_limits(limits=1):
        yield
