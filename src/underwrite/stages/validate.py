"""Stage validate: check the raw data against the schema; bad data stops the pipeline here."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from underwrite.io import read_table
from underwrite.params import ValidateParams, load_params
from underwrite.stages import StageError, run_stage
from underwrite.validation import ValidationResult, validate_frame

log = logging.getLogger(__name__)


def render_markdown(result: ValidationResult) -> str:
    lines = [
        "# Data validation",
        "",
        f"**{'passed' if result.passed else 'FAILED'}**: {result.rows} rows checked.",
        "",
    ]
    if result.failures:
        lines += ["## Failures", ""] + [f"- {f.message()}" for f in result.failures] + [""]
    lines += ["## Missing values", "", "| column | rows |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result.missing.items()]
    lines += ["", "## Sentinel values (read as unknown)", "", "| column | rows |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result.sentinels.items()]
    top = sorted(result.single_feature_auc.items(), key=lambda kv: -kv[1])[:5]
    lines += [
        "",
        "## Strongest single features (ROC AUC alone)",
        "",
        "| column | AUC |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.3f} |" for k, v in top]
    return "\n".join(lines) + "\n"


def write_report(result: ValidationResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(result))


def validate(raw: Path, out: Path, params: ValidateParams) -> ValidationResult:
    result = validate_frame(read_table(raw), params.min_rows, params.max_single_feature_auc)
    write_report(result, out)
    if not result.passed:
        problems = "\n  ".join(f.message() for f in result.failures)
        raise StageError(f"{raw} failed validation (report: {out / 'report.md'}):\n  {problems}")
    log.info("%s: %d rows passed validation", raw, result.rows)
    return result


def main(
    raw: Path = typer.Option(..., help="Parquet file written by ingest"),
    out: Path = typer.Option(..., help="folder for report.json and report.md"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    validate(raw, out, load_params(params).validate_)


if __name__ == "__main__":
    run_stage(main)
