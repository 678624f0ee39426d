"""The retraining loop: labelled production applications become the next training data.

Outcomes arrive later, as a labels file keyed by request id (columns request_id and
approve). ``join`` matches them to logged applications and fills the columns the log
cannot know (recorded after the decision) so the rows meet the data contract; ``advance``
appends the new rows to the data source, tracks it with ``dvc add`` and points
``data.source`` at it, so the retraining is a DVC run like any other. ``loop`` runs drift
check -> join -> new data version -> ``dvc repro`` -> report; ``retrain pr`` publishes
the result as a pull request (the scheduled workflow's last step; ``retrain.github``).
The report compares old and new model on the same holdout rows, counts the new rows that
repeat existing ones and says what the labels are (``retrain.evidence``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from underwrite.paths import MODEL, RETRAIN_SOURCE, TEST_DATA
from underwrite.retrain import RetrainError

if TYPE_CHECKING:  # pandas and the package's data modules load in the commands
    import pandas as pd

    from underwrite.gate import Verdict
    from underwrite.retrain.evidence import Labels, Twins

log = logging.getLogger(__name__)

REQUEST_ID, LABEL, DECISION = "request_id", "approve", "approved"  # inference_log, schema
SOURCE = RETRAIN_SOURCE
# Columns recorded after the decision (or constant) that a logged application lacks.
FILLED = {"msa": 1120.0, "typur": 0.0, "inson": 0.0, "review": 999.0}  # 999: review unknown
COMMAND_TIMEOUT = 3600


@dataclass(frozen=True)
class DataVersion:
    path: Path
    added: int
    total: int
    unmatched_labels: int
    twins: Twins | None = None


@dataclass(frozen=True)
class Retrained:
    """What the report says about a retraining: data, labels, and old against new model."""

    version: DataVersion
    labels: Labels
    comparison: Verdict
    metrics_diff: str


def read_labels(location: str) -> pd.DataFrame:
    """The labels file (CSV or Parquet, local or azure://): request_id and approve (0/1)."""
    from underwrite.io import SourceError, read_source

    if not location.startswith("azure://") and not Path(location).is_file():
        raise RetrainError(f"labels {location!r}: no such file")
    try:
        labels = read_source(location)
    except SourceError as err:
        raise RetrainError(f"labels {location!r}: {err}") from None
    missing = {REQUEST_ID, LABEL} - set(labels.columns)
    if missing:
        raise RetrainError(
            f"labels {location!r}: missing column(s) {', '.join(sorted(missing))}; "
            f"a labels file has {REQUEST_ID} and {LABEL} (0 or 1)"
        )
    bad = labels.index[~labels[LABEL].isin([0, 1])].tolist()
    if bad:
        raise RetrainError(f"labels {location!r}: {LABEL} must be 0 or 1 (rows {bad[:5]})")
    duplicated = labels[REQUEST_ID].duplicated()
    if duplicated.any():
        first = labels.loc[duplicated, REQUEST_ID].iloc[0]
        raise RetrainError(f"labels {location!r}: request id {first!r} appears more than once")
    return labels[[REQUEST_ID, LABEL]].astype({REQUEST_ID: str})


def logged_applications(source: str, cache: Path) -> pd.DataFrame:
    """Every record of the inference log: request id and the application's fields."""
    import pandas as pd
    import pyarrow as pa

    from underwrite.drift.logreader import read_window
    from underwrite.inference_log import input_fields

    columns = [REQUEST_ID, DECISION, *input_fields()]
    since, until = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    batches = list(read_window(source, since, until, columns, cache))
    if not batches:
        return pd.DataFrame(columns=columns)
    return pa.Table.from_batches(batches).to_pandas()


def join(applications: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Labelled applications as rows of the data contract; also how many labels found none."""
    from underwrite.schema import COLUMNS

    logged = applications.drop(columns=[LABEL], errors="ignore").drop_duplicates(REQUEST_ID)
    rows = logged.merge(labels, on=REQUEST_ID, how="inner")
    for name, value in FILLED.items():
        rows[name] = value
    rows["action"] = rows[LABEL].map({1: 1.0, 0: 3.0})  # 1, 2 approved; 3 denied
    rows["reject"] = 1.0 - rows[LABEL]
    ordered = [c.name for c in COLUMNS]
    unmatched = len(labels) - len(rows)
    return rows[[*ordered, REQUEST_ID]].astype({n: "float64" for n in ordered}), unmatched


def advance(rows: pd.DataFrame, unmatched: int, repo: Path, params_path: Path) -> DataVersion:
    """Append new rows to the data source, `dvc add` it, point params' data.source at it."""
    import pandas as pd

    from underwrite.io import read_source
    from underwrite.params import load_params
    from underwrite.retrain.evidence import twins

    params = load_params(params_path)
    base = read_source(params.data.source)
    if REQUEST_ID in base.columns:
        rows = rows[~rows[REQUEST_ID].isin(base[REQUEST_ID].dropna())]
    if rows.empty:
        raise RetrainError("no new labelled applications: every match is already in the data")
    repeated = twins(base, rows.drop(columns=[REQUEST_ID]), params.prepare)
    combined = pd.concat([base, rows], ignore_index=True)
    target = repo / SOURCE
    target.parent.mkdir(parents=True, exist_ok=True)
    combined.to_parquet(target, index=False)
    dvc(repo, "add", str(SOURCE))
    set_source(params_path, str(SOURCE))
    log.info("data version %s: %d rows (+%d)", SOURCE, len(combined), len(rows))
    return DataVersion(SOURCE, len(rows), len(combined), unmatched, repeated)


def set_source(params_path: Path, source: str) -> None:
    """data.source and data.watch in params.yaml, comments and order kept (ruamel)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    document = yaml.load(params_path.read_text())
    document["data"]["source"] = source
    document["data"]["watch"] = source
    with params_path.open("w") as out:
        yaml.dump(document, out)


def tool_env() -> dict[str, str]:
    """This interpreter's bin first on PATH, so dvc stages run `python -m` in this venv."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def dvc(repo: Path, *args: str) -> str:
    command = [sys.executable, "-m", "dvc", *args]
    done = subprocess.run(
        command, cwd=repo, env=tool_env(), capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    if done.returncode:
        raise RetrainError(
            f"`dvc {' '.join(args)}` failed:\n{(done.stderr or done.stdout)[-2000:]}"
        )
    return done.stdout


def loop_report(drift_markdown: str, retrained: Retrained | None) -> str:
    from underwrite.report.gate_table import differences_table
    from underwrite.retrain.evidence import labels_statement, twins_statement

    lines = ["# Retraining on drift", "", drift_markdown.strip(), ""]
    if retrained is None:
        return "\n".join([*lines, "No retraining: the check found no drift.", ""])
    version, comparison = retrained.version, retrained.comparison
    lines += [
        "## New data version",
        "",
        f"`{version.path}`: {version.total} rows, {version.added} labelled production "
        f"applications added ({version.unmatched_labels} labels matched no logged request).",
        "",
        twins_statement(version.twins) if version.twins else "",
        "",
        "## What the labels are",
        "",
        labels_statement(retrained.labels),
        "",
        "## Old and new model on the same holdout",
        "",
        f"Both models score the same {comparison.rows} held-out rows (the new holdout, which "
        f"neither trained on). Method: {comparison.method}. *production* is the old model, "
        "*candidate* the new one.",
        "",
        *differences_table(comparison),
        "## Each model's own evaluation (`dvc metrics diff` against the last commit)",
        "",
        "Not on the same rows: the holdout grew with the new data, so these differences mix "
        "the model's change with the rows' change; the table above is the comparison.",
        "",
        retrained.metrics_diff.strip() or "(no metric changed)",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class LoopInputs:
    log: str
    labels: str
    profile: Path
    out: Path
    end: str
    cache: Path
    params: Path
    push: bool


def run_loop(inputs: LoopInputs, repo: Path = Path(".")) -> str:
    """Drift check -> (on drift) join labels -> new data version -> dvc repro -> report.

    Returns the outcome: no_drift, cannot_tell or retrained (also written to out/outcome).
    """
    from underwrite.drift.check import Verdict, check_log
    from underwrite.drift.logreader import parse_end
    from underwrite.drift.profile import Profile
    from underwrite.drift.report import markdown, write_report
    from underwrite.params import load_params

    settings = load_params(inputs.params).drift
    profile = Profile.load(inputs.profile)
    end = parse_end(inputs.end, inputs.log, inputs.cache)
    result = check_log(profile, inputs.log, end, settings, inputs.cache)
    write_report(result, profile, inputs.out / "drift")
    retrained = _retrain(inputs, repo) if result.verdict is Verdict.DRIFT else None
    outcome = {Verdict.DRIFT: "retrained", Verdict.NO_DRIFT: "no_drift"}.get(
        result.verdict, "cannot_tell"
    )
    (inputs.out / "report.md").write_text(loop_report(markdown(result), retrained))
    (inputs.out / "outcome").write_text(outcome + "\n")
    return outcome


def _retrain(inputs: LoopInputs, repo: Path) -> Retrained:
    from underwrite.retrain.evidence import labels_against_decisions, old_against_new

    labels = read_labels(inputs.labels)
    applications = logged_applications(inputs.log, inputs.cache)
    rows, unmatched = join(applications, labels)
    if rows.empty:
        raise RetrainError(
            f"labels {inputs.labels!r}: none of {len(labels)} request ids is in the log yet"
        )
    decided = applications[[REQUEST_ID, DECISION]].drop_duplicates(REQUEST_ID)
    agreement = labels_against_decisions(decided.merge(labels, on=REQUEST_ID), LABEL, DECISION)
    old_model = _model_bytes(repo)
    version = advance(rows, unmatched, repo, inputs.params)
    log.info("dvc repro (this retrains the model)")
    dvc(repo, "repro")
    if inputs.push:
        dvc(repo, "push")
    stage_changes(repo, version.path)
    comparison = old_against_new(repo / MODEL, old_model, repo / TEST_DATA, inputs.params)
    return Retrained(version, agreement, comparison, dvc(repo, "metrics", "diff", "--md"))


def _model_bytes(repo: Path) -> bytes:
    path = repo / MODEL
    if not path.is_file():
        raise RetrainError(f"{MODEL} is missing: run `dvc repro` (or `dvc pull`) first")
    return path.read_bytes()


def stage_changes(repo: Path, source: Path) -> None:
    """Stage everything the loop changed, so git is left consistent: one commit records it."""
    from underwrite import repo as repo_files

    repo_files.git(repo, "add", "--update")
    tracked = [source.with_name(source.name + ".dvc"), source.parent / ".gitignore"]
    repo_files.git(repo, "add", "--", *[str(p) for p in tracked if (repo / p).exists()])
