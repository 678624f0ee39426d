"""What the report reads: git revisions, `dvc ... --json` answers, and the map in dvc.yaml.

Every path the report needs (metrics, plots, the raw data, the validation report) comes
from dvc.yaml, so a path changed there is followed here without an edit.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

INGEST_STAGE = "ingest"  # its output is the data version: the raw applications
VALIDATE_STAGE = "validate"  # its outputs and metrics are the data validation report
EVALUATE_STAGE = "evaluate"  # its first metrics file is the model's: what the gate judges
TIMEOUT = 300


class ReportError(Exception):
    """The report cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class Repo:
    """A git + DVC repository: runs git and the dvc of this Python in ROOT."""

    root: Path

    def _run(self, command: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
        try:
            return subprocess.run(
                command, cwd=self.root, capture_output=True, timeout=TIMEOUT, env=env
            )
        except subprocess.TimeoutExpired as err:
            raise ReportError(f"`{what}` took more than {TIMEOUT}s in {self.root}") from err

    def git(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return self._run(["git", *args], "git " + " ".join(args))

    def dvc_json(self, *args: str) -> Any:
        """The JSON a `dvc ARGS --json` prints; ReportError with dvc's message on failure."""
        what = "dvc " + " ".join(args)
        done = self._run([sys.executable, "-m", "dvc", *args, "--json"], what)
        if done.returncode != 0:
            raise ReportError(f"`{what}` failed in {self.root}: {_text(done.stderr)}")
        out = _text(done.stdout)
        return json.loads(out) if out else {}

    def resolve(self, rev: str) -> str:
        """The full commit id of REV, or a ReportError that says how to make it exist."""
        if not rev.strip() or rev.startswith("-"):
            raise ReportError(f"base revision {rev!r} is not a revision name")
        done = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if done.returncode != 0:
            raise ReportError(
                f"base revision {rev!r} does not exist in {self.root}: fetch it first "
                "(`git fetch origin <branch>`; in CI check out with fetch-depth: 0)"
            )
        return _text(done.stdout)

    def show(self, rev: str, path: str) -> bytes | None:
        """The content of PATH at REV, or None when REV has no such file."""
        done = self.git("show", f"{rev}:{path}")
        return done.stdout if done.returncode == 0 else None

    def read(self, path: str) -> bytes | None:
        """The content of PATH in the workspace, or None when it does not exist."""
        file = self.root / path
        return file.read_bytes() if file.is_file() else None

    def short(self, rev: str) -> str:
        return _text(self.git("rev-parse", "--short", rev).stdout) or rev[:8]


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace").strip()


@dataclass(frozen=True)
class PlotSpec:
    """One data plot declared in dvc.yaml: its file and what DVC draws from it."""

    path: str
    x: str
    y: str
    title: str
    template: str = "simple"

    @property
    def name(self) -> str:
        return Path(self.path).stem


@dataclass(frozen=True)
class Layout:
    """The files of the pipeline the report reads, as dvc.yaml declares them."""

    stages: list[str]
    plots: list[PlotSpec] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    data: str | None = None
    validation: list[str] = field(default_factory=list)
    model_metrics: str | None = None

    @property
    def validation_json(self) -> str | None:
        return next((p for p in self.validation if p.endswith(".json")), None)

    @property
    def validation_md(self) -> str | None:
        return next((p for p in self.validation if p.endswith(".md")), None)


def _entries(items: list[Any]) -> list[tuple[str, dict]]:
    """dvc.yaml's outs/plots lists: each item a path, or {path: {options}}."""
    pairs = []
    for item in items or []:
        if isinstance(item, str):
            pairs.append((item, {}))
        else:
            pairs += [(path, options or {}) for path, options in item.items()]
    return pairs


def read_layout(root: Path) -> Layout:
    """Stages, plots, images, raw data and validation report, from ROOT/dvc.yaml."""
    path = root / "dvc.yaml"
    if not path.is_file():
        raise ReportError(f"{path}: no such file; run the report from the repository root")
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
    plots, images = [], []
    for stage in stages.values():
        for file, options in _entries(stage.get("plots", [])):
            if file.endswith(".json"):
                plots.append(_plot(file, options))
            elif file.endswith(".png"):
                images.append(file)
    first = _files(stages, INGEST_STAGE, "outs")
    model_metrics = _files(stages, EVALUATE_STAGE, "metrics")
    return Layout(
        stages=list(stages),
        plots=plots,
        images=images,
        data=first[0] if first else None,
        validation=_files(stages, VALIDATE_STAGE, "outs")
        + _files(stages, VALIDATE_STAGE, "metrics"),
        model_metrics=model_metrics[0] if model_metrics else None,
    )


def _files(stages: dict, stage: str, kind: str) -> list[str]:
    return [file for file, _ in _entries(stages.get(stage, {}).get(kind, []))]


def _plot(path: str, options: dict) -> PlotSpec:
    return PlotSpec(
        path=path,
        x=options.get("x", "x"),
        y=options.get("y", "y"),
        title=options.get("title", Path(path).stem),
        template=options.get("template", "simple"),
    )
