"""Benchmark the real pipeline (`dvc repro`) on SYNTHETIC data of growing size.

For each size: write a synthetic Parquet file (benchmarks/synthetic.py), copy the repository
into benchmarks/.work, point data.source and data.watch at the file, run `dvc repro`, then
time a no-op `dvc repro` a few times. Each stage command runs through a `python` shim put
first on PATH: it runs the real interpreter and records the stage's wall time, CPU time and
peak memory (max RSS, from getrusage(RUSAGE_CHILDREN), so GNU time is not needed).

Run from the repository root:

    uv run python benchmarks/pipeline.py --sizes 10000 100000 1000000

Results go to stdout as Markdown tables and to benchmarks/.work/results.json.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import logging
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

log = logging.getLogger("benchmark")

PACKAGES = ("dvc", "dvclive", "scikit-learn", "pandas", "pyarrow", "pandera", "fairlearn", "numpy")
PLOTS = "reports/evaluate/plots"
OUTPUT_FOLDERS = ("data/", "models/", "reports/")
GIT_ID = {
    "GIT_AUTHOR_NAME": "benchmark",
    "GIT_AUTHOR_EMAIL": "benchmark@localhost",
    "GIT_COMMITTER_NAME": "benchmark",
    "GIT_COMMITTER_EMAIL": "benchmark@localhost",
}


# --- the shim: runs one stage command and records what it cost -------------------------


def measure(record: Path, argv: list[str]) -> int:
    """Run ``python argv``; append its wall time, CPU time and peak RSS to ``record``."""
    start = time.perf_counter()
    returncode = subprocess.call([sys.executable, *argv])
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    module = argv[argv.index("-m") + 1] if "-m" in argv else " ".join(argv)
    entry = {
        "stage": module.rsplit(".", 1)[-1],
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports kilobytes
        "returncode": returncode,
    }
    with record.open("a") as out:
        out.write(json.dumps(entry) + "\n")
    return returncode


def write_shim(folder: Path, record: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "python"
    shim.write_text(
        "#!/bin/sh\n"
        f'exec "{sys.executable}" "{Path(__file__).resolve()}" measure "{record}" -- "$@"\n'
    )
    shim.chmod(0o755)


# --- a scratch copy of the repository pointed at the synthetic data ---------------------


def _git(args: list[str], cwd: Path) -> str:
    env = {**os.environ, **GIT_ID}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


def _is_source(name: str) -> bool:
    """Code and configuration; not the pipeline's outputs, which the benchmark makes anew."""
    if name.startswith(OUTPUT_FOLDERS):
        return name.endswith(".gitignore")
    return not name.startswith("benchmarks/")


def copy_repo(repo: Path, dest: Path) -> None:
    """The repository's files as they are in the work tree (tracked and new, not ignored)."""
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], repo)
    for name in filter(_is_source, listed.split("\0")):
        source = repo / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git(["init", "-q"], dest)
    _git(["add", "-A"], dest)
    _git(["commit", "-q", "-m", "benchmark copy"], dest)


def point_at(copy: Path, data: Path) -> None:
    """Set data.source and data.watch in the copy's params.yaml to the synthetic file."""
    params = copy / "params.yaml"
    text = params.read_text()
    for key in ("source", "watch"):
        text, found = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {data}", text, count=1)
        if not found:
            raise SystemExit(f"{params}: no 'data.{key}' line to point at {data}")
    params.write_text(text)
    # DVC's state and index for this scratch copy stay inside it
    site = copy / ".dvc" / "site-cache"
    (copy / ".dvc" / "config.local").write_text(f"[core]\n    site_cache_dir = {site}\n")


# --- running dvc ------------------------------------------------------------------------


