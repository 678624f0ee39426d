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
import pandas as pd
import typer

from underwrite.judgement.bootstrap import judge, paired
from underwrite.judgement.statistics import AIR
from underwrite.params import LdaParams, load_params
from underwrite.schema import LABEL, protected_groups
from underwrite.stages import StageError, run_stage

log = logging.getLogger(__name__)

PREFIX = "lda-"  # experiment names: lda-<alternative>
MODEL = "models/model.joblib"
REFERENCE = "white"  # the adverse impact ratio's reference group
GAP = "approval_rate_gap"


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


def frontier(
    test: pd.DataFrame, models: dict, params: LdaParams, threshold: float
) -> dict[str, dict]:
    """Per alternative: ROC AUC and disparity on the test split with their intervals, the
    paired differences from the baseline, and the verdict. Every interval comes from the
    evaluation's own bootstrap (underwrite.judgement), never a second way of computing one."""
    y = test[LABEL].astype(int).to_numpy()
    groups = protected_groups(test)
    applications = test.drop(columns=[LABEL])
    scores = {name: model.predict_proba(applications)[:, 1] for name, model in models.items()}
    declared = {"race": REFERENCE}
    base = scores[params.baseline]
    rows = {}
    for name, proba in scores.items():
        own = judge(y, proba, threshold, groups, params.bootstrap, declared).estimates
        versus = paired(y, proba, base, threshold, groups, params.bootstrap, declared)
        rows[name] = row(name, own, versus.differences, params)
    return rows


def row(name: str, own: dict, versus: dict, params: LdaParams) -> dict:
    """One alternative's line of the frontier: estimates, changes and the verdict."""
    auc, gap = own["roc_auc"], own[f"race.{GAP}"]
    auc_change, gap_change = versus["roc_auc"], versus[f"race.{GAP}"]
    less_disparate = gap_change.ci_high < 0 and name != params.baseline
    not_worse = auc_change.ci_low >= -params.auc_margin
    air = {
        f"air_{group}": round(own[key].value, 6)
        for key in own
        if key.startswith("race.groups.") and key.endswith(f".{AIR}")
        for group in [key.split(".")[2]]
    }
    return {
        "changes": params.alternatives[name],
        "roc_auc": round(auc.value, 6),
        "roc_auc_interval": _bounds(auc),
        GAP: round(gap.value, 6),
        "approval_rate_gap_interval": _bounds(gap),
        **air,
        "roc_auc_change_interval": _bounds(auc_change),
        "approval_rate_gap_change_interval": _bounds(gap_change),
        "less_disparate": bool(less_disparate),
        "not_worse": bool(not_worse),
        "less_discriminatory_alternative": bool(less_disparate and not_worse),
    }


def _bounds(estimate) -> list[float]:
    return [round(float(estimate.ci_low), 4), round(float(estimate.ci_high), 4)]


def markdown(rows: dict[str, dict], params: LdaParams) -> str:
    b = params.bootstrap
    lines = [
        "# Less discriminatory alternatives: accuracy against disparity",
        "",
        f"Holdout; intervals: {b.confidence:.0%} percentile bootstrap stratified by label, "
        f"paired across alternatives ({b.resamples} resamples, seed {b.seed}). "
        f"Baseline: `{params.baseline}`. "
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
