"""`underwrite report` on a real git + DVC history: what a reviewer reads on a pull request.

Expected values come from the committed files themselves (metrics.json, dvc.lock, the
validation report) and from the gate, never from the report's own code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ci_support import (
    CHANGED_PARAMS,
    PipelineRepo,
    dvc,
    git,
    set_params,
)

from underwrite.report.build import make_report
from underwrite.validation import Failure

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

METRICS = "reports/evaluate/metrics.json"
PNG = b"\x89PNG\r\n\x1a\n"


def table(markdown: str, heading: str) -> list[dict[str, str]]:
    """The rows of the first table after the line HEADING, keyed by the header cells."""
    lines = markdown.splitlines()[markdown.splitlines().index(heading) :]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[start:end]]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[2:]]


def number(cell: str) -> float:
    return float(cell.strip("`"))


def flat(metrics: dict, prefix: str = "") -> dict[str, float]:
    """metrics.json as dvc names its metrics: fairness.race.tpr_gap."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value
    return out


def committed(repo: PipelineRepo, rev: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=repo.root, capture_output=True, check=True
    ).stdout


def dvc_stages(root: Path) -> list[str]:
    return list(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])


def lock_md5(lock: dict, path: str) -> str:
    outs = [o for s in lock["stages"].values() for o in s.get("outs", [])]
    return next(o["md5"] for o in outs if o["path"] == path)


@pytest.fixture(scope="module")
def changed(pipeline_repo: PipelineRepo, report_env: None, tmp_path_factory) -> tuple[str, Path]:
    """The report of the `changed` commit (logistic regression) against `trained`."""
    out = tmp_path_factory.mktemp("report")
    make_report(pipeline_repo.root, pipeline_repo.trained, out, repro=pipeline_repo.repro_log)
    return (out / "report.md").read_text(), out


def test_report_lists_exactly_the_changed_params(pipeline_repo, changed) -> None:
    base = yaml.safe_load(committed(pipeline_repo, pipeline_repo.trained, "params.yaml"))
    rows = {r["parameter"].strip("`"): r for r in table(changed[0], "### Parameters")}

    assert set(rows) == set(CHANGED_PARAMS)
    assert rows["train.estimator"]["base"] == f"`{base['train']['estimator']}`"
    assert rows["train.estimator"]["head"] == "`logistic_regression`"
    c = rows["train.logistic_regression.C"]
    assert (number(c["base"]), number(c["head"])) == (
        base["train"]["logistic_regression"]["C"],
        0.5,
    )


def test_report_shows_every_metric_with_base_head_and_delta(pipeline_repo, changed) -> None:
    base = flat(json.loads(committed(pipeline_repo, pipeline_repo.trained, METRICS)))
    head = flat(json.loads((pipeline_repo.root / METRICS).read_text()))
    shown = {r["metric"]: r for r in table(changed[0], "### Metrics")}
    shown |= {f"fairness.{r['group']}.{r['metric']}": r for r in table(changed[0], "### Fairness")}

    assert set(shown) == set(base) == set(head)
    for name, row in shown.items():
        if isinstance(head[name], str):  # interval_method: the same text on both sides
            assert row["base"] == row["head"] == f"`{head[name]}`", name
            continue
        assert number(row["base"]) == pytest.approx(base[name], abs=5e-5), name
        assert number(row["head"]) == pytest.approx(head[name], abs=5e-5), name
        assert number(row["change"]) == pytest.approx(head[name] - base[name], abs=1e-4), name
    assert not any(r["metric"].startswith("fairness.") for r in table(changed[0], "### Metrics"))


