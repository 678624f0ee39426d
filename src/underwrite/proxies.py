"""Proxy analysis: how well the model's inputs predict each protected attribute.

A model that never sees race can still decide by race when its inputs predict race. For each
protected attribute this measures the ROC AUC with which all the model's features together,
and each candidate column alone, predict it: cross-validated, seeded, on the training split.
0.5 means the inputs carry nothing of the attribute; 1.0 that they reveal it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

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


def candidate_columns() -> tuple[Column, ...]:
    """The columns whose proxy strength is measured one by one: every feature, and every
    column the policy excludes as a proxy or a judgement."""
    return columns_with([Role.FEATURE, Role.EXCLUDED])


def proxy_model(columns: Sequence[Column], seed: int) -> Pipeline:
    """An unconstrained gradient-boosting classifier over COLUMNS' raw fields: flexible
    enough to find a non-linear proxy, small enough to fit hundreds of times."""
    plain = [_unconstrained(c) for c in columns]
    booster = HistGradientBoostingClassifier(
        learning_rate=0.1, max_iter=60, max_depth=3, early_stopping=False, random_state=seed
    )
    return Pipeline([("preprocess", preprocessor(plain, trees=True)), ("classifier", booster)])


def _unconstrained(column: Column) -> Column:
    return replace(column, monotone=0)


def cv_auc(
    frame: pd.DataFrame, target: pd.Series, columns: Sequence[Column], folds: int, seed: int
) -> float:
    """Out-of-fold ROC AUC of predicting TARGET from COLUMNS (rows with a known target)."""
    known = target.notna().to_numpy()
    y = target.to_numpy()[known].astype(int)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(
        proxy_model(columns, seed), frame.loc[known], y, cv=splits, method="predict_proba"
    )[:, 1]
    return round(float(roc_auc_score(y, scores)), DECIMALS)


def target_report(
    frame: pd.DataFrame, target: pd.Series, features: Sequence[Column], folds: int, seed: int
) -> dict:
    """All FEATURES together and each candidate column alone, as predictors of TARGET."""
    alone = {c.name: cv_auc(frame, target, [c], folds, seed) for c in candidate_columns()}
    return {
        "rows": int(target.notna().sum()),
        "positives": int(target.sum()),
        "all_features": cv_auc(frame, target, features, folds, seed),
        "by_feature": dict(sorted(alone.items(), key=lambda item: -item[1])),
    }


def proxy_report(frame: pd.DataFrame, features: Sequence[Column], folds: int, seed: int) -> dict:
    """For every protected attribute in TARGETS: how well the model's inputs predict it."""
    return {
        "method": f"out-of-fold ROC AUC, {folds}-fold stratified, seed {seed}, "
        "histogram gradient boosting on the raw fields",
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
        strongest = list(result["by_feature"].items())[:top]
        shown = ", ".join(f"{column} {auc:.2f}" for column, auc in strongest)
        lines.append(f"| {name} | {result['all_features']:.3f} | {shown} |")
    return "\n".join(lines) + "\n"


def strongest(report: dict, target: str = "non_white", above: float = 0.6) -> list[str]:
    """The model's features that alone predict TARGET with an AUC above ABOVE, strongest first."""
    used = set(report["features"])
    by_feature = report["targets"][target]["by_feature"]
    return [column for column, auc in by_feature.items() if column in used and auc > above]
