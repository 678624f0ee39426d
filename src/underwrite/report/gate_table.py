"""The gate in the report: its verdict first, then the paired differences and every check."""

from __future__ import annotations

from underwrite.console import ExitCode
from underwrite.gate import CALIBRATION, Check, Verdict, direction
from underwrite.judgement.bootstrap import WORSE
from underwrite.judgement.statistics import AIR, QUALITY
from underwrite.report.content import Report

POLICY_NOTE = (
    "The gate judges head's model against base's on the same holdout rows, by base's "
    'policy (`gate:` in base\'s params.yaml; docs/judgement.md, "The gate").'
)
SHOWN_GAPS = ("approval_rate_gap", "tpr_gap", "fpr_gap", AIR)


def headline(report: Report) -> list[str]:
    """The verdict, the reasons, what is at risk and every ignored policy change."""
    verdict = report.verdict
    if verdict is None:
        return ["**Gate: not judged**: head has no up-to-date metrics.", ""]
    lines = [*(f"- `{line}`" for line in verdict.policy_changes)]
    if lines:
        lines = ["The candidate's own gate policy is not used:", "", *lines, ""]
    if not verdict.judged:
        return [f"**Gate: ❌ refused, it cannot judge**: {verdict.reasons[0]}", "", *lines]
    worse = worse_metrics(verdict)
    if verdict.passed:
        first = "**Gate: ✅ this model would be promoted.**"
    else:
        code = int(ExitCode.REFUSED)
        first = f"**Gate: ❌ refused: this model would not be promoted** (exit {code}):"
    body = [f"- {reason}" for reason in verdict.reasons]
    seen = (
        "No metric is worse than production's with confidence."
        if not worse
        else "Worse than production's with confidence: " + ", ".join(worse) + "."
    )
    risky = [c.claim for c in verdict.checks if c.at_risk]
    if risky:
        seen += " At risk (the interval reaches past the limit): " + "; ".join(risky) + "."
    return [first, "", *body, "", seen, "", *lines, f"<sub>{POLICY_NOTE}</sub>", ""]


def worse_metrics(verdict: Verdict) -> list[str]:
    """The quality metrics whose paired interval lies wholly on the worse side."""
    return [
        name
        for name, difference in verdict.differences.items()
        if "." not in name and direction(name) is not None
        and difference.judged(direction(name) == 1) == WORSE
    ]  # fmt: skip


def section(report: Report) -> list[str]:
    """The paired differences with intervals, classes and minimum detectable differences."""
    verdict = report.verdict
    if verdict is None or not verdict.judged:
        return []
    lines = ["### The gate", "", f"{verdict.rows} holdout rows. Method: {verdict.method}.", ""]
    lines += differences_table(verdict)
    lines += ["| check (refuses when it holds with confidence) | value [interval] | p | outcome |"]
    lines += ["|---|---:|---:|---|", *(_check_row(check) for check in verdict.checks), ""]
    return lines


def differences_table(verdict: Verdict) -> list[str]:
    """Candidate minus production per statistic: interval, class, minimum detectable."""
    if not verdict.differences:
        return []
    return [
        "Candidate minus production on the same rows. *min. detectable*: the smallest true "
        "difference this holdout would show with 80% power; a smaller one can hide here.",
        "",
        "| statistic | production | candidate | difference [interval] | class | min. detectable |",
        "|---|---:|---:|---:|---|---:|",
        *(_difference_row(name, verdict) for name in _shown(verdict)),
        "",
    ]


def _shown(verdict: Verdict) -> list[str]:
    quality = [n for n in (*QUALITY, CALIBRATION) if n in verdict.differences]
    fairness = [n for n in verdict.differences if n.rsplit(".", 1)[-1] in SHOWN_GAPS and "." in n]
    return quality + sorted(fairness)


def _difference_row(name: str, verdict: Verdict) -> str:
    d = verdict.differences[name]
    way = direction(name)
    judged = d.judged(way == 1) if way is not None else "—"
    return (
        f"| {name} | {d.production:.4f} | {d.candidate:.4f} | {d.difference:+.4f} "
        f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}] | {judged} | {d.minimum_detectable:.4f} |"
    )


def _check_row(check: Check) -> str:
    outcome = "❌ refuses" if check.refused else ("⚠️ at risk" if check.at_risk else "passes")
    return (
        f"| {check.claim} | {check.value:.4f} [{check.ci_low:.4f}, {check.ci_high:.4f}] "
        f"| {check.p_value:.4f} | {outcome} |"
    )
