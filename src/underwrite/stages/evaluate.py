"""Stage evaluate: quality metrics, DVC plots and fairness by protected group, via dvclive.

Every number comes with a bootstrap interval (underwrite.judgement says how): metrics.json
holds the quality metrics and each attribute's fairness gaps, fairness.json each group's
rates; the method is named in both files as "interval_method".
"""

from __future__ import annotations

import json
import logging
import math
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

from underwrite.fairness import CI_HIGH, CI_LOW, fairness_report, with_interval
from underwrite.io import read_table
from underwrite.judgement.bootstrap import Judgement, judge
from underwrite.params import EvaluateParams, load_params
from underwrite.schema import LABEL, protected_groups
from underwrite.stages import run_stage

log = logging.getLogger(__name__)

CURVE_DECIMALS = 3


def quality(y: pd.Series, proba: np.ndarray, approved: np.ndarray) -> dict[str, float]:
    """The model's quality by scikit-learn, named as the bootstrap names its intervals."""
    return {
        "roc_auc": metrics.roc_auc_score(y, proba),
        "pr_auc": metrics.average_precision_score(y, proba),
        "brier": metrics.brier_score_loss(y, proba),
        "log_loss": metrics.log_loss(y, proba),
        "accuracy": metrics.accuracy_score(y, approved),
        "balanced_accuracy": metrics.balanced_accuracy_score(y, approved),
        "f1": metrics.f1_score(y, approved),
        "tpr": metrics.recall_score(y, approved),  # approved among those approved in the data
        "fpr": 1 - metrics.recall_score(y, approved, pos_label=0),  # approved among denied
    }


def metrics_document(quality_values: dict, fairness_summary: dict, judgement: Judgement) -> dict:
    """metrics.json: each quality metric with its interval, the fairness gaps, the method."""
    document = {}
    for name, value in quality_values.items():
        document |= with_interval(name, value, judgement.estimates[name])
    return {**document, "fairness": fairness_summary, "interval_method": judgement.method}


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


PANELS = (  # one row of panels per pair of rates, one column per protected attribute
    ("Approval rate", {"observed_approval_rate": "in the data", "approval_rate": "by the model"}),
    ("Error rates", {"true_positive_rate": "TPR", "false_positive_rate": "FPR"}),
)


def fairness_figure(detail: dict) -> plt.Figure:
    """Rates per group with their intervals as error bars; group sizes in the labels."""
    attributes = [a for a in detail if isinstance(detail[a], dict) and "groups" in detail[a]]
    fig, axes = plt.subplots(
        len(PANELS), len(attributes), figsize=(5 * len(attributes), 7.5), squeeze=False
    )
    for column, attribute in enumerate(attributes):
        groups = detail[attribute]["groups"]
        labels = [f"{name}\n(n={g['applications']})" for name, g in groups.items()]
        for row, (title, rates) in enumerate(PANELS):
            ax = axes[row][column]
            _bars(ax, groups, rates, labels)
            ax.set(title=f"{title} by {attribute}", ylim=(0, 1.05), ylabel="rate")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(rates))
    fig.suptitle(f"Error bars: {detail['interval_method']}", fontsize=8)
    fig.tight_layout()
    return fig


def _bars(ax: plt.Axes, groups: dict, rates: dict[str, str], labels: list[str]) -> None:
    width = 0.8 / len(rates)
    for i, (rate, legend) in enumerate(rates.items()):
        values = np.array([g[rate] for g in groups.values()], dtype=float)
        low = np.array([g[rate + CI_LOW] for g in groups.values()], dtype=float)
        high = np.array([g[rate + CI_HIGH] for g in groups.values()], dtype=float)
        errors = np.nan_to_num(np.clip([values - low, high - values], 0, None))
        positions = np.arange(len(values)) + (i - (len(rates) - 1) / 2) * width
        ax.bar(positions, values, width, yerr=errors, capsize=3, label=legend)
    ax.set_xticks(np.arange(len(labels)), labels)


def evaluate(model_path: Path, test_path: Path, out: Path, params: EvaluateParams) -> dict:
    """Score the holdout, write metrics.json, fairness.json and the plots; return the metrics."""
    test = read_table(test_path)
    y = test[LABEL].astype(int)
    proba = joblib.load(model_path).predict_proba(test.drop(columns=[LABEL]))[:, 1]
    approved = (proba >= params.threshold).astype(int)
    groups = protected_groups(test)
    judgement = judge(
        y.to_numpy(), proba, params.threshold, groups, params.bootstrap, params.reference_groups
    )
    summary, detail = fairness_report(y, approved, groups, judgement)
    document = metrics_document(quality(y, proba, approved), summary, judgement)
    with Live(dir=str(out), dvcyaml=None, save_dvc_exp=False, report=None) as live:
        for name, value in _flat(document):
            live.log_metric(name, value, plot=False)
        log_plots(live, y, proba, approved, params.calibration_bins)
        live.log_image("fairness.png", fairness_figure(detail))
    (out / "fairness.json").write_text(json.dumps(_nan_as_text(detail), indent=2) + "\n")
    return document


def _nan_as_text(node):
    """An undefined rate (a group with no denied applications has no FPR) as "nan", the way
    dvclive writes it in metrics.json: JSON itself has no NaN."""
    if isinstance(node, dict):
        return {key: _nan_as_text(value) for key, value in node.items()}
    if isinstance(node, float) and math.isnan(node):
        return "nan"
    return node


def _flat(document: dict, prefix: str = ""):
    """(name, value) pairs with dvclive's nesting: "fairness/race/tpr_gap"."""
    for key, value in document.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value


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
