"""The `underwrite` command: everything a person runs besides the DVC stages.

Commands import their modules lazily so that `underwrite --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

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
        typer.echo(f"ERROR: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{path}: ok")


if __name__ == "__main__":
    app()
