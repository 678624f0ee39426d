"""What the workflows promise beyond lint: which tags release, where the gate runs, how
the tools are pinned, what a fork's report says, and that no personal data is cached or
uploaded. Shell steps are run with bash where their logic is the point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_support import WORKFLOWS, load, steps, triggers

from underwrite.console import ExitCode

EVERY = sorted(p.name for p in WORKFLOWS.glob("*.y*ml"))
GTO = str(Path(sys.executable).parent / "gto")
SETUP_CML_SHA = "f12ea7685438c1fc438d50f77519b3860cf5fa98"  # v2.0.1
CML_VERSION = "v0.20.6"
# Where the inference log's rows (race, sex, incomes) live on a runner: the log and its
# parsed copy (.cache, logs) and the labelled applications retraining adds (data).
PERSONAL_DATA = (".cache", "logs", "data")


def named(workflow: dict, job: str) -> dict[str, dict]:
    return {s.get("name", s.get("uses", "")): s for s in workflow["jobs"][job]["steps"]}


# ---- GitHub's filter patterns ------------------------------------------------------------
def filter_regex(pattern: str) -> re.Pattern[str]:
    """A branch/tag filter pattern as GitHub documents it: * (no /), ** , ? and + after a
    character, [..] classes, \\ escapes; everything else literal."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char in "?+":
            out.append(char)
        elif char == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end
        elif char == "\\":
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def ref_starts_run(patterns: list[str], name: str) -> bool:
    """Patterns in order, a leading ! excludes; the last pattern that matches decides."""
    decision = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if filter_regex(pattern.removeprefix("!")).fullmatch(name):
            decision = not negated
    return decision


