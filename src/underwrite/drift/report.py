"""The drift result as JSON, as Markdown (for a PR or issue comment) and as plots."""

from __future__ import annotations

import json
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files
import matplotlib.pyplot as plt
import numpy as np

from underwrite.drift.check import DriftResult, Verdict, WindowResult
from underwrite.drift.profile import FeatureProfile, Profile
from underwrite.drift.stats import buckets
from underwrite.schema import BY_NAME

TOP = 15  # features listed in the Markdown table


def window_dict(window: WindowResult) -> dict:
    return {
        "start": window.start.isoformat() if window.start else None,
        "end": window.end.isoformat() if window.end else None,
        "rows": window.rows,
        "enough_rows": window.enough,
        "drifted": window.drifted,
        "drifted_features": [f.name for f in window.drifted_features],
        "protected_drift": [f.name for f in window.protected_drift],  # reported, not an alarm
        "prediction": asdict(window.prediction) if window.prediction else None,
        "features": [{**asdict(f), "drifted": f.drifted} for f in window.features],
    }


def result_dict(result: DriftResult) -> dict:
    return {
        "verdict": result.verdict.name.lower(),
        "exit_status": int(result.verdict),
        "message": result.message,
        "windows": [window_dict(w) for w in result.windows],
    }


def write_json(result: DriftResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result_dict(result), indent=2) + "\n")


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _feature_row(f) -> str:
    why = "; ".join(f.schema_drift) or ("distribution" if f.distribution_drift else "")
    p = f"{f.p_adjusted:.1e}" if f.p_adjusted < 0.001 else f"{f.p_adjusted:.3f}"
    return (
        f"| {'**' + f.name + '**' if f.drifted else f.name} | {f.kind} | {f.test} | {p} "
        f"| {_number(f.psi)} | {_number(f.jensen_shannon)} | {_number(f.wasserstein)} | {why} |"
    )


def markdown(result: DriftResult, plots: dict[str, str] | None = None) -> str:
    """A report for a pull request or issue comment: the verdict, then the evidence."""
    icon = {Verdict.NO_DRIFT: "✅", Verdict.DRIFT: "⚠️", Verdict.CANNOT_TELL: "❔"}
    window = result.windows[0]
    lines = [
        f"## Data drift: {icon.get(result.verdict, '')} {result.message}",
        "",
        f"Latest window: {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC, "
        f"{window.rows} rows."
        if window.start and window.end
        else f"Window: {window.rows} rows.",
    ]
    if len(result.windows) > 1:
        states = ", ".join(
            f"{w.rows} rows {'drifted' if w.drifted else 'no drift'}" for w in result.windows
        )
        lines.append(f"Consecutive windows, newest first: {states}.")
    if window.prediction is not None:
        lines += ["", *_prediction_lines(window)]
    if window.features:
        lines += ["", *_feature_table(window)]
    for name, path in (plots or {}).items():
        lines += ["", f"![{name}: reference vs current]({path})"]
    return "\n".join(lines) + "\n"


def _prediction_lines(window: WindowResult) -> list[str]:
    p = window.prediction
    state = "; ".join(p.reasons) if p.reasons else "no drift"
    return [
        f"**Predictions**: {state}. Approval rate {p.approval_rate_reference:.1%} in training, "
        f"{p.approval_rate_current:.1%} now; score KS {p.score_ks:.3f} "
        f"(p {p.score_p_value:.2g}), Wasserstein {p.score_wasserstein:.2f} sd, "
        f"PSI {p.score_psi:.2f}."
    ]


def _feature_table(window: WindowResult) -> list[str]:
    drifted = len(window.drifted_features)
    protected = [f.name for f in window.protected_drift]
    shown = window.features[: max(TOP, drifted + len(protected))]
    note = (
        f" Protected attributes that drifted ({', '.join(protected)}) are reported but do not "
        "on their own raise the alarm or trigger retraining."
        if protected
        else ""
    )
    return [
        f"**Features**: {drifted} of {len(window.features)} drifted (bold), most shifted first."
        + note,
        "",
        "| feature | kind | test | p (Holm) | PSI | JS | Wasserstein (sd) | why |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(_feature_row(f) for f in shown),
    ]


def plain_number(value: float) -> str:
    """A bin edge as people read amounts: 12,500 or 0.35, never 1.25e+04."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"


def _labels(ref: FeatureProfile, unseen: list[float]) -> list[str]:
    if ref.numeric:
        edges = [plain_number(e) for e in ref.edges]
        bounds = ["-inf", *edges, "inf"]
        labels = [f"[{a}, {b})" for a, b in pairwise(bounds)]
    else:
        labels = [f"{c:g}" for c in ref.categories]
    return [*labels, *(f"{v:g} (unseen)" for v in unseen), "missing"]


def plot_feature(ref: FeatureProfile, window: WindowResult, path: Path) -> None:
    """Reference vs current share per bin or category (unseen and missing included)."""
    counts = window.summary.features[ref.name]
    reference, current = buckets(ref, counts)
    labels = _labels(ref, sorted(counts.unknown))
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(labels) + 2), 3.5))
    ax.bar(x - 0.2, reference / max(reference.sum(), 1), 0.4, label="training (reference)")
    ax.bar(x + 0.2, current / max(current.sum(), 1), 0.4, label="inference log (current)")
    ax.set_xticks(
        x, labels, rotation=45 if ref.numeric else 0, ha="right" if ref.numeric else "center"
    )
    column = BY_NAME.get(ref.name)
    unit = f" ({column.unit})" if column is not None and column.unit else ""
    ax.set(title=f"{ref.name}: share of rows", ylabel="share", xlabel=f"{ref.name}{unit}")
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(result: DriftResult, profile: Profile, out: Path) -> dict[str, Path]:
    """result.json, report.md and plots/<feature>.png for each drifted feature."""
    window = result.windows[0]
    plots = {}
    if window.summary is not None and window.rows:
        for feature in window.drifted_features:
            path = out / "plots" / f"{feature.name}.png"
            plot_feature(profile.features[feature.name], window, path)
            plots[feature.name] = path
    write_json(result, out / "result.json")
    relative = {name: str(p.relative_to(out)) for name, p in plots.items()}
    (out / "report.md").write_text(markdown(result, relative))
    return plots
