"""Stage proxies: how well the model's features predict each protected attribute.

Reads the training split (never the test split: the analysis must not tune on it) and writes
reports/evaluate/proxies.json (a metric: the all-features AUC per attribute, and every
column's alone) and proxies.md (a short table for reports and pull requests).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from underwrite.io import read_table
from underwrite.params import load_params
from underwrite.proxies import markdown, proxy_report
from underwrite.schema import model_columns
from underwrite.stages import StageError, run_stage

log = logging.getLogger(__name__)


def main(
    data: Path = typer.Option(..., help="train.parquet written by prepare"),
    out: Path = typer.Option(..., help="folder for proxies.json and proxies.md"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    settings = load_params(params)
    try:
        features = model_columns(settings.features.include_protected, settings.features.drop)
    except ValueError as err:
        raise StageError(str(err)) from None
    proxies = settings.proxies
    report = proxy_report(read_table(data), features, proxies.folds, proxies.seed, proxies.max_rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "proxies.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "proxies.md").write_text(markdown(report))
    log.info("proxy analysis of %d features written to %s", len(features), out)


if __name__ == "__main__":
    run_stage(main)
