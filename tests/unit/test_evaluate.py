"""The evaluate stage's own computations (the stage itself runs in tests/integration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from underwrite.stages.evaluate import confusion_counts


@pytest.mark.parametrize(
    ("actual", "approved", "cells"),
    [
        ([1, 1, 0, 1, 0], [1, 0, 0, 1, 1], {"00": 1, "01": 1, "10": 1, "11": 2}),
        ([1, 1, 1], [1, 1, 1], {"00": 0, "01": 0, "10": 0, "11": 3}),
    ],
    ids=["mixed", "one-cell"],
)
def test_confusion_counts_has_every_cell_with_its_count(
    actual: list[int], approved: list[int], cells: dict[str, int]
) -> None:
    counts = confusion_counts(pd.Series(actual), np.array(approved))

    assert {r["actual"] + r["predicted"]: r["count"] for r in counts} == cells
    assert len(counts) == 4
