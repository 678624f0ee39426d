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


def estimate(entry: Any) -> str:
    """A number, with its interval when the file carries one ({value, ci_low, ci_high})."""
    if isinstance(entry, dict) and "value" in entry:
        text = f"{entry['value']:.3f}"
        if entry.get("ci_low") is not None and entry.get("ci_high") is not None:
            text += f" [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"
        return text
    return f"{entry:.3f}" if isinstance(entry, int | float) else str(entry)


def metric_lines(metrics: dict) -> list[str]:
    shown = [name for name in HEADLINE if name in metrics]
    return [f"  {name:<18} {estimate(metrics[name])}" for name in shown]


def fairness_lines(fairness: dict) -> list[str]:
    lines = []
    for attribute, parts in fairness.items():
        if not isinstance(parts, dict) or "gaps" not in parts:
            continue
        gaps = parts["gaps"]
        if "approval_rate_gap" in gaps:
            gap = estimate(gaps["approval_rate_gap"])
            lines.append(f"  {attribute + ' approval-rate gap':<18} {gap}")
    return lines


def summary(evaluation: Path = EVALUATION) -> str:
    """The summary text; a missing file is said, not an error (the pipeline may have failed)."""
    metrics_file, fairness_file = evaluation / "metrics.json", evaluation / "fairness.json"
    if not metrics_file.is_file():
        return f"{metrics_file} is missing: did `dvc repro` finish?"
    lines = ["", "model (held-out applications; 95% bootstrap intervals where shown):"]
    lines += metric_lines(json.loads(metrics_file.read_text()))
    if fairness_file.is_file():
        lines += fairness_lines(json.loads(fairness_file.read_text()))
    lines += [
        f"plots: {evaluation / 'plots'} (`uv run dvc plots show` renders them)",
        f"fairness by group: {fairness_file}",
        "",
        NEXT,
    ]
    return "\n".join(lines)
