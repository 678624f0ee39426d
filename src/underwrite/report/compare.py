"""Base against head: changed parameters, every metric, and the data version of each side.

Head is the workspace (what `dvc repro` just produced); base is a git revision, whose
metrics, plots and dvc.lock are committed (they are `cache: false` outputs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from underwrite.repo import out_md5
from underwrite.report.sources import Layout, Repo
from underwrite.validation import Failure

FAIRNESS_PREFIX = "fairness."


@dataclass(frozen=True)
class ParamChange:
    name: str
    base: Any
    head: Any
    file: str = "params.yaml"

    @property
    def added(self) -> bool:
        return self.base is None

    @property
    def removed(self) -> bool:
        return self.head is None


@dataclass(frozen=True)
class MetricRow:
    """One metric of one metrics file: its value on each side (None: absent there)."""

    name: str
    base: float | None
    head: float | None
    file: str = ""

    @property
    def delta(self) -> float | None:
        if isinstance(self.base, int | float) and isinstance(self.head, int | float):
            return self.head - self.base
        return None

    @property
    def fairness(self) -> bool:
        return self.name.startswith(FAIRNESS_PREFIX)


def changed_params(repo: Repo, base: str) -> list[ParamChange]:
    """Every parameter whose value differs between BASE and the workspace (dvc params diff)."""
    answer = repo.dvc_json("params", "diff", base)
    changes = [
        ParamChange(name, values.get("old"), values.get("new"), file)
        for file, params in answer.items()
        for name, values in params.items()
    ]
    return sorted(changes, key=lambda c: (c.file, c.name))


def metric_rows(repo: Repo, base: str) -> list[MetricRow]:
    """Every metric on either side, changed or not (dvc metrics diff --all)."""
    answer = repo.dvc_json("metrics", "diff", "--all", base)
    rows = [
        MetricRow(name, values.get("old"), values.get("new"), file)
        for file, metrics in answer.items()
        for name, values in metrics.items()
    ]
    return sorted(rows, key=lambda r: (r.fairness, r.file, r.name))


def nested(rows: list[MetricRow], side: str) -> dict | None:
    """One side's metrics shaped like metrics.json (what the gate reads), or None if absent."""
    result: dict[str, Any] = {}
    for row in rows:
        value = getattr(row, side)
        if value is None:
            continue
        *parents, leaf = row.name.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return result or None


def data_version(lock_text: bytes | None, data_path: str | None) -> str | None:
    """The md5 dvc.lock records for the raw data, or None when the lock or entry is missing."""
    if lock_text is None or data_path is None:
        return None
    return out_md5(yaml.safe_load(lock_text), data_path)


MISSING = {"deleted", "not in cache"}  # absent, e.g. never pulled: not stale


def stale_stages(repo: Repo) -> list[str]:
    """Stages whose recorded outputs no longer match their command, inputs or params.

    Files that are merely absent (a fresh checkout that pulled no data) do not count: the
    committed metrics still describe the committed model.
    """
    return sorted(name for name, changes in repo.dvc_json("status").items() if _changed(changes))


def _changed(entries: list) -> bool:
    """Whether dvc status's entries for a stage say more than "some file is missing"."""
    return any(status not in MISSING for status in _statuses(entries))


def _statuses(node: object):
    # e.g. ["changed command", {"changed deps": {"params.yaml": {"validate": "modified"}}}]
    if isinstance(node, dict):
        for value in node.values():
            yield from _statuses(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statuses(value)
    else:
        yield node


@dataclass(frozen=True)
class Validation:
    """Head's data validation: passed, rows, failure messages, and the Markdown report."""

    passed: bool
    rows: int
    failures: list[str]
    markdown: str


def validation(repo: Repo, layout: Layout) -> Validation | None:
    """Head's validation report from the workspace, or None when there is none."""
    raw = repo.read(layout.validation_json) if layout.validation_json else None
    if raw is None:
        return None
    result = json.loads(raw)
    markdown = repo.read(layout.validation_md) if layout.validation_md else None
    return Validation(
        passed=bool(result.get("passed")),
        rows=int(result.get("rows", 0)),
        failures=[Failure(**f).message() for f in result.get("failures", [])],
        markdown=markdown.decode() if markdown else "",
    )
