"""What a report holds: the two sides compared and everything the Markdown shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from underwrite.gate import Verdict
from underwrite.params import GateParams
from underwrite.report import compare, lock, repro_log

if TYPE_CHECKING:
    from underwrite.watchlist import Comparison


@dataclass(frozen=True)
class Side:
    """Base or head: its revision, metrics (None: none there) and data version."""

    name: str
    rev: str
    metrics: dict | None
    data_md5: str | None

    @property
    def label(self) -> str:
        return f"{self.name} {self.rev}"


@dataclass
class Report:
    """Everything the Markdown shows; paths of images are relative to the report's folder."""

    base: Side
    head: Side
    params: list[compare.ParamChange]
    metrics: list[compare.MetricRow]  # the model's metrics file: what the gate judges
    other_metrics: list[compare.MetricRow]  # every other metrics file in dvc.yaml
    gate: GateParams
    verdict: Verdict | None
    stale: list[str]
    validation: compare.Validation | None
    stages: dict[str, repro_log.Outcome] | None = None
    figures: list[tuple[str, str]] = field(default_factory=list)
    images: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    drift: list[lock.Drift] | None = None  # None: not checked
    watchlist: Comparison | None = None  # None: the repository has no watch list
