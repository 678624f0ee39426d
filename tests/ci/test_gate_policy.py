"""`make report` on a real git + DVC history: the gate judges by base's policy, paired.

A branch that only nudges the learning rate passes with no metric worse with confidence; a
branch whose model is clearly worse and that also loosens every gate key is refused by
base's policy (exit 3 from the report command), and each loosened key is listed as ignored.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ci_support import PipelineRepo, dvc, git, set_params
from repo_support import LOOSENED_GATE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPORT = "reports/pr/report.md"


def branch_from_main(repo: PipelineRepo, changes: dict[str, Any]) -> None:
    """main at the `trained` commit; a branch off it with CHANGES to params.yaml."""
    git(repo.root, repo.env, "checkout", "-q", "-b", "candidate", repo.trained)
    git(repo.root, repo.env, "branch", "-f", "main", repo.trained)
    set_params(repo.root / "params.yaml", changes)


def make_report(repo: PipelineRepo) -> subprocess.CompletedProcess[str]:
    make = ["make", "-o", "setup", "report", "BASE=main", "RUN="]
    return subprocess.run(
        make, cwd=repo.root, env=repo.env, capture_output=True, text=True, timeout=900
    )


def committed_value(repo: PipelineRepo, dotted: str) -> Any:
    node = yaml.safe_load(git(repo.root, repo.env, "show", f"{repo.trained}:params.yaml"))
    for key in dotted.split("."):
        node = node[key]
    return node


def test_make_report_on_a_learning_rate_nudge_passes_with_no_metric_worse(copy_repo) -> None:
    branch_from_main(copy_repo, {"train.hist_gradient_boosting.learning_rate": 0.055})

    done = make_report(copy_repo)

    markdown = (copy_repo.root / REPORT).read_text()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "**Gate: ✅ this model would be promoted.**" in markdown
    assert "No metric is worse than production's with confidence." in markdown
    assert "gate policy changed" not in markdown + done.stdout + done.stderr


def test_make_report_on_a_worse_model_with_a_loosened_gate_refuses_by_bases_policy(
    copy_repo,
) -> None:
    branch_from_main(copy_repo, {"train.hist_gradient_boosting.max_iter": 3, **LOOSENED_GATE})

    done = make_report(copy_repo)

    markdown = (copy_repo.root / REPORT).read_text()
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Error 3" in done.stderr  # the report command's REFUSED, as make reports it
    assert "gate refused (exit 3)" in done.stderr
    assert "**Gate: ❌ refused: this model would not be promoted** (exit 3):" in markdown
    assert "worse than production's by more than" in markdown
    for key, new in LOOSENED_GATE.items():
        line = f"gate policy changed: {key} {committed_value(copy_repo, key)} -> {new} (ignored)"
        assert f"`{line}`" in markdown, line
        assert line in done.stdout, line


def test_report_without_bases_model_says_it_cannot_judge_and_refuses(copy_repo, tmp_path) -> None:
    lock = yaml.safe_load(
        git(copy_repo.root, copy_repo.env, "show", f"{copy_repo.trained}:dvc.lock")
    )
    md5 = next(
        out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] == "models/model.joblib"
    )
    cache = Path(dvc(copy_repo.root, copy_repo.env, "cache", "dir").strip())
    (cache / "files" / "md5" / md5[:2] / md5[2:]).unlink()  # base's model, gone from the cache
    out = tmp_path / "out"

    done = subprocess.run(
        [str(Path(sys.executable).parent / "underwrite"), "report", "--base", copy_repo.trained,
         "--out", str(out), "--fail-on-gate"],
        cwd=copy_repo.root, env=copy_repo.env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip

    assert done.returncode == 3, done.stdout + done.stderr
    markdown = (out / "report.md").read_text()
    assert (
        "**Gate: ❌ refused, it cannot judge**: the model models/model.joblib of base" in markdown
    )
    assert "neither in the DVC cache nor on the remote" in markdown
    assert "dvc pull" in markdown
