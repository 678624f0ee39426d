"""Proxy analysis: how well the model's inputs predict each protected attribute.

A model that never sees race can still decide by race when its inputs predict race. For each
protected attribute this measures the ROC AUC with which all the model's features together,
and each candidate column alone, predict it: cross-validated, seeded, on the training split.
0.5 means the inputs carry nothing of the attribute; 1.0 that they reveal it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from underwrite.model import preprocessor
from underwrite.schema import Column, Role, columns_with

# Each protected attribute as a 0/1 target (NaN where the data does not record it).
TARGETS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "non_white": lambda f: 1 - f["white"],
    "black": lambda f: f["black"],
    "hispanic": lambda f: f["hispan"],
    "female": lambda f: 1 - f["male"],
    "married": lambda f: f["married"],
    "old": lambda f: f["old"],
    "has_dependants": lambda f: (f["dep"] > 0).astype(float).where(f["dep"].notna()),
}
DECIMALS = 4
BINS = 16  # quantile bins of one column alone


def candidate_columns() -> tuple[Column, ...]:
    """The columns whose proxy strength is measured one by one: every feature, and every
    column the policy excludes as a proxy or a judgement."""
    return columns_with([Role.FEATURE, Role.EXCLUDED])


def proxy_model(columns: Sequence[Column], seed: int) -> Pipeline:
    """An unconstrained gradient-boosting classifier over COLUMNS' raw fields: flexible
    enough to find a non-linear proxy, small enough to fit hundreds of times."""
    plain = [replace(c, monotone=0) for c in columns]
    booster = HistGradientBoostingClassifier(
        learning_rate=0.1, max_iter=60, max_depth=3, early_stopping=False, random_state=seed
    )
    return Pipeline([("preprocess", preprocessor(plain, trees=True)), ("classifier", booster)])


def binned_scores(values: np.ndarray, y: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """One column alone as a classifier: the target's share per quantile bin of the fitting
    rows (missing values a bin of their own), read off for every row.

    A histogram classifier: it finds non-monotone proxies as a tree would, in microseconds,
    which matters because the analysis repeats it for every column, attribute and fold.
    """
    known = values[fit_rows][~np.isnan(values[fit_rows])]
    edges = np.unique(np.quantile(known, np.linspace(0, 1, BINS + 1)[1:-1])) if len(known) else []
    bins = np.where(np.isnan(values), len(edges) + 1, np.searchsorted(edges, values))
    positives = np.bincount(bins[fit_rows], weights=y[fit_rows], minlength=len(edges) + 2)
    counts = np.bincount(bins[fit_rows], minlength=len(edges) + 2)
    prior = y[fit_rows].mean()
    return ((positives + prior) / (counts + 1))[bins]  # one pseudo-row of the prior per bin


def single_column_auc(values: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = np.empty(len(y))
    for fit_rows, test_rows in splits.split(values, y):
        scores[test_rows] = binned_scores(values, y, fit_rows)[test_rows]
    return round(float(roc_auc_score(y, scores)), DECIMALS)


def cv_auc(
    frame: pd.DataFrame, target: pd.Series, columns: Sequence[Column], folds: int, seed: int
) -> float:
    """Out-of-fold ROC AUC of predicting TARGET from COLUMNS (rows with a known target): a
    gradient-boosting model for several columns, a histogram classifier for one."""
    known = target.notna().to_numpy()
    y = target.to_numpy()[known].astype(int)
    if len(columns) == 1:
        (column,) = columns
        values = frame[column.name].to_numpy(dtype="float64")[known]
        return single_column_auc(np.where(np.isin(values, column.sentinels), np.nan, values), y,
                                 folds, seed)  # fmt: skip
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(
        proxy_model(columns, seed), frame.loc[known], y, cv=splits, method="predict_proba"
    )[:, 1]
    return round(float(roc_auc_score(y, scores)), DECIMALS)


def target_report(
    frame: pd.DataFrame, target: pd.Series, features: Sequence[Column], folds: int, seed: int
) -> dict:
    """All FEATURES together and each candidate column alone, as predictors of TARGET; no
    AUC (null) when either class has fewer rows than folds."""
    counts = target.value_counts()
    summary = {"rows": int(target.notna().sum()), "positives": int(counts.get(1, 0))}
    if min(counts.get(0, 0), counts.get(1, 0)) < folds:
        return {**summary, "all_features": None, "by_feature": {}}
    alone = {c.name: cv_auc(frame, target, [c], folds, seed) for c in candidate_columns()}
    return {
        **summary,
        "all_features": cv_auc(frame, target, features, folds, seed),
        "by_feature": dict(sorted(alone.items(), key=lambda item: -item[1])),
    }


def proxy_report(
    frame: pd.DataFrame, features: Sequence[Column], folds: int, seed: int, max_rows: int
) -> dict:
    """For every protected attribute in TARGETS: how well the model's inputs predict it.

    On at most MAX_ROWS rows (a seeded sample): an AUC is known to about 0.01 from 20,000
    rows, and the analysis fits hundreds of models. One thread: hundreds of small fits with a
    thread each per core fight over a shared machine and took 30 times longer.
    """
    sample = frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame
    with threadpool_limits(limits=1):
        return _report(sample, len(frame), features, folds, seed)


def _report(
    frame: pd.DataFrame, total: int, features: Sequence[Column], folds: int, seed: int
) -> dict:
    rows = f"all {total:,} rows" if len(frame) == total else f"{len(frame):,} of {total:,} rows"
    return {
        "method": f"out-of-fold, {folds}-fold stratified, seed {seed}, on {rows} of the training "
        "split; all features: gradient boosting on the raw fields; one column: a quantile-bin "
        "histogram classifier",
        "features": [c.name for c in features],
        "targets": {
            name: target_report(frame, make(frame), features, folds, seed)
            for name, make in TARGETS.items()
        },
    }


def markdown(report: dict, top: int = 5) -> str:
    """The report as a short table: per attribute, all features and the strongest few."""
    lines = [
        "# How well the model's inputs predict each protected attribute",
        "",
        f"ROC AUC ({report['method']}); 0.5 = no information, 1.0 = fully revealed.",
        "",
        f"| attribute | all {len(report['features'])} features | strongest single columns |",
        "|---|---|---|",
    ]
    for name, result in report["targets"].items():
        if result["all_features"] is None:
            lines.append(f"| {name} | too few rows of one class | |")
            continue
        strongest = list(result["by_feature"].items())[:top]
        shown = ", ".join(f"{column} {auc:.2f}" for column, auc in strongest)
        lines.append(f"| {name} | {result['all_features']:.3f} | {shown} |")
    return "\n".join(lines) + "\n"


def strongest(report: dict, target: str = "non_white", above: float = 0.6) -> list[str]:
    """The model's features that alone predict TARGET with an AUC above ABOVE, strongest first."""
    used = set(report["features"])
    by_feature = report["targets"][target]["by_feature"]
    return [column for column, auc in by_feature.items() if column in used and auc > above]
