"""The search for less discriminatory alternatives: every candidate a DVC experiment.

`make lda` queues one `dvc exp run` per alternative declared in params.yaml (lda.alternatives:
params set on top of params.yaml), runs the queue (`dvc exp run --run-all`), loads each
experiment's model from the DVC cache, scores the test split, and writes the frontier of
accuracy (ROC AUC) against disparity (the race approval-rate gap and the adverse impact
ratio) with paired bootstrap intervals to reports/lda/: frontier.json, frontier.md and
frontier.png. An alternative counts as less discriminatory when, with the declared
confidence, its approval-rate gap is below the baseline's and its ROC AUC is not lower
than the baseline's by more than lda.auc_margin.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import joblib
import matplotlib

matplotlib.use("Agg")  # headless: the figure goes to a file
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import typer
from sklearn.metrics import roc_auc_score

from underwrite.fairness import gaps, group_table
from underwrite.params import LdaParams, load_params
from underwrite.schema import LABEL, protected_groups
from underwrite.stages import StageError, run_stage

log = logging.getLogger(__name__)

PREFIX = "lda-"  # experiment names: lda-<alternative>
MODEL = "models/model.joblib"
REFERENCE = "white"  # the adverse impact ratio's reference group


def override(key: str, value) -> str:
    """One `dvc exp run -S` argument: lists in the override grammar, strings as they are."""
    if isinstance(value, list | tuple):
        return f"{key}=[{','.join(map(str, value))}]"
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    return f"{key}={value}"


def dvc(*args: str, repo: Path, check: bool = True) -> str:
    done = subprocess.run(["dvc", *args], cwd=repo, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise StageError(f"dvc {' '.join(args)} failed:\n{done.stderr or done.stdout}")
    return done.stdout


def git(*args: str, repo: Path) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def run_experiments(params: LdaParams, repo: Path) -> dict[str, str]:
    """Queue and run one experiment per alternative; return name -> experiment commit."""
    names = [PREFIX + name for name in params.alternatives]
    existing = dvc("exp", "list", "--name-only", repo=repo).split()
    if stale := [n for n in names if n in existing]:
        dvc("exp", "remove", *stale, repo=repo)  # re-running replaces the previous search
    for name, changes in params.alternatives.items():
        sets = [arg for key, value in changes.items() for arg in ("-S", override(key, value))]
        dvc("exp", "run", "--queue", "-n", PREFIX + name, *sets, repo=repo)
        log.info("queued %s%s %s", PREFIX, name, " ".join(sets[1::2]))
    # a failed experiment is named below, with the command that shows its log
    log.info(dvc("exp", "run", "--run-all", "-j", "1", repo=repo, check=False))
    return {name: experiment_commit(PREFIX + name, repo) for name in params.alternatives}


def experiment_commit(name: str, repo: Path) -> str:
    head = git("rev-parse", "HEAD", repo=repo)
    ref = f"refs/exps/{head[:2]}/{head[2:]}/{name}"
    try:
        return git("rev-parse", ref, repo=repo)
    except subprocess.CalledProcessError:
        raise StageError(
            f"experiment {name} did not finish; see `dvc queue logs {name}` and "
            "`dvc queue status`, fix the alternative in params.yaml (lda), run `make lda` again"
        ) from None


def load_model(commit: str, repo: Path):
    """The experiment's model, from the DVC cache by the md5 its dvc.lock records."""
    import dvc.api

    with dvc.api.open(MODEL, repo=str(repo), rev=commit, mode="rb") as handle:
        return joblib.load(handle)


def disparity(y: np.ndarray, approved: np.ndarray, race: pd.Series) -> dict[str, float]:
    """The race approval-rate gap and adverse impact ratio, as the evaluate stage defines them
    (underwrite.fairness), plus each group's ratio to the reference group's approval rate."""
    table = group_table(pd.Series(y), approved, race)
    rates = table["approval_rate"]
    air = {f"air_{g}": round(float(rates[g] / rates[REFERENCE]), 6) for g in rates.index}
    return {**gaps(table), **air}


def paired_bootstrap(
    y: np.ndarray, scores: dict[str, np.ndarray], race: np.ndarray, threshold: float,
    resamples: int, seed: int,
) -> dict[str, dict[str, np.ndarray]]:  # fmt: skip
    """ROC AUC and race approval-rate gap of every alternative on the same seeded resamples
    of the test applications (paired), one value per resample.

    The one place intervals are computed: a shared bootstrap module can replace this function.
    """
    rng = np.random.default_rng(seed)
    known = race != "unknown"
    groups = [race == g for g in np.unique(race[known])]
    draws = {name: {"roc_auc": [], "approval_rate_gap": []} for name in scores}
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        if len(np.unique(y[rows])) < 2:
            continue
        for name, proba in scores.items():
            approved = proba[rows] >= threshold
            rates = [approved[g[rows]].mean() for g in groups if g[rows].any()]
            draws[name]["roc_auc"].append(roc_auc_score(y[rows], proba[rows]))
            draws[name]["approval_rate_gap"].append(max(rates) - min(rates))
    return {n: {m: np.asarray(v) for m, v in d.items()} for n, d in draws.items()}


def interval(values: np.ndarray, confidence: float) -> list[float]:
    tail = (1 - confidence) / 2
    return [round(float(v), 4) for v in np.quantile(values, [tail, 1 - tail])]


