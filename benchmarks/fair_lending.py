"""The measurements behind the fair-lending policy in src/underwrite/schema.py.

    uv run python benchmarks/fair_lending.py          # prints the tables of docs/fair-lending.md

For each column (or group of columns) the policy keeps out of the model, on the training
split (data/processed/train.parquet, from `dvc repro prepare`): the model's out-of-fold ROC
AUC for approval with the policy's features and with the column(s) added back (5-fold
stratified, seeded, the train params of params.yaml), and how well the column(s) alone predict
that the applicant is not white (the proxy strength, as underwrite.proxies measures it). It
also measures how the underwriters' judgements (gdlin, unver) differ by race from what the
applicant's own data predicts, what the schema's monotone constraints cost, and the data's
evidence for each "unknown" code.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from underwrite.model import fit_kwargs, pipeline_on
from underwrite.params import TrainParams, load_params
from underwrite.proxies import TARGETS, cv_auc, proxy_model
from underwrite.schema import BY_NAME, LABEL, Column, model_columns, protected_groups

CANDIDATES: dict[str, tuple[str, ...]] = {
    "dep (familial status)": ("dep",),
    "married (marital status)": ("married",),
    "old (age)": ("old",),
    "tract flags suffolk, bd, mi, vr": ("suffolk", "bd", "mi", "vr"),
    "min30 (tract minority share)": ("min30",),
    "gdlin (underwriter: credit meets guidelines)": ("gdlin",),
    "unver (underwriter: unverifiable information)": ("unver",),
}
FOLDS = 5
SEED = 0


def fold_aucs(frame: pd.DataFrame, columns: list[Column], params: TrainParams) -> np.ndarray:
    """Out-of-fold ROC AUC of approval, one per fold, of the pipeline over COLUMNS."""
    y = frame[LABEL].astype(int).to_numpy()
    splits = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(frame, y)
    scores = []
    for fit_rows, test_rows in splits:
        train = frame.iloc[fit_rows]
        model = pipeline_on(params, columns).fit(
            train.drop(columns=[LABEL]), y[fit_rows], **fit_kwargs(params, protected_groups(train))
        )
        proba = model.predict_proba(frame.iloc[test_rows].drop(columns=[LABEL]))[:, 1]
        scores.append(roc_auc_score(y[test_rows], proba))
    return np.asarray(scores)


def exclusions(frame: pd.DataFrame, params: TrainParams) -> str:
    base = list(model_columns(include_protected=False))
    base_auc = fold_aucs(frame, base, params)
    non_white = TARGETS["non_white"](frame)
    rows = [
        "| column(s) | ROC AUC without | with | difference (fold mean ± sd) | predicts non-white |",
        "|---|---|---|---|---|",
    ]
    for label, added in CANDIDATES.items():
        extra = [BY_NAME[name] for name in added]
        with_auc = fold_aucs(frame, base + extra, params)
        diff = with_auc - base_auc
        proxy = cv_auc(frame, non_white, extra, FOLDS, SEED)
        rows.append(
            f"| {label} | {base_auc.mean():.3f} | {with_auc.mean():.3f} | "
            f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f} | {proxy:.3f} |"
        )
    rows.append(
        f"\nAll {len(base)} features of the policy predict non-white with ROC AUC "
        f"{cv_auc(frame, non_white, base, FOLDS, SEED):.3f}."
    )
    return "\n".join(rows)


def monotone_cost(frame: pd.DataFrame, params: TrainParams) -> str:
    base = list(model_columns(include_protected=False))
    free = [replace(c, monotone=0) for c in base]
    constrained, unconstrained = fold_aucs(frame, base, params), fold_aucs(frame, free, params)
    diff = constrained - unconstrained
    names = ", ".join(c.name for c in base if c.monotone)
    return (
        f"Monotone constraints on {names}: ROC AUC {constrained.mean():.3f} constrained, "
        f"{unconstrained.mean():.3f} unconstrained (difference {diff.mean():+.3f} ± "
        f"{diff.std(ddof=1):.3f} over the folds)."
    )


def codes(raw: pd.DataFrame) -> str:
    """The data's evidence for each declared code: how often it occurs, and its neighbours."""
    lines = []
    for name, value in (("appinc", 666), ("liq", 1_000_000), ("gdlin", 666)):
        values = raw[name]
        above = values[values > value]
        below = values[values < value].max()
        lines.append(
            f"- `{name}` = {value:g}: {int((values == value).sum())} rows; the largest other "
            f"value below is {below:g}, {len(above)} rows above it"
            + (f" ({above.min():g} to {above.max():g})" if len(above) else "")
        )
    for name in ("emp", "yjob"):
        counts = raw[name].value_counts().sort_index()
        shown = ", ".join(f"{v:g}: {n}" for v, n in counts.items())
        lines.append(f"- `{name}` takes {len(counts)} values only ({shown} rows)")
    approved = raw.groupby("inson")["approve"].agg(["sum", "count"])
    ones = approved.loc[1]
    lines.append(
        f"- `inson` = 1 in {ones['count']} rows, {ones['count'] - ones['sum']} of them denied"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=Path("data/processed/train.parquet"))
    parser.add_argument("--raw", type=Path, default=Path("data/raw/applications.parquet"))
    args = parser.parse_args()
    params = load_params().train
    frame = pd.read_parquet(args.train)
    with threadpool_limits(limits=1):
        print("## Columns kept out, measured\n")
        print(exclusions(frame, params))
        print("\n## Underwriting judgements against the applicant's own data\n")
        print(judgement_gap(frame, "gdlin"))
        print(judgement_gap(frame, "unver"))
        print("\n## Monotone constraints\n")
        print(monotone_cost(frame, params))
    print("\n## Codes\n")
    print(codes(pd.read_parquet(args.raw)))


def judgement_gap(frame: pd.DataFrame, name: str) -> str:
    """How much more often non-white applicants got an adverse judgement (NAME = 0 for gdlin,
    1 for unver) than the policy's features predict for them (out of fold)."""
    known = frame[~frame[name].isin(BY_NAME[name].sentinels)]
    y = known[name].astype(int).to_numpy()
    splits = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    model = proxy_model(model_columns(include_protected=False), SEED)
    expected = cross_val_predict(model, known, y, cv=splits, method="predict_proba")[:, 1]
    non_white = (known["white"] == 0).to_numpy()
    excess = {
        group: float((y - expected)[rows].mean())
        for group, rows in (("non-white", non_white), ("white", ~non_white))
    }
    return (
        f"- `{name}` = 1 observed minus predicted from the policy's features: "
        f"{excess['non-white']:+.3f} for non-white, {excess['white']:+.3f} for white applicants"
    )


if __name__ == "__main__":
    main()
