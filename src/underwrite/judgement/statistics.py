"""Every evaluation statistic, for many resamples at once.

Each function takes ``weights``, an array of resamples x cells holding how many times each
cell was drawn, and returns one value per resample. At the observed counts (``observed``)
they equal scikit-learn's and fairlearn's numbers (tests/unit/test_bootstrap.py checks).
"""

from __future__ import annotations

import warnings

import numpy as np

from underwrite.judgement.cells import Cells

FOUR_FIFTHS = 0.8  # adverse impact ratios below this are flagged (the four-fifths convention)
QUALITY = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "tpr",
    "fpr",
)
GROUP_RATES = (
    "applications",
    "observed_approval_rate",
    "approval_rate",
    "true_positive_rate",
    "false_positive_rate",
)
GAPS = {
    "approval_rate_gap": "approval_rate",
    "tpr_gap": "true_positive_rate",
    "fpr_gap": "false_positive_rate",
    "observed_approval_rate_gap": "observed_approval_rate",
}
AIR = "adverse_impact_ratio"  # the lowest group's ratio to the reference group
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "fpr", *GAPS})
HIGHER_IS_BETTER = frozenset(
    {"roc_auc", "pr_auc", "accuracy", "balanced_accuracy", "f1", "tpr", AIR}
)


def direction(name: str) -> int | None:
    """+1 when a higher value of statistic NAME (e.g. "race.tpr_gap") is better, -1 when a
    lower one is, None for a statistic that is neither (a group's size or its rates)."""
    if ".groups." in name:
        return None
    leaf = name.rsplit(".", 1)[-1]
    if leaf in HIGHER_IS_BETTER:
        return 1
    return -1 if leaf in LOWER_IS_BETTER else None


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


def quality(weights: np.ndarray, cells: Cells, model: int = 0) -> dict[str, np.ndarray]:
    """Discrimination, calibration and decisions at the threshold, per resample."""
    y, p, d = cells.label, cells.scores[model], cells.approved[model]
    clipped = np.clip(p, np.finfo(p.dtype).eps, 1 - np.finfo(p.dtype).eps)
    losses = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    parts = np.column_stack([np.ones_like(y), y, y * d, (1 - y) * d, (y - p) ** 2, losses])
    n, positives, tp, fp, squared_errors, log_losses = (weights @ parts).T  # one pass
    negatives = n - positives
    tpr, fpr = _ratio(tp, positives), _ratio(fp, negatives)
    by_score = _by_score(weights, y, p)
    return {
        "roc_auc": roc_auc(*by_score, positives, negatives),
        "pr_auc": average_precision(*by_score, positives),
        "brier": _ratio(squared_errors, n),
        "log_loss": _ratio(log_losses, n),
        "accuracy": _ratio(tp + negatives - fp, n),
        "balanced_accuracy": (tpr + 1 - fpr) / 2,
        "f1": _ratio(2 * tp, tp + positives + fp),
        "tpr": tpr,
        "fpr": fpr,
    }


def _by_score(weights: np.ndarray, y: np.ndarray, p: np.ndarray):
    """Approved and denied weight per distinct score, scores ascending."""
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    drawn = weights[:, order]
    positive = np.add.reduceat(drawn * y[order], starts, axis=1)
    negative = np.add.reduceat(drawn * (1 - y[order]), starts, axis=1)
    return positive, negative


def roc_auc(positive, negative, positives, negatives) -> np.ndarray:
    """P(score of an approved > score of a denied), ties counting half."""
    below = np.cumsum(negative, axis=1) - negative
    return _ratio((positive * (below + 0.5 * negative)).sum(axis=1), positives * negatives)


def average_precision(positive, negative, positives) -> np.ndarray:
    """Precision at each distinct threshold, weighted by the recall it adds."""
    tp = np.cumsum(positive[:, ::-1], axis=1)
    fp = np.cumsum(negative[:, ::-1], axis=1)
    precision = _ratio(tp, tp + fp)
    added = np.where(positive[:, ::-1] > 0, positive[:, ::-1] * np.nan_to_num(precision), 0)
    return _ratio(added.sum(axis=1), positives)


def group_rates(
    weights: np.ndarray, cells: Cells, attribute: str, model: int = 0
) -> dict[str, dict[str, np.ndarray]]:
    """Per group of one attribute: its size, observed and model approval rates, TPR, FPR."""
    y, d = cells.label, cells.approved[model]
    names = cells.names[attribute]
    member = cells.groups[attribute][:, np.newaxis] == np.arange(len(names))
    # one pass over the resamples for every group: sizes, approved in the data, approved by
    # the model, and both
    parts = np.hstack([member, member * y[:, None], member * d[:, None], member * (y * d)[:, None]])
    size, deserving, approved, tp = np.split(weights @ parts.astype("float64"), 4, axis=1)
    return {
        name: {
            "applications": size[:, i],
            "observed_approval_rate": _ratio(deserving[:, i], size[:, i]),
            "approval_rate": _ratio(approved[:, i], size[:, i]),
            "true_positive_rate": _ratio(tp[:, i], deserving[:, i]),
            "false_positive_rate": _ratio(approved[:, i] - tp[:, i], size[:, i] - deserving[:, i]),
        }
        for i, name in enumerate(names)
    }


def reference_group(rates: dict[str, dict[str, np.ndarray]], declared: str | None) -> str:
    """The group adverse impact ratios are taken against: the declared one, else the most
    approved (decided once, on the observed data, and kept for every resample)."""
    if declared is not None:
        if declared not in rates:
            raise ValueError(
                f"reference group {declared!r} is not in the data (groups: "
                f"{', '.join(sorted(rates))}); declare one of them or none"
            )
        return declared
    return max(rates, key=lambda name: float(rates[name]["approval_rate"][0]))


def gaps(rates: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Best minus worst group, per rate (groups where a rate is undefined are left out)."""
    result = {}
    for gap, rate in GAPS.items():
        values = np.column_stack([group[rate] for group in rates.values()])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no group defined: nan, as meant
            result[gap] = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    return result


def impact_ratios(rates: dict[str, dict[str, np.ndarray]], reference: str) -> dict[str, np.ndarray]:
    """Each group's approval rate over the reference group's."""
    base = rates[reference]["approval_rate"]
    return {name: _ratio(group["approval_rate"], base) for name, group in rates.items()}


def lowest_ratio(ratios: dict[str, np.ndarray], reference: str) -> np.ndarray:
    others = [ratio for name, ratio in ratios.items() if name != reference]
    if not others:
        return np.ones_like(ratios[reference])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no group defined: nan, as meant
        return np.nanmin(np.column_stack(others), axis=1)
