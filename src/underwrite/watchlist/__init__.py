"""The watch list: named applications whose decisions a reviewer follows from model to model.

Each case is a JSON file in examples/watchlist/: {"name", "why", "application": {request
fields}, optionally "expect": "approved" | "denied"}. The pull-request report and the release
gate score the list with two models and show the before/after table; the gate also refuses a
candidate that loses the `expect`ed decision of a case (as committed on the production side)
that production gets right, and notes the cases both miss.

underwrite.watchlist.generate makes the list from the real data, underwrite.watchlist.fault
finds and checks its unknown-income case, and `python -m underwrite.watchlist` runs both
(underwrite.watchlist.commands).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from underwrite import repo as git_repo
from underwrite.schema import feature_columns, names

WATCHLIST = Path("examples/watchlist")
DECISIONS = ("approved", "denied")
UNKNOWN_INCOME = 666  # the HMDA code for "applicant income unknown"
REQUIRED_KEYS = {"name", "why", "application"}


class WatchlistError(ValueError):
    """A watch-list file is malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    application: dict[str, Any]
    expect: str | None = None


@dataclass(frozen=True)
class Row:
    """One case scored by the model before and after (None: that model was not available)."""

    case: Case
    before: float | None
    after: float | None
    threshold: float

    def decision(self, probability: float | None) -> str:
        if probability is None:
            return "n/a"
        return "approved" if probability >= self.threshold else "denied"

    @property
    def changed(self) -> bool:
        return self.decision(self.before) != self.decision(self.after)


@dataclass(frozen=True)
class Comparison:
    """The table's rows, the two models' labels, and why a side has no numbers (if so)."""

    rows: list[Row]
    before: str
    after: str
    notes: list[str]

    def lines(self) -> list[str]:
        notes = [line for note in self.notes for line in ("", note)]
        return [*table(self.rows, self.before, self.after), *notes]


# ---- reading -----------------------------------------------------------------------------
def parse_case(text: str, source: str) -> Case:
    """One case from its JSON text; SOURCE names the file in errors."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise WatchlistError(f"{source}: not valid JSON ({err})") from None
    if not isinstance(raw, dict) or not raw.keys() >= REQUIRED_KEYS:
        raise WatchlistError(
            f"{source}: a watch-list case is an object with the keys name, why, application "
            f"(and optionally expect); found {sorted(raw) if isinstance(raw, dict) else raw!r}"
        )
    unknown = raw.keys() - REQUIRED_KEYS - {"expect"}
    if unknown:
        raise WatchlistError(f"{source}: unknown key(s) {sorted(unknown)}; remove them")
    if raw.get("expect") not in (None, *DECISIONS):
        raise WatchlistError(
            f"{source}: expect is {raw['expect']!r}; use 'approved' or 'denied', or leave it out"
        )
    missing = [n for n in request_fields() if n not in raw["application"]]
    if missing:
        raise WatchlistError(
            f"{source}: the application lacks {', '.join(missing)}; every request field must "
            "be there (null for unknown), as in examples/approved.json"
        )
    return Case(raw["name"], raw["why"], raw["application"], raw.get("expect"))


def request_fields() -> list[str]:
    """What an application carries: the API's request fields."""
    return names(feature_columns(include_protected=True))


def load(folder: Path = WATCHLIST) -> list[Case]:
    """Every case of the folder, by file name."""
    if not folder.is_dir():
        raise WatchlistError(
            f"{folder}: no such folder; generate it with `python -m underwrite.watchlist generate`"
        )
    return [parse_case(p.read_text(), str(p)) for p in sorted(folder.glob("*.json"))]


def load_at(root: Path, rev: str, folder: Path = WATCHLIST) -> list[Case]:
    """The cases as committed at REV (empty when that commit has no watch list)."""
    try:
        listed = git_repo.git(root, "ls-tree", "--name-only", f"{rev}:{folder.as_posix()}")
    except git_repo.RepoError:
        return []
    files = sorted(n for n in listed.splitlines() if n.endswith(".json"))
    return [
        parse_case(git_repo.show(root, rev, f"{folder.as_posix()}/{n}") or "", f"{rev[:7]}:{n}")
        for n in files
    ]


def to_frame(cases: list[Case]) -> pd.DataFrame:
    columns = request_fields()
    rows = [[case.application.get(c) for c in columns] for case in cases]
    return pd.DataFrame(np.array(rows, dtype="float64"), columns=columns)


def probabilities(cases: list[Case], model: Any | None) -> list[float | None]:
    """The model's approval probability of each case (None for every case without a model)."""
    if model is None or not cases:
        return [None] * len(cases)
    return [float(p) for p in model.predict_proba(to_frame(cases))[:, 1]]


def compare(cases: list[Case], before: Any | None, after: Any | None, threshold: float):
    """Score every case with both models."""
    pairs = zip(probabilities(cases, before), probabilities(cases, after), strict=True)
    return [Row(case, b, a, threshold) for case, (b, a) in zip(cases, pairs, strict=True)]


def table(rows: list[Row], before: str, after: str) -> list[str]:
    """The before/after table in Markdown (it reads as plain text too)."""
    lines = [
        f"| case | expect | {before} | {after} | changed |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [_cell(row, row.before), _cell(row, row.after)]
        mark = "**yes**" if row.changed else "no"
        expect = row.case.expect or "-"
        lines.append(f"| {row.case.name} | {expect} | {' | '.join(cells)} | {mark} |")
    return lines


def _cell(row: Row, probability: float | None) -> str:
    if probability is None:
        return "n/a"
    return f"{row.decision(probability)} ({probability:.3f})"


def unmet(rows: list[Row]) -> list[str]:
    """A reason for every case whose `after` decision misses its `expect` while `before` met
    it (or had none): a candidate may not lose an expected decision.

    A case production misses too is not a reason ("keep", not "reach"): the candidate is no
    worse there, and requiring it would hold up every release, whatever it fixes, until some
    model gets that case right."""
    return [
        f"watch list: {row.case.name} is {row.decision(row.after)} ({row.after:.3f}); "
        f"production's watch list expects {row.case.expect}"
        for row in rows
        if _misses(row, row.after) and not _misses(row, row.before)
    ]


def still_missed(rows: list[Row]) -> list[str]:
    """A note for every case that both models miss: shown, not refused (no worse than before)."""
    return [
        f"{row.case.name}: expected {row.case.expect}, missed by both models "
        "(not refused: the candidate is no worse)"
        for row in rows
        if _misses(row, row.after) and _misses(row, row.before)
    ]


def _misses(row: Row, probability: float | None) -> bool:
    return (
        bool(row.case.expect)
        and probability is not None
        and (row.decision(probability) != row.case.expect)
    )


# ---- writing ------------------------------------------------------------------------------
def write(cases: list[Case], folder: Path = WATCHLIST) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in cases:
        body: dict[str, Any] = {"name": case.name, "why": case.why}
        body |= {"expect": case.expect} if case.expect else {}
        path = folder / f"{case.name}.json"
        path.write_text(json.dumps(body | {"application": case.application}, indent=1) + "\n")
        written.append(path)
    return written
