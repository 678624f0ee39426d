"""The report as GitHub-flavoured Markdown, for `cml comment update` and the job summary."""

from __future__ import annotations

import json
from typing import Any

from underwrite.report import gate_table
from underwrite.report.compare import MetricRow
from underwrite.report.content import Report
from underwrite.report.repro_log import Outcome

TITLE = "## Model report"
DECIMALS = 4  # metrics are rates in 0..1: four decimals tell 0.8796 from 0.8782
NOISE = 1e-12  # relative: a difference this small is floating-point rounding, not a change


def _param(value: Any) -> str:
    """A parameter exactly as it is set: 1e-05 stays 1e-05, never 0.0000."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"`{value!r}`"
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


def _value(value: Any) -> str:
    """A metric: four decimals, or four significant digits below 0.001 (so 2e-05 is not 0)."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"`{json.dumps(value) if not isinstance(value, str) else value}`"
    if isinstance(value, int) or value == 0:
        return str(int(value))
    return f"{value:.{DECIMALS}f}" if abs(value) >= 1e-3 else f"{value:.4g}"


def _delta(row: MetricRow) -> str:
    """Head minus base, with as many decimals as its two leading significant digits need."""
    if row.base is None:
        return "new"
    if row.head is None:
        return "removed"
    delta = row.delta
    if delta is None:
        return "—"
    scale = max(abs(row.base), abs(row.head), 1.0)
    if abs(delta) <= NOISE * scale:
        return "0"
    exponent = int(f"{abs(delta):.1e}".split("e")[1])  # of the delta rounded to 2 digits
    decimals = max(DECIMALS, 1 - exponent)
    return f"{delta:+.{decimals}f}"


def headline(report: Report) -> list[str]:
    """The lines a reviewer must see first: gate verdict and anything that went wrong."""
    lines = [f"{TITLE}: {report.base.label} → {report.head.label}", ""]
    if report.validation is not None and not report.validation.passed:
        failures = "; ".join(report.validation.failures) or "see the validation report below"
        lines.append(f"**❌ Data validation failed** for head: {failures}.")
    if report.stale:
        lines.append(
            "**⚠️ The pipeline did not finish**: stage(s) "
            + ", ".join(f"`{s}`" for s in report.stale)
            + " are not up to date, so head's metrics below come from an earlier run, "
            "not from this change."
        )
    if report.drift:
        lines.append(
            f"**❌ dvc.lock differs from what CI reproduced** ({len(report.drift)} "
            "difference(s), listed below): run `dvc repro` and commit dvc.lock."
        )
    if report.base.metrics is None:
        lines.append(
            f"Note: {report.base.label} has no metrics yet (a first run): head's values are "
            "shown alone, and the gate checks the fairness limits only."
        )
    lines += ["", *gate_table.headline(report), ""]
    return lines


def params_section(report: Report) -> list[str]:
    lines = ["### Parameters", ""]
    if not report.params:
        return [*lines, "No parameter changed.", ""]
    lines += ["| parameter | base | head |", "|---|---|---|"]
    lines += [f"| `{p.name}` | {_param(p.base)} | {_param(p.head)} |" for p in report.params]
    return [*lines, ""]


def metrics_section(report: Report) -> list[str]:
    rows = [r for r in report.metrics if not r.fairness]
    lines = ["### Metrics", ""]
    if not report.metrics:
        return [*lines, "No metrics on either side (the pipeline has not reached evaluate).", ""]
    lines += ["| metric | base | head | change |", "|---|---:|---:|---:|"]
    lines += [f"| {r.name} | {_value(r.base)} | {_value(r.head)} | {_delta(r)} |" for r in rows]
    return [*lines, "", *fairness_section(report), *other_metrics_section(report)]


