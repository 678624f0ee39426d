"""The plots of base and head as PNG files: curves overlaid, confusion matrices side by side.

Each data plot dvc.yaml declares (dvclive's JSON rows) becomes one image: the ROC,
precision-recall and calibration curves of base and head on one pair of axes, so their
difference is visible at a glance; the confusion matrices as two panels, rows the actual
class and columns the predicted one, as scikit-learn draws them. Drawn with matplotlib's
object API (no pyplot state, no backend switch at import).
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
# The label `approve` (schema.py): 1 an approved application, 0 a denied one.
CLASS_NAMES = {"0": "denied", "1": "approved"}
STYLES = ("-", "--")  # base solid, head dashed: apart in grey print too


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


def y_limits(spec: PlotSpec, panels: list[Panel]) -> tuple[float, float]:
    """0..1 where the diagonal is the reference; else from the lowest y drawn up to 1, so a
    precision-recall difference of a few points is not squeezed into a sliver."""
    values = [float(r[spec.y]) for p in panels for r in p.rows or []]
    if spec.name in DIAGONAL or not values:
        return -0.02, 1.02
    low = min(min(values), 1.0)
    pad = max((1.0 - low) * 0.05, 0.005)
    return low - pad, 1.0 + pad


def _curves(ax: Axes, spec: PlotSpec, panels: list[Panel]) -> None:
    for panel, style in zip(panels, STYLES, strict=False):
        if not panel.rows:
            ax.plot([], [], linestyle=style, label=f"{panel.label}: no plot at this revision")
            continue
        xs, ys = [r[spec.x] for r in panel.rows], [r[spec.y] for r in panel.rows]
        ax.plot(xs, ys, linestyle=style, marker=".", markersize=3, label=panel.label)
    if spec.name in DIAGONAL:
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=0.8)
    ax.set(xlabel=spec.x, ylabel=spec.y, xlim=(-0.02, 1.02), ylim=y_limits(spec, panels))
    ax.legend(loc="best", fontsize="small")


def confusion_cells(
    rows: list[dict], actual: str, predicted: str
) -> tuple[list[str], list[list[int]]]:
    """Class labels and counts, row = actual class, column = predicted class (scikit-learn's
    convention), from one row per application or one per cell (with `count`)."""
    counts: Counter = Counter()
    for r in rows:
        counts[(str(r[actual]), str(r[predicted]))] += int(r.get("count", 1))
    labels = sorted({label for pair in counts for label in pair})
    return labels, [[counts[(truth, guess)] for guess in labels] for truth in labels]


def _confusion(ax: Axes, spec: PlotSpec, rows: list[dict]) -> None:
    labels, matrix = confusion_cells(rows, spec.x, spec.y)
    ax.imshow(matrix, cmap="Blues")
    darkest = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            color = "white" if count > darkest / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color)
    names = [CLASS_NAMES.get(label, label) for label in labels]
    ticks = range(len(labels))
    ax.set(xticks=ticks, yticks=ticks, xlabel=f"{spec.y} class", ylabel=f"{spec.x} class")
    ax.set_xticklabels(names)
    ax.set_yticklabels(names)


def figure(spec: PlotSpec, panels: list[Panel]) -> Figure:
    """SPEC's plot of PANELS (base, head): curves on one pair of axes, confusion matrices
    side by side."""
    if not spec.template.startswith("confusion"):
        fig = Figure(figsize=(5.5, 4.5), layout="constrained")
        _curves(fig.subplots(), spec, panels)
    else:
        fig = Figure(figsize=(4.5 * len(panels), 4), layout="constrained")
        for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
            ax.set_title(panel.label)
            if panel.rows:
                _confusion(ax, spec, panel.rows)
            else:
                ax.text(0.5, 0.5, "no plot at this revision", ha="center", va="center")
                ax.set_axis_off()
    fig.suptitle(spec.title)
    return fig


def draw(spec: PlotSpec, panels: list[Panel], out: Path) -> Path:
    """Write SPEC's plot of PANELS to OUT (a .png)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(spec, panels).savefig(out, dpi=90)
    return out
