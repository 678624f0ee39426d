"""The drift check: the latest window(s) of the log against the profile, and a verdict.

The verdict is the ``underwrite drift`` command's exit status (``underwrite.console``): 0 no
drift, 4 drift, 5 cannot tell (a window with fewer rows than ``drift.min_rows``, an empty
log); bad input (a log not in the contract's format, a corrupt line, no reference profile,
bad params) is 1.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from underwrite.console import ExitCode
from underwrite.drift.logreader import read_window
from underwrite.drift.profile import Profile
from underwrite.drift.window import Batch, WindowSummary
from underwrite.inference_log import APPROVED, PROBABILITY, TIMESTAMP
from underwrite.params import DriftParams

if TYPE_CHECKING:
    from underwrite.drift.stats import FeatureResult, PredictionResult

log = logging.getLogger(__name__)

# scipy.stats and matplotlib take about a second to import: check_log loads them in a
# thread while the log is parsed (the parsers release the GIL), not before.
PRELOAD = ("underwrite.drift.stats", "underwrite.drift.report")


class Verdict(IntEnum):
    NO_DRIFT = ExitCode.OK
    DRIFT = ExitCode.DRIFT
    CANNOT_TELL = ExitCode.CANNOT_TELL


@dataclass
class WindowResult:
    start: datetime | None
    end: datetime | None
    rows: int
    enough: bool
    features: list[FeatureResult] = field(default_factory=list)  # drifted first, by JS
    prediction: PredictionResult | None = None
    summary: WindowSummary | None = None

    @property
    def drifted_features(self) -> list[FeatureResult]:
        """Drifted features that count towards the alarm (protected attributes do not)."""
        return [f for f in self.features if f.drifted and not f.protected]

    @property
    def protected_drift(self) -> list[FeatureResult]:
        """Drifted protected attributes: reported, but never an alarm (or a retrain) alone."""
        return [f for f in self.features if f.drifted and f.protected]

    @property
    def drifted(self) -> bool:
        prediction = self.prediction is not None and self.prediction.drifted
        return self.enough and (bool(self.drifted_features) or prediction)


@dataclass
class DriftResult:
    windows: list[WindowResult]  # newest first
    verdict: Verdict
    message: str


def evaluate(profile: Profile, summary: WindowSummary, params: DriftParams) -> WindowResult:
    """Compare one summarised window with the profile (no verdict on too few rows here)."""
    from underwrite.drift.stats import compare_feature, compare_predictions, judge_features

    result = WindowResult(None, None, summary.rows, summary.rows >= params.min_rows)
    result.summary = summary
    if not summary.rows:
        return result
    features = [compare_feature(ref, summary) for ref in profile.features.values()]
    judge_features(features, params)
    features.sort(key=lambda f: (f.drifted, f.jensen_shannon), reverse=True)
    result.features = features
    result.prediction = compare_predictions(profile, summary, params)
    return result


def check_frame(profile: Profile, frame: Batch, params: DriftParams) -> WindowResult:
    """One in-memory window (a DataFrame or Arrow batch with the log's columns)."""
    summary = WindowSummary(profile, params.current_sample, params.seed)
    summary.add(frame)
    return evaluate(profile, summary, params)


def verdict(windows: list[WindowResult], params: DriftParams) -> tuple[Verdict, str]:
    """Drift only if all ``persistence`` windows drift; too few rows anywhere: cannot tell."""
    newest = windows[0]
    if not newest.enough:
        return Verdict.CANNOT_TELL, (
            f"cannot tell: the latest window has {newest.rows} rows; at least "
            f"{params.min_rows} are needed (drift.min_rows)"
        )
    if not newest.drifted:
        return Verdict.NO_DRIFT, "no drift in the latest window" + _protected_note(newest)
    short = [w for w in windows[1:] if not w.enough]
    if short:
        return Verdict.CANNOT_TELL, (
            f"cannot tell: the latest window drifted, but an earlier window has {short[0].rows} "
            f"rows (< {params.min_rows}), so persistence over {len(windows)} windows is unknown"
        )
    if not all(w.drifted for w in windows):
        return Verdict.NO_DRIFT, (
            f"drift in the latest window, but not in all {len(windows)} consecutive windows "
            "(drift.persistence)"
        )
    names = ", ".join(f.name for f in newest.drifted_features[:5]) or "predictions only"
    message = f"drift: {len(newest.drifted_features)} features ({names})"
    return Verdict.DRIFT, message + _protected_note(newest)


def _protected_note(window: WindowResult) -> str:
    """Drift in a protected attribute is reported, never an alarm on its own (the policy)."""
    names = ", ".join(f.name for f in window.protected_drift)
    return f"; protected attributes drifted (reported, not an alarm): {names}" if names else ""


def check_log(
    profile: Profile, source: str, end: datetime, params: DriftParams, cache: Path
) -> DriftResult:
    """The ``persistence`` windows of ``window_hours`` that end at ``end``, newest first."""
    threading.Thread(target=_preload, name="drift-preload", daemon=True).start()
    width = timedelta(hours=params.window_hours)
    count = params.persistence
    summaries = [
        WindowSummary(profile, params.current_sample, params.seed + k) for k in range(count)
    ]
    columns = [*profile.features, PROBABILITY, APPROVED, TIMESTAMP]
    for batch in read_window(source, end - count * width, end, columns, cache):
        _distribute(batch, summaries, end, width)
    windows = []
    for k, summary in enumerate(summaries):
        result = evaluate(profile, summary, params)
        result.start, result.end = end - (k + 1) * width, end - k * width
        windows.append(result)
    outcome, message = verdict(windows, params)
    return DriftResult(windows, outcome, message)


def _preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # evaluate's own import raises it where it is handled
            return


def _distribute(batch, summaries: list[WindowSummary], end: datetime, width: timedelta) -> None:
    if len(summaries) == 1:
        summaries[0].add(batch)
        return
    stamps = batch.column(TIMESTAMP).to_numpy(zero_copy_only=False)
    age = (np.datetime64(pd.Timestamp(end).tz_convert(None), "us") - stamps).astype("int64")
    index = age // int(width / timedelta(microseconds=1))
    for k, summary in enumerate(summaries):
        summary.add(batch.filter(index == k))