def test_report_gives_the_gates_paired_verdict_with_base_standing_in_for_production(
    pipeline_repo, changed
) -> None:
    base = json.loads(committed(pipeline_repo, pipeline_repo.trained, METRICS))
    head = json.loads((pipeline_repo.root / METRICS).read_text())
    rows = {r["statistic"]: r for r in table(changed[0], "### The gate")}

    # both models on the same holdout rows: each side's value is its own evaluation's
    for name in ("roc_auc", "pr_auc", "brier", "log_loss"):
        assert number(rows[name]["production"]) == pytest.approx(base[name], abs=5e-5)
        assert number(rows[name]["candidate"]) == pytest.approx(head[name], abs=5e-5)
        assert rows[name]["class"] in {"better", "worse", "no detectable difference"}
        assert number(rows[name]["min. detectable"]) > 0
    assert ("**Gate: ✅" in changed[0]) != ("**Gate: ❌ refused" in changed[0])
    assert "by base's policy" in changed[0]


def test_report_shows_base_and_head_plots_as_png_images(pipeline_repo, changed) -> None:
    markdown, out = changed
    for name in ("roc", "precision_recall", "calibration", "confusion_matrix"):
        image = out / "plots" / f"{name}.png"
        assert image.read_bytes().startswith(PNG), name
        assert f"](plots/{name}.png)" in markdown
    fairness = "reports/evaluate/plots/images/fairness.png"
    base = committed(pipeline_repo, pipeline_repo.trained, fairness)
    assert (out / "plots" / "fairness-base.png").read_bytes() == base
    assert (out / "plots" / "fairness-head.png").read_bytes() == (
        pipeline_repo.root / fairness
    ).read_bytes()
    assert "![fairness](plots/fairness-base.png) | ![fairness](plots/fairness-head.png)" in markdown


def test_report_says_which_stages_ran_and_which_were_reused(pipeline_repo, changed) -> None:
    # dvc.lock records each stage's run: the stages whose record changed are the ones that ran
    before = yaml.safe_load(committed(pipeline_repo, pipeline_repo.trained, "dvc.lock"))["stages"]
    after = yaml.safe_load(committed(pipeline_repo, pipeline_repo.changed, "dvc.lock"))["stages"]
    ran = {name for name, record in after.items() if before.get(name) != record}
    stages = {r["stage"]: r["this run"] for r in table(changed[0], "### Pipeline")}

    assert {"train", "evaluate"} <= ran < set(stages) == set(dvc_stages(pipeline_repo.root))
    assert stages == {s: "ran" if s in ran else "reused: unchanged, skipped" for s in stages}
    assert f"{len(stages) - len(ran)} of {len(stages)} stage(s) reused." in changed[0]


def test_report_gives_the_data_version_of_each_side(pipeline_repo, changed) -> None:
    data = "data/raw/applications.parquet"
    base = lock_md5(
        yaml.safe_load(committed(pipeline_repo, pipeline_repo.trained, "dvc.lock")), data
    )
    head = lock_md5(yaml.safe_load((pipeline_repo.root / "dvc.lock").read_text()), data)

    assert f"base `{base}`, head `{head}` (unchanged)" in changed[0]


def test_report_summarises_heads_data_validation(pipeline_repo, changed) -> None:
    result = json.loads((pipeline_repo.root / "reports/validation/report.json").read_text())

    assert f"✅ passed: {result['rows']} rows checked." in changed[0]
    assert "Strongest single features" in changed[0]  # the validation report itself


def test_report_with_nothing_changed_says_so(copy_repo, report_env, tmp_path) -> None:
    log = tmp_path / "repro.log"
    log.write_text(dvc(copy_repo.root, copy_repo.env, "repro"))
    make_report(copy_repo.root, "HEAD", tmp_path / "out", repro=log, check_lock=True)
    markdown = (tmp_path / "out" / "report.md").read_text()

    assert "No parameter changed." in markdown
    rows = table(markdown, "### Metrics") + table(markdown, "### Fairness")
    numbers = [r for r in rows if not r["head"].startswith("`")]  # text: interval_method
    assert numbers and {r["change"] for r in numbers} == {"0"}
    assert all(r["base"] == r["head"] for r in rows)
    assert {r["this run"] for r in table(markdown, "### Pipeline")} == {
        "reused: unchanged, skipped"
    }
    count = len(dvc_stages(copy_repo.root))
    assert f"{count} of {count} stage(s) reused." in markdown
    assert "✅ What CI reproduced matches the committed dvc.lock." in markdown


