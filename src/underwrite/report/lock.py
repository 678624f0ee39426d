"""Did CI reproduce what the pull request committed? Compare the committed dvc.lock with ours.

A difference means the committed dvc.lock was not produced from the committed code, data
and params (someone forgot `dvc repro`, or a stage is not deterministic): the report
names each output and the check fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

LOCK = "dvc.lock"


@dataclass(frozen=True)
class Drift:
    """One difference: an output (or a stage's inputs) recorded differently."""

    stage: str
    what: str  # "output", "input", "params" or "stage"
    path: str
    committed: str | None
    reproduced: str | None

    def message(self) -> str:
        if self.what == "stage":
            where = "committed" if self.reproduced is None else "reproduced"
            return f"stage '{self.stage}' is only in the {where} dvc.lock"
        if self.what == "params":
            return f"params of stage '{self.stage}' differ from the committed dvc.lock"
        return (
            f"{self.what} `{self.path}` of stage '{self.stage}': committed md5 "
            f"{self.committed or '(none)'}, reproduced md5 {self.reproduced or '(none)'}"
        )


def _stages(text: bytes | None) -> dict[str, dict]:
    return (yaml.safe_load(text) or {}).get("stages") or {} if text else {}


def _hashes(entries: list[dict]) -> dict[str, str | None]:
    return {e["path"]: e.get("md5") or e.get("etag") or e.get("checksum") for e in entries}


def _compare(stage: str, what: str, committed: dict, reproduced: dict) -> list[Drift]:
    return [
        Drift(stage, what, path, committed.get(path), reproduced.get(path))
        for path in sorted(committed.keys() | reproduced.keys())
        if committed.get(path) != reproduced.get(path)
    ]


def lock_drift(committed: bytes | None, reproduced: bytes | None) -> list[Drift]:
    """Every output, input or stage recorded differently in the two dvc.lock texts."""
    old, new = _stages(committed), _stages(reproduced)
    drift = []
    for stage in sorted(old.keys() | new.keys()):
        if stage not in old or stage not in new:
            hashes = (None, "present") if stage not in old else ("present", None)
            drift.append(Drift(stage, "stage", stage, *hashes))
            continue
        was, now = old[stage], new[stage]
        outs = _compare(stage, "output", _hashes(was.get("outs", [])), _hashes(now.get("outs", [])))
        deps = _compare(stage, "input", _hashes(was.get("deps", [])), _hashes(now.get("deps", [])))
        if was.get("params") != now.get("params"):
            deps.append(Drift(stage, "params", "params.yaml", None, None))
        drift += outs + deps
    return drift
