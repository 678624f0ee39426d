"""The plots of base and head side by side, as PNG files that CML can publish.

Each data plot dvc.yaml declares (dvclive's JSON rows) becomes one image with two panels,
drawn with matplotlib's object API (no pyplot state, no backend switch at import).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from underwrite.report.sources import PlotSpec

DIAGONAL = {"roc", "calibration"}  # where y = x is the reference (chance, perfect calibration)


@dataclass(frozen=True)
class Panel:
    """One side of a plot: its label (e.g. "base abc1234") and rows (None: no file there)."""

    label: str
    rows: list[dict] | None


def plot_rows(raw: bytes | None) -> list[dict] | None:
    """The rows of a dvclive plot file: a list, or a list wrapped in {name: rows}."""
    if raw is None:
        return None
    data = json.loads(raw)
    if isinstance(data, dict):
        data = next(iter(data.values()), [])
    return list(data)


def _curve(ax: Axes, spec: PlotSpec, rows: list[dict]) -> None:
    ax.plot([r[spec.x] for r in rows], [r[spec.y] for r in rows], marker=".", markersize=3)
    if spec.name in DIAGONAL:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel=spec.x, ylabel=spec.y, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))


def confusion_cells(rows: list[dict], x: str, y: str) -> tuple[list[str], list[list[int]]]:
    """Labels and counts (row: y, column: x) from one row per application or per cell."""
    counts: Counter = Counter()
    for r in rows:
        counts[(str(r[x]), str(r[y]))] += int(r.get("count", 1))
    labels = sorted({label for pair in counts for label in pair})
    return labels, [[counts[(actual, predicted)] for actual in labels] for predicted in labels]


def _confusion(ax: Axes, spec: PlotSpec, rows: list[dict]) -> None:
    labels, matrix = confusion_cells(rows, spec.x, spec.y)
    ax.imshow(matrix, cmap="Blues")
    darkest = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            color = "white" if count > darkest / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color)
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel=spec.x, ylabel=spec.y)
    ax.set_xticklabels(labels)
    ax.set_yticklabels(labels)


def draw(spec: PlotSpec, panels: list[Panel], out: Path) -> Path:
    """Write SPEC's plot for each of PANELS, side by side, to OUT (a .png)."""
    fig = Figure(figsize=(4.5 * len(panels), 4), layout="constrained")
    fig.suptitle(spec.title)
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        ax.set_title(panel.label)
        if not panel.rows:
            ax.text(0.5, 0.5, "no plot at this revision", ha="center", va="center")
            ax.set_axis_off()
        elif spec.template.startswith("confusion"):
            _confusion(ax, spec, panel.rows)
        else:
            _curve(ax, spec, panel.rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    return out