def test_report_on_a_first_run_shows_head_alone(pipeline_repo, report_env, tmp_path) -> None:
    report = make_report(pipeline_repo.root, pipeline_repo.scaffold, tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    short = git(
        pipeline_repo.root, pipeline_repo.env, "rev-parse", "--short", pipeline_repo.scaffold
    )
    assert f"base {short} has no metrics yet" in markdown
    rows = table(markdown, "### Metrics") + table(markdown, "### Fairness")
    assert {(r["base"], r["change"]) for r in rows} == {("—", "new")}
    assert report.verdict.judged and report.verdict.differences == {}  # nothing to pair with
    assert "### The gate" in markdown
    assert "base `none`" in markdown
    assert "| fairness | (none) | ![fairness](plots/fairness-head.png) |" in markdown


def test_make_report_says_when_validation_fails_and_exits_non_zero(copy_repo) -> None:
    set_params(copy_repo.root / "params.yaml", {"validate.min_rows": 100_000})
    make = ["make", "-o", "setup", "report", f"BASE={copy_repo.changed}", "RUN="]
    done = subprocess.run(
        make, cwd=copy_repo.root, env=copy_repo.env, capture_output=True, text=True, timeout=600
    )
    report = copy_repo.root / "reports/pr/report.md"
    assert report.exists(), done.stdout + done.stderr
    markdown = report.read_text()
    result = json.loads((copy_repo.root / "reports/validation/report.json").read_text())
    failures = [Failure(**f).message() for f in result["failures"]]

    assert done.returncode != 0, done.stdout + done.stderr
    assert (
        failures and f"**❌ Data validation failed** for head: {'; '.join(failures)}." in markdown
    )
    assert "**⚠️ The pipeline did not finish**" in markdown
    assert "**Gate: not judged**" in markdown
    stages = {r["stage"]: r["this run"] for r in table(markdown, "### Pipeline")}
    assert stages["validate"] == "failed"
    assert {stages[s] for s in ("prepare", "train", "evaluate")} == {
        "not run (an earlier stage failed)"
    }
    assert "❌ FAILED" in markdown


def test_check_lock_names_the_outputs_that_differ_and_fails(copy_repo, tmp_path) -> None:
    set_params(copy_repo.root / "params.yaml", {"evaluate.threshold": 0.6})
    git(
        copy_repo.root,
        copy_repo.env,
        "commit",
        "-q",
        "-m",
        "threshold, lock not updated",
        "params.yaml",
    )
    dvc(copy_repo.root, copy_repo.env, "repro")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "underwrite.cli", "report", "--base", copy_repo.changed]
    done = subprocess.run(
        [*command, "--out", str(out), "--check-lock"],
        cwd=copy_repo.root,
        env=copy_repo.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    markdown = (out / "report.md").read_text()

    assert done.returncode == 1
    assert "differs from the committed dvc.lock" in done.stderr
    assert f"output `{METRICS}` of stage 'evaluate'" in markdown
    assert "output `models/model.joblib`" not in markdown  # train did not run again
    assert "**❌ dvc.lock differs from what CI reproduced**" in markdown


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--base", "no-such-branch"], "base revision 'no-such-branch' does not exist"),
        (["--base", " "], "is not a revision name"),
        (["--base", "HEAD", "--repro-log", "missing.log"], "repro log missing.log: no such file"),
    ],
)
def test_report_bad_input_is_named(pipeline_repo, tmp_path, arguments, message) -> None:
    command = [sys.executable, "-m", "underwrite.cli", "report", *arguments, "--out", str(tmp_path)]
    done = subprocess.run(
        command,
        cwd=pipeline_repo.root,
        env=pipeline_repo.env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert message in done.stderr
    assert not (tmp_path / "report.md").exists()


def test_report_outside_a_project_says_where_to_run_it(tmp_path) -> None:
    command = [sys.executable, "-m", "underwrite.cli", "report", "--base", "HEAD"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert done.returncode == 1
    assert "dvc.yaml: no such file; run the report from the repository root" in done.stderr
