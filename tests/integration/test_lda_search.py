"""The less-discriminatory-alternatives search on the real data, with the real dvc queue."""

from __future__ import annotations

import json
import subprocess

import pytest
from integration_support import RepoCopy, run_group
from repo_support import VENV_BIN

pytestmark = pytest.mark.integration

ALTERNATIVES = {
    "baseline": {},
    "shallow": {"train.hist_gradient_boosting.max_depth": 2},
}


def declare(repo: RepoCopy) -> None:
    import yaml

    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    params["lda"]["alternatives"] = ALTERNATIVES
    params["lda"]["bootstrap"]["resamples"] = 50
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repo.commit("declare two alternatives")


def test_lda_runs_each_alternative_as_an_experiment_and_writes_the_frontier(
    reproduced_repo: RepoCopy,
):
    declare(reproduced_repo)

    code, out, err = run_group(
        [str(VENV_BIN / "python"), "-m", "underwrite.lda", "--out", "reports/lda"],
        reproduced_repo.path,
        reproduced_repo.env(),
    )

    assert code == 0, f"{out}\n{err}"
    experiments = reproduced_repo.dvc("exp", "list", "--name-only").stdout.split()
    assert {"lda-baseline", "lda-shallow"} <= set(experiments)
    frontier = json.loads((reproduced_repo.path / "reports/lda/frontier.json").read_text())
    assert list(frontier) == ["baseline", "shallow"]
    evaluated = json.loads((reproduced_repo.path / "reports/evaluate/metrics.json").read_text())
    assert frontier["baseline"]["roc_auc"] == pytest.approx(evaluated["roc_auc"], abs=1e-6)
    assert frontier["shallow"]["roc_auc"] != frontier["baseline"]["roc_auc"]
    low, high = frontier["shallow"]["roc_auc_interval"]
    assert low <= frontier["shallow"]["roc_auc"] <= high
    assert frontier["baseline"]["less_discriminatory_alternative"] is False
    table = (reproduced_repo.path / "reports/lda/frontier.md").read_text()
    assert "| shallow |" in table and "make lda" in table
    png = (reproduced_repo.path / "reports/lda/frontier.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_lda_names_an_alternative_that_fails_and_how_to_fix_it(reproduced_repo: RepoCopy):
    import yaml

    params = yaml.safe_load((reproduced_repo.path / "params.yaml").read_text())
    params["lda"]["alternatives"] = {"baseline": {}, "broken": {"features.drop": ["nosuch"]}}
    (reproduced_repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    reproduced_repo.commit("an alternative that cannot train")

    done = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "underwrite.lda"],
        cwd=reproduced_repo.path,
        env=reproduced_repo.env(),
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert done.returncode == 1
    assert "lda-broken" in done.stderr and "params.yaml" in done.stderr
