"""An evaluation set as weighted cells: one per distinct (label, scores, decisions, groups)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

UNKNOWN = "unknown"  # a group the data does not record: counted in no group
MAX_CELLS = 20_000  # more distinct cells than this: scores are rounded before resampling
# 3 decimals as the ROC and PR curve files round them; 2 when two models' scores together
# still make too many cells
ROUNDINGS = (3, 2)
CHUNK_ENTRIES = 4_000_000  # resample counts held in memory at once (resamples x cells)


@dataclass(frozen=True)
class Cells:
    """Rows merged by equal values; ``count`` says how many rows each cell stands for.

    ``scores`` and ``approved`` have one row per model (candidate first, then production).
    ``groups`` maps an attribute to each cell's group code, -1 for unknown; ``names``
    gives the group names by code.
    """

    label: np.ndarray
    scores: np.ndarray
    approved: np.ndarray
    groups: dict[str, np.ndarray]
    names: dict[str, tuple[str, ...]]
    count: np.ndarray
    score_decimals: int | None = None  # None: exact scores

    @property
    def rows(self) -> int:
        return int(self.count.sum())


def collapse(
    label: np.ndarray,
    scores: Sequence[np.ndarray],
    threshold: float,
    groups: pd.DataFrame,
    max_cells: int = MAX_CELLS,
) -> Cells:
    """Merge rows with equal label, scores, decisions and groups into counted cells."""
    label = np.asarray(label, dtype="float64")
    if not np.isin(label, (0, 1)).all():
        raise ValueError("labels must be 0 (denied) or 1 (approved)")
    scores = np.vstack([np.asarray(s, dtype="float64") for s in scores])
    if scores.shape[1] != len(label) or len(groups) != len(label):
        raise ValueError(
            f"{len(label)} labels, {scores.shape[1]} scores and {len(groups)} group rows: "
            "every model must be scored on the same rows as the labels and groups"
        )
    approved = (scores >= threshold).astype("float64")
    codes, names = _group_codes(groups)
    cells = _merge(label, scores, approved, codes, names, None)
    for decimals in ROUNDINGS:
        if len(cells.count) <= max_cells:
            break
        cells = _merge(label, np.round(scores, decimals), approved, codes, names, decimals)
    return cells


def _group_codes(groups: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, tuple]]:
    codes, names = {}, {}
    for attribute in groups.columns:
        values = groups[attribute].astype(str).to_numpy()
        known = tuple(sorted(set(values) - {UNKNOWN}))
        lookup = {name: code for code, name in enumerate(known)}
        codes[attribute] = np.array([lookup.get(v, -1) for v in values], dtype="float64")
        names[attribute] = known
    return codes, names


def _merge(label, scores, approved, codes, names, decimals) -> Cells:
    table = np.column_stack([label, scores.T, approved.T, *codes.values()])
    unique, count = np.unique(table, axis=0, return_counts=True)
    models = scores.shape[0]
    group_columns = unique[:, 1 + 2 * models :]
    return Cells(
        label=unique[:, 0],
        scores=unique[:, 1 : 1 + models].T,
        approved=unique[:, 1 + models : 1 + 2 * models].T,
        groups={a: group_columns[:, i].astype(int) for i, a in enumerate(codes)},
        names=names,
        count=count.astype("float64"),
        score_decimals=decimals,
    )


def observed(cells: Cells) -> np.ndarray:
    """The holdout itself as one 'resample': each cell's own count."""
    return cells.count[np.newaxis, :]


def resample_counts(cells: Cells, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples as counts per cell, a block of resamples at a time.

    Stratified by label: each resample has exactly as many approved and denied rows as the
    data, drawn with replacement within the class (a multinomial over that class's cells).
    """
    rng = np.random.default_rng(seed)
    classes = [np.flatnonzero(cells.label == value) for value in (0.0, 1.0)]
    block = max(1, CHUNK_ENTRIES // len(cells.count))
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        counts = np.zeros((size, len(cells.count)))
        for members in classes:
            if len(members) == 0:
                continue
            rows = cells.count[members]
            counts[:, members] = rng.multinomial(int(rows.sum()), rows / rows.sum(), size=size)
        yield counts
