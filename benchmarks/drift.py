"""Benchmark of the drift check: time and peak memory by log size, and Evidently side by side.

    uv run python benchmarks/drift.py generate   # logs of 10k..10M rows (the simulator)
    uv run python benchmarks/drift.py speed      # `underwrite drift`, cold and warm cache
    uv run python benchmarks/drift.py compare    # rates and time against Evidently
    uv run python benchmarks/drift.py table      # the Markdown for docs/benchmarks.md
    uv run python benchmarks/drift.py power      # false alarms and power over fresh re-splits
    uv run python benchmarks/drift.py power-table  # their Markdown for docs/benchmarks.md

Needs `dvc repro` outputs (data/processed, models/model.joblib). Evidently (0.7.23) does not
import under pandas 3, which this project locks, so ``compare`` runs it in its own venv
(benchmarks/.work/evidently-venv, pandas 2.x), created with uv on first use. Results go to
benchmarks/.work/drift/results.json. Every command here imports the package lazily, so the
Evidently worker (``evidently-worker``) runs in that venv without it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks/.work/drift"
RESULTS = WORK / "results.json"
EVIDENTLY_VENV = ROOT / "benchmarks/.work/evidently-venv"
EVIDENTLY = "evidently==0.7.23"
SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
END = datetime(2026, 1, 8, tzinfo=UTC)  # logs span the 7 days before: one default window
PROFILE = WORK / "profile.json"
EVIDENTLY_TIMEOUT = 1800  # seconds for one Evidently report on a large window


def _save(key: str, value) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[key] = value
    results["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def _world():
    """Params, the held-out pool, the model path and the reference profile (as the stage)."""
    from underwrite.drift.profile import build_profile
    from underwrite.inference_log import input_fields
    from underwrite.io import read_table
    from underwrite.params import load_params
    from underwrite.stages.profile import held_out_scores

    params = load_params(ROOT / "params.yaml")
    train = read_table(ROOT / "data/processed/train.parquet")
    pool = read_table(ROOT / "data/processed/test.parquet")
    model_path = ROOT / "models/model.joblib"
    scores = held_out_scores(train, params)
    profile = build_profile(train, input_fields(), params.drift, scores, params.evaluate.threshold)
    WORK.mkdir(parents=True, exist_ok=True)
    profile.save(PROFILE)
    return params, train, pool, model_path, profile


def generate(sizes: list[int]) -> None:
    """Logs of each size, written by the simulator (no shift), under WORK/logs/<rows>."""
    from underwrite.drift.simulate import to_log

    params, _, pool, model_path, _ = _world()
    for rows in sizes:
        folder = WORK / "logs" / str(rows)
        if folder.exists():
            print(f"{folder} exists; delete it to regenerate")
            continue
        started = time.perf_counter()
        to_log(
            pool, model_path, folder, rows=rows, shift="none", params=params.drift.shifts,
            threshold=params.evaluate.threshold, seed=rows, end=END,
        )  # fmt: skip
        size = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
        print(f"{rows} rows: {size / 1e6:.0f} MB JSONL in {time.perf_counter() - started:.0f} s")


def _measure(command: list[str]) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS (MB), exit status and CPU seconds of a child process.

    Bytecode is written as in a normal shell (PYTHONDONTWRITEBYTECODE unset), so only the
    first run pays for compiling scipy and pandas.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), cpu


def speed(sizes: list[int]) -> None:
    """`underwrite drift` on each log: cold (JSONL parsed into the cache), then warm."""
    import shutil

    if not PROFILE.exists():
        _world()
    rows_out = json.loads(RESULTS.read_text()).get("speed", {}) if RESULTS.exists() else {}
    warmed = False
    for rows in sizes:
        log = WORK / "logs" / str(rows)
        cache = WORK / "cache" / str(rows)
        shutil.rmtree(cache, ignore_errors=True)
        command = [
            str(ROOT / ".venv/bin/underwrite"), "drift", "--log", str(log),
            "--profile", str(PROFILE), "--out", str(WORK / "out" / str(rows)),
            "--end", END.isoformat(), "--cache", str(cache),
        ]  # fmt: skip
        if not warmed:  # one throwaway run compiles the bytecode of scipy, pandas, ...
            _measure([*command[:-1], str(WORK / "cache" / "warm-up")])
            warmed = True
        load = os.getloadavg()[0]  # the machine is shared: say how busy it was
        cold = _measure(command)
        warm = _measure(command)
        rows_out[str(rows)] = {"cold": cold, "warm": warm, "load": [load, os.getloadavg()[0]]}
        print(
            f"{rows}: cold {cold[0]:.1f} s {cold[3]:.1f} s CPU {cold[1]:.0f} MB, warm "
            f"{warm[0]:.1f} s {warm[3]:.1f} s CPU {warm[1]:.0f} MB (load {load:.1f})"
        )
        _save("speed", rows_out)


def _windows(samples: int) -> Path:
    """The must-hold tests' windows: ``samples`` seeded windows per shift, scored, saved."""
    import numpy as np
    import pandas as pd

    from underwrite.drift.simulate import SHIFTS, sample, score_distinct

    params, train, pool, model_path, _ = _world()
    import joblib

    model = joblib.load(model_path)
    frames = []
    for shift in SHIFTS:
        for seed in range(samples):
            rng = np.random.default_rng(seed)
            window = sample(pool, params.drift.window_rows, shift, params.drift.shifts, rng)
            window = score_distinct(window, model, params.evaluate.threshold)
            frames.append(window.assign(shift=shift, seed=seed))
    path = WORK / "windows.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(path)
    train.to_parquet(WORK / "reference.parquet")
    return path