def run_dvc(args: list[str], cwd: Path, env: dict, timeout: float) -> tuple[float, float, float]:
    """Run dvc, echoing its output.

    Returns wall seconds, CPU seconds and peak RSS in MB, the last two over dvc and its stages.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dvc"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    tail: collections.deque[str] = collections.deque(maxlen=20)
    try:
        for line in filter(str.strip, proc.stdout):
            tail.append(line.rstrip())
            log.debug("    %6.1fs | %s", time.perf_counter() - start, tail[-1])
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        why = f"killed after {timeout:g} s" if wall >= timeout else f"exit {proc.returncode}"
        shown = "\n  ".join(tail)
        raise SystemExit(f"dvc {' '.join(args)} failed in {cwd} ({why}):\n  {shown}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def stage_records(record: Path) -> list[dict]:
    if not record.is_file():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line]


def noop_runs(copy: Path, env: dict, record: Path, runs: int, timeout: float) -> list[float]:
    """Wall times of `dvc repro` with everything up to date; fails if a stage runs."""
    before = len(stage_records(record))
    walls = [run_dvc(["repro"], copy, env, timeout)[0] for _ in range(runs)]
    if len(stage_records(record)) != before:
        raise SystemExit(f"a no-op dvc repro in {copy} ran a stage: see {record}")
    return walls


def stage_env(copy: Path, work: Path, args: argparse.Namespace) -> dict[str, str]:
    """The environment of dvc and the stages: the shim first on PATH, the copy's code."""
    path = f"{copy / '.bench' / 'bin'}{os.pathsep}{Path(sys.executable).parent}"
    env = {**os.environ, "PATH": f"{path}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(copy / "src")  # the copy's code, not the installed package
    if args.bytecode_cache:
        # as on a usual machine, imports are compiled once, not in every process
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    if args.omp_threads:
        env["OMP_NUM_THREADS"] = str(args.omp_threads)
    return env


def bench_size(repo: Path, work: Path, rows: int, args: argparse.Namespace) -> dict:
    """Generate data, copy the repo, run the pipeline once and the no-op several times.

    ``rows`` 0 runs the real data as params.yaml has it (the packaged 1,989 applications).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import synthetic

    copy = Path(tempfile.mkdtemp(prefix=f"repo-{rows or 'real'}-", dir=work)).resolve()
    copy_repo(repo, copy)
    if rows:
        point_at(copy, synthetic.make(work / "data", rows, args.seed).resolve())
    else:
        rows = len(synthetic.read_source(synthetic.PACKAGED_SOURCE))
    record = copy / ".bench" / "stages.jsonl"
    write_shim(copy / ".bench" / "bin", record)
    env = stage_env(copy, work, args)
    load = os.getloadavg()[0]
    log.info("%s rows: dvc repro in %s (load %.2f)", f"{rows:,}", copy, load)
    wall, cpu, peak = run_dvc(["repro"], copy, env, args.timeout)
    stages = {r["stage"]: r for r in stage_records(record)}
    for name, r in stages.items():
        log.info("  %-8s %7.1f s %8.0f MB", name, r["wall_s"], r["max_rss_mb"])
    log.info("  whole    %7.1f s %8.0f MB; no-op dvc repro x%d ...", wall, peak, args.noop_runs)
    noop = noop_runs(copy, env, record, args.noop_runs, args.timeout)
    log.info("  no-op    %7.2f s (median)", statistics.median(noop))
    plots = {p.name: p.stat().st_size for p in sorted((copy / PLOTS).rglob("*.json"))}
    result = {"rows": rows, "load_before": round(load, 2), "stages": stages, "whole_s": wall}
    result |= {"whole_cpu_s": cpu, "load_after": round(os.getloadavg()[0], 2)}
    result |= {"peak_rss_mb": peak, "noop_s": noop, "plot_bytes": plots, "copy": str(copy)}
    if not args.keep:
        shutil.rmtree(copy)
    return result


# --- reporting --------------------------------------------------------------------------


def _shell(command: str) -> str:
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def machine() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "nproc": _shell("nproc"),
        "free -h": _shell("free -h"),
        "lscpu | head": _shell("lscpu | head"),
        "python": platform.python_version(),
        # without .pyc files every stage process compiles its imports again
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "packages": versions,
    }


def per_ten(small: float, large: float, rows_small: int, rows_large: int) -> float:
    """How much a quantity grows per 10x rows between two sizes (10 means linear)."""
    return (large / small) ** (1 / math.log10(rows_large / rows_small))


def _wall_cpu(record: dict) -> str:
    if not record:
        return "-"
    return f"{record['wall_s']:.1f} s ({record['cpu_s']:.1f})"


def markdown(results: list[dict], runs: int) -> str:
    stages = list(dict.fromkeys(name for r in results for name in r["stages"]))  # run order
    head = "| rows | " + " | ".join(stages) + " | whole `dvc repro` | peak RSS | no-op (median) |"
    lines = [head, "|" + "---:|" * (len(stages) + 4)]
    for r in results:
        cells = [_wall_cpu(r["stages"].get(s, {})) for s in stages]
        cells += [_wall_cpu({"wall_s": r["whole_s"], "cpu_s": r["whole_cpu_s"]})]
        cells += [f"{r['peak_rss_mb']:,.0f} MB"]
        cells += [f"{statistics.median(r['noop_s']):.2f} s (x{runs})"]
        lines.append(f"| {r['rows']:,} | " + " | ".join(cells) + " |")
    lines += ["", "| rows | " + " | ".join(f"{s} RSS" for s in stages) + " | plot JSON |"]
    lines.append("|" + "---:|" * (len(stages) + 2))
    for r in results:
        cells = [f"{r['stages'].get(s, {}).get('max_rss_mb', 0):,.0f} MB" for s in stages]
        cells.append(f"{sum(r['plot_bytes'].values()) / 1e6:.1f} MB")
        lines.append(f"| {r['rows']:,} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| rows | wall time per 10x rows | CPU time per 10x rows | peak memory per 10x rows |",
    ]
    lines.append("|---|---:|---:|---:|")
    for a, b in itertools.pairwise(results):
        grow = [
            per_ten(a[key], b[key], a["rows"], b["rows"])
            for key in ("whole_s", "whole_cpu_s", "peak_rss_mb")
        ]
        lines.append(
            f"| {a['rows']:,} -> {b['rows']:,} | " + " | ".join(f"x{g:.1f}" for g in grow) + " |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="rows of synthetic data; 0 for the real data as params.yaml has it",
    )
    parser.add_argument("--noop-runs", type=int, default=5, help="no-op dvc repro repetitions")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument(
        "--work", type=Path, default=Path("benchmarks/.work"), help="scratch folder (gitignored)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per dvc command")
    parser.add_argument("--keep", action="store_true", help="keep the repository copies")
    parser.add_argument("--verbose", action="store_true", help="echo dvc's output")
    parser.add_argument(
        "--no-bytecode-cache",
        dest="bytecode_cache",
        action="store_false",
        help="keep PYTHONDONTWRITEBYTECODE from the environment (every process compiles)",
    )
    parser.add_argument(
        "--omp-threads", type=int, default=0, help="set OMP_NUM_THREADS (0: leave it alone)"
    )
    args = parser.parse_args(argv)
    if any(n < 0 for n in args.sizes) or args.noop_runs < 1:
        parser.error("--sizes must be 0 (the real data) or positive, --noop-runs positive")
    return args


def main(argv: list[str]) -> None:
    if argv[:1] == ["measure"]:
        raise SystemExit(measure(Path(argv[1]), argv[3:]))
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    repo = Path(_shell("git rev-parse --show-toplevel") or ".").resolve()
    work = (repo / args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    results = [bench_size(repo, work, rows, args) for rows in sorted(args.sizes)]
    report = {"command": " ".join(["python", *sys.argv]), "machine": machine()}
    report["settings"] = {"bytecode_cache": args.bytecode_cache, "omp_threads": args.omp_threads}
    report["results"] = results
    (work / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(results, args.noop_runs))
    log.info("details in %s", work / "results.json")


if __name__ == "__main__":
    main(sys.argv[1:])
