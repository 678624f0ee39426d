"""Fairness by protected group, with fairlearn: approval rates, their gap, and the TPR gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate

from underwrite.schema import GROUPS

UNKNOWN = "unknown"


def _applications(y_true, y_pred, sample_weight) -> int:
    return int(np.sum(sample_weight))


def _observed_approval_rate(y_true, y_pred, sample_weight) -> float:
    return float(np.average(y_true, weights=sample_weight))


METRICS = {
    "applications": _applications,
    "observed_approval_rate": _observed_approval_rate,
    "approval_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
}


def group_table(y_true: pd.Series, approved: np.ndarray, groups: pd.Series) -> pd.DataFrame:
    """Per group: applications, observed approval rate, model approval rate, model TPR.

    fairlearn gets one row per (outcome, decision, group) weighted by how many applications
    share it: the same rates as one row per application, but MetricFrame, which handles
    each row's values one by one, sees at most a few rows per group instead of millions.
    """
    known = (groups != UNKNOWN).to_numpy()
    cells = pd.DataFrame(
        {
            "y": y_true.to_numpy()[known],
            "approved": np.asarray(approved)[known],
            "group": groups.to_numpy()[known],
        }
    )
    cells = cells.value_counts(sort=False).reset_index(name="count")
    weight = {"sample_weight": cells["count"].to_numpy()}
    frame = MetricFrame(
        metrics=METRICS,
        y_true=cells["y"].to_numpy(),
        y_pred=cells["approved"].to_numpy(),
        sensitive_features=cells["group"].to_numpy(),
        sample_params={name: weight for name in METRICS},
    )
    return frame.by_group


def gaps(table: pd.DataFrame) -> dict[str, float]:
    """The fairness metrics that gates look at: differences between best and worst group."""
    rate, tpr = table["approval_rate"], table["true_positive_rate"]
    observed = table["observed_approval_rate"]
    values = {
        "approval_rate_gap": rate.max() - rate.min(),
        "approval_rate_ratio": rate.min() / rate.max() if rate.max() > 0 else 1.0,
        "tpr_gap": tpr.max() - tpr.min(),
        "observed_approval_rate_gap": observed.max() - observed.min(),
    }
    return {name: round(float(value), 6) for name, value in values.items()}


def fairness_report(
    y_true: pd.Series, approved: np.ndarray, groups: pd.DataFrame
) -> dict[str, dict]:
    """For each protected grouping (race, sex): the per-group table and the gaps."""
    report = {}
    for grouping in GROUPS:
        table = group_table(y_true, approved, groups[grouping])
        report[grouping] = {
            "gaps": gaps(table),
            "groups": {
                str(name): {k: _plain(k, v) for k, v in row.items()}
                for name, row in table.iterrows()
            },
        }
    return report


def _plain(metric: str, value) -> float | int:
    return int(value) if metric == "applications" else round(float(value), 6)