def ours(samples: int) -> dict:
    """Our check on each window: alarm rate per shift, the top feature, time per window."""
    import pandas as pd

    from underwrite.drift.check import check_frame
    from underwrite.drift.profile import Profile
    from underwrite.drift.simulate import shifted_columns
    from underwrite.params import load_params

    params = load_params(ROOT / "params.yaml")
    profile = Profile.load(PROFILE)
    windows = pd.read_parquet(_windows(samples))
    out = {}
    for shift, group in windows.groupby("shift", sort=False):
        started, alarms, named = time.perf_counter(), [], 0
        expected = set(shifted_columns(shift, params.drift.shifts))
        for _, window in group.groupby("seed"):
            result = check_frame(profile, window, params.drift)
            alarms.append(bool(result.drifted))
            named += bool(expected) and result.features[0].name in expected
        seconds = (time.perf_counter() - started) / len(alarms)
        out[shift] = {"alarms": alarms, "named_first": named, "seconds_per_window": seconds}
    return out


def _evidently_python() -> str:
    python = EVIDENTLY_VENV / "bin/python"
    if not python.exists():
        subprocess.run(["uv", "venv", "-q", str(EVIDENTLY_VENV), "--python", "3.11"], check=True)
        env = {**os.environ, "VIRTUAL_ENV": str(EVIDENTLY_VENV)}
        subprocess.run(
            ["uv", "pip", "install", "-q", EVIDENTLY, "pandas<3", "pyarrow"], check=True, env=env
        )
    return str(python)


def compare(samples: int, evidently_samples: int, sizes: list[int]) -> None:
    """Both tools on the same windows (rates), and on the logs' windows (time)."""
    mine = ours(samples)
    _save("ours", mine)
    columns = _columns()
    command = [
        _evidently_python(), __file__, "evidently-worker", "--samples", str(evidently_samples),
        "--numerical", ",".join(columns["numerical"]),
        "--categorical", ",".join(columns["categorical"]),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT, timeout=6 * 3600)
    timing = {}
    for rows in sizes:
        timing[str(rows)] = {"ours": _time_ours(rows), "evidently": _time_evidently(rows, command)}
        print(rows, timing[str(rows)])
        _save("timing", timing)


def _columns() -> dict[str, list[str]]:
    from underwrite.inference_log import input_fields
    from underwrite.schema import BY_NAME, Kind

    numeric = [n for n in input_fields() if BY_NAME[n].kind is Kind.NUMERIC]
    return {"numerical": numeric, "categorical": [n for n in input_fields() if n not in numeric]}


def _window_frame(rows: int):
    """The log of ``rows`` rows as one in-memory window, read from the warm Parquet cache."""
    import pyarrow as pa

    from underwrite.drift.logreader import read_window
    from underwrite.inference_log import APPROVED, PROBABILITY, input_fields

    columns = [*input_fields(), PROBABILITY, APPROVED]
    cache = WORK / "cache" / str(rows)
    start = END.replace(year=2025)
    batches = read_window(str(WORK / "logs" / str(rows)), start, END, columns, cache)
    return pa.Table.from_batches(list(batches)).to_pandas()