def frontier(
    test: pd.DataFrame, models: dict, params: LdaParams, threshold: float
) -> dict[str, dict]:
    """Per alternative: ROC AUC and disparity on the test split, their intervals, the paired
    differences from the baseline, and the verdict."""
    y = test[LABEL].astype(int).to_numpy()
    race = protected_groups(test)["race"]
    applications = test.drop(columns=[LABEL])
    scores = {name: model.predict_proba(applications)[:, 1] for name, model in models.items()}
    draws = paired_bootstrap(
        y, scores, race.to_numpy(), threshold, params.bootstrap.resamples, params.bootstrap.seed
    )
    base = draws[params.baseline]
    confidence = params.bootstrap.confidence
    rows = {}
    for name, proba in scores.items():
        auc_change = draws[name]["roc_auc"] - base["roc_auc"]
        gap_change = draws[name]["approval_rate_gap"] - base["approval_rate_gap"]
        auc_ci, gap_ci = interval(auc_change, confidence), interval(gap_change, confidence)
        less_disparate = gap_ci[1] < 0
        not_worse = auc_ci[0] >= -params.auc_margin
        rows[name] = {
            "changes": params.alternatives[name],
            "roc_auc": round(float(roc_auc_score(y, proba)), 6),
            "roc_auc_interval": interval(draws[name]["roc_auc"], confidence),
            **disparity(y, (proba >= threshold).astype(int), race),
            "approval_rate_gap_interval": interval(draws[name]["approval_rate_gap"], confidence),
            "roc_auc_change_interval": auc_ci,
            "approval_rate_gap_change_interval": gap_ci,
            "less_disparate": bool(less_disparate and name != params.baseline),
            "not_worse": bool(not_worse),
            "less_discriminatory_alternative": bool(
                less_disparate and not_worse and name != params.baseline
            ),
        }
    return rows


def markdown(rows: dict[str, dict], params: LdaParams) -> str:
    b = params.bootstrap
    lines = [
        "# Less discriminatory alternatives: accuracy against disparity",
        "",
        f"Test split; intervals: {b.confidence:.0%} percentile, paired bootstrap of the test "
        f"applications ({b.resamples} resamples, seed {b.seed}). Baseline: `{params.baseline}`. "
        f"**LDA**: approval-rate gap below the baseline's and ROC AUC no more than "
        f"{params.auc_margin} below it, both with that confidence. Re-measure: `make lda`.",
        "",
        "| alternative | ROC AUC | race approval-rate gap | AIR black | AIR hispanic "
        "| AUC change | gap change | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        verdict = (
            "baseline" if name == params.baseline
            else "**LDA**" if r["less_discriminatory_alternative"]
            else "less disparate, worse" if r["less_disparate"]
            else "not less disparate"
        )  # fmt: skip
        auc, gap = r["roc_auc_interval"], r["approval_rate_gap_interval"]
        lines.append(
            f"| {name} | {r['roc_auc']:.3f} [{auc[0]:.3f}, {auc[1]:.3f}] "
            f"| {r['approval_rate_gap']:.3f} [{gap[0]:.3f}, {gap[1]:.3f}] "
            f"| {r.get('air_black', float('nan')):.2f} | {r.get('air_hispanic', float('nan')):.2f} "
            f"| {_span(r['roc_auc_change_interval'])} "
            f"| {_span(r['approval_rate_gap_change_interval'])} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def _span(bounds: list[float]) -> str:
    return f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"


def figure(rows: dict[str, dict], baseline: str) -> plt.Figure:
    """ROC AUC against the race approval-rate gap, with intervals, LDAs highlighted."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in rows.items():
        gap, auc = r["approval_rate_gap"], r["roc_auc"]
        xerr = [
            [gap - r["approval_rate_gap_interval"][0]],
            [r["approval_rate_gap_interval"][1] - gap],
        ]
        yerr = [[auc - r["roc_auc_interval"][0]], [r["roc_auc_interval"][1] - auc]]
        color = "tab:green" if r["less_discriminatory_alternative"] else (
            "black" if name == baseline else "tab:gray"
        )  # fmt: skip
        ax.errorbar(gap, auc, xerr=xerr, yerr=yerr, fmt="o", color=color, capsize=3)
        ax.annotate(name, (gap, auc), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set(
        xlabel="race approval-rate gap (lower is fairer)",
        ylabel="ROC AUC (higher is more accurate)",
        title="Less discriminatory alternatives (green: LDA)",
    )
    fig.tight_layout()
    return fig


def write(rows: dict[str, dict], params: LdaParams, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "frontier.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "frontier.md").write_text(markdown(rows, params))
    figure(rows, params.baseline).savefig(out / "frontier.png", dpi=120)


def main(
    out: Path = typer.Option(Path("reports/lda"), help="folder for frontier.{json,md,png}"),
    test: Path = typer.Option(Path("data/processed/test.parquet"), help="the test split"),
    params: Path = typer.Option(Path("params.yaml")),
    repo: Path = typer.Option(Path("."), help="the DVC repository to run experiments in"),
) -> None:
    settings = load_params(params)
    commits = run_experiments(settings.lda, repo)
    models = {name: load_model(commit, repo) for name, commit in commits.items()}
    rows = frontier(pd.read_parquet(test), models, settings.lda, settings.evaluate.threshold)
    write(rows, settings.lda, out)
    found = [n for n, r in rows.items() if r["less_discriminatory_alternative"]]
    log.info("frontier of %d alternatives in %s; LDAs: %s", len(rows), out, found or "none")


if __name__ == "__main__":
    run_stage(main)
