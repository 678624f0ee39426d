"""`underwrite drift` and `underwrite simulate`: thin commands over drift and simulate.

Heavy modules load inside the commands, so `underwrite --help` stays fast. Expected
failures (a bad log, no profile, bad params) print one line and exit 3, never a traceback.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)

DEFAULT_LOG = "logs/inference"  # the service's default (UNDERWRITE_INFERENCE_LOG)
DEFAULT_PROFILE = Path("data/reference/profile.json")
DEFAULT_CACHE = Path(".cache/inference-log")
BAD_INPUT = 3

LogOption = Annotated[
    str, typer.Option("--log", help="inference log: a folder or azure://container/prefix")
]
ParamsOption = Annotated[Path, typer.Option("--params", help="params.yaml")]


def _expected_errors() -> tuple[type[Exception], ...]:
    from underwrite.drift.logreader import LogError
    from underwrite.drift.profile import ProfileError
    from underwrite.io import SourceError
    from underwrite.params import ParamsError
    from underwrite.simulate import SimulationError

    return LogError, ProfileError, ParamsError, SourceError, SimulationError


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"ERROR: {err}", err=True)
    return typer.Exit(BAD_INPUT)


def parse_end(value: str, source: str, cache: Path) -> datetime:
    """now, latest (the newest record in the log) or an ISO 8601 time (UTC if no zone)."""
    from underwrite.drift.logreader import LogError, latest_timestamp

    if value == "now":
        return datetime.now(UTC)
    if value == "latest":
        newest = latest_timestamp(source, cache)
        if newest is None:
            return datetime.now(UTC)
        return newest + (datetime.resolution * 1)
    try:
        end = datetime.fromisoformat(value)
    except ValueError:
        raise LogError(f"--end {value!r}: use now, latest or an ISO 8601 time") from None
    return end if end.tzinfo else end.replace(tzinfo=UTC)


def drift(
    log_source: LogOption = DEFAULT_LOG,
    profile: Annotated[Path, typer.Option(help="reference profile (stage profile)")] = (
        DEFAULT_PROFILE
    ),
    out: Annotated[Path, typer.Option(help="folder for result.json, report.md, plots/")] = Path(
        "reports/drift"
    ),
    end: Annotated[str, typer.Option(help="window end: now, latest, or ISO 8601")] = "now",
    cache: Annotated[Path, typer.Option(help="Parquet cache of the parsed log")] = DEFAULT_CACHE,
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Compare the latest window of the inference log with the training data.

    Exit status: 0 no drift, 1 drift, 2 cannot tell (too few rows), 3 bad input.
    """
    from underwrite.drift.check import check_log
    from underwrite.drift.profile import Profile
    from underwrite.params import load_params

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_params(params).drift
        reference = Profile.load(profile)
        cache_dir = cache / _cache_key(log_source)
        result = check_log(
            reference, log_source, parse_end(end, log_source, cache_dir), settings, cache_dir
        )
    except _expected_errors() as err:
        raise _fail(err) from None
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
    data: Annotated[Path, typer.Option(help="held-out applications")] = Path(
        "data/processed/test.parquet"
    ),
    model: Annotated[Path, typer.Option(help="log mode: the model that scores")] = Path(
        "models/model.joblib"
    ),
    params: ParamsOption = Path("params.yaml"),
) -> None:
    """Replay held-out applications, optionally shifted, against a URL or into a log.

    Log mode writes a fresh log: a folder that already holds log files, or an existing
    labels file, is refused unless --append. Requests to a URL carry the synthetic-traffic
    header, so the service's drift windows and retraining labels leave them out.
    """
    from underwrite import simulate as sim
    from underwrite.io import read_table
    from underwrite.params import load_params

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if (to_log is None) == (url is None):
        raise _fail(ValueError("give exactly one of --to-log FOLDER or --url URL"))
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
    except (*_expected_errors(), OSError) as err:
        raise _fail(err) from None
    if labels_out is not None:
        sim.save_labels(truth, labels_out, append)
        typer.echo(f"labels: {labels_out}{' (appended)' if append else ''}")
