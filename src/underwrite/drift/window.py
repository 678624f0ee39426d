"""One window of the inference log, summarised in a single streaming pass.

Counts (histogram bins, categories, missing and out-of-range values, approvals) use every
row; the two-sample tests use a seeded uniform sample of at most ``current_sample`` rows
(bottom-k of random keys, so batch order does not matter). Memory is bounded by the batch
and the sample, not by the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from underwrite.drift.profile import FeatureProfile, Profile, bin_index, valid_values
from underwrite.inference_log import APPROVED, PROBABILITY
from underwrite.schema import BY_NAME

Batch = pd.DataFrame | pa.RecordBatch | pa.Table


@dataclass
class FeatureCounts:
    rows: int = 0
    missing: int = 0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    unknown: dict[float, int] = field(default_factory=dict)  # categories unseen in training
    outside: int = 0  # numeric values outside the training range


def column(batch: Batch, name: str) -> np.ndarray:
    """A column as float64 with NaN for null (zero-copy where Arrow allows)."""
    if isinstance(batch, pd.DataFrame):
        if name not in batch:
            return np.full(len(batch), np.nan)
        return batch[name].to_numpy(dtype="float64", na_value=np.nan)
    if name not in batch.schema.names:
        return np.full(batch.num_rows, np.nan)
    values = batch.column(name)
    return values.to_numpy(zero_copy_only=False).astype("float64", copy=False)


class WindowSummary:
    """Counts and a bounded sample of the rows added so far."""

    def __init__(self, profile: Profile, sample_size: int, seed: int = 0):
        self.profile = profile
        self.rows = 0
        self.features = {
            name: FeatureCounts(counts=np.zeros(len(ref.counts), dtype="int64"))
            for name, ref in profile.features.items()
        }
        prediction = profile.prediction
        self.score_counts = np.zeros(len(prediction.counts) if prediction else 0, dtype="int64")
        self.approved = 0
        self.decided = 0
        self.sample_size = sample_size
        self._rng = np.random.default_rng(seed)
        self._sampled = [n for n, ref in profile.features.items() if ref.numeric] + [PROBABILITY]
        # bottom-k candidates, compacted to sample_size only when they reach twice that
        self._keys: list[np.ndarray] = []
        self._sample: dict[str, list[np.ndarray]] = {n: [] for n in self._sampled}
        self._pending = 0
        self._limit = np.inf  # a key at or above it can no longer enter the sample

    def add(self, batch: Batch) -> None:
        rows = len(batch) if isinstance(batch, pd.DataFrame) else batch.num_rows
        if not rows:
            return
        self.rows += rows
        values = {name: column(batch, name) for name in [*self.features, PROBABILITY, APPROVED]}
        for name, ref in self.profile.features.items():
            _count(self.features[name], ref, values[name])
        self._count_predictions(values[PROBABILITY], values[APPROVED])
        self._update_sample(values, rows)

    def sample(self, name: str) -> np.ndarray:
        """The sampled known values of a numeric feature (or of the probability), sorted.

        Sorted once here, the two-sample tests (which sort their inputs) find them in order.
        """
        self._compact()
        values = self._sample[name][0] if self._keys else np.zeros(0)
        values = values[~np.isnan(values)]
        values = values if name == PROBABILITY else valid_values(BY_NAME[name], values)
        return np.sort(values)

    def _count_predictions(self, probability: np.ndarray, approved: np.ndarray) -> None:
        prediction = self.profile.prediction
        scored = probability[~np.isnan(probability)]
        if prediction is not None:
            bins = bin_index(prediction.edges, scored)
            self.score_counts += np.bincount(bins, minlength=len(self.score_counts))
        known = approved[~np.isnan(approved)]
        self.approved += int(known.sum())
        self.decided += len(known)

    def _update_sample(self, values: dict[str, np.ndarray], rows: int) -> None:
        fresh = self._rng.random(rows)
        chosen = fresh < self._limit
        self._keys.append(fresh[chosen])
        for name in self._sampled:
            self._sample[name].append(values[name][chosen])
        self._pending += int(np.count_nonzero(chosen))
        if self._pending >= 2 * self.sample_size:  # amortised: not a full copy per batch
            self._compact()

    def _compact(self) -> None:
        """Keep the sample_size smallest keys seen (the same rows whatever the batches)."""
        if len(self._keys) <= 1 and self._pending <= self.sample_size:
            return
        keys = np.concatenate(self._keys)
        keep = slice(None)
        if len(keys) > self.sample_size:
            keep = np.argpartition(keys, self.sample_size)[: self.sample_size]
            keys = keys[keep]
            self._limit = keys.max()
        self._keys = [keys]
        self._sample = {n: [np.concatenate(v)[keep]] for n, v in self._sample.items()}
        self._pending = len(keys)


def _count(counts: FeatureCounts, ref: FeatureProfile, values: np.ndarray) -> None:
    known = valid_values(BY_NAME[ref.name], values)
    counts.rows += len(values)
    counts.missing += len(values) - len(known)
    if ref.numeric:
        if ref.minimum is not None:
            low, high = ref.minimum - _slack(ref.minimum), ref.maximum + _slack(ref.maximum)
            counts.outside += int(np.count_nonzero((known < low) | (known > high)))
        counts.counts += np.bincount(bin_index(ref.edges, known), minlength=len(counts.counts))
        return
    categories = np.asarray(ref.categories, dtype="float64")
    if len(categories):
        position = np.minimum(np.searchsorted(categories, known), len(categories) - 1)
        seen = categories[position] == known
        counts.counts += np.bincount(position[seen], minlength=len(categories))
    else:
        seen = np.zeros(len(known), dtype=bool)
    found, n = np.unique(known[~seen], return_counts=True)  # unseen: usually none
    for value, count in zip(found.tolist(), n.tolist(), strict=True):
        counts.unknown[value] = counts.unknown.get(value, 0) + count


def _slack(bound: float) -> float:
    """Rounding a float for JSON (or to float32) must not put a value out of range."""
    return 1e-6 * max(1.0, abs(bound))
