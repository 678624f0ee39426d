"""Fairness by protected group: rates by fairlearn, their gaps and adverse impact ratios.

The point values come from fairlearn's MetricFrame; their intervals from the evaluation's
bootstrap (underwrite.judgement), which resamples the same statistics under the same names.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from underwrite.judgement.bootstrap import Estimate, Judgement
from underwrite.judgement.cells import UNKNOWN
from underwrite.judgement.statistics import AIR, FOUR_FIFTHS, GAPS
from underwrite.schema import GROUPS

DECIMALS = 6
CI_LOW, CI_HIGH = "_ci_low", "_ci_high"  # suffixes: roc_auc, roc_auc_ci_low, roc_auc_ci_high


def _applications(y_true, y_pred, sample_weight) -> int:
    return int(np.sum(sample_weight))


def _observed_approval_rate(y_true, y_pred, sample_weight) -> float:
    return float(np.average(y_true, weights=sample_weight))


METRICS = {
    "applications": _applications,
    "observed_approval_rate": _observed_approval_rate,
    "approval_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
}


def group_table(y_true: pd.Series, approved: np.ndarray, groups: pd.Series) -> pd.DataFrame:
    """Per group: applications, observed and model approval rates, model TPR and FPR.

    fairlearn gets one row per (outcome, decision, group) weighted by how many applications
    share it: the same rates as one row per application, but MetricFrame, which handles
    each row's values one by one, sees at most a few rows per group instead of millions.
    """
    known = (groups != UNKNOWN).to_numpy()
    cells = pd.DataFrame(
        {
            "y": np.asarray(y_true)[known],
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
    """Best minus worst group, per rate (a group where the rate is undefined is left out)."""
    return {gap: float(table[rate].max() - table[rate].min()) for gap, rate in GAPS.items()}


def impact_ratios(table: pd.DataFrame, reference: str) -> pd.Series:
    """Each group's approval rate over the reference group's (the adverse impact ratio)."""
    return table["approval_rate"] / table.loc[reference, "approval_rate"]


def with_interval(name: str, value: float | int, estimate: Estimate) -> dict:
    """A value and its interval under names `dvc metrics diff` shows side by side."""
    return {
        name: int(value) if isinstance(value, int | np.integer) else plain(value),
        name + CI_LOW: plain(estimate.ci_low),
        name + CI_HIGH: plain(estimate.ci_high),
    }


def plain(value: float) -> float:
    """Rounded for the metrics files; nan stays nan (dvclive writes it as "nan")."""
    value = float(value)
    return value if math.isnan(value) else round(value, DECIMALS)


def attribute_report(
    table: pd.DataFrame, judgement: Judgement, attribute: str
) -> tuple[dict, dict]:
    """One attribute's gaps and lowest ratio (for metrics.json) and its groups (fairness.json)."""
    reference = judgement.references[attribute]
    ratios = impact_ratios(table, reference)
    others = ratios.drop(reference)
    summary = {}
    for name, value in {**gaps(table), AIR: others.min() if len(others) else 1.0}.items():
        summary |= with_interval(name, value, judgement.estimates[f"{attribute}.{name}"])
    groups = {}
    for group, row in table.iterrows():
        values = {**row.to_dict(), AIR: ratios[group]}
        values["applications"] = int(values["applications"])
        entry = {}
        for name, value in values.items():
            estimate = judgement.estimates[f"{attribute}.groups.{group}.{name}"]
            entry |= with_interval(name, value, estimate)
        entry["below_four_fifths"] = bool(ratios[group] < FOUR_FIFTHS)
        groups[str(group)] = entry
    return summary, {"reference_group": reference, "groups": groups}


def fairness_report(
    y_true: pd.Series, approved: np.ndarray, groups: pd.DataFrame, judgement: Judgement
) -> tuple[dict, dict]:
    """Per protected attribute (race, sex): the gaps, and each group's rates, with intervals.

    Returns what metrics.json shows under "fairness" (what the gate judges) and what
    fairness.json holds (each group's rates and adverse impact ratio): each number once.
    """
    summary, detail = {}, {"interval_method": judgement.method}
    for attribute in GROUPS:
        table = group_table(y_true, approved, groups[attribute])
        summary[attribute], detail[attribute] = attribute_report(table, judgement, attribute)
    return summary, detail
