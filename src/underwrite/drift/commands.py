"""`underwrite drift` and `underwrite simulate`: thin commands over drift and simulate.

Heavy modules load inside the commands, so `underwrite --help` stays fast. Expected
failures (a bad log, no profile, bad params) print one line and exit 1, never a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from underwrite import paths
from underwrite.console import fail, setup_logging

log = logging.getLogger(__name__)


LogOption = Annotated[
    str, typer.Option("--log", help="inference log: a folder or azure://container/prefix")
]
ParamsOption = Annotated[Path, typer.Option("--params", help="params.yaml")]


def expected_errors() -> tuple[type[Exception], ...]:
    """The errors a drift command reports in one line (bad log, profile, params or source)."""
    from underwrite.drift.logreader import LogError
    from underwrite.drift.profile import ProfileError
    from underwrite.drift.simulate import SimulationError
    from underwrite.io import SourceError
    from underwrite.params import ParamsError

    return LogError, ProfileError, ParamsError, SourceError, SimulationError


def drift(
    log_source: LogOption = paths.INFERENCE_LOG,
    profile: Annotated[Path, typer.Option(help="reference profile (stage profile)")] = (
        paths.PROFILE
    ),
    out: Annotated[
        Path, typer.Option(help="folder for result.json, report.md, plots/")
    ] = paths.DRIFT_REPORT,
    end: Annotated[str, typer.Option(help="window end: now, latest, or ISO 8601")] = "now",
    cache: Annotated[Path, typer.Option(help="Parquet cache of the parsed log")] = paths.LOG_CACHE,
    params: ParamsOption = paths.PARAMS,
) -> None:
    """Compare the latest window of the inference log with the training data.

    Exit status: 0 no drift, 4 drift, 5 cannot tell (too few rows), 1 bad input.
    """
    from underwrite.drift.check import check_log
    from underwrite.drift.logreader import parse_end
    from underwrite.drift.profile import Profile
    from underwrite.params import load_params

    setup_logging()
    try:
        settings = load_params(params).drift
        reference = Profile.load(profile)
        cache_dir = cache / _cache_key(log_source)
        result = check_log(
            reference, log_source, parse_end(end, log_source, cache_dir), settings, cache_dir
        )
    except expected_errors() as err:
        raise fail(err) from None
    from underwrite.drift.report import write_report  # loaded meanwhile by check_log

    write_report(result, reference, out)
    typer.echo(result.message)
    typer.echo(f"report: {out / 'report.md'}")
    raise typer.Exit(int(result.verdict))


def _cache_key(source: str) -> str:
    import hashlib

    return hashlib.sha1(source.encode()).hexdigest()[:16]


def simulate(
    rows: Annotated[
        int | None, typer.Option(min=1, help="applications to replay [default: drift.window_rows]")
    ] = None,
    shift: Annotated[str, typer.Option(help="none, or a shift in drift.shifts")] = "none",
    seed: Annotated[int, typer.Option(help="seeds the order, the shift and the request ids")] = 0,
    to_log: Annotated[Path | None, typer.Option(help="write straight into this log folder")] = None,
    url: Annotated[str | None, typer.Option(help="POST to this served model instead")] = None,
    labels_out: Annotated[
        Path | None, typer.Option(help="write the true outcomes (CSV) keyed by request id")
    ] = None,
    days: Annotated[float, typer.Option(help="log mode: spread arrivals over days")] = 7.0,
    append: Annotated[
        bool,
        typer.Option(
            "--append",
            help="add to an existing log folder and labels file (without it, both must be new)",
        ),
    ] = False,
    data: Annotated[Path, typer.Option(help="held-out applications")] = paths.TEST_DATA,
    model: Annotated[Path, typer.Option(help="log mode: the model that scores")] = paths.MODEL,
    params: ParamsOption = paths.PARAMS,
) -> None:
    """Replay held-out applications, optionally shifted, against a URL or into a log.

    Log mode writes a fresh log: a folder that already holds log files, or an existing
    labels file, is refused unless --append. Requests to a URL carry the synthetic-traffic
    header, so the service's drift windows and retraining labels leave them out.
    """
    from underwrite.drift import simulate as sim
    from underwrite.io import read_table
    from underwrite.params import load_params

    setup_logging()
    if (to_log is None) == (url is None):
        raise fail(ValueError("give exactly one of --to-log FOLDER or --url URL"))
    try:
        settings = load_params(params)
        sim.check_shift(shift, settings.drift.shifts)
        sim.check_fresh(to_log, labels_out, append)
        pool = read_table(data)
        rows = rows or settings.drift.window_rows
        common = {"rows": rows, "shift": shift, "params": settings.drift.shifts, "seed": seed}
        if to_log is not None:
            files, truth = sim.to_log(
                pool, model, to_log, threshold=settings.evaluate.threshold, days=days, **common
            )
            typer.echo(f"wrote {rows} records ({shift}) to {', '.join(map(str, files))}")
        else:
            refused, truth = sim.to_url(pool, url, **common)
            typer.echo(f"sent {rows} applications ({shift}) to {url}: {refused} refused")
    except (*expected_errors(), OSError) as err:
        raise fail(err) from None
    if labels_out is not None:
        sim.save_labels(truth, labels_out, append)
        typer.echo(f"labels: {labels_out}{' (appended)' if append else ''}")
