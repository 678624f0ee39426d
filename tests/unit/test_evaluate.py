"""The evaluate stage's own computations (the stage itself runs in tests/integration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from underwrite.fairness import fairness_report
from underwrite.judgement.bootstrap import judge
from underwrite.judgement.statistics import QUALITY
from underwrite.params import BootstrapParams
from underwrite.stages.evaluate import confusion_counts, fairness_figure, metrics_document, quality


@pytest.mark.parametrize(
    ("actual", "approved", "cells"),
    [
        ([1, 1, 0, 1, 0], [1, 0, 0, 1, 1], {"00": 1, "01": 1, "10": 1, "11": 2}),
        ([1, 1, 1], [1, 1, 1], {"00": 0, "01": 0, "10": 0, "11": 3}),
    ],
    ids=["mixed", "one-cell"],
)
def test_confusion_counts_has_every_cell_with_its_count(
    actual: list[int], approved: list[int], cells: dict[str, int]
) -> None:
    counts = confusion_counts(pd.Series(actual), np.array(approved))

    assert {r["actual"] + r["predicted"]: r["count"] for r in counts} == cells
    assert len(counts) == 4


def scored(rows: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = pd.Series((rng.random(rows) < 0.8).astype(int))
    proba = np.clip(0.3 * y + 0.7 * rng.random(rows), 0, 1)
    groups = pd.DataFrame(
        {
            "race": rng.choice(["white", "black", "hispanic"], rows, p=[0.7, 0.2, 0.1]),
            "sex": rng.choice(["male", "female", "unknown"], rows, p=[0.6, 0.35, 0.05]),
        }
    )
    return y, proba, groups


FAST = BootstrapParams(resamples=200)


def documents(params: BootstrapParams = FAST):
    y, proba, groups = scored()
    approved = (proba >= 0.5).astype(int)
    judgement = judge(y.to_numpy(), proba, 0.5, groups, params)
    summary, detail = fairness_report(y, approved, groups, judgement)
    return metrics_document(quality(y, proba, approved), summary, judgement), detail


def test_quality_names_the_same_metrics_the_bootstrap_resamples():
    y, proba, _ = scored()

    assert set(quality(y, proba, (proba >= 0.5).astype(int))) == set(QUALITY)


def test_metrics_document_has_each_metric_with_its_interval_and_the_method():
    document, _ = documents()

    for name in QUALITY:
        assert document[f"{name}_ci_low"] <= document[name] <= document[f"{name}_ci_high"]
    assert set(document["fairness"]) == {"race", "sex"}
    assert document["fairness"]["race"]["tpr_gap_ci_high"] >= 0
    assert document["interval_method"].startswith("percentile bootstrap")


def test_metrics_document_intervals_follow_the_bootstrap_params():
    narrow, _ = documents(BootstrapParams(resamples=200, confidence=0.5))
    wide, _ = documents(BootstrapParams(resamples=200, confidence=0.99))

    def width(document):
        return document["roc_auc_ci_high"] - document["roc_auc_ci_low"]

    assert width(narrow) < width(wide) / 2
    assert "99% intervals" in wide["interval_method"]


def test_fairness_figure_shows_error_bars_sizes_and_a_legend_off_the_bars():
    _, detail = documents()

    figure = fairness_figure(detail)

    approval_by_race = figure.axes[0]
    labels = [tick.get_text() for tick in approval_by_race.get_xticklabels()]
    sizes = {name: group["applications"] for name, group in detail["race"]["groups"].items()}
    assert labels == [f"{name}\n(n={size})" for name, size in sizes.items()]
    bars = [c for c in approval_by_race.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2  # observed and model approval rates
    assert all(c.errorbar is not None for c in bars)
    figure.canvas.draw()
    legend = approval_by_race.get_legend().get_window_extent()
    assert legend.y1 <= approval_by_race.get_window_extent().y0  # below the axes
    assert len(figure.axes) == 4  # approval rates and error rates, for race and for sex