def registry_tags(tmp_path: Path) -> dict[str, str]:
    """The git tags GTO itself makes in a fresh repository: kind -> tag."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t.invalid",
    }

    def run(*command: str) -> None:
        subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60)

    run("git", "init", "-q")
    run("git", "commit", "-q", "--allow-empty", "-m", "first")
    run(GTO, "register", "loan-approval", "HEAD", "--version", "v0.0.1")
    run(GTO, "assign", "loan-approval", "--version", "v0.0.1", "--stage", "prod")
    before = set(tags(tmp_path, env))
    run(GTO, "deprecate", "loan-approval", "v0.0.1")
    (deprecation,) = set(tags(tmp_path, env)) - before
    stage = next(t for t in before if "#prod" in t)
    return {"registration": "loan-approval@v0.0.1", "stage": stage, "deprecation": deprecation}


def tags(repo: Path, env: dict[str, str]) -> list[str]:
    listed = subprocess.run(
        ["git", "tag"], cwd=repo, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return listed.stdout.split()


def test_release_starts_on_a_registration_and_not_on_a_deprecation_or_stage_tag(
    tmp_path: Path,
) -> None:
    patterns = triggers(load("release.yml"))["push"]["tags"]
    made = registry_tags(tmp_path)

    assert ref_starts_run(patterns, made["registration"])
    assert ref_starts_run(patterns, "loan-approval@v12.30.4")
    assert not ref_starts_run(patterns, made["deprecation"]), made["deprecation"]
    assert not ref_starts_run(patterns, made["stage"])


def test_filter_matcher_sees_the_old_trigger_start_a_deprecation_run(tmp_path: Path) -> None:
    assert ref_starts_run(["loan-approval@v*"], registry_tags(tmp_path)["deprecation"])
    assert not ref_starts_run(["loan-approval@v*", "!loan-approval@v*\\!"], "loan-approval@v1!")


# ---- release: the gate before the approval, queued deploys, kubelogin -------------------
def test_gate_job_runs_before_the_production_approval_and_writes_its_verdict() -> None:
    release = load("release.yml")
    gate, production = release["jobs"]["gate"], release["jobs"]["production"]
    gate_script = next(s["run"] for s in gate["steps"] if s.get("name", "").startswith("Quality"))

    assert "environment" not in gate  # no approval is asked before the gate has run
    assert "gate" in production["needs"] and production["environment"]["name"] == "production"
    assert "--fail-on-gate" in gate_script and "GITHUB_STEP_SUMMARY" in gate_script
    assert "Release gate for" in gate_script
    assert not [s for s in production["steps"] if "--fail-on-gate" in s.get("run", "")]


def test_releases_of_different_versions_never_share_a_pending_slot() -> None:
    release = load("release.yml")

    assert "inputs.version" in release["concurrency"]["group"]
    assert "github.ref_name" in release["concurrency"]["group"]
    for job in ("staging", "production"):
        assert release["jobs"][job]["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("job", ["staging", "production"])
def test_kubelogin_is_installed_at_a_pinned_version_before_the_cluster_is_used(job: str) -> None:
    release = load("release.yml")
    deploy = next(
        s["run"] for s in release["jobs"][job]["steps"] if "kubectl apply" in s.get("run", "")
    )

    assert re.fullmatch(r"v\d+\.\d+\.\d+", release["env"]["KUBELOGIN_VERSION"])
    assert deploy.index("--kubelogin-version") < deploy.index("az aks get-credentials")
    assert deploy.index("kubelogin convert-kubeconfig") < deploy.index("kubectl apply")


# ---- CML ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", EVERY)
def test_setup_cml_is_pinned_by_commit_with_a_token_and_installs_cml_0_20_6(name: str) -> None:
    workflow = load(name)
    for _, job, step in steps(workflow):
        if not step.get("uses", "").startswith("iterative/setup-cml"):
            continue
        version = resolve(step["with"]["version"], workflow, job)
        assert step["uses"] == f"iterative/setup-cml@{SETUP_CML_SHA}"
        assert step["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
        assert version == CML_VERSION


# ---- the fork's report, marked ----------------------------------------------------------
@pytest.mark.parametrize(
    ("conclusion", "mark"), [("success", "✅ succeeded"), ("failure", "❌ failure")]
)
def test_comment_marks_a_forks_report_as_untrusted_with_the_runs_conclusion(
    tmp_path: Path, conclusion: str, mark: str
) -> None:
    step = named(load("comment.yml"), "comment")[
        "Mark the report as built by untrusted code, with the run's conclusion"
    ]
    (tmp_path / "pr-report").mkdir()
    (tmp_path / "pr-report" / "comment.md").write_text(
        "**Gate: ✅ this model would be promoted.**\n"
    )
    env = {"PATH": "/usr/bin:/bin", "CONCLUSION": conclusion, "RUN_URL": "https://ci.invalid/r/1"}
    subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=30,
    )
    marked = (tmp_path / "marked.md").read_text()

    assert marked.startswith("> [!WARNING]")
    assert "untrusted code" in marked and f"[train run](https://ci.invalid/r/1) {mark}" in marked
    assert marked.endswith("**Gate: ✅ this model would be promoted.**\n")
    cml = named(load("comment.yml"), "comment")["Comment on the pull request"]["run"]
    assert "marked.md" in cml and "pr-report/comment.md" not in cml


# ---- drift --------------------------------------------------------------------------------
def loop_step() -> str:
    return named(load("drift.yml"), "drift")[
        "Drift check, and on drift retrain on the labelled log"
    ]["run"]


@pytest.mark.parametrize(
    ("exit_code", "allow", "passes"),
    [
        (ExitCode.OK, "false", True),
        (ExitCode.CANNOT_TELL, "false", False),
        (ExitCode.CANNOT_TELL, "true", True),
        (ExitCode.ERROR, "true", False),
    ],
)
def test_drift_step_fails_on_cannot_tell_unless_a_first_run_allows_it(
    tmp_path: Path, exit_code: int, allow: str, passes: bool
) -> None:
    # the step's own shell logic; `underwrite retrain loop`'s exit codes are tested in tests/drift
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "underwrite").write_text(
        f'#!/bin/sh\nmkdir -p reports/retrain\necho "no drift" > reports/retrain/outcome\n'
        f"echo report > reports/retrain/report.md\nexit {exit_code}\n"
    )
    (bin_dir / "underwrite").chmod(0o755)
    env = {
        "PATH": "/usr/bin:/bin",
        "REPORT_DIR": "reports/retrain",
        "ALLOW_CANNOT_TELL": allow,
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", loop_step()],
        cwd=tmp_path,
        env=env,
        timeout=30,
        check=False,
    )

    assert (done.returncode == 0) is passes
    assert (tmp_path / "summary").read_text() == "report\n"  # the report is shown either way


def test_drift_signs_in_through_its_environment_and_commits_every_changed_tracked_file() -> None:
    drift = load("drift.yml")
    job = drift["jobs"]["drift"]
    commit = named(drift, "drift")["Commit the new data version to the retraining branch"]["run"]

    assert job["environment"] == "drift"
    assert "git add --update" in commit and "git add data" in commit
    assert "inputs.allow-cannot-tell" in str(job["steps"])
    assert triggers(drift)["workflow_dispatch"]["inputs"]["allow-cannot-tell"]["default"] is False


# ---- personal data: never in the Actions cache or an artifact -----------------------------
def resolve(value: str, workflow: dict, job: dict) -> str:
    env = {**workflow.get("env", {}), **job.get("env", {})}
    return re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: str(env.get(m[1], m[0])), str(value))


def personal_data_exposures(workflow: dict) -> list[str]:
    """Steps that cache anything, or upload or cache a path where inference-log rows live."""
    found = []
    for job_name, job, step in steps(workflow):
        uses = step.get("uses", "")
        where = f"{job_name} / {step.get('name', uses)}"
        if uses.startswith("actions/cache"):
            found.append(f"{where}: caches {step.get('with', {}).get('path')}")
        if uses.startswith("actions/upload-artifact"):
            for path in resolve(step["with"]["path"], workflow, job).split():
                if path.strip("./").split("/")[0] in PERSONAL_DATA or "inference" in path:
                    found.append(f"{where}: uploads {path}")
        for cache in re.findall(r"--cache[ =]\"?([^\s\"]+)", step.get("run", "")):
            if not cache.startswith("$RUNNER_TEMP"):
                found.append(f"{where}: parses the log into {cache}, inside the workspace")
    return found


@pytest.mark.parametrize("name", EVERY)
def test_no_workflow_caches_or_uploads_inference_log_data(name: str) -> None:
    assert personal_data_exposures(load(name)) == []


def test_exposure_check_sees_a_cached_log_and_an_uploaded_one() -> None:
    workflow = {
        "env": {"LOG": "logs/inference"},
        "jobs": {
            "drift": {
                "steps": [
                    {"uses": "actions/cache@x", "with": {"path": ".cache/inference-log"}},
                    {
                        "uses": "actions/upload-artifact@x",
                        "with": {"name": "a", "path": "${{ env.LOG }}"},
                    },
                    {"run": "underwrite retrain loop --cache .cache/inference-log/x"},
                ]
            }
        },
    }

    assert len(personal_data_exposures(workflow)) == 3
