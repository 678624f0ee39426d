"""`python -m underwrite.watchlist generate | check`: make the watch list, or check that its
unknown-income case still shows the demo's fault.

Both train the faulty and the fixed model from the project's src/ on the training split
(underwrite.watchlist.fault). A bad command line exits 2 naming the problem; a case that no
longer shows the fault exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from underwrite import paths, watchlist
from underwrite.console import ExitCode, fail, setup_logging
from underwrite.watchlist import WATCHLIST, fault

app = typer.Typer(
    help="The watch list (examples/watchlist): generate it, or check its unknown-income case.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

ProjectOption = Annotated[
    Path, typer.Option(help="the project whose src/ trains the faulty and the fixed model")
]
TrainOption = Annotated[Path, typer.Option(help="the training split (stage prepare)")]
ParamsOption = Annotated[Path, typer.Option(help="params.yaml: training knobs, threshold")]
MarginOption = Annotated[
    float,
    typer.Option(min=0.0, max=0.49, help="how far from the threshold both decisions must be"),
]
REPRO = "`dvc repro prepare` writes it (or `dvc pull` fetches it)"


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="the folder to write the cases to")] = (WATCHLIST),
    test: Annotated[Path, typer.Option(help="the held-out split (stage prepare)")] = (
        paths.TEST_DATA
    ),
    train: TrainOption = paths.TRAIN_DATA,
    params: ParamsOption = paths.PARAMS,
    project: ProjectOption = Path("."),
    margin: MarginOption = fault.MARGIN,
) -> None:
    """Write the watch list from the real data: the unknown-income case, a clear approval, a
    borderline denial and a typical applicant of each race group."""
    from underwrite.io import read_table
    from underwrite.watchlist.generate import held_out_cases

    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file; give a folder for the case files", ExitCode.USAGE)
    threshold = _inputs(project, params, train, test)
    try:
        models = fault.train_models(project, train, params)
        splits = {"training": read_table(train), "held-out": read_table(test)}
        cases = [
            fault.unknown_income_case(splits, models, threshold, margin),
            *held_out_cases(splits["held-out"], models.fixed, threshold),
        ]
    except watchlist.WatchlistError as err:
        raise fail(err) from None
    for path in watchlist.write(cases, out):
        typer.echo(path)


@app.command()
def check(
    folder: Annotated[Path, typer.Option(help="the watch list's folder")] = (WATCHLIST),
    train: TrainOption = paths.TRAIN_DATA,
    params: ParamsOption = paths.PARAMS,
    project: ProjectOption = Path("."),
    margin: MarginOption = fault.MARGIN,
) -> None:
    """Check that the faulty model approves the unknown-income case and the fixed model denies
    it, both MARGIN or more from the threshold (exit 1 and why, when not)."""
    threshold = _inputs(project, params, train)
    path = folder / f"{fault.CASE_NAME}.json"
    if not path.is_file():
        raise fail(f"{path}: no such file; make it with `python -m underwrite.watchlist "
                   "generate`", ExitCode.USAGE)  # fmt: skip
    try:
        case = watchlist.parse_case(path.read_text(), str(path))
        scores = fault.score(case, fault.train_models(project, train, params), threshold)
    except watchlist.WatchlistError as err:
        raise fail(err) from None
    typer.echo(f"{case.name}: the faulty model (666 read as income) gives p={scores.faulty:.3f}, "
               f"the fixed model p={scores.fixed:.3f}, threshold {threshold}")  # fmt: skip
    found = fault.problems(case, scores, margin)
    if found:
        raise fail(f"{path} does not show the fault: {'; '.join(found)}; regenerate it with "
                   "`python -m underwrite.watchlist generate`")  # fmt: skip
    typer.echo(f"{case.name}: approved by the faulty model, {case.expect} by the fixed one")


def _inputs(project: Path, params: Path, *data: Path) -> float:
    """Check the command line's files; return the decision threshold of PARAMS."""
    from underwrite.params import ParamsError, load_params

    if not (project / "src" / "underwrite" / "schema.py").is_file():
        raise fail(f"--project {project}: no src/underwrite/schema.py there; give the "
                   "project's root folder", ExitCode.USAGE)  # fmt: skip
    for path in data:
        if not path.is_file():
            raise fail(f"{path}: no such file; {REPRO}", ExitCode.USAGE)
    if not params.is_file():
        raise fail(f"--params {params}: no such file; give the project's params.yaml",
                   ExitCode.USAGE)  # fmt: skip
    try:
        return load_params(params).evaluate.threshold
    except ParamsError as err:
        raise fail(err, ExitCode.USAGE) from None


def main() -> None:
    setup_logging()
    app(prog_name="python -m underwrite.watchlist")
