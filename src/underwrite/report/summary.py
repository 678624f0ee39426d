"""What `make run` ends with: the headline numbers, where to look next, what to try."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADLINE = ("roc_auc", "pr_auc", "brier", "balanced_accuracy")
EVALUATION = Path("reports/evaluate")

NEXT = """\
next:
  make serve                        the model behind an HTTP API (README: example requests)
  make test-fast                    the unit tests, in seconds
  uv run dvc exp run -S train.hist_gradient_boosting.learning_rate=0.1
                                    an experiment; `uv run dvc exp show --only-changed` compares
  git checkout . && uv run dvc checkout
                                    back to the committed state after an experiment"""


def estimate(values: dict[str, Any], name: str) -> str:
    """`name`'s value, with its interval when the file has `<name>_ci_low` and `_ci_high`."""
    text = f"{values[name]:.3f}"
    low, high = values.get(f"{name}_ci_low"), values.get(f"{name}_ci_high")
    if low is not None and high is not None:
        text += f" [{low:.3f}, {high:.3f}]"
    return text


def metric_lines(metrics: dict) -> list[str]:
    shown = [name for name in HEADLINE if name in metrics]
    return [f"  {name:<28} {estimate(metrics, name)}" for name in shown]


def fairness_lines(metrics: dict) -> list[str]:
    lines = []
    for attribute, values in (metrics.get("fairness") or {}).items():
        for name in ("approval_rate_gap", "adverse_impact_ratio"):
            if name in values:
                label = f"{attribute} {name.replace('_', ' ')}"
                lines.append(f"  {label:<28} {estimate(values, name)}")
    return lines


def summary(evaluation: Path = EVALUATION) -> str:
    """The summary text; a missing file is said, not an error (the pipeline may have failed)."""
    metrics_file, fairness_file = evaluation / "metrics.json", evaluation / "fairness.json"
    if not metrics_file.is_file():
        return f"{metrics_file} is missing: did `dvc repro` finish?"
    metrics = json.loads(metrics_file.read_text())
    method = metrics.get("interval_method", "")
    lines = ["", f"model, on the held-out applications ({method or 'point estimates'}):"]
    lines += metric_lines(metrics) + fairness_lines(metrics)
    lines += [
        f"plots: {evaluation / 'plots'} (`uv run dvc plots show` renders them)",
        f"fairness by group: {fairness_file}",
        "",
        NEXT,
    ]
    return "\n".join(lines)