def fairness_section(report: Report) -> list[str]:
    rows = [r for r in report.metrics if r.fairness]
    if not rows:
        return []
    lines = ["### Fairness", ""]
    lines += ["| group | metric | base | head | change | limit |", "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        _, grouping, name = row.name.split(".", 2)
        limits = report.gate.fairness.get(grouping)
        limit = getattr(limits, name, None) if limits else None
        lines.append(
            f"| {grouping} | {name} | {_value(row.base)} | {_value(row.head)} | {_delta(row)} "
            f"| {'' if limit is None else limit} |"
        )
    return [*lines, ""]


def other_metrics_section(report: Report) -> list[str]:
    """The other metrics files (validation, per-group rates): what changed, collapsed."""
    lines = []
    for file in sorted({r.file for r in report.other_metrics}):
        rows = [r for r in report.other_metrics if r.file == file]
        changed = [r for r in rows if _delta(r) != "0"]
        if not changed:  # a summary that opens onto nothing is noise
            lines += [f"{file}: none of {len(rows)} changed.", ""]
            continue
        lines += [f"<details><summary>{file}: {len(changed)} of {len(rows)} changed</summary>", ""]
        lines += ["| metric | base | head | change |", "|---|---:|---:|---:|"]
        lines += [
            f"| {r.name} | {_value(r.base)} | {_value(r.head)} | {_delta(r)} |" for r in changed
        ]
        lines += ["", "</details>", ""]
    return lines


def plots_section(report: Report, plots_url: str | None) -> list[str]:
    lines = ["### Plots", ""]
    if plots_url:
        names = ", ".join([title for title, _ in report.figures] + ["fairness"])
        return [
            *lines,
            f"Base and head ({names}): [the report's artifact]({plots_url}).",
            "",
        ]
    lines += [f"![{title}]({path})" for title, path in report.figures]
    if report.images:
        lines += ["", f"| image | {report.base.label} | {report.head.label} |", "|---|---|---|"]
        for stem, base, head in report.images:
            cells = [f"![{stem}]({p})" if p else "(none)" for p in (base, head)]
            lines.append(f"| {stem} | {cells[0]} | {cells[1]} |")
    return [*lines, ""]


def pipeline_section(report: Report) -> list[str]:
    lines = ["### Pipeline", ""]
    if report.stages is None:
        lines.append(
            "No `dvc repro` log was given (`--repro-log`), so which stages ran is unknown."
        )
    else:
        lines += ["| stage | this run |", "|---|---|"]
        lines += [f"| {stage} | {outcome.value} |" for stage, outcome in report.stages.items()]
        reused = [s for s, o in report.stages.items() if o in (Outcome.RESTORED, Outcome.UNCHANGED)]
        lines += ["", f"{len(reused)} of {len(report.stages)} stage(s) reused."]
    base, head = report.base.data_md5, report.head.data_md5
    same = "unchanged" if base == head else "changed"
    lines += [
        "",
        f"Data version (md5 of the raw data in dvc.lock): base `{base or 'none'}`, "
        f"head `{head or 'none'}` ({same}).",
        "",
    ]
    return lines


def validation_section(report: Report) -> list[str]:
    lines = ["### Data validation (head)", ""]
    result = report.validation
    if result is None:
        return [*lines, "No validation report in the workspace: the pipeline did not reach it.", ""]
    state = "✅ passed" if result.passed else "❌ FAILED"
    lines.append(f"{state}: {result.rows} rows checked.")
    lines += [f"- {failure}" for failure in result.failures]
    body = result.markdown.replace("\n# ", "\n#### ").replace("\n## ", "\n#### ")
    body = body.removeprefix("# Data validation\n")
    if body.strip():  # no <details> that opens onto nothing
        lines += ["", "<details><summary>validation report</summary>", "", body, "</details>"]
    return [*lines, ""]


def lock_section(report: Report) -> list[str]:
    if report.drift is None:
        return []
    lines = ["### dvc.lock check", ""]
    if not report.drift:
        return [*lines, "✅ What CI reproduced matches the committed dvc.lock.", ""]
    lines.append("❌ What CI reproduced differs from the committed dvc.lock:")
    return [*lines, "", *(f"- {d.message()}" for d in report.drift), ""]


def watchlist_section(report: Report) -> list[str]:
    """The watch list's decisions under base's model and head's (examples/watchlist)."""
    if report.watchlist is None:
        return []
    changed = sum(row.changed for row in report.watchlist.rows)
    lines = ["### Watch list", ""]
    lines += [
        f"{changed} of {len(report.watchlist.rows)} watched application(s) change decision.",
        "",
    ]
    return [*lines, *report.watchlist.lines(), ""]


def render(report: Report, plots_url: str | None = None) -> str:
    """The whole report; with PLOTS_URL the plots are a link there instead of images."""
    sections = [
        headline(report),
        params_section(report),
        metrics_section(report),
        gate_table.section(report),
        watchlist_section(report),
        plots_section(report, plots_url),
        pipeline_section(report),
        validation_section(report),
        lock_section(report),
    ]
    return "\n".join(line for section in sections for line in section).rstrip() + "\n"
