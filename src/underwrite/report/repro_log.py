"""What `dvc repro` did to each stage, read from its log (`dvc repro 2>&1 | tee repro.log`)."""

from __future__ import annotations

import re
from enum import Enum


class Outcome(Enum):
    RAN = "ran"
    RESTORED = "reused: restored from the run cache"
    UNCHANGED = "reused: unchanged, skipped"
    FAILED = "failed"
    NOT_REACHED = "not run (an earlier stage failed)"
    NOT_IN_LOG = "not in the log"


# The lines dvc 3 logs for each outcome (dvc/stage/run.py, stage/__init__.py, stage/cache.py,
# repo/reproduce.py); a stage named in none of them was not reached.
_PATTERNS = [
    (re.compile(r"^Running stage '(?P<stage>[^']+)':"), Outcome.RAN),
    (re.compile(r"^Stage '(?P<stage>[^']+)' is cached - skipping run"), Outcome.RESTORED),
    (re.compile(r"^Stage '(?P<stage>[^']+)' didn't change, skipping"), Outcome.UNCHANGED),
    (re.compile(r"failed to reproduce '(?P<stage>[^']+)'"), Outcome.FAILED),
]
_FAILED_MANY = re.compile(r"failed to reproduce stages: (?P<stages>.+)")


def parse(log: str, stages: list[str]) -> dict[str, Outcome]:
    """The outcome of each of STAGES (dvc.yaml order), then of any other stage LOG names."""
    seen: dict[str, Outcome] = {}
    for line in log.splitlines():
        line = line.strip()
        for pattern, outcome in _PATTERNS:
            match = pattern.search(line)
            if match:
                seen[match["stage"]] = outcome
        many = _FAILED_MANY.search(line)
        if many:
            seen.update(dict.fromkeys(re.findall(r"'([^']+)'", many["stages"]), Outcome.FAILED))
    failed = Outcome.FAILED in seen.values()
    missing = Outcome.NOT_REACHED if failed else Outcome.NOT_IN_LOG
    outcomes = {stage: seen.get(stage, missing) for stage in stages}
    return outcomes | seen  # stages dvc.yaml generates (foreach: name@key) come after
