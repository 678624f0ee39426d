"""The committed unknown-income case shows the demo's fault on the real data: a model trained
with the demo's patch (666 read as income) approves it, the project's model denies it, both
clearly; and `python -m underwrite.watchlist check` says so, or exits 1 when it does not."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from underwrite import paths, watchlist
from underwrite.params import load_params
from underwrite.watchlist import fault

pytestmark = pytest.mark.integration


def test_committed_unknown_income_case_is_approved_faulty_and_denied_fixed(reproduced_template):
    root = reproduced_template.path
    cases = {c.name: c for c in watchlist.load(root / watchlist.WATCHLIST)}
    case = cases[fault.CASE_NAME]
    threshold = load_params(root / paths.PARAMS).evaluate.threshold
    models = fault.train_models(root, root / paths.TRAIN_DATA, root / paths.PARAMS)
    scores = fault.score(case, models, threshold)
    assert scores.faulty >= threshold + fault.MARGIN, scores
    assert scores.fixed <= threshold - fault.MARGIN, scores
    assert fault.problems(case, scores) == []


def check(root) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "underwrite.watchlist", "check"], cwd=root,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_check_passes_on_the_project_and_fails_on_a_case_the_fix_does_not_deny(reproduced_repo):
    root = reproduced_repo.path
    done = check(root)
    assert done.returncode == 0, done.stderr
    shown = f"{fault.CASE_NAME}: approved by the faulty model, denied by the fixed one"
    assert shown in done.stdout
    folder = root / watchlist.WATCHLIST
    approval = json.loads((folder / "clear-approval.json").read_text())
    unknown = json.loads((folder / f"{fault.CASE_NAME}.json").read_text())
    unknown["application"] = approval["application"] | {"appinc": watchlist.UNKNOWN_INCOME}
    (folder / f"{fault.CASE_NAME}.json").write_text(json.dumps(unknown))
    done = check(root)
    assert done.returncode == 1
    assert "does not show the fault: the fixed model gives p=0.9" in done.stderr
