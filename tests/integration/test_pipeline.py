"""The pipeline's promises, shown with the real dvc in copies of the repository.

Nothing to do after a repro; a hyperparameter re-runs train and what follows it, nothing
upstream, and going back to the old value comes from the run cache; two runs from scratch
give the same bytes; `dvc exp run -S` works, `dvc exp show` lists its metrics, and a key
params.yaml does not have is refused by name.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from integration_support import DvcRun, RepoCopy

MAX_DEPTH = "train.hist_gradient_boosting.max_depth"
CHANGED_DEPTH = 2
METRICS = "reports/evaluate/metrics.json"
QUALITY_METRICS = ("roc_auc", "pr_auc", "accuracy", "f1", "brier", "log_loss")
UPSTREAM_OF_TRAIN = ("ingest", "validate", "prepare")

pytestmark = pytest.mark.integration


def param(repo: RepoCopy, dotted: str) -> Any:
    value = yaml.safe_load((repo.path / "params.yaml").read_text())
    for part in dotted.split("."):
        value = value[part]
    return value


def experiment_data(table: Any, name: str) -> dict:
    """The params and metrics `dvc exp show --json` reports for the experiment NAME."""
    if isinstance(table, dict):
        if table.get("name") == name and "data" in table:
            return table["data"]
        table = list(table.values())
    if isinstance(table, list):
        for item in table:
            if found := experiment_data(item, name):
                return found
    return {}


@pytest.fixture(scope="module")
def changed_depth(
    reproduced_template: RepoCopy, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RepoCopy, DvcRun]:
    """A reproduced copy after editing max_depth in params.yaml and running `dvc repro`."""
    repo = reproduced_template.copy(tmp_path_factory.mktemp("changed-depth") / "repo")
    repo.set_params({MAX_DEPTH: CHANGED_DEPTH})
    return repo, repo.dvc("repro")


@pytest.fixture(scope="module")
def depth_restored_by_experiment(
    changed_depth: tuple[RepoCopy, DvcRun],
    reproduced_template: RepoCopy,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RepoCopy, DvcRun]:
    """A copy of `changed_depth` after `dvc exp run -S` set max_depth back to the original."""
    repo = changed_depth[0].copy(tmp_path_factory.mktemp("restored-depth") / "repo")
    original = param(reproduced_template, MAX_DEPTH)
    return repo, repo.dvc("exp", "run", "-S", f"{MAX_DEPTH}={original}")


def test_repro_after_repro_runs_no_stage(reproduced_repo: RepoCopy) -> None:
    assert json.loads(reproduced_repo.dvc("status", "--json").stdout) == {}

    again = reproduced_repo.dvc("repro")

    assert again.ran == [], again
    assert again.cached == [], again


def test_hyperparameter_change_reruns_train_and_evaluate_and_nothing_upstream(
    changed_depth: tuple[RepoCopy, DvcRun], reproduced_template: RepoCopy
) -> None:
    repo, run = changed_depth

    assert run.ran[:2] == ["train", "evaluate"], run
    assert not set(run.ran) & set(UPSTREAM_OF_TRAIN), run
    before, after = reproduced_template.lock_md5s(), repo.lock_md5s()
    upstream = repo.outputs(UPSTREAM_OF_TRAIN)
    assert {p: after[p] for p in upstream} == {p: before[p] for p in upstream}
    assert after["models/model.joblib"] != before["models/model.joblib"]
    assert after[METRICS] != before[METRICS]


def test_restored_hyperparameter_comes_back_from_run_cache_without_training(
    depth_restored_by_experiment: tuple[RepoCopy, DvcRun], reproduced_template: RepoCopy
) -> None:
    repo, run = depth_restored_by_experiment

    # evaluate may run again: dvc keeps no run cache for a stage with a plain `cache: false`
    # out (fairness.json); what it writes must still be the same bytes as before
    assert "train" in run.cached, run
    assert "train" not in run.ran, run
    original = reproduced_template.lock_md5s()
    assert repo.lock_md5s() == original
    assert repo.md5s(list(original)) == original


def test_exp_show_lists_the_metrics_of_an_exp_run(
    depth_restored_by_experiment: tuple[RepoCopy, DvcRun], reproduced_template: RepoCopy
) -> None:
    repo, run = depth_restored_by_experiment
    name = re.search(r"Ran experiment\(s\): (\S+)", run.stdout + run.stderr)
    assert name, run

    shown = json.loads(repo.dvc("exp", "show", "--json").stdout)

    experiment = experiment_data(shown, name.group(1))
    assert experiment, f"experiment {name.group(1)} not in `dvc exp show --json`: {shown}"
    params = experiment["params"]["params.yaml"]["data"]
    assert params["train"]["hist_gradient_boosting"]["max_depth"] == param(repo, MAX_DEPTH)
    metrics = experiment["metrics"][METRICS]["data"]
    assert set(QUALITY_METRICS) <= set(metrics)
    assert 0.5 < metrics["roc_auc"] <= 1.0
    assert metrics == json.loads((reproduced_template.path / METRICS).read_text())


def test_two_runs_from_scratch_give_identical_outputs(
    scratch_repo: RepoCopy, reproduced_template: RepoCopy
) -> None:
    first = reproduced_template.lock_md5s()
    assert not (scratch_repo.path / "dvc.lock").exists()

    second_run = scratch_repo.dvc("repro")

    assert second_run.ran == scratch_repo.stages(), second_run
    assert scratch_repo.lock_md5s() == first
    assert scratch_repo.md5s(list(first)) == reproduced_template.md5s(list(first)) == first


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        # dvc itself refuses a key that params.yaml does not have ...
        pytest.param(
            f"{MAX_DEPTH[:-1]}=2",
            r"Could not override 'train\.hist_gradient_boosting\.max_dept'",
            id="misspelt-key",
        ),
        # ... and when told to add it anyway (+key), our params models refuse it
        pytest.param(
            f"+{MAX_DEPTH[:-1]}=2",
            r"train\.hist_gradient_boosting\.max_dept: Extra inputs are not permitted",
            id="misspelt-key-added",
        ),
    ],
)
def test_exp_run_with_unknown_param_fails_naming_the_key(
    reproduced_repo: RepoCopy, assignment: str, message: str
) -> None:
    run = reproduced_repo.dvc("exp", "run", "-S", assignment, check=False)

    assert run.returncode != 0, run
    assert re.search(message, run.stderr), run
    assert "Ran experiment" not in run.stdout + run.stderr, run


def test_plots_show_renders_every_declared_plot_and_sums_confusion_counts(
    reproduced_repo: RepoCopy,
) -> None:
    shown = json.loads(reproduced_repo.dvc("plots", "show", "--json").stdout)

    assert "errors" not in shown, shown["errors"]
    confusion = shown["data"]["reports/evaluate/plots/custom/confusion_matrix.json"][0]
    aggregate = confusion["content"]["spec"]["transform"][0]["aggregate"]
    cells = confusion["content"]["data"]["values"]
    fairness = json.loads((reproduced_repo.path / "reports/evaluate/fairness.json").read_text())
    assert aggregate == [{"op": "sum", "field": "count", "as": "xy_count"}]
    assert len(cells) == 4
    assert sum(cell["count"] for cell in cells) == sum(
        group["applications"] for group in fairness["race"]["groups"].values()
    )
