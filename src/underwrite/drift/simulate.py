"""Traffic simulator: replays held-out applications, optionally shifted, seeded.

Applications come from the test split in random order, each once per pass (more rows than
the split: further passes in fresh orders). A shift changes the traffic in one controlled
way, sized by ``drift.shifts`` in params.yaml. The traffic goes to a served model
(``POST /predict_batch``) or straight into an inference log, in the log's record format,
scored by the local model; the true outcomes can be written as a labels file keyed by
request id, as if they had arrived later.

Requests to a served model carry the synthetic-traffic header, so that service's drift
windows and retraining labels leave them out. Records written straight into a log folder
stand in for real traffic (that is what the drift demo, the tests and the benchmarks
check), so they are not flagged.

A log folder is written fresh: one that already holds records, or a labels file that
already exists, is refused unless ``append`` is set, which adds to both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from underwrite import inference_log as contract
from underwrite.io import file_md5
from underwrite.params import ShiftParams
from underwrite.schema import BY_NAME, LABEL, Kind

log = logging.getLogger(__name__)

SHIFTS = ("none", "income_inflation", "applicant_mix", "new_category", "missing_surge")
WRITE_ROWS = 100_000  # records formatted as JSON per step
STEP_ROWS = 1_000_000  # records simulated per step


class SimulationError(ValueError):
    """The simulation cannot run as asked; the message names the setting to change."""


def shifted_columns(shift: str, params: ShiftParams) -> list[str]:
    """The columns a shift changes directly."""
    check_shift(shift, params)
    if shift == "none":
        return []
    if shift == "income_inflation":
        return list(params.income_inflation.columns)
    return [getattr(params, shift).column]


def check_shift(shift: str, params: ShiftParams) -> None:
    if shift not in SHIFTS:
        raise SimulationError(f"unknown shift {shift!r}; choose one of {', '.join(SHIFTS)}")
    if shift == "none":
        return
    names = params.income_inflation.columns if shift == "income_inflation" else ()
    names = names or (getattr(params, shift).column,)
    unknown = [n for n in names if n not in contract.input_fields()]
    if unknown:
        raise SimulationError(
            f"drift.shifts.{shift}: {', '.join(unknown)} is not an application field"
        )
    if shift == "missing_surge" and not BY_NAME[names[0]].nullable:
        raise SimulationError(
            f"drift.shifts.missing_surge.column {names[0]!r} is not nullable: the service "
            "refuses requests without it, so a surge could never reach the log"
        )


def _draw(pool: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """``rows`` rows of pool: each row once per pass, passes in fresh random orders."""
    if rows <= 0 or pool.empty:
        return pool.iloc[:0]
    passes = -(-rows // len(pool))
    order = np.concatenate([rng.permutation(len(pool)) for _ in range(passes)])[:rows]
    return pool.iloc[order]


def sample(
    pool: pd.DataFrame, rows: int, shift: str, params: ShiftParams, rng: np.random.Generator
) -> pd.DataFrame:
    """A window of ``rows`` replayed applications with ``shift`` applied."""
    check_shift(shift, params)
    if shift == "applicant_mix":
        mix = params.applicant_mix
        group = pool[mix.column] == mix.value
        if not group.any():
            raise SimulationError(
                f"drift.shifts.applicant_mix: no held-out application has {mix.column} == "
                f"{mix.value:g}"
            )
        inside = round(mix.share * rows)
        parts = [_draw(pool[group], inside, rng), _draw(pool[~group], rows - inside, rng)]
        frame = pd.concat(parts).iloc[rng.permutation(rows)]
    else:
        frame = _draw(pool, rows, rng)
    frame = frame.reset_index(drop=True).copy()
    return apply_shift(frame, shift, params, rng)


def apply_shift(
    frame: pd.DataFrame, shift: str, params: ShiftParams, rng: np.random.Generator
) -> pd.DataFrame:
    """Income inflation, a new category or a missing-value surge (the mix is in ``sample``)."""
    if shift == "income_inflation":
        for name in params.income_inflation.columns:
            frame[name] = frame[name] * params.income_inflation.factor
    elif shift == "new_category":
        hit = rng.random(len(frame)) < params.new_category.share
        frame.loc[hit, params.new_category.column] = params.new_category.value
    elif shift == "missing_surge":
        hit = rng.random(len(frame)) < params.missing_surge.share
        frame.loc[hit, params.missing_surge.column] = np.nan
    return frame


def score(frame: pd.DataFrame, model, threshold: float) -> pd.DataFrame:
    """Adds the model's probability and decision, as the service would log them."""
    inputs = frame.drop(columns=[c for c in frame.columns if c not in contract.input_fields()])
    probability = model.predict_proba(inputs)[:, 1]
    return frame.assign(
        **{contract.PROBABILITY: probability, contract.APPROVED: probability >= threshold}
    )


