"""Fixtures of the drift tests: the world (data, model, profile), logs on disk, a repo copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drift_support import END, LogWriter, World, build_world
from threadpoolctl import threadpool_limits

from underwrite.drift.simulate import log_records, request_ids, timestamps, write_log


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Math libraries single-threaded: on 2 shared cores their thread pools only contend."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def world() -> World:
    return build_world()


@pytest.fixture(scope="session")
def profile_path(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profile") / "profile.json"
    world.profile.save(path)
    return path


@pytest.fixture
def write_frame_log(tmp_path: Path) -> LogWriter:
    """Writes a scored frame as an inference log folder, spread over days before END."""

    def write(
        frame: pd.DataFrame,
        days: float = 6.0,
        folder: str = "log",
        seed: int = 0,
        end: datetime = END,
    ) -> Path:
        rng = np.random.default_rng(seed)
        stamps = timestamps(len(frame), end - timedelta(minutes=1), days, rng)
        records = log_records(frame, stamps, "test:1", "0" * 32, request_ids(len(frame), rng))
        write_log(records, tmp_path / folder, f"test-{seed}")
        return tmp_path / folder

    return write