def _time_ours(rows: int) -> float:
    from underwrite.drift.check import check_frame
    from underwrite.drift.profile import Profile
    from underwrite.params import load_params

    frame = _window_frame(rows)
    started = time.perf_counter()
    check_frame(Profile.load(PROFILE), frame, load_params(ROOT / "params.yaml").drift)
    return time.perf_counter() - started


def _time_evidently(rows: int, command: list[str]) -> float | None:
    path = WORK / f"window-{rows}.parquet"
    _window_frame(rows).to_parquet(path)
    try:
        done = subprocess.run(
            [*command, "--time-window", str(path)], cwd=ROOT, capture_output=True, text=True,
            timeout=EVIDENTLY_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    finally:
        path.unlink()
    return float(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None


def evidently_worker(args: argparse.Namespace) -> None:
    """Runs inside the Evidently venv: the default DataDriftPreset on the same windows."""
    import re

    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=args.numerical.split(","), categorical_columns=args.categorical.split(",")
    )
    columns = [*definition.numerical_columns, *definition.categorical_columns]
    reference = Dataset.from_pandas(
        pd.read_parquet(WORK / "reference.parquet")[columns], data_definition=definition
    )

    def run(frame: pd.DataFrame) -> dict:
        current = Dataset.from_pandas(frame[columns], data_definition=definition)
        metrics = Report([DataDriftPreset()]).run(reference, current).dict()["metrics"]
        share = next(m["value"]["share"] for m in metrics if m["metric_name"].startswith("Drifted"))
        flagged = []
        for m in metrics:
            found = re.match(r"ValueDrift\(column=(\w+),method=(.*),threshold=([\d.]+)\)",
                             m["metric_name"])  # fmt: skip
            if found is None:
                continue
            value, threshold = float(m["value"]), float(found.group(3))
            # p-value methods drift below the threshold, distances at or above it
            if (value < threshold) if "p_value" in found.group(2) else (value >= threshold):
                flagged.append(found.group(1))
        return {"drift": share >= 0.5, "share": share, "flagged": flagged}

    if args.time_window:
        frame = pd.read_parquet(args.time_window)
        started = time.perf_counter()
        run(frame)
        print(time.perf_counter() - started)
        return
    windows = pd.read_parquet(WORK / "windows.parquet")
    out = {}
    for shift, group in windows.groupby("shift", sort=False):
        rows, started = [], time.perf_counter()
        for _, window in list(group.groupby("seed"))[: args.samples]:
            rows.append(run(window))
        seconds = (time.perf_counter() - started) / len(rows)
        out[shift] = {"results": rows, "seconds_per_window": seconds}
        print(shift, sum(r["drift"] for r in rows), "/", len(rows), f"{seconds:.1f} s/window")
    (WORK / "evidently.json").write_text(json.dumps(out, indent=2) + "\n")


def table() -> str:
    """docs/benchmarks.md's drift tables from results.json and evidently.json."""
    results = json.loads(RESULTS.read_text())
    lines = [
        "| logged rows | cold: wall, CPU, peak RSS | warm: wall, CPU, peak RSS "
        "| load before, after |",
        "| --- | --- | --- | --- |",
    ]
    for rows, r in sorted(results.get("speed", {}).items(), key=lambda item: int(item[0])):
        (ct, cm, _, cc), (wt, wm, _, wc) = r["cold"], r["warm"]
        load = " / ".join(f"{x:.1f}" for x in r.get("load", []))
        lines.append(
            f"| {int(rows):,} | {ct:.1f} s, {cc:.1f} s, {cm:.0f} MB "
            f"| {wt:.1f} s, {wc:.1f} s, {wm:.0f} MB | {load} |"
        )
    evidently = json.loads((WORK / "evidently.json").read_text())
    from underwrite.drift.simulate import shifted_columns
    from underwrite.params import load_params

    shifts = load_params(ROOT / "params.yaml").drift.shifts
    lines += [
        "",
        "| shift | ours: alarm rate (n) | ours: names it first | Evidently: alarm rate (n) "
        "| Evidently: flags the shifted column | s/window ours / Evidently |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for shift, mine in results["ours"].items():
        theirs = evidently[shift]["results"]
        expected = set(shifted_columns(shift, shifts))
        flagged = sum(bool(expected & set(r["flagged"])) for r in theirs)
        named = f"{mine['named_first']}/{len(mine['alarms'])}" if expected else "-"
        lines.append(
            f"| {shift} | {sum(mine['alarms']) / len(mine['alarms']):.1%} ({len(mine['alarms'])}) "
            f"| {named} | {sum(r['drift'] for r in theirs) / len(theirs):.1%} ({len(theirs)}) "
            f"| {f'{flagged}/{len(theirs)}' if expected else '-'} "
            f"| {mine['seconds_per_window']:.3f} / {evidently[shift]['seconds_per_window']:.1f} |"
        )
    lines += ["", "| window rows | ours (s) | Evidently (s) |", "| --- | --- | --- |"]
    for rows, t in results.get("timing", {}).items():
        theirs = "no result in 30 min" if t["evidently"] is None else f"{t['evidently']:.1f}"
        lines.append(f"| {int(rows):,} | {t['ours']:.2f} | {theirs} |")
    return "\n".join(lines)


def _power_world():
    """The cleaned data set and params, once per process (the power workers)."""
    from underwrite.io import read_source
    from underwrite.params import PACKAGED_SOURCE, load_params
    from underwrite.stages.prepare import clean

    return load_params(ROOT / "params.yaml"), clean(read_source(PACKAGED_SOURCE))


# Shift sizes from small to large: the income factor; the share of rows with the mix's value
# (self-employed: 12.9% of applications), a new category's share, an empty field's share.
LEVELS = {
    "none": (None,),
    "income_inflation": (1.02, 1.05, 1.10, 1.15, 1.2, 1.3),
    "applicant_mix": (0.15, 0.18, 0.20, 0.25, 0.30),
    "new_category": (0.005, 0.01, 0.015, 0.02, 0.03),
    "missing_surge": (0.02, 0.04, 0.06, 0.08, 0.10),
}
POWER = WORK / "power.jsonl"


def _sized(shifts, shift: str, level: float | None):
    """drift.shifts with one shift's size set to ``level``."""
    if level is None:
        return shifts
    key = "factor" if shift == "income_inflation" else "share"
    return shifts.model_copy(update={shift: getattr(shifts, shift).model_copy(update={key: level})})


def power_trial(trial: int) -> list[dict]:
    """One independent re-split: split, fit, profile, then one window per shift and size.

    The split is seeded with ``trial``; the model is the pipeline's (train stage), the
    reference profile the profile stage's (out-of-fold scores); every window comes from
    this re-split's own held-out part, so no two trials share a model, a reference or a
    window. The unshifted window is also checked against an in-sample score reference.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    from underwrite.drift.check import check_frame
    from underwrite.drift.profile import build_profile
    from underwrite.drift.simulate import sample, score
    from underwrite.inference_log import input_fields
    from underwrite.schema import LABEL
    from underwrite.stages.prepare import split
    from underwrite.stages.profile import held_out_scores
    from underwrite.stages.train import train

    params, data = _WORLD
    drift, threshold = params.drift, params.evaluate.threshold
    with threadpool_limits(1):
        fit, holdout = split(data, params.prepare.model_copy(update={"seed": trial}))
        model = train(fit, params)
        profiles = {
            "out_of_fold": build_profile(
                fit, input_fields(), drift, held_out_scores(fit, params), threshold
            ),
            "in_sample": build_profile(
                fit, input_fields(), drift,
                model.predict_proba(fit.drop(columns=[LABEL]))[:, 1], threshold,
            ),
        }  # fmt: skip
        rows = []
        for number, (shift, level) in enumerate(
            (s, level) for s, levels in LEVELS.items() for level in levels
        ):
            rng = np.random.default_rng([trial, number])
            window = sample(
                holdout, drift.window_rows, shift, _sized(drift.shifts, shift, level), rng
            )
            window = score(window.reset_index(drop=True), model, threshold)
            for reference in ("out_of_fold", "in_sample") if shift == "none" else ("out_of_fold",):
                result = check_frame(profiles[reference], window, drift)
                rows.append(_trial_row(trial, shift, level, reference, result))
    return rows


def _trial_row(trial: int, shift: str, level, reference: str, result) -> dict:
    prediction = result.prediction
    return {
        "trial": trial, "shift": shift, "level": level, "reference": reference,
        "alarm": bool(result.drifted),
        "features": [f.name for f in result.drifted_features],
        "protected": [f.name for f in result.protected_drift],
        "prediction": prediction.reasons if prediction else [],
        "approval_change": (
            prediction.approval_rate_current - prediction.approval_rate_reference
            if prediction else None
        ),
    }  # fmt: skip


_WORLD = None


def _init_power_worker() -> None:
    global _WORLD
    _WORLD = _power_world()


def power(trials: int, jobs: int) -> None:
    """``trials`` re-splits (resumable: trials already in power.jsonl are skipped)."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    WORK.mkdir(parents=True, exist_ok=True)
    done = {r["trial"] for r in _power_rows()}
    todo = [t for t in range(trials) if t not in done]
    with (
        ProcessPoolExecutor(jobs, initializer=_init_power_worker) as pool,
        POWER.open("a") as out,
    ):
        for rows in tqdm(pool.map(power_trial, todo), total=len(todo), desc="re-splits"):
            out.write("".join(json.dumps(r) + "\n" for r in rows))
            out.flush()
    print(power_table())


def _power_rows() -> list[dict]:
    if not POWER.exists():
        return []
    rows = []
    for line in POWER.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a run stopped while writing its last line: that trial reruns
            continue
    trials = {}
    for row in rows:
        trials.setdefault(row["trial"], []).append(row)
    if not trials:
        return []
    complete = max(len(t) for t in trials.values())  # rows of a trial that finished
    return [r for t in trials.values() if len(t) == complete for r in t]


def _rate(alarms: int, n: int) -> str:
    """The rate with its 95% Clopper-Pearson (exact binomial) interval."""
    from scipy.stats import binomtest

    ci = binomtest(alarms, n).proportion_ci(0.95, method="exact")
    return f"{alarms}/{n} = {alarms / n:.1%} [{ci.low:.1%}, {ci.high:.1%}]"


def power_table() -> str:
    """docs/benchmarks.md's false-alarm and power tables, from power.jsonl."""
    import pandas as pd

    rows = pd.DataFrame(_power_rows())
    clean = rows[rows["shift"] == "none"]
    lines = [
        f"{rows['trial'].nunique()} re-splits. Alarm rate, 95% Clopper-Pearson interval.",
        "",
        "| unshifted window against | false alarms | of which features / predictions only "
        "| approval rate, window - reference: mean (sd) |",
        "| --- | --- | --- | --- |",
    ]
    for reference, group in clean.groupby("reference", sort=False):
        alarms, features = int(group["alarm"].sum()), int(group["features"].map(bool).sum())
        change = group["approval_change"]
        lines.append(
            f"| {reference.replace('_', '-')} scores | {_rate(alarms, len(group))} "
            f"| {features} / {alarms - features} "
            f"| {change.mean():+.3f} ({change.std():.3f}) |"
        )
    lines += ["", "| shift | size | alarm rate [95% CI] |", "| --- | --- | --- |"]
    shifted = rows[(rows["shift"] != "none") & (rows["reference"] == "out_of_fold")]
    for (shift, level), group in shifted.groupby(["shift", "level"], sort=False):
        lines.append(f"| {shift} | {level:g} | {_rate(int(group['alarm'].sum()), len(group))} |")
    lines += ["", "| shift | smallest size detected in >= 95% of re-splits |", "| --- | --- |"]
    for shift, group in shifted.groupby("shift", sort=False):
        rates = group.groupby("level")["alarm"].mean()
        found = rates[rates >= 0.95]
        lines.append(f"| {shift} | {f'{found.index.min():g}' if len(found) else 'none tried'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=["generate", "speed", "compare", "table", "power", "power-table",
                 "evidently-worker"],
    )  # fmt: skip
    parser.add_argument("--trials", type=int, default=400, help="power: independent re-splits")
    parser.add_argument("--jobs", type=int, default=2, help="power: worker processes")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--samples", type=int, default=200, help="windows per shift (ours)")
    parser.add_argument("--evidently-samples", type=int, default=20, help="windows per shift")
    parser.add_argument("--numerical", default="")
    parser.add_argument("--categorical", default="")
    parser.add_argument("--time-window", default="")
    args = parser.parse_args()
    if args.command == "evidently-worker":
        evidently_worker(args)
        return
    if args.command in ("power", "power-table"):
        if args.command == "power":
            power(args.trials, args.jobs)
        else:
            print(power_table())
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1 if args.command == "compare" else None):
        if args.command == "generate":
            generate(args.sizes)
        elif args.command == "speed":
            speed(args.sizes)
        elif args.command == "compare":
            compare(args.samples, args.evidently_samples, [s for s in args.sizes if s <= 1_000_000])
        else:
            print(table())


if __name__ == "__main__":
    main()
