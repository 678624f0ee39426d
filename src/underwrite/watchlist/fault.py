"""The demo's fault on the watch list: an application production gets wrong until the fix.

The faulty model is trained the way the demo makes its faulty revision: a copy of the
project's src/ with underwrite.demo.scratch's patch (666 taken out of appinc's sentinels, so
an unknown income reads as $666k a year), then the train stage on the training split with the
project's params. The fixed model is the same training on the project's src/ as it is. Each
trains in a child process (`python -m underwrite.stages.train`) that imports its own schema.

The unknown-income case is a real application whose income was recorded as 666 and that the
bank denied: the one the faulty model approves and the fixed model denies, both by the widest
margin from the threshold.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from underwrite.schema import LABEL
from underwrite.watchlist import UNKNOWN_INCOME, Case, WatchlistError, generate, to_frame

CASE_NAME = "income-666-unknown"
EXPECT = "denied"
MARGIN = 0.1  # how far from the threshold both decisions must be: not a coin flip
TRAIN_TIMEOUT = 600.0  # seconds; one training takes a few on this data


@dataclass(frozen=True)
class Models:
    faulty: Any  # reads 666 as an income of $666k
    fixed: Any  # reads 666 as unknown


@dataclass(frozen=True)
class Scores:
    """The unknown-income case scored by both models."""

    faulty: float
    fixed: float
    threshold: float

    def lead(self) -> float:
        """How far both decisions are from the threshold: the smaller of the two distances,
        negative when the faulty model does not approve or the fixed one does not deny."""
        return min(self.faulty - self.threshold, self.threshold - self.fixed)


# ---- the two models ----------------------------------------------------------------------
def train_models(project: Path, train: Path, params: Path) -> Models:
    """The faulty and the fixed model, trained from PROJECT's src/ on TRAIN with PARAMS."""
    from underwrite.demo import scratch

    with tempfile.TemporaryDirectory(prefix="underwrite-watchlist-") as folder:
        models = {}
        for name, patch in (("faulty", scratch.without_unknown_income), ("fixed", None)):
            copy = Path(folder) / name
            shutil.copytree(project / "src", copy / "src",
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
            if patch is not None and not scratch.edit_schema(copy, patch):
                raise WatchlistError(
                    f"{project / scratch.SCHEMA}: appinc does not declare {UNKNOWN_INCOME} an "
                    "unknown code, so the faulty and the fixed model would be the same; add "
                    f"{UNKNOWN_INCOME} to the sentinels= of its Column"
                )
            models[name] = _train(name, copy, train, params)
    return Models(**models)


def _train(name: str, copy: Path, train: Path, params: Path) -> Any:
    import joblib

    out = copy / "model.joblib"
    command = [sys.executable, "-m", "underwrite.stages.train", "--data", str(train.resolve()),
               "--out", str(out), "--params", str(params.resolve())]  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(copy / "src")}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TRAIN_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise WatchlistError(f"training the {name} model failed:\n{done.stderr.strip()[-2000:]}")
    return joblib.load(out)


# ---- finding the case --------------------------------------------------------------------
def unknown_income_case(
    splits: dict[str, pd.DataFrame], models: Models, threshold: float, margin: float = MARGIN
) -> Case:
    """The denied application with income 666 that the faulty model approves and the fixed
    one denies, both at least MARGIN from THRESHOLD (the widest such lead wins).
    SPLITS names each frame ("training", "held-out") for the case's why."""
    candidates = [
        (split, row, score(Case("", "", generate.request(row)), models, threshold))
        for split, frame in splits.items()
        for _, row in frame[(frame["appinc"] == UNKNOWN_INCOME) & (frame[LABEL] == 0)].iterrows()
    ]
    if not candidates:
        raise WatchlistError(f"the data has no denied application with appinc {UNKNOWN_INCOME}")
    split, row, best = max(candidates, key=lambda c: c[2].lead())
    if best.lead() < margin:
        raise WatchlistError(
            f"no denied application with income {UNKNOWN_INCOME} is approved by the faulty model "
            f"and denied by the fixed one, both {margin} or more from the threshold {threshold} "
            f"(the closest: faulty p={best.faulty:.3f}, fixed p={best.fixed:.3f}); "
            "give a smaller --margin or see how the fixed model treats an unknown income"
        )
    return Case(CASE_NAME, why(row, split, best), generate.request(row), EXPECT)


def why(row: pd.Series, split: str, scores: Scores) -> str:
    monthly = float(row["atotinc"])
    return (
        f"a real application ({split} split) whose applicant income was recorded as "
        f"{UNKNOWN_INCOME}, HMDA's code for unknown; the applicant's total monthly income "
        f"(atotinc) is ${monthly:,.0f}, about ${monthly * 12 / 1000:.0f}k a year, and the bank "
        f"denied it. A model that reads {UNKNOWN_INCOME} as ${UNKNOWN_INCOME}k a year approves "
        f"it (p={scores.faulty:.3f}), the fixed model denies it (p={scores.fixed:.3f}); "
        "`python -m underwrite.watchlist check` measures both again"
    )


def score(case: Case, models: Models, threshold: float) -> Scores:
    frame = to_frame([case])
    faulty, fixed = (float(m.predict_proba(frame)[0, 1]) for m in (models.faulty, models.fixed))
    return Scores(faulty, fixed, threshold)


# ---- checking the committed case ---------------------------------------------------------
def problems(case: Case, scores: Scores, margin: float = MARGIN) -> list[str]:
    """Why CASE does not show the fault (empty: the faulty model approves it and the fixed
    one denies it, both at least MARGIN from the threshold, and it expects a denial)."""
    t = scores.threshold
    found = []
    if case.application.get("appinc") != UNKNOWN_INCOME:
        found.append(f"its appinc is {case.application.get('appinc')}, not {UNKNOWN_INCOME}")
    if case.expect != EXPECT:
        found.append(f"it expects {case.expect or 'nothing'}, not {EXPECT}")
    if scores.faulty < t + margin:
        found.append(f"the faulty model gives p={scores.faulty:.3f}, not {t + margin:.2f} or more")
    if scores.fixed > t - margin:
        found.append(f"the fixed model gives p={scores.fixed:.3f}, not {t - margin:.2f} or less")
    return found