def timestamps(rows: int, end: datetime, days: float, rng: np.random.Generator) -> pd.Series:
    """Arrival times spread uniformly over ``days`` before ``end``, in order."""
    offsets = np.sort(rng.uniform(0, days * 86400, rows))[::-1]
    return pd.Series(pd.Timestamp(end) - pd.to_timedelta(offsets, unit="s"))


def request_ids(rows: int, rng: np.random.Generator) -> list[str]:
    return [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(rows)]


def log_records(
    frame: pd.DataFrame, stamps: pd.Series, model_version: str, model_md5: str, ids: list[str]
) -> pd.DataFrame:
    """Scored applications in the log's flat record layout (metadata first)."""
    meta = pd.DataFrame(
        {
            contract.REQUEST_ID: ids,
            contract.TIMESTAMP: stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").to_numpy(),
            contract.MODEL_VERSION: model_version,
            contract.MODEL_MD5: model_md5,
            contract.PROBABILITY: frame[contract.PROBABILITY].to_numpy(),
            contract.APPROVED: frame[contract.APPROVED].to_numpy(dtype=bool),
            contract.SYNTHETIC: False,  # stands in for real traffic (module docstring)
        }
    )
    fields = frame[contract.input_fields()].reset_index(drop=True)
    return pd.concat([meta, fields], axis=1)


def write_log(records: pd.DataFrame, folder: Path, tag: str) -> list[Path]:
    """Appends records to ``<folder>/<day>-<tag>.jsonl``, one file per UTC day."""
    folder.mkdir(parents=True, exist_ok=True)
    days = records[contract.TIMESTAMP].str.slice(0, 10)
    written = []
    steps = range(0, len(records), WRITE_ROWS)
    for start in steps:
        chunk = records.iloc[start : start + WRITE_ROWS]
        for day, part in chunk.groupby(days.iloc[start : start + WRITE_ROWS], sort=True):
            path = folder / f"{day}-{tag}.jsonl"
            with path.open("a", encoding="utf-8") as out:
                out.write(part.to_json(orient="records", lines=True, double_precision=15))
            written.append(path)
    return sorted(set(written))


def check_fresh(folder: Path | None, labels_out: Path | None, append: bool) -> None:
    """Without ``append``, refuse to add to an existing log or to replace a labels file."""
    if append:
        return
    existing = contract.log_files(folder) if folder is not None else []
    if existing:
        raise SimulationError(
            f"log folder {folder} already holds {len(existing)} log files; "
            "pass --append to add to it, or remove it (or choose another folder) to start fresh"
        )
    if labels_out is not None and labels_out.exists():
        raise SimulationError(
            f"labels file {labels_out} exists; pass --append to add to it, or remove it (or "
            "choose another file) to start fresh"
        )


def save_labels(truth: pd.DataFrame, path: Path, append: bool) -> None:
    """Write the labels CSV, or with ``append`` add to an existing one (header once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exists = append and path.exists() and path.stat().st_size > 0
    truth.to_csv(path, index=False, mode="a" if exists else "w", header=not exists)


def labels(frame: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """The true outcome of each replayed application, keyed by request id."""
    return pd.DataFrame({contract.REQUEST_ID: ids, LABEL: frame[LABEL].astype(int).to_numpy()})


def request_body(frame: pd.DataFrame) -> list[dict]:
    """Applications as the service's strict request model wants them (codes as integers)."""
    records = []
    for row in frame[contract.input_fields()].itertuples(index=False):
        record = {}
        for name, value in zip(contract.input_fields(), row, strict=True):
            if pd.isna(value):
                record[name] = None
            elif BY_NAME[name].kind is Kind.NUMERIC:
                record[name] = float(value)
            else:
                record[name] = int(value)
        records.append(record)
    return records


def batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def post(frame: pd.DataFrame, url: str, batch: int, timeout: float) -> tuple[list[str], int]:
    """Sends the applications to ``url``/predict_batch; request ids of those served, refused.

    Requests carry the synthetic-traffic mark, and the credentials in UNDERWRITE_API_TOKEN
    or UNDERWRITE_API_KEY when the service requires them.
    """
    import httpx

    from underwrite.serving.auth import client_headers

    served: list[str] = []
    refused = 0
    headers = {contract.SYNTHETIC_HEADER: contract.SYNTHETIC_HEADER_VALUE}
    headers.update(client_headers())
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout, headers=headers) as client:
        for part in tqdm(list(batches(frame, batch)), desc="posting", unit="batch"):
            try:
                response = client.post("/predict_batch", json=request_body(part))
            except httpx.HTTPError as err:
                raise SimulationError(f"{url}/predict_batch: cannot reach it ({err})") from None
            if response.status_code >= 500:
                raise SimulationError(f"{url}/predict_batch answered {response.status_code}")
            if response.status_code >= 400:
                refused += len(part)
                log.warning("refused %d applications: %s", len(part), response.text[:300])
                served.extend([""] * len(part))
                continue
            served.extend(p["request_id"] for p in response.json())
    return served, refused


def score_distinct(frame: pd.DataFrame, model, threshold: float) -> pd.DataFrame:
    """Like ``score``, but each distinct application is scored once (replays repeat them)."""
    keys = pd.util.hash_pandas_object(frame[contract.input_fields()], index=False)
    first = ~keys.duplicated().to_numpy()
    scored = score(frame[first], model, threshold)
    probability = pd.Series(scored[contract.PROBABILITY].to_numpy(), index=keys[first].to_numpy())
    values = probability.reindex(keys.to_numpy()).to_numpy()
    return frame.assign(**{contract.PROBABILITY: values, contract.APPROVED: values >= threshold})


def to_log(
    pool: pd.DataFrame,
    model_path: Path,
    folder: Path,
    *,
    rows: int,
    shift: str,
    params: ShiftParams,
    threshold: float,
    seed: int,
    days: float = 7.0,
    end: datetime | None = None,
) -> tuple[list[Path], pd.DataFrame]:
    """Replays ``rows`` applications straight into a log folder; returns files and labels.

    Works in steps of ``STEP_ROWS`` so that memory stays bounded for millions of rows.
    """
    import joblib

    rng = np.random.default_rng(seed)
    model = joblib.load(model_path)
    checksum = file_md5(model_path)
    end = end or datetime.now(UTC)
    files: set[Path] = set()
    truth = []
    for start in tqdm(range(0, rows, STEP_ROWS), desc="simulating", disable=rows <= STEP_ROWS):
        size = min(STEP_ROWS, rows - start)
        frame = score_distinct(sample(pool, size, shift, params, rng), model, threshold)
        ids = request_ids(size, rng)
        stamps = timestamps(size, end, days, rng)
        records = log_records(frame, stamps, f"local:{checksum[:12]}", checksum, ids)
        files.update(write_log(records, folder, f"simulated-{shift}-{seed}"))
        truth.append(labels(frame, ids))
    return sorted(files), pd.concat(truth, ignore_index=True)


def to_url(
    pool: pd.DataFrame,
    url: str,
    *,
    rows: int,
    shift: str,
    params: ShiftParams,
    seed: int,
    batch: int = 100,
    timeout: float = 30.0,
) -> tuple[int, pd.DataFrame]:
    """Replays ``rows`` applications against a served model; returns refusals and labels."""
    rng = np.random.default_rng(seed)
    frame = sample(pool, rows, shift, params, rng)
    ids, refused = post(frame, url, batch, timeout)
    served = [i != "" for i in ids]
    return refused, labels(frame[served], [i for i in ids if i])
