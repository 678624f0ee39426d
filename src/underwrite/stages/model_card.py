"""Stage model_card: the model card, rendered from the evaluation's files and the schema."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from underwrite.io import file_md5
from underwrite.model_card import Lineage, render
from underwrite.params import load_params
from underwrite.stages import run_stage

log = logging.getLogger(__name__)


def main(
    model: Path = typer.Option(..., help="the fitted Pipeline"),
    data: Path = typer.Option(..., help="the raw applications the model's data came from"),
    metrics: Path = typer.Option(..., help="evaluate's metrics.json"),
    proxies: Path = typer.Option(..., help="proxies.json"),
    out: Path = typer.Option(..., help="the model card (Markdown) to write"),
    params: Path = typer.Option(Path("params.yaml")),
) -> None:
    settings = load_params(params)
    chosen = {"train": settings.train.model_dump(), "features": settings.features.model_dump()}
    lineage = Lineage(file_md5(model), file_md5(data), chosen)
    card = render(json.loads(metrics.read_text()), json.loads(proxies.read_text()), lineage)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(card)
    log.info("model card written to %s", out)


if __name__ == "__main__":
    run_stage(main)
