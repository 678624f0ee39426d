"""Stage evaluate: quality metrics, DVC plots and fairness by protected group, via dvclive."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import joblib
import matplotlib

matplotlib.use("Agg")  # headless: figures go to files
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import typer
from dvclive import Live
from sklearn import metrics

from underwrite.fairness import fairness_report
from underwrite.io import read_table
from underwrite.params import EvaluateParams, load_params
from underwrite.schema import LABEL, protected_groups
from underwrite.stages import run_stage

log = logging.getLogger(__name__)

CURVE_DECIMALS = 3


def quality(y: pd.Series, proba: np.ndarray, approved: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": metrics.roc_auc_score(y, proba),
        "pr_auc": metrics.average_precision_score(y, proba),
        "accuracy": metrics.accuracy_score(y, approved),
        "f1": metrics.f1_score(y, approved),
        "brier": metrics.brier_score_loss(y, proba),
        "log_loss": metrics.log_loss(y, proba),
    }


def confusion_counts(y: pd.Series, approved: np.ndarray) -> list[dict]:
    """How many applications fall in each (actual, predicted) cell, zero cells included."""
    counts = np.bincount(2 * np.asarray(y, dtype=int) + approved, minlength=4)
    return [
        {
            "actual": str(actual),
            "predicted": str(predicted),
            "count": int(counts[2 * actual + predicted]),
        }
        for actual in (0, 1)
        for predicted in (0, 1)
    ]


def log_plots(live: Live, y: pd.Series, proba: np.ndarray, approved: np.ndarray, bins: int):
    # Curves from probabilities on a grid of CURVE_DECIMALS: at most 1,001 thresholds, so
    # the files stay small at any number of applications (the metrics use exact values).
    curve = np.round(proba, CURVE_DECIMALS)
    live.log_sklearn_plot("roc", y, curve, name="roc.json", drop_intermediate=True)
    live.log_sklearn_plot(
        "precision_recall", y, curve, name="precision_recall.json", drop_intermediate=True
    )
    # Counts, not dvclive's one entry per application: four rows at any number of
    # applications (.dvc/plots/confusion_counts.json sums the count field).
    live.log_plot(
        "confusion_matrix",
        confusion_counts(y, approved),
        x="actual",
        y="predicted",
        template="confusion_counts",
        title="Confusion matrix",
    )
    live.log_sklearn_plot("calibration", y, proba, name="calibration.json", n_bins=bins)


def fairness_figure(report: dict) -> plt.Figure:
    """Observed vs model approval rate per group, one panel per protected grouping."""
    fig, axes = plt.subplots(1, len(report), figsize=(5 * len(report), 3.5), squeeze=False)
    for ax, (grouping, result) in zip(axes[0], report.items(), strict=True):
        table = pd.DataFrame(result["groups"]).T
        table[["observed_approval_rate", "approval_rate"]].plot.bar(ax=ax, rot=0)
        ax.set(title=f"Approval rate by {grouping}", ylim=(0, 1), xlabel="", ylabel="rate")
        ax.legend(["in the data", "by the model"], loc="lower right")
    fig.tight_layout()
    return fig


def evaluate(model_path: Path, test_path: Path, out: Path, params: EvaluateParams) -> dict:
    test = read_table(test_path)
    y = test[LABEL].astype(int)
    proba = joblib.load(model_path).predict_proba(test.drop(columns=[LABEL]))[:, 1]
    approved = (proba >= params.threshold).astype(int)
    fairness = fairness_report(y, approved, protected_groups(test))
    with Live(dir=str(out), dvcyaml=None, save_dvc_exp=False, report=None) as live:
        for name, value in quality(y, proba, approved).items():
            live.log_metric(name, round(float(value), 6), plot=False)
        for grouping, result in fairness.items():
            for name, value in result["gaps"].items():
                live.log_metric(f"fairness/{grouping}/{name}", round(value, 6), plot=False)
        log_plots(live, y, proba, approved, params.calibration_bins)
        live.log_image("fairness.png", fairness_figure(fairness))
    (out / "fairness.json").write_text(json.dumps(fairness, indent=2) + "\n")
    return fairness


def main(
    model: Path = typer.Option(..., help="the fitted Pipeline written by train"),
    data: Path = typer.Option(..., help="test.parquet written by prepare"),
    out: Path = typer.Option(..., help="folder for metrics.json, plots and fairness.json"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    evaluate(model, data, out, load_params(params).evaluate)
    log.info("evaluation written to %s", out)


if __name__ == "__main__":
    run_stage(main)
