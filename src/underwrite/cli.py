"""The `underwrite` command: everything a person runs besides the DVC stages.

Commands import their modules lazily so that `underwrite --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from underwrite.console import fail
from underwrite.demo.commands import demo_command  # heavy imports inside
from underwrite.drift.commands import drift as drift_command  # heavy imports inside
from underwrite.drift.commands import simulate as simulate_command
from underwrite.release.commands import app as release_app  # lazy too
from underwrite.report.commands import report as report_command  # its heavy imports are lazy
from underwrite.retrain.commands import retrain_app  # heavy imports inside the commands
from underwrite.serving.commands import (  # lazy too
    examples_command,
    import_model_command,
    serve_command,
)
from underwrite.storage.commands import azurite_app  # heavy imports inside the commands
from underwrite.storage.doctor import doctor_command
from underwrite.storage.retention import log_app  # adlfs imported inside

app = typer.Typer(
    help="Reproducible, fairness-gated mortgage-approval model.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command()
def schema() -> None:
    """Print every column of the data and its role (feature, label, protected, leaked)."""
    from underwrite.schema import describe

    typer.echo(describe().to_markdown(index=False))


@app.command("check-params")
def check_params(path: Path = typer.Argument(Path("params.yaml"))) -> None:
    """Check params.yaml without running anything."""
    from underwrite.params import ParamsError, load_params

    try:
        load_params(path)
    except ParamsError as err:
        raise fail(err) from None
    typer.echo(f"{path}: ok")


@app.command()
def summary() -> None:
    """The model's headline metrics, its fairness gaps, and what to look at next."""
    from underwrite.report.summary import summary as text

    typer.echo(text())


app.command("report")(report_command)
app.command("doctor")(doctor_command)
app.add_typer(azurite_app, name="azurite")
app.add_typer(log_app, name="log")


app.add_typer(release_app, name="release")


app.command("drift")(drift_command)
app.command("simulate")(simulate_command)
app.add_typer(retrain_app, name="retrain")


app.command("import-model")(import_model_command)
app.command("serve")(serve_command)
app.command("examples")(examples_command)
app.command("demo")(demo_command)


if __name__ == "__main__":
    app()
